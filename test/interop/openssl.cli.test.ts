// Interop over UDP on 127.0.0.1: our DtlsSession (through test/support/udp.ts) against the OpenSSL
// command line tool (`openssl s_server` / `openssl s_client`, DTLS 1.2). Peer facts: shared/PEERS.md.
//
// What the CLI prints, as measured with OpenSSL 3.0.19 (the assertions below rely on it):
// - s_server prints "ACCEPT" once its socket is bound, then per connection "CIPHER is <name>", the client
//   certificate ("subject=CN = client.test") when it got one, "Keying material: <HEX>" under
//   -keymatexport, everything it receives (raw, on stdout), and "DONE" when the peer's close_notify arrives
//   (then "shutting down SSL", "CONNECTION CLOSED"; with -naccept 1 it exits 0). A failed handshake prints
//   "ERROR" and the error queue line (e.g. "...:no shared cipher:...").
// - s_server treats stdin lines starting with Q, q, P or S (and r, R, K, k, c alone on a line) as commands
//   (unless -quiet): lines we send through it start with other letters. With stdin at EOF it quits at once, so stdin stays open.
// - s_client -brief prints "CONNECTION ESTABLISHED", "Protocol version: DTLSv1.2", "Ciphersuite: <name>"
//   on stderr and what it receives on stdout; at stdin EOF it prints "DONE", sends close_notify and exits 0.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomUUID, X509Certificate } from 'node:crypto';

import { DtlsError, type DtlsSession } from '../../lib/index.js';
import { caCert, clientPair, ecPair, fixturePath, rsa2048Pair, rsa4096Root, serverPair } from '../support/fixtures';
import { nextEvent } from '../support/pair';
import { opensslVersion, requirePeer, spawnPeer, which, withTimeout } from '../support/peers';
import { dtlsOverUdp, type DtlsOverUdp, type DtlsOverUdpOptions } from '../support/udp';
import { capture, Resources, startServer, waitForStream } from '../support/openssl';

const PEER = /^OpenSSL \S+/.exec(opensslVersion())?.[0] ?? opensslVersion();
const TEST_TIMEOUT = 20_000;
const WAIT_MS = 5_000;
const HANDSHAKE_MS = 10_000;
const LOCALHOST = '127.0.0.1';

const haveOpenssl = (): boolean => which('openssl') !== null;



/** Our client over UDP to 127.0.0.1:port. */
async function ourClient(res: Resources, port: number, options: Omit<DtlsOverUdpOptions, 'role' | 'remote'>): Promise<DtlsOverUdp> {
  const h = await dtlsOverUdp({ role: 'client', remote: { address: LOCALHOST, port }, handshakeTimeout: HANDSHAKE_MS, ...options });
  res.sockets.push(h);
  return h;
}

function handshake(session: DtlsSession) {
  return withTimeout(session.handshake(), HANDSHAKE_MS + 1_000, 'DTLS handshake');
}



function serverArgs(cert: string, key: string): string[] {
  return ['-cert', fixturePath(cert), '-key', fixturePath(key)];
}

// ------------------------------------------------------------------------------- our client → s_server

test(`${PEER} s_server: our client handshakes, exchanges data both ways, and close() reaches it as close_notify`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, serverArgs('ec-cert.pem', 'ec-key.pem'));
    const h = await ourClient(res, port, { rejectUnauthorized: false });
    const info = await handshake(h.session);
    assert.equal(info.protocol, 'DTLSv1.2');
    assert.equal(h.session.state, 'connected');
    assert.equal(info.peerCertificate?.subject, 'CN=ec.test');

    const serverOut = await waitForStream(server, 'stdout', /^CIPHER is \S+\n/m);
    assert.equal(capture(serverOut, /^CIPHER is (\S+)\n/m, 's_server cipher'), info.cipher.name);

    // ours → s_server: it prints what it receives.
    const token = `hello-from-openssl-dtls-${randomUUID()}\n`;
    h.session.send(token);
    await waitForStream(server, 'stdout', new RegExp(`^${token}`, 'm'));

    // s_server → ours: it sends what arrives on its stdin as one record.
    const line = `greetings from s_server ${randomUUID()}\n`;
    const got = nextEvent<Buffer>(h.session, 'message', WAIT_MS);
    server.write(line);
    assert.equal((await got).toString('utf8'), line);

    // close(): close_notify makes s_server print DONE and (with -naccept 1) exit 0.
    assert.doesNotMatch(server.stdout(), /^DONE$/m);
    await h.close();
    assert.equal(h.session.state, 'closed');
    await waitForStream(server, 'stdout', /^DONE\nshutting down SSL\nCONNECTION CLOSED\n/m);
    const exit = await server.waitForExit(WAIT_MS);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.doesNotMatch(server.stderr(), /^ERROR$/m);
  } finally {
    await res.release();
  }
});

