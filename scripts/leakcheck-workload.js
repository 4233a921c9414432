#!/usr/bin/env node
// The workload scripts/leakcheck.sh runs under LeakSanitizer: every way the addon allocates OpenSSL and
// native memory, many times over, then everything dropped, collected and the process left to exit.
//
//   node --expose-gc scripts/leakcheck-workload.js [scale]      (scale 1 = the counts below)
//
// Phases (each asserts its own outcome, so a workload that quietly stopped working cannot pass):
//   handshakes   full handshakes + messages + close on shared contexts (ECDSA; RSA with client certificates)
//   cookies      server-side cookie exchange (HelloVerifyRequest) handshakes
//   resumption   getSession() then resumed handshakes
//   failures     fingerprint mismatch, untrusted certificate, protocol version, no shared cipher
//   aborted      sessions destroyed mid-handshake, and handshakes that time out
//   dropped      sessions (idle, connected, mid-handshake) dropped without close, collected by GC
//   keygen       generateCertificate() on the thread pool (ECDSA, RSA, Ed25519)
//   extras       exportKeyingMaterial, getPeerCertificate, timeline, stats, setRemoteFingerprints, keylog
//   server       createServer()/connect() over UDP on 127.0.0.1: certificates, PSK, refused PSK identities
//                (skipped, with a note, by versions without them)
//   worker       the addon loaded in worker threads that exit with sessions open (env cleanup hook)
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const root = path.resolve(__dirname, '..');
const lib = require(path.join(root, 'lib', 'index.js'));
const { DtlsSession, createSecureContext, fingerprint, generateCertificate } = lib;

const scale = Number(process.argv[2] ?? 1);
assert.ok(Number.isFinite(scale) && scale > 0, 'scale must be a positive number');
const n = (count) => Math.max(1, Math.round(count * scale));
if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');

const fixture = (name) => fs.readFileSync(path.join(root, 'test', 'fixtures', name), 'utf8');
const pem = (name) => ({ cert: fixture(`${name}-cert.pem`), key: fixture(`${name}-key.pem`) });
const ec = pem('ec');
const rsa = pem('rsa2048');
const client = pem('client');
const ca = fixture('ca-cert.pem');
const peer = { address: '127.0.0.1', port: 5000 };

const turn = () => new Promise((r) => setImmediate(r));

// Two sessions wired through their send callbacks (delivery on the next turn).
function pair(clientOpts, serverOpts) {
  let c, s;
  const deliver = (to) => (d) => setImmediate(() => {
    if (to.state !== 'closed' && to.state !== 'failed') to.receive(d);
  });
  c = new DtlsSession({ role: 'client', rejectUnauthorized: false, handshakeTimeout: 10000, ...clientOpts, send: (d) => deliver(s)(d) });
  s = new DtlsSession({ role: 'server', handshakeTimeout: 10000, ...serverOpts, send: (d) => deliver(c)(d) });
  return { c, s };
}

async function connect(clientOpts, serverOpts) {
  const p = pair(clientOpts, serverOpts);
  const [ci, si] = await Promise.all([p.c.handshake(), p.s.handshake()]);
  return { ...p, ci, si };
}

async function echo(p, count) {
  for (let i = 0; i < count; i++) {
    const got = new Promise((r) => p.s.once('message', r));
    p.c.send(`message ${i}`);
    assert.equal((await got).toString(), `message ${i}`);
  }
}

async function closeBoth(p) {
  await Promise.all([p.c.close(), p.s.close()]);
}

async function collect() {
  for (let i = 0; i < 6; i++) {
    global.gc();
    await turn();
  }
}

const counts = {};
const count = (k, by = 1) => { counts[k] = (counts[k] ?? 0) + by; };

async function handshakes() {
  const ecServer = createSecureContext({ ...ec });
  const rsaServer = createSecureContext({ ...rsa, requestCert: true, ca: [ca] });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const clientWithCert = createSecureContext({ ...client, rejectUnauthorized: false });
  for (let i = 0; i < n(200); i++) {
    const mutual = i % 4 === 3;
    const p = await connect({ context: mutual ? clientWithCert : clientCtx }, { context: mutual ? rsaServer : ecServer });
    await echo(p, 3);
    await closeBoth(p);
    count(mutual ? 'handshakes (RSA, client certificate)' : 'handshakes (ECDSA)');
  }
}

