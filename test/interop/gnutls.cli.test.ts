// Interop over UDP on 127.0.0.1 against the GnuTLS command line tools (gnutls-bin): `gnutls-cli --udp` →
// our createServer(), and our connect() → `gnutls-serv --udp --echo`. What the tools print and how they
// behave is summarised in test/support/gnutls.ts (measured with GnuTLS 3.7.9).
//
// Found while writing these (GnuTLS 3.7.9, not us): gnutls-cli crashes (SIGSEGV in
// gnutls_psk_server_get_username, called from its session printout) right after completing an ECDHE-PSK
// handshake — against gnutls-serv too. The ECDHE-PSK case from gnutls-cli therefore checks our side of the
// handshake only; ECDHE-PSK data is exchanged in the connect() → gnutls-serv direction.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';

import { connect, createServer, DtlsError, fingerprint, type ConnectOptions, type DtlsSocket } from '../../lib/index.js';
import { caCert, caSigned, ecPair, fixturePath, rsa2048Pair, type CertKeyPair } from '../support/fixtures';
import { gnutlsCipherOf, gnutlsPeerName, haveGnutls, pskPasswdFile, spawnGnutlsCli, startGnutlsServ } from '../support/gnutls';
import { Cleanup, collect, lastSslEntry, listenLocal, until } from '../support/interop';
import { nextEvent } from '../support/pair';
import { requirePeer, withTimeout, type PeerProcess } from '../support/peers';

const GNUTLS = gnutlsPeerName();
const TEST_TIMEOUT = 15_000;
const WAIT_MS = 5_000;
const HANDSHAKE_MS = 8_000;
const IDENTITY = 'alice';
const PSK_KEY = Buffer.from('8f1c2a7e5b903d64c0e1f2a3b4c5d6e7', 'hex');
const WRONG_KEY = Buffer.from('00000000000000000000000000000001', 'hex');

const gate = (t: { skip(m?: string): void }): boolean => requirePeer(t, 'gnutls-bin', haveGnutls(), 'gnutls-cli/gnutls-serv not installed (apt-get install gnutls-bin)');

/** Kills the peer at cleanup and waits (bounded) until it has gone. */
function track(cleanup: Cleanup, p: PeerProcess): PeerProcess {
  cleanup.add(`kill ${p.command}`, async () => {
    p.kill();
    await p.exited;
  });
  return p;
}

/** An echo server ('echo:' + message) that records every connection and client error. */
function echoServer(cleanup: Cleanup, options: Parameters<typeof createServer>[0]) {
  const server = createServer({ handshakeTimeout: HANDSHAKE_MS, ...options });
  cleanup.add('server.close()', () => server.close());
  const connections = collect<DtlsSocket>(server, 'secureConnection');
  const clientErrors = collect<DtlsError>(server, 'tlsClientError');
  server.on('secureConnection', (s) => {
    s.on('message', (m) => s.send(Buffer.concat([Buffer.from('echo:'), m])));
  });
  return { server, connections, clientErrors };
}

/** Writes one line to gnutls-cli and waits until our server got it and gnutls-cli printed the echo. */
async function lineRoundTrip(cli: PeerProcess, sock: DtlsSocket, line: string): Promise<void> {
  const got = nextEvent<Buffer>(sock, 'message', WAIT_MS);
  cli.write(`${line}\n`);
  assert.equal((await got).toString('utf8'), `${line}\n`);
  await cli.waitFor(`echo:${line}\n`, WAIT_MS);
}

// ------------------------------------------------------------------ gnutls-cli → our createServer()

const X509_SERVERS: Array<{ label: string; pair: () => CertKeyPair; subject: string; suite: RegExp }> = [
  { label: 'ECDSA P-256', pair: ecPair, subject: 'CN=ec.test', suite: /^ECDHE-ECDSA-/ },
  { label: 'RSA-2048', pair: rsa2048Pair, subject: 'CN=rsa2048.test', suite: /^ECDHE-RSA-/ },
];

