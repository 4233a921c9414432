// dtls-probe connect against `openssl s_server -dtls1_2` (good and failing cases), and dtls-probe serve
// with dtls-probe connect: exit codes, the human output, and the --json schemas
// ("dtls-probe/connect@1", "dtls-probe/serve@1").
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { fixturePath } from '../support/fixtures';
import { freeUdpPort, opensslVersion, requirePeer, spawnPeer, which, withTimeout, type PeerProcess } from '../support/peers';

const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'dtls-probe.js');
const PEER = /^OpenSSL \S+/.exec(opensslVersion())?.[0] ?? opensslVersion();
const LOCALHOST = '127.0.0.1';
const TEST_TIMEOUT = 30_000;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs dtls-probe asynchronously (the peer must keep running meanwhile), bounded in time. */
function probe(args: string[], ms = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dtls-probe ${args.join(' ')} did not exit within ${ms} ms\n${stdout}${stderr}`));
    }, ms);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** `openssl s_server -dtls1_2 -accept 127.0.0.1:PORT -naccept 1 <args>`, once it printed ACCEPT (retried on a port race). */
async function sServer(peers: PeerProcess[], args: string[]): Promise<number> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const server = spawnPeer('openssl', ['s_server', '-dtls1_2', '-accept', `${LOCALHOST}:${port}`, '-naccept', '1', ...args]);
    peers.push(server);
    try {
      await server.waitFor(/^ACCEPT$/m, 5000);
      return port;
    } catch (e) {
      last = e;
      server.kill();
    }
  }
  throw last;
}

async function release(peers: PeerProcess[]): Promise<void> {
  for (const p of peers) p.kill();
  await Promise.all(peers.map((p) => withTimeout(p.exited, 4000, 'peer exit').catch(() => undefined)));
}

const haveOpenssl = () => which('openssl') !== null;

test(`dtls-probe connect --json against ${PEER} s_server: exit 0, schema dtls-probe/connect@1, the HelloVerifyRequest and the negotiated event in the timeline`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const peers: PeerProcess[] = [];
  try {
    const port = await sServer(peers, ['-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem')]);
    const r = await probe(['connect', `${LOCALHOST}:${port}`, '--insecure', '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.schema, 'dtls-probe/connect@1');
    assert.deepEqual(j.target, { host: LOCALHOST, port });
    assert.equal(j.ok, true);
    assert.equal(j.error, null);
    assert.equal(j.handshake.protocol, 'DTLSv1.2');
    assert.match(j.handshake.cipher, /^ECDHE-ECDSA-/);
    assert.equal(j.handshake.verifyResult.code, 18, 'self-signed, not enforced with --insecure');
    assert.equal(j.peerCertificate.subject, 'CN=ec.test');
    assert.equal(j.peerCertificate.expired, false);
    const types = (j.timeline as Array<{ type: string; message?: string; direction?: string }>).map((e) => `${e.type}:${e.direction ?? ''}:${e.message ?? ''}`);
    assert.ok(types.includes('message:in:HelloVerifyRequest'), 's_server asks for a cookie');
    assert.ok(types.includes('negotiated::'));
    assert.equal(j.alerts.length, 1, 'only our close_notify');
    assert.equal(j.alerts[0].description, 'close_notify');
    for (const k of ['datagramsIn', 'datagramsOut', 'retransmits', 'undecryptedRecords']) assert.equal(typeof j.stats[k], 'number');
  } finally {
    await release(peers);
  }
});

test(`dtls-probe connect against ${PEER} s_server with an expired certificate (--insecure): connects, and warns that it has expired`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const peers: PeerProcess[] = [];
  try {
    const port = await sServer(peers, ['-cert', fixturePath('expired-cert.pem'), '-key', fixturePath('expired-key.pem')]);
    const r = await probe(['connect', `${LOCALHOST}:${port}`, '--insecure']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^CONNECTED$/m);
    assert.match(r.stdout, /^ {6}verify {6}10 certificate has expired \(not enforced: --insecure\)$/m);
    assert.match(r.stdout, /^ {6}valid {7}2020-01-01T00:00:00\.000Z \.\. 2020-02-01T00:00:00\.000Z {2}EXPIRED$/m);
    assert.match(r.stdout, /^ {6}warning {5}the peer certificate has expired/m);
    assert.match(r.stdout, /^timeline$/m);
    assert.match(r.stdout, /--> ClientHello seq=1 /);
  } finally {
    await release(peers);
  }
});

test(`dtls-probe connect --ca against ${PEER} s_server with a self-signed certificate: exit 1, unknown_ca from tls_post_process_server_certificate`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const peers: PeerProcess[] = [];
  try {
    const port = await sServer(peers, ['-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem')]);
    const human = await probe(['connect', `${LOCALHOST}:${port}`, '--ca', fixturePath('ca-cert.pem'), '--no-timeline']);
    assert.equal(human.status, 1, human.stdout + human.stderr);
    assert.match(human.stdout, /^FAILED {2}ERR_DTLS_ALERT_SENT: /m);
    assert.match(human.stdout, /^ {6}alert {7}fatal unknown_ca \(48\): we sent it after receiving Certificate$/m);
    assert.match(human.stdout, /^ {6}openssl {5}tls_post_process_server_certificate \/ certificate verify failed \/ ssl\/statem\/statem_clnt\.c:\d+$/m);
    assert.match(human.stdout, /^ {6}verify {6}18 self-signed certificate$/m);
    assert.match(human.stdout, /^ {6}meaning {5}The peer certificate is self-signed and not trusted \(unknown_ca\)$/m);
  } finally {
    await release(peers);
  }
});

test(`dtls-probe connect --json against ${PEER} s_server -Verify 1 without a client certificate: exit 1, the received alert explained from our side`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const peers: PeerProcess[] = [];
  try {
    const port = await sServer(peers, ['-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem'), '-Verify', '1']);
    const r = await probe(['connect', `${LOCALHOST}:${port}`, '--insecure', '--json']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.handshake, null);
    assert.equal(j.error.code, 'ERR_DTLS_ALERT_RECEIVED');
    const a = j.alerts.find((x: { direction: string }) => x.direction === 'received');
    assert.equal(a.level, 'fatal');
    assert.match(a.description, /^(handshake_failure|certificate_required)$/);
    assert.equal(a.opensslErrors.at(-1).function, 'dtls1_read_bytes');
    assert.equal(a.explanation.path, 'dtls1_read_bytes');
    assert.equal(a.explanation.inferredPath, 'tls_process_client_certificate');
    assert.equal(a.lastMessageSent, 'Finished');
  } finally {
    await release(peers);
  }
});

test(`dtls-probe connect --srtp against ${PEER} s_server -use_srtp: the profile agreed, in the handshake and in the 'negotiated' event`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const peers: PeerProcess[] = [];
  try {
    const port = await sServer(peers, ['-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem'), '-use_srtp', 'SRTP_AES128_CM_SHA1_80']);
    const r = await probe(['connect', `${LOCALHOST}:${port}`, '--insecure', '--srtp', 'SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80', '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.handshake.srtpProfile, 'SRTP_AES128_CM_SHA1_80');
    const negotiated = j.timeline.find((e: { type: string }) => e.type === 'negotiated');
    assert.equal(negotiated.srtpProfile, 'SRTP_AES128_CM_SHA1_80');
  } finally {
    await release(peers);
  }
});

test('dtls-probe serve --json --count 2 with dtls-probe connect: a good handshake and a fingerprint mismatch, both logged; serve exits 0', { timeout: TEST_TIMEOUT }, async () => {
  const port = await freeUdpPort();
  const serve = spawnPeer(process.execPath, [CLI, 'serve', '--port', String(port), '--count', '2', '--json'], { env: { ...process.env, NO_COLOR: '1' } });
  try {
    await serve.waitFor(/"event":"listening"/, 10_000);
    const listening = JSON.parse(serve.stdout().split('\n')[0]!);
    assert.equal(listening.schema, 'dtls-probe/serve@1');
    assert.equal(listening.port, port);
    assert.equal(listening.generatedCertificate, true);
    assert.match(listening.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const good = await probe(['connect', `${LOCALHOST}:${port}`, '--fingerprint', `sha-256:${listening.fingerprint}`, '--send', 'hi', '--json']);
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.equal(JSON.parse(good.stdout).ok, true);
    const bad = await probe(['connect', `${LOCALHOST}:${port}`, '--fingerprint', `sha-256:${'00:'.repeat(31)}00`, '--json']);
    assert.equal(bad.status, 1);
    const badJson = JSON.parse(bad.stdout);
    assert.equal(badJson.error.code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
    assert.equal(badJson.alerts[0].verifyResult.code, 50);

    const exit = await serve.waitForExit(10_000);
    assert.equal(exit.code, 0, serve.output());
    const events = serve.stdout().trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.event), ['listening', 'handshake', 'failure']);
    for (const e of events) {
      assert.equal(e.schema, 'dtls-probe/serve@1');
      assert.ok(!Number.isNaN(Date.parse(e.at)));
    }
    const hs = events[1];
    assert.equal(hs.remote.address, LOCALHOST);
    assert.equal(hs.protocol, 'DTLSv1.2');
    const hellos = hs.timeline.filter((x: { type: string; message?: string; direction?: string }) => x.type === 'message' && x.direction === 'in' && x.message === 'ClientHello');
    assert.equal(hellos.length, 1, 'the ClientHello that passed the stateless cookie check is recorded once');
    const failure = events[2];
    assert.equal(failure.error.code, 'ERR_DTLS_ALERT_RECEIVED');
    assert.equal(failure.alert.description, 'handshake_failure');
    assert.equal(failure.alert.explanation.inferredPath, 'tls_post_process_server_certificate');
    assert.match(failure.alert.explanation.summary, /fingerprint/);
  } finally {
    serve.kill();
    await withTimeout(serve.exited, 4000, 'serve exit').catch(() => undefined);
  }
});

test('dtls-probe connect/serve usage errors exit 2 with a message', async () => {
  for (const args of [['connect'], ['connect', 'nohostport'], ['connect', '127.0.0.1:1', '--frob'], ['connect', '127.0.0.1:1', '--fingerprint', '00:11'], ['serve'], ['serve', '--port', 'x']]) {
    const r = await probe(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^dtls-probe (connect|serve): /);
  }
});