async function cookies() {
  const server = createSecureContext({ ...ec });
  for (let i = 0; i < n(40); i++) {
    const p = await connect({}, { context: server, cookieExchange: true, peer });
    await echo(p, 1);
    await closeBoth(p);
    count('cookie exchange handshakes');
  }
}

async function resumption() {
  const server = createSecureContext({ ...ec });
  const first = await connect({}, { context: server });
  const session = first.c.getSession();
  assert.ok(Buffer.isBuffer(session), 'a resumable session');
  await closeBoth(first);
  for (let i = 0; i < n(50); i++) {
    const p = await connect({ session }, { context: server });
    assert.equal(p.ci.resumed, true, 'resumed');
    await echo(p, 1);
    await closeBoth(p);
    count('resumed handshakes');
  }
}

async function expectFailure(clientOpts, serverOpts, what) {
  const p = pair(clientOpts, serverOpts);
  p.c.on('error', () => {});
  p.s.on('error', () => {});
  const r = await Promise.allSettled([p.c.handshake(), p.s.handshake()]);
  assert.ok(r.some((x) => x.status === 'rejected'), `${what}: the handshake must fail`);
  p.c.destroy();
  p.s.destroy();
  count(`failed handshakes (${what})`);
}

async function failures() {
  const wrong = [{ algorithm: 'sha-256', value: fingerprint(client.cert) }];
  for (let i = 0; i < n(25); i++) {
    await expectFailure({ remoteFingerprints: wrong }, { ...ec }, 'fingerprint mismatch');
    await expectFailure({ rejectUnauthorized: true }, { ...ec }, 'untrusted certificate');
    await expectFailure({ minVersion: 'DTLSv1', maxVersion: 'DTLSv1', ciphers: 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0' }, { ...ec }, 'protocol version');
    await expectFailure({ ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }, { ...ec }, 'no shared cipher');
    await expectFailure({}, { ...ec, requestCert: true, ca: [ca] }, 'no client certificate');
  }
}

async function aborted() {
  const server = createSecureContext({ ...ec });
  for (let i = 0; i < n(50); i++) {
    const p = pair({}, { context: server });
    p.c.on('error', () => {});
    p.s.on('error', () => {});
    const hs = Promise.allSettled([p.c.handshake(), p.s.handshake()]);
    for (let k = 0; k < 1 + (i % 4); k++) await turn();
    (i % 2 === 0 ? p.c : p.s).destroy();
    (i % 2 === 0 ? p.s : p.c).destroy();
    await hs;
    count('destroyed mid-handshake');
  }
  // Retransmissions that run out: datagrams go nowhere, the handshake times out.
  for (let i = 0; i < n(10); i++) {
    const c = new DtlsSession({ role: 'client', rejectUnauthorized: false, retransmitTimeout: 20, handshakeTimeout: 300, send: () => {} });
    c.on('error', () => {});
    await assert.rejects(c.handshake());
    c.destroy();
    count('timed-out handshakes');
  }
}

async function dropped() {
  const server = createSecureContext({ ...ec });
  for (let i = 0; i < n(100); i++) {
    new DtlsSession({ role: i % 2 ? 'client' : 'server', context: i % 2 ? undefined : server, rejectUnauthorized: false, send: () => {} });
    count('sessions dropped idle');
  }
  for (let i = 0; i < n(50); i++) {
    const p = await connect({}, { context: server });
    await echo(p, 1);
    count('sessions dropped connected');
  }
  for (let i = 0; i < n(50); i++) {
    // A client whose datagrams go nowhere, dropped after close() stops its timer.
    const c = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: () => {} });
    c.on('error', () => {});
    c.handshake().catch(() => {});
    await turn();
    await c.close();
    count('sessions dropped mid-handshake');
  }
  await collect();
}

async function keygen() {
  for (let i = 0; i < n(12); i++) {
    const keyType = ['ecdsa-p256', 'ed25519', 'rsa-2048'][i % 3];
    const { cert, key } = await generateCertificate({ keyType, commonName: `leak-${i}.test` });
    assert.match(cert, /BEGIN CERTIFICATE/);
    assert.match(key, /PRIVATE KEY/);
    if (keyType !== 'ed25519') {
      // Use it: a certificate made on the thread pool serves a handshake on the main thread.
      const p = await connect({ remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(cert) }] }, { cert, key });
      await closeBoth(p);
    }
    count(`generateCertificate (${keyType})`);
  }
}