test(`${PEER} s_server: our client verifies a CA-signed server certificate (ca + servername localhost)`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, serverArgs('server-cert.pem', 'server-key.pem'));
    const h = await ourClient(res, port, { ca: caCert(), servername: 'localhost' });
    const info = await handshake(h.session);
    assert.deepEqual(info.verifyResult, { code: 0, message: 'ok' });
    assert.equal(info.peerCertificate?.subject, 'CN=localhost');
    assert.ok(info.peerCertificate?.checkIssued(new X509Certificate(caCert())), 'issued by the test CA');

    const token = `verified-${randomUUID()}\n`;
    h.session.send(token);
    await waitForStream(server, 'stdout', new RegExp(`^${token}`, 'm'));
  } finally {
    await res.release();
  }
});

// ------------------------------------------------------------------------------- s_client → our server

for (const cookieExchange of [true, false]) {
  test(`${PEER} s_client: talks to our server (cookieExchange ${cookieExchange}), gets its echo, and closes it`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
    const res = new Resources();
    try {
      // With cookies, the session is built on the first datagram so `peer` (what the cookie binds to) is
      // s_client's real address; without, it exists before anything arrives.
      const h = await dtlsOverUdp({ role: 'server', ...ecPair(), cookieExchange, peerFromFirstDatagram: cookieExchange, handshakeTimeout: HANDSHAKE_MS });
      res.sockets.push(h);
      const client = spawnPeer('openssl', ['s_client', '-dtls1_2', '-brief', '-connect', `${LOCALHOST}:${h.address().port}`]);
      res.peers.push(client);

      const session = await h.ready(WAIT_MS);
      session.on('message', (m) => session.send(Buffer.concat([Buffer.from('echo:'), m])));
      const info = await handshake(session);
      assert.equal(info.protocol, 'DTLSv1.2');
      const remote = h.remote();
      assert.equal(remote?.address, LOCALHOST);
      assert.ok(remote !== undefined && remote.port > 0 && remote.port !== h.address().port, `remote ${JSON.stringify(remote)}`);
      // -brief prints these lines in more than one write: wait for the last one used.
      const clientErr = await waitForStream(client, 'stderr', /^Ciphersuite: \S+\n/m);
      assert.match(clientErr, /^CONNECTION ESTABLISHED\nProtocol version: DTLSv1\.2\nCiphersuite: /m);
      assert.equal(capture(clientErr, /^Ciphersuite: (\S+)\n/m, 's_client cipher'), info.cipher.name);

      // The cookie round trip happened exactly when asked for: HelloVerifyRequest out, ClientHello twice.
      const messages = session.timeline().flatMap((e) => (e.type === 'message' ? [`${e.direction}:${e.message}`] : []));
      assert.equal(messages.filter((m) => m === 'out:HelloVerifyRequest').length, cookieExchange ? 1 : 0, messages.join(' '));
      assert.equal(messages.filter((m) => m === 'in:ClientHello').length, cookieExchange ? 2 : 1, messages.join(' '));

      // stdin stays open until the echo is back (at EOF s_client would close first).
      const token = `ping-${randomUUID()}`;
      client.write(`${token}\n`);
      await waitForStream(client, 'stdout', new RegExp(`^echo:${token}\n`, 'm'));

      // stdin EOF: s_client sends close_notify, our server session closes cleanly (s_client then sleeps
      // 500 ms before it exits: its own habit, not ours).
      const alerts: string[] = [];
      session.on('alert', (a) => alerts.push(`${a.direction}:${a.level}:${a.description}`));
      const closed = nextEvent(session, 'close', WAIT_MS);
      client.endInput();
      await closed;
      assert.equal(session.state, 'closed');
      assert.equal(alerts[0], 'received:warning:close_notify', alerts.join(' '));
      assert.ok(alerts.every((a) => a.endsWith(':close_notify')), alerts.join(' '));
      const exit = await client.waitForExit(WAIT_MS);
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      await res.release();
    }
  });
}

