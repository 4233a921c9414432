// Event-loop delay of a server during a storm of concurrent handshakes.
//
//   node bench/cases/storm.js <certDir> storm N [offload=on|off] [warm=100]
//
// The server runs here; N clients start at once in a child process
// (bench/cases/storm-clients.js, at nice 19), so this event loop does only
// server work. perf_hooks.monitorEventLoopDelay (1 ms resolution) records
// from the first client datagram until the N-th handshake completes on the
// server. offload=on|off sets the server's offloadHandshake (default on).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const { readCert, parseArgs, emit, main } = require('../support/common');
const { impl } = require('../support/impls');

const { certDir, what, n, opts } = parseArgs(process.argv, { offload: 'on', warm: 100 });
const { cert, key } = readCert(certDir);
const DEADLINE_MS = 120_000;

/** CPU time of this process's main thread (ms; clock ticks, 10 ms resolution) and of the whole process. */
function cpuMs() {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime + stime
  const all = process.cpuUsage();
  return { main: ticks * 10, process: (all.user + all.system) / 1000 };
}

main(async () => {
  if (what !== 'storm' || !(n > 0)) throw new Error('usage: storm.js <certDir> storm N [offload=on|off]');
  const I = impl('openssl-dtls');
  const offload = opts.offload === 'on';
  const h = monitorEventLoopDelay({ resolution: 1 });
  let connected = 0;
  let t0 = 0n;
  let t1 = 0n;
  let cpu0;
  let cpu1;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  const server = await I.server({
    cert,
    key,
    serverOptions: { offloadHandshake: offload },
    onConnection: () => {
      if (t0 === 0n) return; // the warm-up storm
      connected++;
      if (connected === n) {
        t1 = process.hrtime.bigint();
        cpu1 = cpuMs();
        h.disable();
        resolveAll();
      }
    },
  });
  // The clients stand for remote peers: at the lowest priority, so that on a
  // small machine their CPU does not compete with the server under test.
  const child = spawn('nice', ['-n', '19', process.execPath, path.join(__dirname, 'storm-clients.js'), certDir, String(server.port), String(n), String(opts.warm)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    if (t0 === 0n && out.includes('start\n')) {
      t0 = process.hrtime.bigint();
      cpu0 = cpuMs();
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
    seconds: secs,
    perSecond: n / secs,
    p50Ms: h.percentile(50) / 1e6,
    p99Ms: h.percentile(99) / 1e6,
    maxMs: h.max / 1e6,
    // CPU per handshake during the storm: on the main thread, and in the whole process (with the pool)
    mainCpuMsPerHandshake: (cpu1.main - cpu0.main) / n,
    processCpuMsPerHandshake: (cpu1.process - cpu0.process) / n,
    clients,
  });
});
