const nadir = require('..');
const ort = require('onnxruntime-node');
(async () => {
  const { X } = nadir.readCsv(__dirname + '/../test/fixtures/cardio.csv');
  const ae = new nadir.AutoEncoder({ seed: 1, threads: 1, epochs: 3, executionProvider: 'cpu', workers: 0 });
  await ae.fit(X);
  const N = 200000, d = 21;
  const data = new Float32Array(N * d);
  for (let o = 0; o < data.length; o += X.data.length) data.set(X.data.subarray(0, Math.min(X.data.length, data.length - o)), o);
  const M = new nadir.Matrix(data, N, d);
  const s = await ort.InferenceSession.create(ae.toOnnx(), { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const sess = nadir.OnnxSession.open(ae.toOnnx(), { executionProvider: 'cpu', threads: 1, workers: 0 });
  const chunk = 8192;
  const raw = async () => { for (let i = 0; i < N; i += chunk) { const c = Math.min(chunk, N - i); await s.run({ input: new ort.Tensor('float32', data.subarray(i * d, (i + c) * d), [c, d]) }, ['score']); } };
  const viaSession = () => sess.run('input', data, N, d, ['score']);
  const det = () => ae.score(M);
  const fin = () => nadir.assertFinite(M);
  for (let round = 0; round < 3; round++)
  for (const [name, fn] of [['raw', raw], ['OnnxSession', viaSession], ['detector', det], ['assertFinite', fin]]) {
    await fn();
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < 5; r++) await fn();
    const sec = Number(process.hrtime.bigint() - t0) / 1e9 / 5;
    console.log(name, (N / sec / 1e6).toFixed(2), 'M rows/s', (sec * 1000).toFixed(1), 'ms');
  }
})();
