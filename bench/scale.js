#!/usr/bin/env node
// `npm run bench:scale`: many established sessions on one createServer() on
// loopback, each sending a keepalive once per period, which the server echoes.
// The server runs in this process; the clients (connect() sockets, one dgram
// socket each) in child processes at nice 10. Not part of `npm test` or CI.
//
//   node --expose-gc bench/scale.js [--sessions 10000] [--children 4] [--duration 60] [--period 1000]
//                                   [--concurrency 50] [--offload on|off] [--json out.json]
//
// Reports: errors (handshake failures, socket errors, sessions closed early,
// keepalives not echoed: all must be 0), the server's RSS, JS heap and
// external memory per session (after GC, against the same process before the
// clients came), the server's CPU use and event-loop delay while the
// keepalives run, and the timers alive in the server (an established session
// must hold none: their count must not grow with the sessions). The event-loop
// delay figures include the 1 ms sampling interval of monitorEventLoopDelay.
'use strict';

const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const { createServer, generateCertificate } = require('..');
const { settleGc, waitFor } = require('./support/common');

const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = args[i + 1];
  return v !== undefined && !v.startsWith('--') ? v : true;
}
const SESSIONS = Number(flag('sessions', 10000));
const CHILDREN = Math.max(1, Math.min(8, Number(flag('children', 4))));
const DURATION_S = Number(flag('duration', 60));
const PERIOD_MS = Number(flag('period', 1000));
const CONCURRENCY = Number(flag('concurrency', 50));
const OFFLOAD = flag('offload', 'on') !== 'off';
const jsonOut = flag('json', undefined);
const HANDSHAKE_DEADLINE_MS = Math.max(120_000, SESSIONS * 30);

