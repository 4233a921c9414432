#!/usr/bin/env node
// `npm run bench`: every benchmark several times, each in a fresh process,
// interleaved so that a baseline and the figure compared with it are measured
// next to each other; prints medians and, per row, the median of the per-round
// ratios (a ratio is only ever taken between two figures of the same round).
//
//   node bench/run.js [--rounds 5] [--only inprocess,udp,storm] [--quick] [--json out.json]
//
// The ceiling is bench/native/dtls_ceiling.c (built with the system
// libssl-dev by bench/native/build.sh), and the same program loaded into
// node on node's own OpenSSL (bench/native/in_node.c, the build the library
// calls); the alternatives are werift-dtls (devDependency) and raw node:dgram.
'use strict';

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { generateCertificate, opensslVersion } = require('..');
const { median, fmt, table } = require('./support/stats');

const here = __dirname;
const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  return args[i + 1] !== undefined && !args[i + 1].startsWith('--') ? args[i + 1] : true;
}
const rounds = Number(flag('rounds', 5));
const quick = flag('quick', false) === true;
const only = String(flag('only', 'inprocess,udp,storm')).split(',');
const jsonOut = flag('json', undefined);
const CASE_TIMEOUT_MS = 180_000;

const size = (full, small) => String(quick ? small : full);

/** One measurement: a process printing a JSON line, and the number it yields. */
function measurements(ceiling, certDir) {
  const node = process.execPath;
  const inproc = path.join(here, 'cases', 'inprocess.js');
  const udp = path.join(here, 'cases', 'udp.js');
  const storm = path.join(here, 'cases', 'storm.js');
  const inNodeModule = path.join(here, 'native', 'build', 'in_node.node');
  const inNode = fs.existsSync(inNodeModule) ? path.join(here, 'native', 'in-node.js') : undefined;
  const cert = path.join(certDir, 'cert.pem');
  const key = path.join(certDir, 'key.pem');
  return {
    inprocess: {
      'c.handshakes': { cmd: ceiling, args: [cert, key, 'handshakes', size(2000, 300)], pick: (r) => r.perSecond },
      'js.handshakes': { cmd: node, args: [inproc, certDir, 'handshakes', size(2000, 300)], pick: (r) => r.perSecond },
      'c.records': { cmd: ceiling, args: [cert, key, 'records', size(300000, 50000)], pick: (r) => r.perSecond },
      'js.records': { cmd: node, args: [inproc, certDir, 'records', size(300000, 50000)], pick: (r) => r.perSecond },
      'js.records.batch': { cmd: node, args: [inproc, certDir, 'records', size(300000, 50000), 'batch=16'], pick: (r) => r.perSecond },
      'c.memory': { cmd: ceiling, args: [cert, key, 'memory', '1000'], pick: (r) => r.rssBytesPerSession },
      // The same C program inside node, on node's OpenSSL (the build the library uses; bench/native/in_node.c).
      ...(inNode
        ? {
            'cnode.handshakes': { cmd: node, args: [inNode, cert, key, 'handshakes', size(2000, 300)], pick: (r) => r.perSecond },
            'cnode.records': { cmd: node, args: [inNode, cert, key, 'records', size(300000, 50000)], pick: (r) => r.perSecond },
          }
        : {}),
      'js.memory': { cmd: node, args: ['--expose-gc', inproc, certDir, 'memory', '1000'], pick: (r) => r.rssBytesPerSession },
    },
    udp: {
      // For the one-way bound (derived below): what sealing and opening a record costs at the ceiling.
      'c.records': { cmd: ceiling, args: [cert, key, 'records', size(300000, 50000)], pick: (r) => r.perSecond },
      'werift.handshakes': { cmd: node, args: [udp, certDir, 'handshakes', size(400, 100), 'impl=werift', 'concurrency=50'], pick: (r) => r.perSecond },
      'js.handshakes': { cmd: node, args: [udp, certDir, 'handshakes', size(1000, 200), 'impl=openssl-dtls', 'concurrency=50'], pick: (r) => r.perSecond },
      'dgram.oneway': { cmd: node, args: [udp, certDir, 'oneway', size(300000, 50000), 'impl=dgram'], pick: (r) => r.perSecond },
      'werift.oneway': { cmd: node, args: [udp, certDir, 'oneway', size(100000, 20000), 'impl=werift'], pick: (r) => r.perSecond },
      'js.oneway': { cmd: node, args: [udp, certDir, 'oneway', size(300000, 50000), 'impl=openssl-dtls'], pick: (r) => r.perSecond },
      'dgram.echo': { cmd: node, args: [udp, certDir, 'echo', size(200000, 40000), 'impl=dgram'], pick: (r) => r.perSecond },
      'werift.echo': { cmd: node, args: [udp, certDir, 'echo', size(60000, 15000), 'impl=werift'], pick: (r) => r.perSecond },
      'js.echo': { cmd: node, args: [udp, certDir, 'echo', size(200000, 40000), 'impl=openssl-dtls'], pick: (r) => r.perSecond },
    },
    storm: {
      'js.storm.offload': { cmd: node, args: [storm, certDir, 'storm', size(500, 200), 'offload=on'], pick: (r) => r.p99Ms },
      'js.storm.sync': { cmd: node, args: [storm, certDir, 'storm', size(500, 200), 'offload=off'], pick: (r) => r.p99Ms },
    },
  };
}