for (const { label, pair, subject, suite } of X509_SERVERS) {
  test(`${GNUTLS} gnutls-cli --udp --insecure → our server (${label}): cookie exchange, data both ways, close_notify at EOF`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!gate(t)) return;
    const cleanup = new Cleanup();
    try {
      const { server, connections } = echoServer(cleanup, pair());
      const port = await listenLocal(server);
      const cli = track(cleanup, spawnGnutlsCli(port, ['--insecure']));

      const [sock] = await connections.waitFor(1, HANDSHAKE_MS);
      assert.ok(sock !== undefined);
      const alerts: string[] = [];
      sock.on('alert', (a) => alerts.push(`${a.direction}:${a.level}:${a.description}`));
      assert.equal(sock.getProtocol(), 'DTLSv1.2');
      const cipher = sock.getCipher()?.name ?? '';
      assert.match(cipher, suite);
      assert.equal(sock.remoteAddress, '127.0.0.1');

      await cli.waitFor(/^- Simple Client Mode:/m, WAIT_MS);
      const out = cli.stdout();
      assert.match(out, new RegExp(`^ - subject \`${subject}'`, 'm'), 'gnutls-cli saw our certificate');
      const desc = /^- Description: (.*)$/m.exec(out)?.[1] ?? '';
      assert.ok(desc.startsWith('(DTLS1.2-X.509)-(ECDHE-'), desc);
      assert.ok(desc.endsWith(`-(${gnutlsCipherOf(cipher)})`), `${desc} vs ${cipher}`);

      // The stateless front end answered the first ClientHello with a HelloVerifyRequest.
      const stats = server.getStats();
      assert.ok(stats.helloVerifyRequests >= 1, JSON.stringify(stats));
      assert.equal(stats.badCookies, 0);
      assert.equal(stats.handshakes, 1);

      // gnutls-cli → ours (echoed back), several messages; and ours → gnutls-cli unprompted.
      for (let i = 0; i < 3; i++) await lineRoundTrip(cli, sock, `line ${i} ${randomUUID()}`);
      const push = `from our server ${randomUUID()}`;
      sock.send(`${push}\n`);
      await cli.waitFor(`${push}\n`, WAIT_MS);

      // stdin EOF: gnutls-cli sends close_notify; our session closes cleanly and answers in kind.
      const closed = nextEvent(sock, 'close', WAIT_MS);
      cli.endInput();
      await closed;
      assert.equal(sock.state, 'closed');
      assert.equal(alerts[0], 'received:warning:close_notify', alerts.join(' '));
      assert.deepEqual(await cli.waitForExit(WAIT_MS), { code: 0, signal: null });
      assert.equal(server.connections, 0);
    } finally {
      await cleanup.run();
    }
  });
}

const PSK_PRIORITIES: Array<{ priority: string; suite: RegExp; gnutlsCliCrashes: boolean }> = [
  { priority: 'NORMAL:-KX-ALL:+PSK', suite: /^PSK-AES\d+-GCM-SHA\d+$/, gnutlsCliCrashes: false },
  { priority: 'NORMAL:-KX-ALL:+ECDHE-PSK', suite: /^ECDHE-PSK-CHACHA20-POLY1305$/, gnutlsCliCrashes: true },
];

for (const { priority, suite, gnutlsCliCrashes } of PSK_PRIORITIES) {
  test(`${GNUTLS} gnutls-cli --pskusername/--pskkey --priority ${priority} → our PSK server (pskCallback, hint)`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!gate(t)) return;
    const cleanup = new Cleanup();
    try {
      const asked: string[] = [];
      const hint = `openssl-dtls-hint-${randomUUID().slice(0, 8)}`;
      const { server, connections, clientErrors } = echoServer(cleanup, {
        pskCallback: (identity) => {
          asked.push(identity);
          return identity === IDENTITY ? PSK_KEY : null;
        },
        pskIdentityHint: hint,
      });
      const port = await listenLocal(server);
      const cli = track(cleanup, spawnGnutlsCli(port, ['--priority', priority, '--pskusername', IDENTITY, '--pskkey', PSK_KEY.toString('hex')]));

      const [sock] = await connections.waitFor(1, HANDSHAKE_MS);
      assert.ok(sock !== undefined);
      assert.match(sock.getCipher()?.name ?? '', suite);
      assert.equal(sock.getPeerCertificate(), undefined);
      assert.deepEqual(asked, [IDENTITY]);
      assert.ok(server.getStats().helloVerifyRequests >= 1);
      assert.equal(clientErrors.items.length, 0);

      const ready = await cli.waitFor(/^- Simple Client Mode:/m, WAIT_MS).then(
        () => true,
        () => false,
      );
      if (!ready) {
        // GnuTLS 3.7.9's gnutls-cli dies printing an ECDHE-PSK session (see the top of this file).
        assert.ok(gnutlsCliCrashes, `gnutls-cli did not get ready:\n${cli.output()}`);
        const exit = await cli.waitForExit(WAIT_MS);
        assert.equal(exit.signal, 'SIGSEGV', `gnutls-cli exit ${JSON.stringify(exit)}`);
        t.diagnostic(`${GNUTLS} gnutls-cli crashed (SIGSEGV) after the ECDHE-PSK handshake: its known print_info bug, not ours`);
        return;
      }
      assert.match(cli.stdout(), new RegExp(`^- PSK authentication\\. PSK hint '${hint}'$`, 'm'), 'gnutls-cli got our identity hint');
      for (let i = 0; i < 2; i++) await lineRoundTrip(cli, sock, `psk line ${i} ${randomUUID()}`);
      const closed = nextEvent(sock, 'close', WAIT_MS);
      cli.endInput();
      await closed;
      assert.deepEqual(await cli.waitForExit(WAIT_MS), { code: 0, signal: null });
    } finally {
      await cleanup.run();
    }
  });
}

