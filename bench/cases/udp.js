// UDP loopback benchmarks; client and server in this one process (one core
// does both ends' work, as the in-process figures do), on 127.0.0.1.
//
//   node bench/cases/udp.js <certDir> handshakes N impl=<openssl-dtls|werift> [concurrency=50]
//       N full handshakes, `concurrency` clients at a time, each on a new
//       socket (as connect() does), with cookie exchange, no resumption
//   node bench/cases/udp.js <certDir> oneway N impl=<openssl-dtls|werift|dgram> [window=64]
//       N 1200-byte messages client → server
//   node bench/cases/udp.js <certDir> echo N impl=... [window=64]
//       N 1200-byte messages client → server → client
//
// Throughput is paced by a window of messages in flight (sent, not yet
// received), the same for every implementation, so the figure is what both
// ends sustain rather than how fast a socket buffer overflows. A message not
// received within `stallMs` of the last progress counts as lost and frees its
// place in the window; `lost` is N minus what arrived.
'use strict';

const { readCert, parseArgs, emit, main } = require('../support/common');
const { impl } = require('../support/impls');

const { certDir, what, n, opts } = parseArgs(process.argv, { impl: 'openssl-dtls', concurrency: 50, window: 64, stallMs: 200 });
const { cert, key } = readCert(certDir);
const I = impl(opts.impl);
const CASE_DEADLINE_MS = 120_000;

async function handshakes(count) {
  let connected = 0;
  const serverOptions = opts.offload !== undefined ? { offloadHandshake: opts.offload === 'on' } : {};
  const server = await I.server({ cert, key, serverOptions, onConnection: () => connected++ });
  const one = async () => {
    const c = await I.client({ port: server.port, ca: cert, cert, key });
    await c.close();
  };
  let failed = 0;
  const errors = {};
  const run = async (total, concurrency) => {
    let started = 0;
    const worker = async () => {
      while (started < total) {
        started++;
        try {
          await one();
        } catch (e) {
          failed++;
          const k = `${e?.code ?? e?.name}: ${e?.message}`.slice(0, 160);
          errors[k] = (errors[k] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  };
  await run(Math.min(50, count), opts.concurrency); // warm-up
  failed = 0;
  connected = 0;
  for (const k of Object.keys(errors)) delete errors[k];
  const deadline = setTimeout(() => {
    console.error(`handshakes: deadline of ${CASE_DEADLINE_MS} ms passed`);
    process.exit(1);
  }, CASE_DEADLINE_MS);
  const t0 = process.hrtime.bigint();
  await run(count, opts.concurrency);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(deadline);
  const serverStats = server.stats?.();
  await server.close();
  emit({ case: 'handshakes', serverStats, impl: I.name, api: I.api, n: count, concurrency: opts.concurrency, seconds: secs, perSecond: (count - failed) / secs, failed, errors, serverConnected: connected });
}

/** One-way (`echo` false) or round-trip throughput with a window of messages in flight. */
async function stream(count, echo) {
  const payload = Buffer.alloc(1200, 7);
  let sent = 0;
  let got = 0;
  let writtenOff = 0; // counted lost by the stall rule, to free the window
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  let client;
  let t0 = 0n;
  let tLast = 0n;
  let lastProgress = Date.now();
  const window = opts.window;
  const inFlight = () => sent - got - writtenOff;
  const pump = () => {
    while (sent < count && inFlight() < window) {
      sent++;
      client.send(payload);
    }
  };
  const arrived = () => {
    got++;
    tLast = process.hrtime.bigint();
    lastProgress = Date.now();
    if (got + writtenOff >= count) resolveDone();
    else if (inFlight() <= window >> 1) pump();
  };
  const server = await I.server({ cert, key, onMessage: echo ? (m, reply) => reply(m) : () => arrived() });
  client = await I.client({ port: server.port, ca: cert, cert, key, onMessage: echo ? () => arrived() : undefined });

  // Warm-up on the same connection (JIT, buffers), then reset the counters.
  const warm = Math.min(5000, count >> 2);
  const realCount = count;
  count = warm;
  pump();
  await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
  count = realCount;
  await new Promise((r) => setTimeout(r, 50));
  sent = 0;
  got = 0;
  writtenOff = 0;
  const finished = new Promise((r) => (resolveDone = r));

  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress < opts.stallMs) return;
    // Nothing arrived for stallMs: what is in flight is lost.
    writtenOff += inFlight();
    lastProgress = Date.now();
    if (got + writtenOff >= count) resolveDone();
    else pump();
  }, opts.stallMs / 4);
  const deadline = setTimeout(() => resolveDone(), CASE_DEADLINE_MS);
  const cpu0 = process.cpuUsage();
  t0 = process.hrtime.bigint();
  lastProgress = Date.now();
  pump();
  await finished;
  clearInterval(watchdog);
  clearTimeout(deadline);
  const secs = Number(tLast - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await client.close();
  await server.close();
  emit({ case: echo ? 'echo' : 'oneway', impl: I.name, api: I.api, n: count, window, sent, received: got, lost: count - got, seconds: secs, perSecond: got / secs,
    // CPU time of this process (both ends) per message: steadier than the rate on a shared machine
    cpuUsPerMessage: (cpu.user + cpu.system) / got, userUsPerMessage: cpu.user / got, systemUsPerMessage: cpu.system / got });
}

main(async () => {
  if (!(n > 0)) throw new Error('N must be a positive number');
  if (what === 'handshakes') await handshakes(n);
  else if (what === 'oneway') await stream(n, false);
  else if (what === 'echo') await stream(n, true);
  else throw new Error(`unknown case '${what}'`);
});