/** Rows of the table: [label, figure id, baseline id | null, unit, target]. */
const ROWS = [
  { group: 'inprocess', label: 'In-process full handshakes (both ends, one thread)', value: 'js.handshakes', base: 'c.handshakes', baseName: 'C ceiling', unit: '/s', target: { min: 0.85 } },
  { group: 'inprocess', label: 'In-process 1200-byte records (seal + open)', value: 'js.records', base: 'c.records', baseName: 'C ceiling', unit: '/s', target: { min: 0.6 } },
  { group: 'inprocess', label: 'In-process records, send() of 16 + receive() of 16', value: 'js.records.batch', base: 'c.records', baseName: 'C ceiling', unit: '/s' },
  { group: 'inprocess', label: 'In-process handshakes vs the C program on node\'s OpenSSL', value: 'js.handshakes', base: 'cnode.handshakes', baseName: 'C in node', unit: '/s' },
  { group: 'inprocess', label: 'In-process records vs the C program on node\'s OpenSSL', value: 'js.records', base: 'cnode.records', baseName: 'C in node', unit: '/s' },
  { group: 'inprocess', label: 'Memory per established idle session (RSS, 1000 pairs)', value: 'js.memory', base: 'c.memory', baseName: 'C ceiling', unit: 'B', target: { max: 1.15 } },
  { group: 'udp', label: 'UDP handshakes, 50 concurrent clients', value: 'js.handshakes', base: 'werift.handshakes', baseName: 'werift-dtls', unit: '/s', target: { min: 3.5 } },
  { group: 'udp', label: 'UDP one-way 1200-byte messages', value: 'js.oneway', base: 'werift.oneway', baseName: 'werift-dtls', unit: '/s', target: { min: 3 } },
  { group: 'udp', label: 'UDP one-way 1200-byte messages', value: 'js.oneway', base: 'dgram.oneway', baseName: 'node:dgram', unit: '/s', target: { min: 0.75 } },
  { group: 'udp', label: 'UDP one-way bound: dgram CPU + C seal/open per message', value: 'bound.oneway', base: 'dgram.oneway', baseName: 'node:dgram', unit: '/s' },
  { group: 'udp', label: 'UDP one-way bound: dgram CPU + C seal/open per message', value: 'bound.oneway', base: 'werift.oneway', baseName: 'werift-dtls', unit: '/s' },
  { group: 'udp', label: 'UDP one-way 1200-byte messages', value: 'js.oneway', base: 'bound.oneway', baseName: 'that bound', unit: '/s' },
  { group: 'udp', label: 'UDP echo 1200-byte messages (round trips)', value: 'js.echo', base: 'werift.echo', baseName: 'werift-dtls', unit: '/s' },
  { group: 'udp', label: 'UDP echo 1200-byte messages (round trips)', value: 'js.echo', base: 'dgram.echo', baseName: 'node:dgram', unit: '/s' },
  { group: 'storm', label: 'Event-loop delay p99, 500 concurrent handshakes, offload on', value: 'js.storm.offload', base: 'js.storm.sync', baseName: 'offload off', unit: 'ms', target: { absMax: 10 } },
];