test(`${GNUTLS} gnutls-cli with a wrong PSK key (PSK-AES128-CBC-SHA256, encrypt-then-MAC): our server sends bad_record_mac`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const asked: string[] = [];
    // A CBC suite, named (the default has none): with encrypt-then-MAC OpenSSL treats the Finished that
    // fails its MAC as fatal. On an AEAD suite it would be dropped silently (next test).
    const { server, connections, clientErrors } = echoServer(cleanup, {
      ciphers: 'PSK-AES128-CBC-SHA256',
      pskCallback: (identity) => {
        asked.push(identity);
        return PSK_KEY;
      },
    });
    const port = await listenLocal(server);
    const remotes: Array<{ address: string; port: number }> = [];
    server.on('tlsClientError', (_err, remote) => remotes.push(remote));
    const cli = track(cleanup, spawnGnutlsCli(port, ['--priority', 'NORMAL:-KX-ALL:+PSK:+SHA256', '--pskusername', IDENTITY, '--pskkey', WRONG_KEY.toString('hex')]));

    const [err] = await clientErrors.waitFor(1, HANDSHAKE_MS);
    assert.ok(err instanceof DtlsError);
    assert.equal(err.code, 'ERR_DTLS_ALERT_SENT');
    assert.equal(err.library, 'SSL routines');
    assert.equal(err.reason, 'decryption failed or bad record mac');
    const alert = err.alert;
    assert.ok(alert !== undefined);
    assert.deepEqual(
      { direction: alert.direction, level: alert.level, description: alert.description, role: alert.role },
      { direction: 'sent', level: 'fatal', description: 'bad_record_mac', role: 'server' },
    );
    assert.equal(alert.negotiated.cipher, 'PSK-AES128-CBC-SHA256');
    assert.equal(alert.negotiated.encryptThenMac, true);
    const entry = lastSslEntry(alert.opensslErrors);
    assert.deepEqual({ function: entry?.function, reason: entry?.reason }, { function: 'dtls1_process_record', reason: 'decryption failed or bad record mac' });
    assert.match(entry?.file ?? '', /ssl\/record\/ssl3_record\.c$/);
    assert.equal(err.explanation?.path, 'dtls1_process_record');
    assert.deepEqual(asked, [IDENTITY]);
    assert.equal(remotes[0]?.address, '127.0.0.1');
    assert.equal(connections.items.length, 0);

    const exit = await cli.waitForExit(WAIT_MS);
    assert.notEqual(exit.code, 0, `gnutls-cli exit ${JSON.stringify(exit)}`);
    assert.match(cli.output(), /Received alert \[20\]: Bad record MAC/);
    const stats = server.getStats();
    assert.equal(stats.handshakeFailures, 1);
    assert.equal(stats.handshakes, 0);
  } finally {
    await cleanup.run();
  }
});

test(`${GNUTLS} gnutls-cli with a wrong PSK key on an AEAD suite: no alert is possible (its Finished fails authentication and is dropped), our handshake times out`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const { server, connections, clientErrors } = echoServer(cleanup, { pskCallback: () => PSK_KEY, handshakeTimeout: 1000 });
    const port = await listenLocal(server);
    const cli = track(cleanup, spawnGnutlsCli(port, ['--priority', 'NORMAL:-KX-ALL:+PSK', '--pskusername', IDENTITY, '--pskkey', WRONG_KEY.toString('hex')]));

    const [err] = await clientErrors.waitFor(1, HANDSHAKE_MS);
    assert.ok(err instanceof DtlsError);
    assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
    assert.equal(err.alert, undefined, 'no alert: DTLS drops records that fail AEAD authentication');
    assert.equal(server.getStats().handshakeFailures, 1);
    assert.equal(connections.items.length, 0);
    assert.doesNotMatch(cli.stdout(), /Handshake was completed/);
  } finally {
    await cleanup.run();
  }
});

