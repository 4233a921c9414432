#!/usr/bin/env node
// Seeds from real sessions of the library itself: in-process DtlsSession pairs (lib/index.js, the addon in
// build/Release) handshake over a recorded link in a spread of configurations — certificate types and
// chains, client certificates, fingerprints, cookies, small MTUs (fragmented flights), DTLS 1.0, ALPN,
// resumption, failures with alerts — and every datagram is written out, in the fuzz input format
// (native/fuzz/harness.h), to the target that would receive it.
//
//   node native/fuzz/capture-seeds.js <seeds-dir>     (run by scripts/fuzz.sh; needs `npm run build:ts`)
//
// These do not replay exactly against the harness (their randoms and keys are not the harness's); they
// bring shapes the harness's own handshakes lack. seedgen writes the exactly-replaying ones.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const { DtlsSession, createSecureContext, fingerprint } = require(path.join(root, 'lib', 'index.js'));

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node native/fuzz/capture-seeds.js <seeds-dir>');
  process.exit(2);
}

const fixture = (name) => fs.readFileSync(path.join(root, 'test', 'fixtures', name), 'utf8');
const pair = (name) => ({ cert: fixture(`${name}-cert.pem`), key: fixture(`${name}-key.pem`) });
const ec = pair('ec');
const client = pair('client');
const chain = { cert: fixture('rsa4096-chain.pem'), key: fixture('rsa4096-leaf-key.pem') };
const peer = { address: '127.0.0.1', port: 5000 };
const DTLS10 = { minVersion: 'DTLSv1', maxVersion: 'DTLSv1', ciphers: 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0' };

// name, config byte (harness.h: the closest harness config), client options, server options
const scenarios = [
  ['ec', 0x00, {}, { ...ec }],
  ['ec-cookie', 0x01, {}, { ...ec, cookieExchange: true, peer }],
  ['rsa2048', 0x10, {}, pair('rsa2048')],
  ['ed25519-server', 0x00, {}, pair('ed25519')],
  ['ed25519-client', 0x2b, { ...pair('ed25519') }, { ...ec, requestCert: true, rejectUnauthorized: false }],
  ['ca-verified', 0x00, { rejectUnauthorized: true, ca: [fixture('ca-cert.pem')], servername: 'localhost' }, pair('server')],
  ['rsa4096-chain', 0x00, { rejectUnauthorized: true, ca: [fixture('rsa4096-root-cert.pem')], servername: 'localhost' }, chain],
  ['rsa4096-chain-mtu300', 0x04, { mtu: 300 }, { ...chain, mtu: 300 }],
  ['mutual', 0x03, { ...client }, { ...ec, requestCert: true, rejectUnauthorized: false, cookieExchange: true, peer }],
  ['mutual-ca', 0x02, { ...client }, { ...ec, requestCert: true, ca: [fixture('ca-cert.pem')] }],
  ['fingerprints', 0x08, { ...client, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(ec.cert) }] },
    { ...ec, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(client.cert) }] }],
  ['mtu300', 0x05, { mtu: 300 }, { ...ec, mtu: 300, cookieExchange: true, peer }],
  ['dtls10', 0x40, { ...DTLS10 }, { ...ec, ...DTLS10 }],
  ['alpn', 0x80, { alpnProtocols: ['c-webrtc', 'webrtc'] }, { ...ec, alpnProtocols: ['webrtc', 'c-webrtc'] }],
  ['no-ems', 0x00, { extendedMasterSecret: false }, { ...ec }],
  // Failures: the alert flights and what comes after them.
  ['fingerprint-mismatch', 0x08, { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(client.cert) }] }, { ...ec }],
  ['untrusted', 0x00, { rejectUnauthorized: true }, { ...ec }],
  ['expired', 0x00, { rejectUnauthorized: true, ca: [fixture('ca-cert.pem')] }, pair('expired')],
  ['no-client-cert', 0x02, {}, { ...ec, requestCert: true, ca: [fixture('ca-cert.pem')] }],
  ['version-mismatch', 0x40, { ...DTLS10 }, { ...ec }],
  ['no-shared-cipher', 0x00, { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }, { ...ec }],
];

// Two sessions over a recording link: each datagram is delivered on its own turn (setImmediate), and
// `log` keeps them all in order with their direction.
function link(name, clientOpts, serverOpts) {
  const log = [];
  let c, s;
  const deliver = (to, d) => setImmediate(() => { if (to.state !== 'closed' && to.state !== 'failed') to.receive(d); });
  c = new DtlsSession({ role: 'client', rejectUnauthorized: false, handshakeTimeout: 5000, ...clientOpts,
    send: (d) => { log.push({ dir: 'c->s', d: Buffer.from(d) }); deliver(s, d); } });
  s = new DtlsSession({ role: 'server', handshakeTimeout: 5000, ...serverOpts,
    send: (d) => { log.push({ dir: 's->c', d: Buffer.from(d) }); deliver(c, d); } });
  c.on('error', () => {});
  s.on('error', () => {});
  return { c, s, log, name };
}