test(`${PEER} s_client -cipher ECDHE-RSA-CHACHA20-POLY1305: our RSA-2048 server negotiates it and reports the same cipher`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const h = await dtlsOverUdp({ role: 'server', ...rsa2048Pair(), handshakeTimeout: HANDSHAKE_MS });
    res.sockets.push(h);
    const client = spawnPeer('openssl', [
      's_client', '-dtls1_2', '-brief', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305', '-connect', `${LOCALHOST}:${h.address().port}`,
    ]);
    res.peers.push(client);
    h.session.on('message', (m) => h.session.send(Buffer.concat([Buffer.from('echo:'), m])));
    const info = await handshake(h.session);
    const clientErr = await waitForStream(client, 'stderr', /^Ciphersuite: \S+\n/m);
    const theirs = capture(clientErr, /^Ciphersuite: (\S+)\n/m, 's_client cipher');
    assert.equal(theirs, 'ECDHE-RSA-CHACHA20-POLY1305');
    assert.equal(h.session.getCipher()?.name, theirs);
    assert.equal(info.cipher.standardName, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256');
    assert.equal(capture(clientErr, /^Protocol version: (\S+)\n/m, 's_client protocol'), h.session.getProtocol());

    const token = `chacha-${randomUUID()}`;
    client.write(`${token}\n`);
    await waitForStream(client, 'stdout', new RegExp(`^echo:${token}\n`, 'm'));
  } finally {
    await res.release();
  }
});

// ------------------------------------------------------------------------------------ keying material

test(`${PEER} s_server -keymatexport: our exportKeyingMaterial(32, 'EXPERIMENTAL-interop') matches its output`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const label = 'EXPERIMENTAL-interop';
    const { server, port } = await startServer(res, [
      ...serverArgs('ec-cert.pem', 'ec-key.pem'), '-keymatexport', label, '-keymatexportlen', '32',
    ]);
    const h = await ourClient(res, port, { rejectUnauthorized: false });
    await handshake(h.session);
    const out = await waitForStream(server, 'stdout', /^\s*Keying material: [0-9A-F]+\n/m);
    assert.equal(capture(out, /^Keying material exporter:\n\s*Label: '([^']*)'\n/m, 'label'), label);
    assert.equal(capture(out, /^\s*Length: (\d+) bytes\n/m, 'length'), '32');
    const theirs = capture(out, /^\s*Keying material: ([0-9A-F]+)\n/m, 'keying material');
    assert.equal(theirs.length, 64);

    const ours = h.session.exportKeyingMaterial(32, label);
    assert.equal(ours.length, 32);
    assert.equal(ours.toString('hex').toUpperCase(), theirs);
    // A different label gives different material (the comparison above is not trivially true).
    assert.notEqual(h.session.exportKeyingMaterial(32, 'EXPERIMENTAL-other').toString('hex').toUpperCase(), theirs);
  } finally {
    await res.release();
  }
});

// ------------------------------------------------------------------------------------- client certificates

test(`${PEER} s_server -Verify 1: our client presents clientPair() and s_server verifies CN=client.test`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, [
      ...serverArgs('server-cert.pem', 'server-key.pem'), '-Verify', '1', '-CAfile', fixturePath('ca-cert.pem'),
    ]);
    const h = await ourClient(res, port, { ...clientPair(), ca: caCert(), servername: 'localhost' });
    const info = await handshake(h.session);
    assert.equal(info.verifyResult.code, 0);
    const out = await waitForStream(server, 'stdout', /^CIPHER is \S+\n/m);
    assert.match(out, /^Client certificate\n-----BEGIN CERTIFICATE-----\n/m);
    assert.equal(capture(out, /^subject=(.*)\n/m, 'client certificate subject'), 'CN = client.test');
    assert.equal(capture(out, /^issuer=(.*)\n/m, 'client certificate issuer'), 'CN = openssl-dtls test CA');
    // s_server's verify callback (stderr) accepted both levels of the chain.
    const serverErr = await waitForStream(server, 'stderr', /^depth=0 CN = client\.test\nverify return:1\n/m);
    assert.match(serverErr, /^depth=1 CN = openssl-dtls test CA\nverify return:1\n/m);
    assert.doesNotMatch(serverErr, /verify error/);

    const token = `mutual-${randomUUID()}\n`;
    h.session.send(token);
    await waitForStream(server, 'stdout', new RegExp(`^${token}`, 'm'));
  } finally {
    await res.release();
  }
});