// ------------------------------------------------------------------ our connect() → gnutls-serv --echo

/**
 * connect() to 127.0.0.1:port; `connected` resolves once 'secureConnect' fired and rejects with the
 * 'error'. (Some tests wait for the events, others call handshake() at once: both work.)
 */
function connectLocal(cleanup: Cleanup, port: number, options: Omit<ConnectOptions, 'port'>): { sock: DtlsSocket; connected: Promise<DtlsSocket> } {
  const sock = connect({ host: '127.0.0.1', port, handshakeTimeout: HANDSHAKE_MS, ...options });
  cleanup.add('client.close()', () => sock.close());
  const connected = withTimeout(
    new Promise<DtlsSocket>((resolve, reject) => {
      sock.once('secureConnect', () => resolve(sock));
      sock.once('error', reject);
    }),
    HANDSHAKE_MS + 1000,
    'connect()',
  );
  connected.catch(() => {}); // awaited by the test; never an unhandled rejection if it fails first
  return { sock, connected };
}

/**
 * Sends every message, then collects the echo until as many bytes came back; gnutls-serv echoes in
 * pieces of at most 254 bytes, so the comparison is on the concatenation.
 */
async function echoRoundTrip(sock: DtlsSocket, messages: Buffer[]): Promise<Buffer[]> {
  const pieces = collect<Buffer>(sock, 'message');
  const total = messages.reduce((n, m) => n + m.length, 0);
  let received = 0;
  sock.on('message', (m) => {
    received += m.length;
  });
  for (const m of messages) sock.send(m);
  await until(sock, 'message', () => received >= total, WAIT_MS, `echo of ${total} bytes (got ${received})`);
  assert.deepEqual(Buffer.concat(pieces.items), Buffer.concat(messages));
  return pieces.items;
}

function echoMessages(): Buffer[] {
  // No CR (gnutls-serv rewrites CRLF) and nothing that starts with "**" (its in-band commands).
  // The third is 1000 bytes: one record from us, at least four pieces back.
  const big = Buffer.from(randomBytes(500).toString('hex'));
  return [Buffer.from(`alpha ${randomUUID()}`), Buffer.from(`beta ${randomUUID()}`), big, Buffer.from('omega')];
}

test(`${GNUTLS} gnutls-serv --udp --echo ← our connect() (self-signed ECDSA, rejectUnauthorized: false): several messages, one > 254 bytes reassembled`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const { port } = await startGnutlsServ(['--echo', '--x509certfile', fixturePath('ec-cert.pem'), '--x509keyfile', fixturePath('ec-key.pem')], (p) => track(cleanup, p));
    const sock = await connectLocal(cleanup, port, { rejectUnauthorized: false }).connected;
    assert.equal(sock.getProtocol(), 'DTLSv1.2');
    assert.match(sock.getCipher()?.name ?? '', /^ECDHE-ECDSA-/);
    const peer = sock.getPeerCertificate();
    assert.ok(peer !== undefined);
    assert.equal(fingerprint(peer), fingerprint(ecPair().cert));
    // Accepted without verification; the result still says why it would not verify.
    assert.deepEqual((await sock.handshake()).verifyResult, { code: 18, message: 'self-signed certificate' });
    const messages = echoMessages();
    const pieces = await echoRoundTrip(sock, messages);
    assert.ok(pieces.every((p) => p.length <= 254), pieces.map((p) => p.length).join(','));
    assert.ok(pieces.length >= messages.length + 3, `the 1000-byte message came back in pieces: ${pieces.map((p) => p.length).join(',')}`);
    await sock.close();
    assert.equal(sock.state, 'closed');
  } finally {
    await cleanup.run();
  }
});