function runCase(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.cmd, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (code !== 0 || line === undefined) {
        reject(new Error(`${path.basename(spec.args[0] ?? spec.cmd)} ${spec.args.slice(1).join(' ')} failed (${signal ?? code}):\n${err.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line));
    });
  });
}

function machine() {
  const cpus = os.cpus();
  let ceilingOpenssl = '';
  try {
    ceilingOpenssl = execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    ceilingOpenssl = 'unknown';
  }
  return {
    date: new Date().toISOString(),
    host: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: `${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    nodeOpenssl: opensslVersion,
    systemOpenssl: ceilingOpenssl,
  };
}

async function main() {
  const ceiling = execFileSync(path.join(here, 'native', 'build.sh'), { encoding: 'utf8' }).trim().split('\n').pop();
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openssl-dtls-bench-'));
  try {
    const { cert, key } = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'bench.test' });
    fs.writeFileSync(path.join(certDir, 'cert.pem'), cert);
    fs.writeFileSync(path.join(certDir, 'key.pem'), key, { mode: 0o600 });
    const all = measurements(ceiling, certDir);
    const info = machine();
    console.log(`openssl-dtls benchmarks — ${info.date}`);
    console.log(`${info.cpu}, ${info.memory}; ${info.host}; node ${info.node} (${info.nodeOpenssl}); C ceiling: system ${info.systemOpenssl}`);
    console.log(`${rounds} rounds${quick ? ' (quick sizes)' : ''}; groups: ${only.join(', ')}\n`);

    const results = {}; // group → id → [per round]
    const raw = {};
    for (const group of only) {
      const specs = all[group];
      if (specs === undefined) throw new Error(`unknown group '${group}' (inprocess, udp, storm)`);
      results[group] = {};
      raw[group] = {};
      const ids = Object.keys(specs);
      for (let r = 0; r < rounds; r++) {
        // Rotate the order so no figure always runs first (or right after a heavy one).
        const order = ids.map((_, i) => ids[(i + r) % ids.length]);
        for (const id of order) {
          const res = await runCase(specs[id]);
          ((raw[group][id] ??= [])[r] = res);
          ((results[group][id] ??= [])[r] = specs[id].pick(res));
          process.stderr.write(`  round ${r + 1}/${rounds} ${group}/${id}: ${specs[id].pick(res).toFixed(1)}\n`);
        }
      }
    }

    deriveBounds(results, raw);
    const rows = [['Benchmark', 'openssl-dtls (median)', 'baseline (median)', 'ratio (median of rounds)', 'target', 'met']];
    const summary = [];
    for (const row of ROWS) {
      const g = results[row.group];
      if (g === undefined) continue;
      const values = g[row.value] ?? [];
      const v = median(values);
      let ratio = NaN;
      let baseText = '—';
      if (row.base !== null && g[row.base] === undefined) continue; // a baseline this machine could not build
      if (row.base !== null) {
        const bases = g[row.base] ?? [];
        ratio = median(values.map((x, i) => x / bases[i]));
        baseText = `${fmt(median(bases), row.unit)} ${row.baseName}`;
      }
      let targetText = '';
      let met = '';
      if (row.target?.min !== undefined) {
        targetText = `≥ ${row.target.min}×`;
        met = ratio >= row.target.min ? 'yes' : 'no';
      } else if (row.target?.max !== undefined) {
        targetText = `≤ ${row.target.max}×`;
        met = ratio <= row.target.max ? 'yes' : 'no';
      } else if (row.target?.absMax !== undefined) {
        targetText = `≤ ${row.target.absMax} ms`;
        met = v <= row.target.absMax ? 'yes' : 'no';
      }
      rows.push([row.label, fmt(v, row.unit), baseText, Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—', targetText, met]);
      summary.push({ ...row, median: v, ratio, values, baseValues: row.base !== null ? g[row.base] : undefined });
    }
    console.log(table(rows));
    const notes = notesFrom(raw);
    if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
    if (typeof jsonOut === 'string') fs.writeFileSync(jsonOut, JSON.stringify({ machine: info, rounds, quick, summary, raw }, null, 2));
  } finally {
    fs.rmSync(certDir, { recursive: true, force: true });
  }
}

/**
 * The one-way bound, per round: both ends in one process spend, per message,
 * at least what raw node:dgram spends (its process CPU per message, measured
 * in that round) plus sealing and opening one record at the C ceiling's speed
 * (measured in that round). No DTLS over node:dgram on OpenSSL's AES-GCM can
 * move messages faster than 1 / (that sum) on this machine: the row shows
 * how far above werift-dtls and how close to raw dgram that ceiling is.
 */
function deriveBounds(results, raw) {
  const udp = raw.udp;
  if (udp === undefined || udp['dgram.oneway'] === undefined || udp['c.records'] === undefined) return;
  results.udp['bound.oneway'] = udp['dgram.oneway'].map((d, r) => {
    const c = udp['c.records'][r];
    return d === undefined || c === undefined ? NaN : 1e6 / (d.cpuUsPerMessage + 1e6 / c.perSecond);
  });
}

/** What the cases report beside their figure: negotiated suite, loss, event-loop p50. */
function notesFrom(raw) {
  const out = [];
  const first = (g, id) => raw[g]?.[id]?.find((x) => x !== undefined);
  const hs = first('inprocess', 'c.handshakes');
  const api = first('udp', 'js.handshakes')?.api;
  if (api !== undefined) out.push(`openssl-dtls over UDP: ${api}`);
  if (hs !== undefined) out.push(`negotiated: ${hs.negotiated} (X25519 key exchange unless groups are set; ECDSA P-256 certificate)`);
  for (const id of Object.keys(raw.udp ?? {})) {
    const runs = raw.udp[id].filter((x) => x !== undefined && x.lost !== undefined);
    if (runs.length > 0) {
      const lost = runs.map((x) => x.lost);
      out.push(`${id}: lost ${lost.join(', ')} of ${runs[0].n} messages per round (window ${runs[0].window})`);
    }
    const failed = raw.udp[id].filter((x) => x !== undefined && x.failed !== undefined);
    if (failed.length > 0) out.push(`${id}: failed handshakes ${failed.map((x) => x.failed).join(', ')} of ${failed[0].n} per round`);
  }
  for (const id of ['js.storm.offload', 'js.storm.sync']) {
    const storm = raw.storm?.[id]?.filter((x) => x !== undefined) ?? [];
    if (storm.length === 0) continue;
    const m = (k) => median(storm.map((x) => x[k]));
    const rt = median(storm.map((x) => x.clients.retransmits));
    out.push(`storm, offload ${storm[0].offload ? 'on' : 'off'}: event-loop p50 ${m('p50Ms').toFixed(2)} ms, p99 ${m('p99Ms').toFixed(2)} ms, max ${m('maxMs').toFixed(2)} ms; ${m('perSecond').toFixed(0)} handshakes/s; client retransmissions ${rt}`);
  }
  return out;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
