// DTLS handshake time with a real browser: headless Chromium against examples/webrtc-echo in a
// loopback-only network namespace (test/support/chromium-webrtc.ts), N connections per DTLS role, medians.
//   npm run build:ts && node bench/webrtc-handshake.js [connections=10]
// Printed per role:
//   from the first browser datagram — Node as server: the browser's ClientHello (first fragment) arrives →
//     our session is connected; Node as client: the browser's first flight arrives → connected.
//     For the server this includes waiting for ICE nomination before our flight may leave.
//   from our first datagram — our first DTLS datagram handed to ICE → connected (the DTLS exchange itself).
// Same-run baseline: the same two-flight-pair handshake between two DtlsSessions in this process
// (webrtc preset, synchronous delivery), i.e. the CPU cost of both ends without any network or browser.
'use strict';
const path = require('node:path');

const dtls = require('..');

const support = path.join(__dirname, '..', 'dist-test', 'support', 'chromium-webrtc.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;

async function inProcessBaseline(n) {
  const server = await dtls.generateCertificate();
  const client = await dtls.generateCertificate();
  const sctx = dtls.createSecureContext({ ...dtls.webrtc, ...server });
  const cctx = dtls.createSecureContext({ ...dtls.webrtc, ...client });
  const times = [];
  for (let i = 0; i < n + 3; i++) {
    let c;
    let s;
    s = new dtls.DtlsSession({ ...dtls.webrtc, context: sctx, role: 'server', remoteFingerprints: dtls.localFingerprints(client.cert), send: (d) => c.receive(d) });
    c = new dtls.DtlsSession({ ...dtls.webrtc, context: cctx, role: 'client', remoteFingerprints: dtls.localFingerprints(server.cert), send: (d) => s.receive(d) });
    const t0 = performance.now();
    await Promise.all([c.handshake(), s.handshake()]);
    if (i >= 3) times.push(performance.now() - t0); // 3 warm-up rounds
    c.destroy();
    s.destroy();
  }
  return times;
}

async function main() {
  const n = Number(process.argv[2] ?? 10);
  const { chromiumAvailability, startWebRtcDriver } = require(support);
  const available = chromiumAvailability();
  if (!available.ok) {
    console.error(`cannot run: ${available.reason}`);
    process.exit(2);
  }
  const driver = await startWebRtcDriver();
  console.log(`${driver.browserVersion} ↔ openssl-dtls (${dtls.opensslVersion}), Node ${process.version}, ${n} connections per role`);
  try {
    for (const setup of ['passive', 'active']) {
      const fromFirstIn = [];
      const fromFirstOut = [];
      for (let i = 0; i < n; i++) {
        const r = await driver.run({ setup, srtpProfiles: ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_SHA1_80'], expect: 'media', minRtp: 1, timeoutMs: 15_000 });
        if (r.timedOut || r.node.error !== undefined) throw new Error(`connection ${i} failed: ${JSON.stringify(r)}`);
        fromFirstIn.push(r.node.handshakeFromFirstIn);
        fromFirstOut.push(r.node.handshakeFromFirstOut);
      }
      const role = setup === 'passive' ? 'server' : 'client';
      console.log(`Node as DTLS ${role}: from the first browser datagram ${fmt(fromFirstIn)}`);
      console.log(`Node as DTLS ${role}: from our first datagram       ${fmt(fromFirstOut)}`);
    }
  } finally {
    await driver.close();
  }
  console.log(`baseline, both ends in process (no network, no browser): ${fmt(await inProcessBaseline(n))}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
