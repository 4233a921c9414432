// Medians and the table bench/run.js prints.
'use strict';

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function fmt(x, unit) {
  if (!Number.isFinite(x)) return '—';
  if (unit === 'B') return `${(x / 1024).toFixed(1)} KB`;
  if (unit === 'ms') return `${x.toFixed(2)} ms`;
  if (unit === '%') return `${(x * 100).toFixed(2)} %`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M/s`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} k/s`;
  return `${x.toFixed(0)}/s`;
}

/** rows: [[col, ...], ...]; the first row is the header. Markdown, aligned. */
function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

module.exports = { median, fmt, table };
