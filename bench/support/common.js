// Shared pieces of the benchmark cases: the certificate every case and the C
// ceiling use, argument parsing, result output, and bounded waits.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** The certificate files a run shares (written by bench/run.js; P-256, self-signed). */
function readCert(dir) {
  return {
    cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
  };
}

/** `node case.js <certDir> <what> [n] [k=v ...]` → { certDir, what, n, opts } */
function parseArgs(argv, defaults = {}) {
  const [certDir, what, n, ...rest] = argv.slice(2);
  if (certDir === undefined || what === undefined) {
    throw new Error(`usage: node ${path.basename(argv[1])} <certDir> <case> [n] [key=value ...]`);
  }
  const opts = { ...defaults };
  for (const kv of rest) {
    const i = kv.indexOf('=');
    if (i < 0) throw new Error(`expected key=value, got '${kv}'`);
    const v = kv.slice(i + 1);
    opts[kv.slice(0, i)] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return { certDir, what, n: n === undefined ? undefined : Number(n), opts };
}

/** The one line of output a case prints: run.js parses the last JSON line. */
function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function seconds(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Resolves when `predicate()` holds, checked on every turn; rejects after `ms`. */
function waitFor(predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const check = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setImmediate(check);
    };
    check();
  });
}

/** Full collections until the heap stops shrinking (at most 6), with turns between for finalizers. */
async function settleGc() {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
  let last = Infinity;
  for (let i = 0; i < 6; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
    const used = process.memoryUsage().heapUsed;
    if (used >= last * 0.995) break;
    last = used;
  }
}

function main(fn) {
  fn().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

module.exports = { readCert, parseArgs, emit, seconds, waitFor, settleGc, main };
