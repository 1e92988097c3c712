'use strict';
// Plain-text tables for the console.

function fmt(v, digits = 3) {
  if (v === undefined || v === null || (typeof v === 'number' && Number.isNaN(v))) return '-';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e7) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toPrecision(digits);
}

function printTable(title, header, rows) {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'string' ? c : fmt(c))))];
  const widths = header.map((_, j) => Math.max(...cells.map((r) => String(r[j] ?? '').length)));
  const line = (r) => r.map((c, j) => (j === 0 ? String(c ?? '').padEnd(widths[j]) : String(c ?? '').padStart(widths[j]))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

module.exports = { fmt, printTable };
