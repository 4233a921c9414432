// In-process figures for the session core: two DtlsSessions wired through
// their send callbacks (synchronous delivery, no network), the same work the
// C ceiling (bench/native/dtls_ceiling.c) does over memory BIOs.
//
//   node bench/cases/inprocess.js <certDir> handshakes N   full handshakes, shared contexts, no resumption
//   node bench/cases/inprocess.js <certDir> records N [batch=B]
//                                                          N 1200-byte records client → server on one session;
//                                                          with batch=B, B at a time: send([...B]) on the client and
//                                                          the B datagrams in one receive([...]) on the server
//   node --expose-gc bench/cases/inprocess.js <certDir> memory N   N established idle pairs, bytes per session
//
// Configuration as in the C program: library defaults, the client verifying
// the server certificate against `ca` (the same certificate).
'use strict';

const { DtlsSession, createSecureContext } = require('../..');
const { readCert, parseArgs, emit, seconds, settleGc, main } = require('../support/common');

const { certDir, what, n, opts } = parseArgs(process.argv, { batch: 1 });
const { cert, key } = readCert(certDir);
const serverCtx = createSecureContext({ cert, key });
const clientCtx = createSecureContext({ ca: cert });

function pair() {
  let c;
  const s = new DtlsSession({ role: 'server', context: serverCtx, send: (d) => c.receive(d) });
  c = new DtlsSession({ role: 'client', context: clientCtx, send: (d) => s.receive(d) });
  return { c, s };
}

async function handshakes(count) {
  for (let i = 0; i < 50; i++) {
    const { c, s } = pair();
    await c.handshake();
    c.destroy();
    s.destroy();
  }
  const t0 = process.hrtime.bigint();
  let info;
  for (let i = 0; i < count; i++) {
    const { c, s } = pair();
    info = await c.handshake();
    c.destroy();
    s.destroy();
  }
  const secs = seconds(t0);
  emit({ case: 'handshakes', n: count, seconds: secs, perSecond: count / secs, negotiated: `${info.protocol} ${info.cipher.name}`, resumed: info.resumed });
}

async function records(count) {
  const batch = opts.batch;
  if (!(Number.isInteger(batch) && batch >= 1 && count % batch === 0)) throw new Error('batch must be a positive integer dividing N');
  if (batch === 1) {
    const { c, s } = pair();
    await c.handshake();
    let got = 0;
    s.on('message', () => {
      got++;
    });
    const payload = Buffer.alloc(1200, 7);
    for (let i = 0; i < 20000; i++) c.send(payload);
    got = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) c.send(payload);
    const secs = seconds(t0);
    if (got !== count) throw new Error(`${count - got} of ${count} records not delivered`);
    emit({ case: 'records', n: count, batch, seconds: secs, perSecond: count / secs, payload: payload.length });
    c.destroy();
    s.destroy();
    return;
  }
  // Batched: the client's datagrams of one send([...]) are handed to the server in one receive([...]).
  const held = [];
  let c;
  const s = new DtlsSession({ role: 'server', context: serverCtx, send: (d) => c.receive(d) });
  let holding = false;
  c = new DtlsSession({ role: 'client', context: clientCtx, send: (d) => (holding ? held.push(d) : s.receive(d)) });
  await c.handshake();
  holding = true;
  let got = 0;
  s.on('message', () => {
    got++;
  });
  const burst = new Array(batch).fill(Buffer.alloc(1200, 7));
  const run = (total) => {
    for (let i = 0; i < total; i += batch) {
      c.send(burst);
      s.receive(held);
      held.length = 0;
    }
  };
  run(20000 - (20000 % batch));
  got = 0;
  const t0 = process.hrtime.bigint();
  run(count);
  const secs = seconds(t0);
  if (got !== count) throw new Error(`${count - got} of ${count} records not delivered`);
  emit({ case: 'records', n: count, batch, seconds: secs, perSecond: count / secs, payload: 1200 });
  c.destroy();
  s.destroy();
}

async function memory(count) {
  // Warm up allocators and code paths with the same shape of work.
  const warm = [];
  for (let i = 0; i < 50; i++) {
    const p = pair();
    await p.c.handshake();
    warm.push(p);
  }
  for (const p of warm) {
    p.c.destroy();
    p.s.destroy();
  }
  warm.length = 0;
  await settleGc();
  const m0 = process.memoryUsage();
  const pairs = new Array(count);
  for (let i = 0; i < count; i++) {
    const p = pair();
    await p.c.handshake();
    pairs[i] = p;
  }
  await settleGc();
  const m1 = process.memoryUsage();
  const sessions = 2 * count;
  const per = (k) => (m1[k] - m0[k]) / sessions;
  emit({
    case: 'memory',
    pairs: count,
    rssBytesPerSession: per('rss'),
    heapBytesPerSession: per('heapUsed'),
    externalBytesPerSession: per('external'),
    connected: pairs.filter((p) => p.c.state === 'connected' && p.s.state === 'connected').length,
  });
  for (const p of pairs) {
    p.c.destroy();
    p.s.destroy();
  }
}

main(async () => {
  if (!(n > 0)) throw new Error('N must be a positive number');
  if (what === 'handshakes') await handshakes(n);
  else if (what === 'records') await records(n);
  else if (what === 'memory') await memory(n);
  else throw new Error(`unknown case '${what}'`);
});
