'use strict';
// The HTML report rendered in headless Chromium: it loads without console errors and its charts
// are there and have a size.
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { findChromium, Browser } = require('./chromium');
const { shipped, rng, tmpFile } = require('./helpers');
const { renderReport } = require('../dist/cli/report');
const { quality } = require('../dist/cli/analysis');

/** A bench report for two made-up detectors scoring cardio: one informative, one weaker. */
function sampleReport() {
  const { labels } = shipped('cardio');
  const rand = rng(5);
  const mk = (name, signal, speed) => {
    const scores = Float32Array.from(labels, (l) => rand() + signal * l);
    const sorted = Float32Array.from(scores).sort();
    const threshold = sorted[Math.floor(0.9 * sorted.length)];
    const q = quality(scores, labels, threshold);
    return { detector: name, type: name, options: {}, fitSeconds: speed / 100, rowsPerSec: 1e6 / speed, p50Us: speed, p99Us: speed * 3, threshold, rocAuc: q.rocAuc, ap: q.ap, atThreshold: q.atThreshold, curves: q.curves };
  };
  return {
    nadir: '0.1.0',
    date: new Date().toISOString(),
    dataset: { file: 'cardio.csv <&> "quoted"', rows: labels.length, features: 21, anomalies: labels.reduce((a, v) => a + v, 0) },
    machine: { cpus: 2, cpuModel: 'test cpu', simd: 'avx2', node: process.version },
    threads: 1,
    results: [mk('isolation-forest', 0.6, 3), mk('autoencoder', 0.3, 12)],
  };
}

describe('HTML report in headless Chromium', function () {
  this.timeout(60000);
  const chromium = findChromium();
  let browser;

  before(function () {
    if (!chromium) {
      console.log('      (skipped: chromium is not installed; .ci/run installs Debian\'s chromium)');
      this.skip();
    }
    browser = Browser.launch(chromium);
  });
  after(async () => {
    if (browser) await browser.close();
  });

  it('loads with no console errors and shows every chart', async () => {
    const file = tmpFile('report.html');
    fs.writeFileSync(file, renderReport(sampleReport()));
    const page = await browser.open(pathToFileURL(file).href);
    const info = await page.evaluate(`(() => {
      const svgs = [...document.querySelectorAll('svg')];
      return {
        title: document.title,
        svgs: svgs.length,
        sized: svgs.filter((s) => { const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 100; }).length,
        labels: svgs.map((s) => s.getAttribute('aria-label')),
        curves: document.querySelectorAll('svg polyline.curve').length,
        thresholdLines: document.querySelectorAll('svg line.threshold').length,
        thresholdMarks: document.querySelectorAll('svg circle.threshold-mark').length,
        bars: document.querySelectorAll('svg rect.bar').length,
        rows: document.querySelectorAll('table tr').length,
        scripts: document.scripts.length,
        resources: performance.getEntriesByType('resource').length,
      };
    })()`);
    if (process.env.NADIR_SCREENSHOT) await page.screenshot(process.env.NADIR_SCREENSHOT);
    assert.deepStrictEqual(page.problems, [], 'console errors or warnings');
    assert.match(info.title, /nadir report: cardio\.csv <&> "quoted"/);
    // ROC + PR, one histogram per detector, latency + throughput + fit-time bars.
    assert.strictEqual(info.svgs, 2 + 2 + 3);
    assert.strictEqual(info.sized, info.svgs, 'every chart has a visible size');
    assert.ok(info.labels.includes('ROC curves') && info.labels.includes('precision-recall curves'));
    assert.ok(info.labels.includes('score histogram of isolation-forest'));
    assert.strictEqual(info.curves, 4);
    assert.strictEqual(info.thresholdLines, 2, 'threshold marked on each histogram');
    assert.strictEqual(info.thresholdMarks, 4, 'threshold marked on each curve');
    assert.ok(info.bars > 40);
    assert.strictEqual(info.rows, 3);
    assert.strictEqual(info.scripts, 0);
    assert.strictEqual(info.resources, 0, 'no network or file requests');
  });

  it('the harness does catch console errors (so the check above means something)', async () => {
    const file = tmpFile('broken.html');
    fs.writeFileSync(file, '<!DOCTYPE html><html><head><title>x</title></head><body><svg></svg><script>console.error("boom"); undefinedFn();</script></body></html>');
    const page = await browser.open(pathToFileURL(file).href);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(page.problems.some((p) => /boom/.test(p)), page.problems.join('\n'));
    assert.ok(page.problems.some((p) => /undefinedFn/.test(p)), page.problems.join('\n'));
    void path;
  });
});