if (typeof global.gc !== 'function') {
  // Re-run with --expose-gc: memory per session is measured after full collections.
  const r = require('node:child_process').spawnSync(process.execPath, ['--expose-gc', __filename, ...args], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** Main-thread CPU (ms; clock ticks) and whole-process CPU (ms). */
function cpuMs() {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const u = process.cpuUsage();
  return { main: (Number(f[11]) + Number(f[12])) * (1000 / 100), process: (u.user + u.system) / 1000 };
}

function resourceCounts() {
  const out = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

const mb = (b) => (b / 1048576).toFixed(1);

async function main() {
  const fdLimit = (() => {
    try {
      return Number(require('node:child_process').execSync('ulimit -n', { encoding: 'utf8', shell: '/bin/sh' }).trim());
    } catch {
      return NaN;
    }
  })();
  const perChild = Math.ceil(SESSIONS / CHILDREN);
  if (Number.isFinite(fdLimit) && perChild + 100 > fdLimit) {
    throw new Error(`each client process needs ~${perChild + 100} file descriptors (one UDP socket per session); ulimit -n is ${fdLimit}: use more --children`);
  }
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openssl-dtls-scale-'));
  const { cert, key } = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'bench.test' });
  fs.writeFileSync(path.join(certDir, 'cert.pem'), cert);
  fs.writeFileSync(path.join(certDir, 'key.pem'), key, { mode: 0o600 });

  const serverErrors = {};
  const noteServerError = (e) => {
    const k = `${e?.code ?? e?.name}: ${e?.message}`.slice(0, 160);
    serverErrors[k] = (serverErrors[k] ?? 0) + 1;
  };
  let serverClosedEarly = 0;
  let keepalivesIn = 0;
  let stopping = false;
  const server = createServer({ cert, key, offloadHandshake: OFFLOAD }, (socket) => {
    socket.on('message', (m) => {
      keepalivesIn++;
      socket.send(m);
    });
    socket.on('error', noteServerError);
    socket.once('close', () => {
      if (!stopping) serverClosedEarly++;
    });
  });
  server.on('tlsClientError', noteServerError);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;

  await settleGc();
  const m0 = process.memoryUsage();
  const timers0 = resourceCounts();

  console.log(`scale: ${SESSIONS} sessions from ${CHILDREN} client processes, keepalive every ${PERIOD_MS} ms for ${DURATION_S} s; server pid ${process.pid}`);
  const tHs = process.hrtime.bigint();
  const children = [];
  for (let i = 0; i < CHILDREN; i++) {
    const count = Math.min(perChild, SESSIONS - i * perChild);
    if (count <= 0) break;
    const child = fork(path.join(__dirname, 'cases', 'scale-clients.js'), [certDir, String(port), String(count), String(CONCURRENCY), String(PERIOD_MS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      os.setPriority(child.pid, 10);
    } catch {
      // not allowed here: the clients compete with the server at equal priority
    }
    const entry = { child, ready: undefined, report: undefined };
    child.on('message', (m) => {
      if (m.report !== undefined) entry.report = m.report;
      else if (m.connected !== undefined) entry.ready = m;
    });
    children.push(entry);
  }
  // Timers during the ramp, for contrast: a handshaking session holds its
  // retransmission and deadline timers (the probe sees ref'd timers only).
  let rampTimers = { Timeout: 0 };
  let rampHandshaking = 0;
  const sample = setInterval(() => {
    const r = resourceCounts();
    if ((r.Timeout ?? 0) > (rampTimers.Timeout ?? 0)) {
      rampTimers = r;
      rampHandshaking = server.getStats().handshaking;
    }
  }, 100);
  const progress = setInterval(() => process.stderr.write(`  established on the server: ${server.getStats().handshakes} (${server.getStats().handshaking} handshaking)\n`), 5000);
  await waitFor(() => children.every((c) => c.ready !== undefined), HANDSHAKE_DEADLINE_MS, 'every handshake');
  clearInterval(progress);
  clearInterval(sample);
  const handshakeSecs = Number(process.hrtime.bigint() - tHs) / 1e9;
  const established = children.reduce((n, c) => n + c.ready.connected, 0);

  await settleGc();
  const m1 = process.memoryUsage();
  const timers1 = resourceCounts();
  const connections = server.connections;

  // The keepalive phase.
  const h = monitorEventLoopDelay({ resolution: 1 });
  const cpu0 = cpuMs();
  const t0 = process.hrtime.bigint();
  const in0 = keepalivesIn;
  h.enable();
  for (const c of children) c.child.send({ go: 'keepalive' });
  let timersDuring;
  await new Promise((r) => setTimeout(r, (DURATION_S * 1000) / 2));
  timersDuring = resourceCounts();
  await new Promise((r) => setTimeout(r, (DURATION_S * 1000) / 2));
  h.disable();
  const cpu1 = cpuMs();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const received = keepalivesIn - in0;
  const mKeep = process.memoryUsage();

  stopping = true;
  for (const c of children) c.child.send({ go: 'stop' });
  await waitFor(() => children.every((c) => c.report !== undefined), 60_000, 'the client reports');
  await waitFor(() => server.connections === 0, 10_000, 'close_notify from every client').catch(() => {});
  const st = server.getStats();
  const leftOpen = server.connections; // sessions whose close_notify never arrived (idleTimeout would end them)
  await server.close();
  fs.rmSync(certDir, { recursive: true, force: true });

  const reports = children.map((c) => c.report);
  const sum = (k) => reports.reduce((n, r) => n + r[k], 0);
  const clientErrors = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.errors)) clientErrors[k] = (clientErrors[k] ?? 0) + v;
  const sent = sum('sent');
  const echoed = sum('echoed');
  const errorCount =
    sum('failed') + sum('closedEarly') + Object.values(clientErrors).reduce((a, b) => a + b, 0) + Object.values(serverErrors).reduce((a, b) => a + b, 0) + serverClosedEarly;
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}, ${mb(os.totalmem())} MB; node ${process.version}`,
    sessions: SESSIONS,
    offloadHandshake: OFFLOAD,
    established,
    serverConnections: connections,
    children: children.length,
    handshakeSeconds: handshakeSecs,
    handshakesPerSecond: established / handshakeSecs,
    durationSeconds: secs,
    periodMs: PERIOD_MS,
    errors: errorCount,
    lostKeepalives: sent - echoed,
    keepalivesSent: sent,
    keepalivesReceivedByServer: received,
    keepalivesEchoed: echoed,
    clientErrors,
    serverErrors,
    serverClosedEarly,
    serverSessionsLeftAfterClose: leftOpen,
    perSession: {
      rssBytes: (m1.rss - m0.rss) / established,
      heapUsedBytes: (m1.heapUsed - m0.heapUsed) / established,
      externalBytes: (m1.external - m0.external) / established,
    },
    server: {
      rssMB: m1.rss / 1048576,
      rssAfterKeepalivesMB: mKeep.rss / 1048576,
      cpuPercent: (100 * (cpu1.process - cpu0.process)) / (secs * 1000),
      mainThreadCpuPercent: (100 * (cpu1.main - cpu0.main)) / (secs * 1000),
      cpuUsPerKeepalive: (1000 * (cpu1.process - cpu0.process)) / Math.max(1, received),
      eventLoopDelayMs: { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 },
      // process.getActiveResourcesInfo(): before the clients, with every session established, mid-keepalives
      activeResources: { before: timers0, established: timers1, duringKeepalives: timersDuring, mostDuringHandshakes: rampTimers, handshakingThen: rampHandshaking },
      stats: st,
    },
  };
  const timeouts = (r) => r.Timeout ?? 0;
  console.log(
    [
      `established ${established}/${SESSIONS} in ${handshakeSecs.toFixed(1)} s (${result.handshakesPerSecond.toFixed(0)}/s)`,
      `errors ${errorCount}, keepalives lost ${sent - echoed} of ${sent}; server sessions left after the clients closed: ${leftOpen}`,
      `server memory per session: rss ${(result.perSession.rssBytes / 1024).toFixed(1)} KB, JS heap ${(result.perSession.heapUsedBytes / 1024).toFixed(2)} KB, external ${(result.perSession.externalBytes / 1024).toFixed(1)} KB (rss ${mb(m1.rss)} MB with ${established} sessions)`,
      `server CPU ${result.server.cpuPercent.toFixed(1)} % (main thread ${result.server.mainThreadCpuPercent.toFixed(1)} %), ${result.server.cpuUsPerKeepalive.toFixed(1)} µs per keepalive; event-loop delay p50 ${result.server.eventLoopDelayMs.p50.toFixed(2)} ms, p99 ${result.server.eventLoopDelayMs.p99.toFixed(2)} ms, max ${result.server.eventLoopDelayMs.max.toFixed(2)} ms`,
      `timers in the server: ${timeouts(timers0)} before the clients, ${timeouts(timers1)} with ${established} sessions established, ${timeouts(timersDuring)} during keepalives ` +
        `(at most ${timeouts(rampTimers)} during the handshakes, with ${rampHandshaking} sessions handshaking, minus the 2 of this script)`,
    ].join('\n'),
  );
  console.log(JSON.stringify(result));
  if (typeof jsonOut === 'string') fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
  if (errorCount > 0 || sent !== echoed || established !== SESSIONS) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