async function extras() {
  const server = createSecureContext({ ...ec, requestCert: true, rejectUnauthorized: false });
  for (let i = 0; i < n(30); i++) {
    const p = await connect({ ...client, alpnProtocols: ['webrtc'] }, { context: server });
    p.c.on('keylog', () => {});
    assert.equal(p.c.exportKeyingMaterial(60, 'EXTRACTOR-dtls_srtp').length, 60);
    assert.ok(p.c.getPeerCertificate() !== undefined);
    assert.ok(p.s.getPeerCertificate() !== undefined);
    assert.ok(p.c.timeline().length > 0);
    assert.ok(p.s.getStats().datagramsIn > 0);
    p.c.setRemoteFingerprints([{ algorithm: 'sha-256', value: fingerprint(ec.cert) }]);
    await echo(p, 2);
    await closeBoth(p);
    count('connections with diagnostics');
  }
}

function worker(i) {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const { DtlsSession } = require(${JSON.stringify(path.join(root, 'lib', 'index.js'))});
    const ec = ${JSON.stringify(ec)};
    const sessions = [];
    for (let k = 0; k < 50; k++) sessions.push(new DtlsSession({ role: 'server', ...ec, send: () => {} }));
    let c, s;
    c = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => setImmediate(() => s.receive(d)) });
    s = new DtlsSession({ role: 'server', ...ec, send: (d) => setImmediate(() => c.receive(d)) });
    Promise.all([c.handshake(), s.handshake()]).then(() => {
      parentPort.postMessage('connected');
      ${i % 2 ? 'process.exit(0);' : ''}
    });
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    let connected = false;
    w.on('message', (m) => { connected = m === 'connected'; });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && connected ? resolve() : reject(new Error(`worker exit ${code}, connected ${connected}`))));
  });
}

async function workers() {
  for (let i = 0; i < n(4); i++) {
    await worker(i);
    count('workers exited with sessions open');
  }
}

// createServer()/connect() over UDP on 127.0.0.1, with certificates and with PSK (when the library has them).
async function server() {
  if (typeof lib.createServer !== 'function' || typeof lib.connect !== 'function') {
    console.log('leakcheck workload: server skipped (this version has no createServer/connect)');
    return;
  }
  const key = Buffer.alloc(32, 7);
  const serve = async (options, clients) => {
    const srv = lib.createServer(options, (socket) => socket.on('message', (d) => socket.send(d)));
    srv.on('tlsClientError', () => {});
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address();
    for (const [i, opts, ok] of clients) {
      const sock = lib.connect({ host: '127.0.0.1', port, handshakeTimeout: 5000, ...opts });
      const result = await new Promise((resolve) => {
        sock.once('secureConnect', () => {
          sock.once('message', (d) => resolve(d.toString()));
          sock.send(`udp ${i}`);
        });
        sock.once('error', (err) => resolve(err));
      });
      if (ok) assert.equal(result, `udp ${i}`);
      else assert.ok(result instanceof Error, 'the handshake must fail');
      await sock.close();
      count(ok ? `UDP connections (${opts.psk ? 'PSK' : 'certificate'})` : 'UDP connections refused (unknown PSK identity)');
    }
    await srv.close();
  };
  const certClients = [];
  for (let i = 0; i < n(40); i++) certClients.push([i, { rejectUnauthorized: false }, true]);
  await serve({ ...ec }, certClients);
  const pskClients = [];
  for (let i = 0; i < n(30); i++) {
    const known = i % 3 !== 2;
    pskClients.push([i, { psk: { identity: known ? 'leakcheck' : 'stranger', key } }, known]);
  }
  await serve({ pskCallback: (identity) => (identity === 'leakcheck' ? key : null) }, pskClients);
}

async function main() {
  const started = Date.now();
  for (const phase of [handshakes, cookies, resumption, failures, aborted, dropped, keygen, extras, server, workers]) {
    const t = Date.now();
    await phase();
    console.log(`leakcheck workload: ${phase.name} done in ${Date.now() - t} ms`);
  }
  await collect();
  const live = require(path.join(root, 'lib', 'binding.js')).binding.liveSessions();
  assert.equal(live, 0, 'every native session is gone after GC');
  for (const [k, v] of Object.entries(counts)) console.log(`leakcheck workload: ${String(v).padStart(5)} ${k}`);
  console.log(`leakcheck workload: complete in ${Date.now() - started} ms, 0 live native sessions`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