/** Awaits a handshake that the peer must end with a fatal handshake_failure; returns the error. */
async function receivedHandshakeFailure(session: DtlsSession): Promise<DtlsError> {
  const err = await handshake(session).then(
    () => assert.fail('the handshake should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DtlsError, String(err));
  assert.equal(err.code, 'ERR_DTLS_ALERT_RECEIVED');
  assert.equal(err.alert?.direction, 'received');
  assert.equal(err.alert?.level, 'fatal');
  assert.equal(err.alert?.description, 'handshake_failure');
  return err;
}

test(`${PEER} s_server -Verify 1: our client without a certificate gets handshake_failure`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, [
      ...serverArgs('server-cert.pem', 'server-key.pem'), '-Verify', '1', '-CAfile', fixturePath('ca-cert.pem'),
    ]);
    const h = await ourClient(res, port, { ca: caCert(), servername: 'localhost' });
    const err = await receivedHandshakeFailure(h.session);
    assert.equal(h.session.state, 'failed');
    await waitForStream(server, 'stderr', /:SSL routines:tls_process_client_certificate:peer did not return a certificate:/);
  } finally {
    await res.release();
  }
});

// ------------------------------------------------------------------------------------------- failures

test(`${PEER} s_server (RSA cert): our client offering only ECDHE-ECDSA-AES256-GCM-SHA384 fails with handshake_failure`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, serverArgs('rsa2048-cert.pem', 'rsa2048-key.pem'));
    const h = await ourClient(res, port, { rejectUnauthorized: false, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' });
    const alerts: Array<{ direction: string; description: string }> = [];
    h.session.on('alert', (a) => alerts.push({ direction: a.direction, description: a.description }));
    const err = await receivedHandshakeFailure(h.session);
    assert.equal(err.alert?.code, 40);
    assert.equal(err.alert?.lastMessageSent, 'ClientHello');
    // OpenSSL queues the received alert as "sslv3 alert handshake failure" in SSL routines.
    const last = err.opensslErrors.filter((e) => e.library === 'SSL routines').at(-1);
    assert.equal(last?.reason, 'sslv3 alert handshake failure');
    assert.deepEqual(alerts, [{ direction: 'received', description: 'handshake_failure' }]);
    assert.equal(h.session.state, 'failed');

    const serverErr = await waitForStream(server, 'stderr', /:SSL routines:tls_post_process_client_hello:no shared cipher:/);
    assert.match(serverErr, /^ERROR\n/m);
  } finally {
    await res.release();
  }
});

// ------------------------------------------------------------------------------------------------ MTU

test(`${PEER} s_server -mtu 576 with an RSA-4096 chain: our client (mtu 576) reassembles and verifies it`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, [
      '-cert', fixturePath('rsa4096-leaf-cert.pem'), '-cert_chain', fixturePath('rsa4096-inter-cert.pem'),
      '-key', fixturePath('rsa4096-leaf-key.pem'), '-mtu', '576',
    ]);
    const sizes = { in: [] as number[], out: [] as number[] };
    const h = await ourClient(res, port, {
      ca: rsa4096Root(),
      servername: 'localhost',
      mtu: 576,
      onDatagram: (dir, d) => sizes[dir].push(d.length),
    });
    const info = await handshake(h.session);
    assert.equal(info.verifyResult.code, 0);
    assert.equal(info.peerCertificate?.subject, 'CN=localhost');

    // Both directions kept to the MTU, and the server flight (> 4.4 KB of certificates) really was split.
    assert.ok(Math.max(...sizes.out) <= 576, `ours: ${sizes.out.join(',')}`);
    assert.ok(Math.max(...sizes.in) <= 576, `theirs: ${sizes.in.join(',')}`);
    const inBytes = sizes.in.reduce((a, b) => a + b, 0);
    assert.ok(inBytes > 4400 && sizes.in.length >= 9, `theirs: ${sizes.in.length} datagrams, ${inBytes} bytes`);
    t.diagnostic(`handshake datagrams in: ${sizes.in.join(',')}; out: ${sizes.out.join(',')}`);

    const token = `mtu-${randomUUID()}\n`;
    h.session.send(token);
    await waitForStream(server, 'stdout', new RegExp(`^${token}`, 'm'));
  } finally {
    await res.release();
  }
});