const turn = () => new Promise((r) => setImmediate(r));
async function settle() {
  for (let i = 0; i < 20; i++) await turn();
}

async function run(name, clientOpts, serverOpts, resumeFrom) {
  const l = link(name, { ...clientOpts, ...(resumeFrom ? { session: resumeFrom } : {}) }, serverOpts);
  const results = await Promise.allSettled([l.c.handshake(), l.s.handshake()]);
  const ok = results.every((r) => r.status === 'fulfilled');
  const handshakeEnd = l.log.length;
  let session;
  if (ok) {
    session = l.c.getSession();
    await settle(); // the server's final flight reaches the client
    l.c.send('hello from the client');
    l.s.send(Buffer.alloc(1000, 0x78));
    await settle();
    await Promise.race([Promise.all([l.c.close(), settle()]), settle()]);
    await settle();
  } else {
    await settle();
  }
  l.c.destroy();
  l.s.destroy();
  return { log: l.log, handshakeEnd, ok, session };
}

function chunks(dgrams) {
  const parts = [];
  for (const d of dgrams) {
    const len = Math.min(d.length, 0xffff);
    parts.push(Buffer.from([0, len >> 8, len & 0xff]), d.subarray(0, len));
  }
  return Buffer.concat(parts);
}

let written = 0;
let bytes = 0;
function write(target, name, config, dgrams) {
  if (dgrams.length === 0) return;
  const dir = path.join(outDir, target);
  fs.mkdirSync(dir, { recursive: true });
  const body = Buffer.concat([Buffer.from([config]), chunks(dgrams)]);
  fs.writeFileSync(path.join(dir, `node-${name}`), body);
  written++;
  bytes += body.length;
}

const isServerHello = (d) => d.length > 13 && d[0] === 22 && d[13] === 2;
const hasCcs = (d) => {
  for (let off = 0; off + 13 <= d.length; off += 13 + d.readUInt16BE(off + 11)) if (d[off] === 20) return true;
  return false;
};

function emit(name, config, { log, handshakeEnd }) {
  const toServer = log.filter((e) => e.dir === 'c->s').map((e) => e.d);
  const toClient = log.filter((e) => e.dir === 's->c').map((e) => e.d);
  write('server_new', name, config, toServer);
  write('client_hello', name, config, toClient);
  const hello = log.findIndex((e) => e.dir === 's->c' && isServerHello(e.d));
  if (hello >= 0) write('server_hello', name, config, log.slice(hello).filter((e) => e.dir === 'c->s').map((e) => e.d));
  const ccs = log.findIndex((e) => e.dir === 'c->s' && hasCcs(e.d));
  if (ccs >= 0) write('client_finished', name, config, log.slice(ccs).filter((e) => e.dir === 's->c').map((e) => e.d));
  const after = log.slice(handshakeEnd);
  // connected: bit 0 set = the client is under test (it receives what the server sent)
  write('connected', `${name}-to-server`, config & ~1, after.filter((e) => e.dir === 'c->s').map((e) => e.d));
  write('connected', `${name}-to-client`, (config & ~1) | 1, after.filter((e) => e.dir === 's->c').map((e) => e.d));
}

async function main() {
  const failing = [];
  for (const [name, config, clientOpts, serverOpts] of scenarios) {
    const resumable = name === 'ec' || name === 'mutual';
    // Resumption needs both connections on one server context (its ticket keys).
    const server = resumable ? { ...serverOpts, context: createSecureContext(serverOpts) } : serverOpts;
    const r = await run(name, clientOpts, server);
    emit(name, config, r);
    if (!r.ok) failing.push(name);
    if (resumable) {
      // The abbreviated handshake's flights (ClientHello with a ticket, the server's CCS first).
      const again = await run(`${name}-resumed`, clientOpts, server, r.session);
      if (!again.ok || r.session === undefined) throw new Error(`${name}: resumption did not complete`);
      emit(`${name}-resumed`, config, again);
    }
  }
  console.log(
    `capture-seeds: ${written} seeds, ${bytes} bytes from ${scenarios.length + 2} real session pairs ` +
      `(${failing.length} failing on purpose: ${failing.join(', ')})`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