test(`${GNUTLS} gnutls-serv ← our connect() verifying a CA-signed certificate: ca + servername 'localhost', and the IP SAN for host 127.0.0.1`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const { port } = await startGnutlsServ(['--echo', '--x509certfile', fixturePath('server-cert.pem'), '--x509keyfile', fixturePath('server-key.pem')], (p) => track(cleanup, p));
    // caSigned(): CN=localhost, SAN DNS:localhost, IP:127.0.0.1, issued by caCert().
    for (const servername of ['localhost', undefined]) {
      const sock = await connectLocal(cleanup, port, { ca: caCert(), ...(servername !== undefined ? { servername } : {}) }).connected;
      const info = await sock.handshake(); // connected: resolves with the HandshakeInfo at once
      assert.deepEqual(info.verifyResult, { code: 0, message: 'ok' }, `servername ${servername ?? '(host 127.0.0.1)'}`);
      assert.equal(fingerprint(info.peerCertificate!), fingerprint(caSigned().cert));
      await echoRoundTrip(sock, [Buffer.from(`verified ${servername ?? 'ip'} ${randomUUID()}`)]);
      await sock.close();
    }
  } finally {
    await cleanup.run();
  }
});

test(`${GNUTLS} gnutls-serv ← our connect() refuses: a name or IP address the certificate lacks, and no trusted CA`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const { port } = await startGnutlsServ(['--echo', '--x509certfile', fixturePath('server-cert.pem'), '--x509keyfile', fixturePath('server-key.pem')], (p) => track(cleanup, p));
    const cases: Array<{ options: Omit<ConnectOptions, 'port'>; description: string; verify: { code: number; message: string } }> = [
      { options: { ca: caCert(), servername: 'wrong.example' }, description: 'bad_certificate', verify: { code: 62, message: 'hostname mismatch' } },
      // The IP SAN is checked as an address, not as a name: 127.0.0.2 is not in the certificate.
      { options: { ca: caCert(), servername: '127.0.0.2' }, description: 'bad_certificate', verify: { code: 64, message: 'IP address mismatch' } },
      { options: {}, description: 'unknown_ca', verify: { code: 20, message: 'unable to get local issuer certificate' } },
    ];
    for (const { options, description, verify } of cases) {
      const { sock, connected } = connectLocal(cleanup, port, options);
      const err = await connected.then(
        () => assert.fail(`handshake succeeded with ${JSON.stringify(options)}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof DtlsError);
      assert.equal(err.code, 'ERR_DTLS_ALERT_SENT');
      assert.deepEqual(err.verifyResult, verify);
      assert.equal(err.alert?.description, description);
      assert.equal(err.alert?.direction, 'sent');
      const entry = lastSslEntry(err.opensslErrors);
      assert.deepEqual({ function: entry?.function, reason: entry?.reason }, { function: 'tls_post_process_server_certificate', reason: 'certificate verify failed' });
      assert.equal(sock.state, 'failed');
    }
  } finally {
    await cleanup.run();
  }
});

for (const suite of ['PSK-AES128-GCM-SHA256', 'ECDHE-PSK-CHACHA20-POLY1305']) {
  test(`${GNUTLS} gnutls-serv --pskpasswd ← our connect() with psk, ciphers ${suite}: echo round trip`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!gate(t)) return;
    const cleanup = new Cleanup();
    try {
      const passwd = pskPasswdFile({ [IDENTITY]: PSK_KEY });
      cleanup.add('remove psk file', () => passwd.remove());
      const { port } = await startGnutlsServ(['--echo', '--pskpasswd', passwd.file, '--priority', 'NORMAL:-KX-ALL:+PSK:+ECDHE-PSK'], (p) => track(cleanup, p));
      const sock = await connectLocal(cleanup, port, { psk: { identity: IDENTITY, key: PSK_KEY }, ciphers: suite }).connected;
      assert.equal(sock.getCipher()?.name, suite);
      assert.equal(sock.getPeerCertificate(), undefined);
      const messages = echoMessages();
      const pieces = await echoRoundTrip(sock, messages);
      assert.ok(pieces.length >= messages.length + 3, pieces.map((p) => p.length).join(','));
      await sock.close();
    } finally {
      await cleanup.run();
    }
  });
}

test(`${GNUTLS} gnutls-serv ← our connect() followed at once by handshake(): the handshake reaches the peer`, {
  timeout: TEST_TIMEOUT,
}, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const { port } = await startGnutlsServ(['--echo', '--x509certfile', fixturePath('ec-cert.pem'), '--x509keyfile', fixturePath('ec-key.pem')], (p) => track(cleanup, p));
    const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, handshakeTimeout: 1000 });
    cleanup.add('client.close()', () => sock.close());
    const info = await sock.handshake();
    assert.equal(info.protocol, 'DTLSv1.2');
  } finally {
    await cleanup.run();
  }
});
