// Quick in-process figures for the session core: two DtlsSessions wired
// through their send callbacks (synchronous delivery, no network).
// Full comparative benchmarks (C ceiling, werift, dgram) live with issue 6.
//   node bench/inprocess.js [handshakes=500] [records=100000]
'use strict';
const { DtlsSession, createSecureContext, generateCertificate } = require('..');

async function main() {
  const nHandshakes = Number(process.argv[2] ?? 500);
  const nRecords = Number(process.argv[3] ?? 100000);
  const { cert, key } = await generateCertificate();
  const serverCtx = createSecureContext({ cert, key });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });

  function pair() {
    let c;
    let s;
    s = new DtlsSession({ role: 'server', context: serverCtx, send: (d) => c.receive(d) });
    c = new DtlsSession({ role: 'client', context: clientCtx, send: (d) => s.receive(d) });
    return { c, s };
  }

  // warm-up
  for (let i = 0; i < 20; i++) {
    const { c, s } = pair();
    await c.handshake();
    c.destroy();
    s.destroy();
  }
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < nHandshakes; i++) {
    const { c, s } = pair();
    await c.handshake();
    c.destroy();
    s.destroy();
  }
  let secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`full ECDHE-ECDSA P-256 handshakes (both ends, one thread): ${(nHandshakes / secs).toFixed(0)}/s  (${nHandshakes} in ${secs.toFixed(2)} s)`);

  const { c, s } = pair();
  await c.handshake();
  let got = 0;
  s.on('message', () => {
    got++;
  });
  const payload = Buffer.alloc(1200, 7);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < nRecords; i++) c.send(payload);
  secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`1200-byte records, client → server (seal + open): ${(nRecords / secs).toFixed(0)}/s  (${got}/${nRecords} delivered in ${secs.toFixed(2)} s)`);
  c.destroy();
  s.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
