'use strict';
const assert = require('assert');
const fs = require('fs');
const mf = require('../dist/io/model-file');
const { tmpFile } = require('./helpers');

describe('model file format', () => {
  const content = () => ({
    type: 'Test',
    meta: { a: 1, nested: { b: 'x' } },
    arrays: { w: new Float32Array([1.5, -2, 3]), idx: new Int32Array([7, 8]), flags: new Uint8Array([1, 0, 1]), d: new Float64Array([Math.PI]) },
  });

  it('round-trips metadata and arrays exactly', () => {
    const back = mf.decodeModel(mf.encodeModel(content()));
    assert.strictEqual(back.type, 'Test');
    assert.deepStrictEqual(back.meta, { a: 1, nested: { b: 'x' } });
    assert.deepStrictEqual(Array.from(back.arrays.w), [1.5, -2, 3]);
    assert.ok(back.arrays.idx instanceof Int32Array);
    assert.strictEqual(back.arrays.d[0], Math.PI);
  });

  it('rejects truncated, corrupted, foreign and newer files with clear errors', () => {
    const bytes = mf.encodeModel(content());
    assert.throws(() => mf.decodeModel(bytes.subarray(0, bytes.length - 10)), /truncated/);
    assert.throws(() => mf.decodeModel(bytes.subarray(0, 10)), /too short/);
    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 20] ^= 0xff;
    assert.throws(() => mf.decodeModel(flipped), /checksum mismatch/);
    assert.throws(() => mf.decodeModel(Buffer.from('PK\u0003\u0004 this is a zip file, not a model at all......')), /wrong magic/);
    const newer = Uint8Array.from(bytes);
    new DataView(newer.buffer).setUint32(8, 99, true);
    assert.throws(() => mf.decodeModel(newer), /format version 99, newer than this nadir supports/);
  });

  it('writes atomically and leaves no temporary file behind', () => {
    const f = tmpFile('m.nadir');
    mf.writeFileAtomic(f, mf.encodeModel(content()));
    assert.strictEqual(mf.readModelFile(f).type, 'Test');
    const dir = require('path').dirname(f);
    assert.deepStrictEqual(fs.readdirSync(dir), ['m.nadir']);
    assert.throws(() => mf.writeFileAtomic(require('path').join(dir, 'missing-dir', 'x.nadir'), new Uint8Array(4)), /ENOENT/);
    assert.deepStrictEqual(fs.readdirSync(dir), ['m.nadir']);
  });
});
