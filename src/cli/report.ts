// nadir report: one self-contained HTML file (inline CSS and SVG, no scripts, no network).
import * as fs from 'fs';
import { FlagSpec, UserError, helpText, intFlag, list, parseArgs } from './args';
import { TableReader } from './data';
import { CommandOut, loadModel } from './commands';
import { f32, fmtRate, fmtSeconds, fmtUs, measureSpeed, quality } from './analysis';
import type { BenchReport, BenchRow } from './bench';
import { plainOptions } from './registry';

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#be185d', '#4b5563'];
const NORMAL = '#3b82f6';
const ANOMALY = '#ef4444';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const n2 = (v: number) => (Math.round(v * 100) / 100).toString();

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmtTick = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(4))));

interface Frame {
  w: number;
  h: number;
  x: (v: number) => number;
  y: (v: number) => number;
  parts: string[];
}

function frame(title: string, xl: [number, number], yl: [number, number], xLabel: string, yLabel: string, yFmt = fmtTick, yScale: 'linear' | 'sqrt' = 'linear', top = 30): Frame {
  const w = 440;
  const h = 300;
  const m = { l: 56, r: 16, t: top, b: 44 };
  const tf = (v: number) => (yScale === 'sqrt' ? Math.sqrt(Math.max(0, v)) : v);
  const x = (v: number) => m.l + ((v - xl[0]) / (xl[1] - xl[0] || 1)) * (w - m.l - m.r);
  const y = (v: number) => h - m.b - ((tf(v) - tf(yl[0])) / (tf(yl[1]) - tf(yl[0]) || 1)) * (h - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<text x="${w / 2}" y="18" class="title">${esc(title)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${w - m.l - m.r}" height="${h - m.t - m.b}" class="plot"/>`);
  for (const t of ticks(xl[0], xl[1])) {
    parts.push(`<line x1="${n2(x(t))}" x2="${n2(x(t))}" y1="${m.t}" y2="${h - m.b}" class="grid"/>`);
    parts.push(`<text x="${n2(x(t))}" y="${h - m.b + 14}" class="tick" text-anchor="middle">${esc(fmtTick(t))}</text>`);
  }
  for (const t of ticks(yl[0], yl[1], yScale === 'sqrt' ? 6 : 5)) {
    parts.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${n2(y(t))}" y2="${n2(y(t))}" class="grid"/>`);
    parts.push(`<text x="${m.l - 6}" y="${n2(y(t) + 4)}" class="tick" text-anchor="end">${esc(yFmt(t))}</text>`);
  }
  parts.push(`<text x="${(m.l + w - m.r) / 2}" y="${h - 8}" class="axis" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${(m.t + h - m.b) / 2}" class="axis" text-anchor="middle" transform="rotate(-90 14 ${(m.t + h - m.b) / 2})">${esc(yLabel)}</text>`);
  return { w, h, x, y, parts };
}

const svg = (f: Frame, label: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.w} ${f.h}" width="${f.w}" height="${f.h}" role="img" aria-label="${esc(label)}">${f.parts.join('')}</svg>`;

function legend(f: Frame, items: { name: string; color: string; dash?: boolean }[], x0: number, y0: number): void {
  // A light backing keeps the names readable where curves pass under them.
  const w = 30 + Math.max(...items.map((i) => i.name.length)) * 6.2;
  f.parts.push(`<rect x="${x0 - 4}" y="${y0 - 9}" width="${n2(w)}" height="${items.length * 15 + 3}" fill="#fff" fill-opacity="0.85" rx="3"/>`);
  items.forEach((it, i) => {
    const y = y0 + i * 15;
    f.parts.push(`<line x1="${x0}" x2="${x0 + 18}" y1="${y}" y2="${y}" stroke="${it.color}" stroke-width="2.5"${it.dash ? ' stroke-dasharray="4 3"' : ''}/>`);
    f.parts.push(`<text x="${x0 + 23}" y="${y + 4}" class="legend">${esc(it.name)}</text>`);
  });
}

function curveChart(r: BenchReport, kind: 'roc' | 'pr'): string {
  const rows = r.results.filter((x) => x.curves);
  const roc = kind === 'roc';
  const f = frame(roc ? 'ROC curve' : 'Precision-recall curve', [0, 1], [0, 1], roc ? 'false positive rate' : 'recall', roc ? 'true positive rate' : 'precision');
  const prevalence = (r.dataset.anomalies ?? 0) / r.dataset.rows;
  const base = roc ? [[0, 0], [1, 1]] : [[0, prevalence], [1, prevalence]];
  f.parts.push(`<line x1="${n2(f.x(base[0][0]))}" y1="${n2(f.y(base[0][1]))}" x2="${n2(f.x(base[1][0]))}" y2="${n2(f.y(base[1][1]))}" class="chance"/>`);
  rows.forEach((row, i) => {
    const pts = (roc ? row.curves!.roc : row.curves!.pr).map(([a, b]) => `${n2(f.x(a))},${n2(f.y(b))}`).join(' ');
    const color = COLORS[i % COLORS.length];
    f.parts.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2" class="curve"/>`);
    const t = row.atThreshold;
    if (t) {
      const neg = r.dataset.rows - (r.dataset.anomalies ?? 0);
      const px = roc ? (neg ? t.fp / neg : 0) : t.recall;
      const py = roc ? t.recall : t.precision;
      f.parts.push(`<circle cx="${n2(f.x(px))}" cy="${n2(f.y(py))}" r="4.5" fill="white" stroke="${color}" stroke-width="2.5" class="threshold-mark"><title>${esc(row.detector)} at its threshold ${esc(f32(t.threshold))}</title></circle>`);
    }
  });
  legend(
    f,
    rows.map((row, i) => ({ name: `${row.detector} (${roc ? 'AUC' : 'AP'} ${(roc ? row.rocAuc! : row.ap!).toFixed(3)})`, color: COLORS[i % COLORS.length] })),
    roc ? 230 : 66,
    // ROC: bottom right; PR: bottom left (low recall at low precision is rarely reached).
    f.h - 52 - (rows.length - 1) * 15 - (roc ? 0 : 14),
  );
  f.parts.push(`<text x="${f.w - 16}" y="${f.h - 8}" class="note" text-anchor="end">o = threshold</text>`);
  return svg(f, `${kind === 'roc' ? 'ROC' : 'precision-recall'} curves`);
}

function histogram(row: BenchRow, index: number): string {
  const h = row.curves!.hist;
  const bins = h.normal.length;
  const maxC = Math.max(1, ...h.normal, ...h.anomaly);
  const f = frame(`${row.detector}: scores by label`, [h.lo, h.hi], [0, maxC], 'score', 'rows (square-root scale)', fmtTick, 'sqrt', 44);
  const bw = (h.hi - h.lo) / bins;
  for (const [counts, color, cls] of [
    [h.normal, NORMAL, 'normal'],
    [h.anomaly, ANOMALY, 'anomaly'],
  ] as const) {
    counts.forEach((c, b) => {
      if (c === 0) return;
      const x0 = f.x(h.lo + b * bw);
      const x1 = f.x(h.lo + (b + 1) * bw);
      f.parts.push(`<rect x="${n2(x0)}" y="${n2(f.y(c))}" width="${n2(Math.max(0.5, x1 - x0 - 0.5))}" height="${n2(f.y(0) - f.y(c))}" fill="${color}" fill-opacity="0.55" class="bar ${cls}"><title>${c} ${cls} rows</title></rect>`);
    });
  }
  const t = row.threshold;
  if (t >= h.lo && t <= h.hi) {
    const x = f.x(t);
    const right = x > f.w - 150;
    f.parts.push(`<line x1="${n2(x)}" x2="${n2(x)}" y1="44" y2="${f.h - 44}" class="threshold"/>`);
    f.parts.push(`<text x="${n2(right ? x - 4 : x + 4)}" y="56" class="note"${right ? ' text-anchor="end"' : ''}>threshold ${esc(f32(t))}</text>`);
  } else {
    f.parts.push(`<text x="${f.w - 20}" y="56" class="note" text-anchor="end">threshold ${esc(f32(t))} (off the chart)</text>`);
  }
  // Legend in one row under the title, clear of the bars.
  f.parts.push(`<rect x="150" y="28" width="12" height="10" fill="${NORMAL}" fill-opacity="0.55"/><text x="166" y="37" class="legend">normal</text>`);
  f.parts.push(`<rect x="230" y="28" width="12" height="10" fill="${ANOMALY}" fill-opacity="0.55"/><text x="246" y="37" class="legend">labelled anomaly</text>`);
  void index;
  return svg(f, `score histogram of ${row.detector}`);
}

function bars(title: string, items: { name: string; values: { v: number; label: string; color: string }[] }[], unit: string, fmt: (v: number) => string): string {
  const w = 440;
  const rowH = 16;
  const groupH = Math.max(...items.map((i) => i.values.length)) * rowH + 12;
  const h = 40 + items.length * groupH + 20;
  const left = 120;
  const right = 110;
  const max = Math.max(1e-12, ...items.flatMap((i) => i.values.map((v) => v.v)).filter(Number.isFinite));
  const parts: string[] = [`<text x="${w / 2}" y="18" class="title">${esc(title)}</text>`];
  items.forEach((it, g) => {
    const y0 = 34 + g * groupH;
    parts.push(`<text x="${left - 8}" y="${y0 + (it.values.length * rowH) / 2 + 4}" class="tick" text-anchor="end">${esc(it.name)}</text>`);
    it.values.forEach((v, k) => {
      const len = Number.isFinite(v.v) ? (v.v / max) * (w - left - right) : 0;
      const y = y0 + k * rowH;
      parts.push(`<rect x="${left}" y="${y}" width="${n2(Math.max(1, len))}" height="${rowH - 3}" fill="${v.color}" class="bar"><title>${esc(v.label)}: ${esc(fmt(v.v))}</title></rect>`);
      parts.push(`<text x="${n2(left + len + 4)}" y="${y + rowH - 5}" class="value">${esc(v.label ? `${v.label} ` : '')}${esc(fmt(v.v))}</text>`);
    });
  });
  parts.push(`<text x="${w - 10}" y="${h - 6}" class="note" text-anchor="end">${esc(unit)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:960px;color:#111827;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.meta{color:#4b5563;margin:0 0 12px}table{border-collapse:collapse;margin:8px 0}
td,th{padding:4px 10px;white-space:nowrap;border-bottom:1px solid #e5e7eb;text-align:right}td:first-child,th:first-child{text-align:left}
th{font-weight:600;background:#f9fafb}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fff;border:1px solid #e5e7eb;border-radius:6px;max-width:100%;height:auto}
svg .title{font-size:13px;font-weight:600;text-anchor:middle;fill:#111827}svg .tick,svg .legend,svg .value{font-size:11px;fill:#374151}
svg .axis{font-size:11px;fill:#4b5563}svg .note{font-size:10.5px;fill:#6b7280}svg .plot{fill:none;stroke:#d1d5db}
svg .grid{stroke:#f3f4f6}svg .chance{stroke:#9ca3af;stroke-dasharray:4 4}svg .threshold{stroke:#111827;stroke-width:1.5;stroke-dasharray:5 3}
footer{color:#6b7280;font-size:12px;margin-top:32px}
`;

export function renderReport(r: BenchReport): string {
  const labelled = r.results.some((x) => x.curves);
  const rows = r.results
    .map(
      (x) =>
        `<tr><td>${esc(x.detector)}</td><td>${esc(fmtSeconds(x.fitSeconds))}</td><td>${esc(fmtRate(x.rowsPerSec))}</td><td>${esc(fmtUs(x.p50Us))}</td><td>${esc(fmtUs(x.p99Us))}</td>` +
        (labelled
          ? `<td>${x.rocAuc?.toFixed(3) ?? '-'}</td><td>${x.ap?.toFixed(3) ?? '-'}</td><td>${esc(f32(x.threshold))}</td><td>${x.atThreshold ? x.atThreshold.precision.toFixed(3) : '-'}</td><td>${x.atThreshold ? x.atThreshold.recall.toFixed(3) : '-'}</td>`
          : `<td>${esc(f32(x.threshold))}</td>`) +
        '</tr>',
    )
    .join('');
  const head = `<tr><th>detector</th><th>fit</th><th>batch rows/s</th><th>1-row p50</th><th>1-row p99</th>${labelled ? '<th>ROC-AUC</th><th>AP</th><th>threshold</th><th>precision</th><th>recall</th>' : '<th>threshold</th>'}</tr>`;
  const speed = [
    bars(
      'Single-row latency (scoreSync)',
      r.results.map((x) => ({
        name: x.detector,
        values: [
          { v: x.p50Us, label: 'p50', color: '#60a5fa' },
          { v: x.p99Us, label: 'p99', color: '#1d4ed8' },
        ],
      })),
      'microseconds, lower is better',
      fmtUs,
    ),
    bars('Batch throughput (score)', r.results.map((x) => ({ name: x.detector, values: [{ v: x.rowsPerSec, label: '', color: '#059669' }] })), 'rows per second, higher is better', (v) => `${fmtRate(v)} rows/s`),
    bars('Fit time', r.results.map((x) => ({ name: x.detector, values: [{ v: x.fitSeconds, label: '', color: '#d97706' }] })), 'seconds, lower is better', fmtSeconds),
  ];
  const d = r.dataset;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>nadir report: ${esc(d.file)}</title><style>${CSS}</style></head>
<body>
<h1>nadir report</h1>
<p class="meta">${esc(d.file)}: ${d.rows} rows x ${d.features} features${d.anomalies !== undefined ? `, ${d.anomalies} labelled anomalies (${((100 * d.anomalies) / d.rows).toFixed(1)}%)` : ''}.
Measured ${esc(r.date.slice(0, 19).replace('T', ' '))} UTC with nadir ${esc(r.nadir)} on ${esc(r.machine.cpuModel)} (${r.machine.cpus} CPUs, SIMD ${esc(r.machine.simd)}, Node ${esc(r.machine.node)}), ${r.threads === 0 ? 'all cores' : `${r.threads} thread${r.threads === 1 ? '' : 's'}`} per detector.</p>
<h2>Summary</h2>
<table>${head}${rows}</table>
${labelled ? `<h2>Ranking quality</h2><div class="charts">${curveChart(r, 'roc')}${curveChart(r, 'pr')}</div>
<h2>Score distributions</h2><p class="meta">The score of every row, normal and labelled-anomalous rows separately; the dashed line is the model threshold (rows to its right are flagged).</p>
<div class="charts">${r.results.filter((x) => x.curves).map(histogram).join('')}</div>` : '<p class="meta">The data had no label column, so there are no accuracy charts.</p>'}
<h2>Speed</h2><div class="charts">${speed.join('')}</div>
<footer>Generated by <code>nadir report</code>. Self-contained: no scripts, no network.</footer>
</body></html>
`;
}

export function writeReport(r: BenchReport, file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, renderReport(r));
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw new UserError(`cannot write '${file}': ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- command

const REPORT_FLAGS: Record<string, FlagSpec> = {
  output: { type: 'string', short: 'o', arg: 'report.html', help: 'HTML file to write (required)' },
  label: { type: 'string', arg: 'column', help: "with a model: the label column of <data> (default 'label' if present)" },
  columns: { type: 'string', arg: 'a,b,...', help: 'with a model: feature columns when the model has no names' },
  format: { type: 'string', arg: 'csv|tsv|jsonl|arrow', help: 'with a model: input format' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export function reportHelp(): string {
  return helpText(
    'nadir report <bench.json> -o report.html\n       nadir report <model.nadir> <data> [--label label] -o report.html',
    "Writes one self-contained HTML page (inline SVG, no network): score histograms by label with the threshold\n" +
      "marked, ROC and precision-recall curves, latency / throughput / fit-time bars. From 'nadir bench --json'\n" +
      'output, or from a saved model and data (scored and timed now).',
    REPORT_FLAGS,
  );
}

function readBench(file: string): BenchReport {
  let r: BenchReport;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(err.code === 'ENOENT' ? `cannot read '${file}': no such file` : `'${file}' is not a JSON file from 'nadir bench --json'`);
  }
  if (!r || !Array.isArray(r.results) || !r.dataset || typeof r.dataset.rows !== 'number')
    throw new UserError(`'${file}' is not a JSON file from 'nadir bench --json' (no results / dataset)`);
  r.machine ??= { cpus: 0, cpuModel: 'unknown', simd: 'unknown', node: 'unknown' };
  r.date ??= new Date().toISOString();
  return r;
}

export async function reportCommand(argv: string[], out: CommandOut): Promise<void> {
  const { flags, positionals } = parseArgs('report', argv, REPORT_FLAGS);
  if (flags.help) return void out.stdout.write(reportHelp() + '\n');
  if (typeof flags.output !== 'string') throw new UserError(`'nadir report' needs -o <report.html>`, 2);
  let report: BenchReport;
  if (positionals.length === 1) {
    report = readBench(positionals[0]);
  } else if (positionals.length === 2) {
    const [modelFile, dataFile] = positionals;
    const det = loadModel(modelFile);
    const reader = new TableReader(dataFile, {
      format: flags.format as string | undefined,
      label: typeof flags.label === 'string' ? flags.label : undefined,
      requireLabel: typeof flags.label === 'string',
      columns: list(flags.columns),
      modelNames: list(flags.columns) ? undefined : det.featureNames,
      nFeatures: det.nFeatures,
      allowMissing: det.config.impute !== undefined,
    });
    const data = await reader.readAll();
    const scores = await det.score(data.X);
    const speed = await measureSpeed(det, data.X);
    const row: BenchRow = { detector: modelFile, type: det.type, options: plainOptions(det.config), fitSeconds: NaN, ...speed, threshold: det.threshold };
    let anomalies: number | undefined;
    if (data.labels) {
      const q = quality(scores, data.labels, det.threshold);
      Object.assign(row, { rocAuc: q.rocAuc, ap: q.ap, atThreshold: q.atThreshold, curves: q.curves });
      anomalies = q.anomalies;
    }
    const os = await import('os');
    const { simdInfo } = await import('../kernels');
    const { version } = await import('./bench');
    report = {
      nadir: version(),
      date: new Date().toISOString(),
      dataset: { file: dataFile, rows: data.X.rows, features: data.X.cols, anomalies },
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', simd: simdInfo().active, node: process.version },
      threads: Number(det.config.threads ?? 0),
      results: [row],
    };
  } else {
    throw new UserError(`'nadir report' needs <bench.json>, or <model.nadir> <data> (see 'nadir report --help')`, 2);
  }
  void intFlag;
  writeReport(report, flags.output);
  out.stdout.write(`wrote ${flags.output}\n`);
}
