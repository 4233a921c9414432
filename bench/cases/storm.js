// Event-loop delay of a server during a storm of concurrent handshakes.
//
//   node bench/cases/storm.js <certDir> storm N [offload=on|off]
//
// The server runs here; N clients start at once in a child process
// (bench/cases/storm-clients.js, the other core), so this event loop does only
// server work. perf_hooks.monitorEventLoopDelay (1 ms resolution) records
// from the first client datagram until the N-th handshake completes on the
// server. With offload=on the server is asked for `offloadHandshake: true`
// (reported as unsupported while the library has no such option).
'use strict';

const { spawn } = require('node:child_process');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const { readCert, parseArgs, emit, main } = require('../support/common');
const { impl } = require('../support/impls');

const { certDir, what, n, opts } = parseArgs(process.argv, { offload: 'off' });
const { cert, key } = readCert(certDir);
const DEADLINE_MS = 120_000;

main(async () => {
  if (what !== 'storm' || !(n > 0)) throw new Error('usage: storm.js <certDir> storm N [offload=on|off]');
  const I = impl('openssl-dtls');
  const offload = opts.offload === 'on';
  const h = monitorEventLoopDelay({ resolution: 1 });
  let connected = 0;
  let t0 = 0n;
  let t1 = 0n;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  const server = await I.server({
    cert,
    key,
    serverOptions: offload ? { offloadHandshake: true } : {},
    onConnection: () => {
      connected++;
      if (connected === n) {
        t1 = process.hrtime.bigint();
        h.disable();
        resolveAll();
      }
    },
  });
  const child = spawn(process.execPath, [path.join(__dirname, 'storm-clients.js'), certDir, String(server.port), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    if (t0 === 0n && out.includes('start\n')) {
      t0 = process.hrtime.bigint();
      h.enable();
    }
  });
  const exited = new Promise((r) => child.on('close', r));
  const deadline = setTimeout(() => {
    child.kill('SIGKILL');
    resolveAll();
  }, DEADLINE_MS);
  await all;
  await exited;
  clearTimeout(deadline);
  await server.close();
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  const clients = line !== undefined ? JSON.parse(line) : {};
  if (connected !== n) throw new Error(`only ${connected} of ${n} handshakes completed: ${JSON.stringify(clients)}`);
  const secs = Number(t1 - t0) / 1e9;
  emit({
    case: 'storm',
    api: I.api,
    n,
    offload,
    offloadSupported: false,
    seconds: secs,
    perSecond: n / secs,
    p50Ms: h.percentile(50) / 1e6,
    p99Ms: h.percentile(99) / 1e6,
    maxMs: h.max / 1e6,
    clients,
  });
});
