// Interop over UDP 127.0.0.1 between connect()/createServer() and the OpenSSL command line tool
// (`openssl s_client` / `openssl s_server`, DTLS 1.2). Peer facts: shared/PEERS.md; what the CLI prints is
// described at the top of openssl.cli.test.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import type { DtlsError, DtlsSocket } from '../../lib/index.js';
import { fixturePath } from '../support/fixtures';
import { freeUdpPort, opensslVersion, requirePeer, spawnPeer, which, withTimeout, type PeerProcess } from '../support/peers';
import { connected, LOCALHOST, listeningServer, nextMessage, until } from '../support/servers';

const PEER = /^OpenSSL \S+/.exec(opensslVersion())?.[0] ?? opensslVersion();
const TIMEOUT = 20_000;
const haveOpenssl = (): boolean => which('openssl') !== null;

const echo = (s: DtlsSocket): void => {
  s.on('message', (m) => s.send(m));
};

async function stop(p: PeerProcess | undefined): Promise<void> {
  if (p === undefined) return;
  p.kill();
  await withTimeout(p.exited, 4000, `${p.command} exit`).catch(() => {});
}

test(`${PEER} s_client -dtls1_2 → createServer(): HelloVerifyRequest, data both ways, close_notify`, { timeout: TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl is not installed')) return;
  const { server, port } = await listeningServer({}, echo);
  let client: PeerProcess | undefined;
  try {
    client = spawnPeer('openssl', ['s_client', '-dtls1_2', '-connect', `${LOCALHOST}:${port}`, '-brief'], { input: 'hello from s_client\n' });
    // Our echo comes back on s_client's stdout (it does not print its own input).
    await client.waitFor(/hello from s_client/, 10_000);
    assert.match(client.stdout(), /hello from s_client/);
    assert.match(client.stderr(), /Protocol version: DTLSv1\.2/);
    const st = server.getStats();
    assert.equal(st.helloVerifyRequests, 1);
    assert.equal(st.handshakes, 1);
    client.endInput(); // EOF: s_client sends close_notify and exits 0
    const exit = await client.waitForExit(5000);
    assert.equal(exit.code, 0);
    await until(() => server.connections === 0, 5000, 'server saw close_notify');
  } finally {
    await stop(client);
    await server.close();
  }
});

test(`${PEER} s_client -psk → createServer() with pskCallback (PSK-AES128-GCM-SHA256)`, { timeout: TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl is not installed')) return;
  const key = Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex');
  const identities: string[] = [];
  let cipher = '';
  const { server, port } = await listeningServer({ cert: undefined, key: undefined, pskCallback: (id) => (identities.push(id), key) }, (s) => {
    cipher = s.getCipher()!.name;
    echo(s);
  });
  let client: PeerProcess | undefined;
  try {
    client = spawnPeer('openssl', [
      's_client', '-dtls1_2', '-connect', `${LOCALHOST}:${port}`, '-brief',
      '-psk_identity', 'lamp-7', '-psk', key.toString('hex'), '-cipher', 'PSK-AES128-GCM-SHA256',
    ], { input: 'psk data\n' });
    await client.waitFor(/psk data/, 10_000);
    assert.equal(cipher, 'PSK-AES128-GCM-SHA256');
    assert.deepEqual(identities, ['lamp-7']);
  } finally {
    await stop(client);
    await server.close();
  }
});

test(`connect() → ${PEER} s_server -dtls1_2 -listen (its own HelloVerifyRequest answered transparently)`, { timeout: TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl is not installed')) return;
  const port = await freeUdpPort();
  const server = spawnPeer('openssl', [
    's_server', '-dtls1_2', '-listen', '-accept', `${LOCALHOST}:${port}`, '-naccept', '1',
    '-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem'),
  ]);
  let sock: DtlsSocket | undefined;
  try {
    await server.waitFor(/ACCEPT/, 5000);
    sock = await connected({ port });
    const msgs = sock.timeline().filter((e) => e.type === 'message').map((e) => (e as { message: string }).message);
    assert.deepEqual(msgs.slice(0, 3), ['ClientHello', 'HelloVerifyRequest', 'ClientHello']);
    sock.send('to s_server\n');
    await server.waitFor('to s_server', 5000);
    // s_server sends its stdin: what we type there arrives as a message.
    const got = nextMessage(sock);
    server.write('from s_server\n');
    assert.equal((await got).toString(), 'from s_server\n');
    await sock.close();
    await server.waitFor(/DONE|CONNECTION CLOSED/, 5000);
  } finally {
    sock?.destroy();
    await stop(server);
  }
});

test(`connect() with the wrong CA → ${PEER} s_server: unknown_ca sent by us, with the verify result`, { timeout: TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl is not installed')) return;
  const port = await freeUdpPort();
  const server = spawnPeer('openssl', [
    's_server', '-dtls1_2', '-accept', `${LOCALHOST}:${port}`, '-naccept', '1',
    '-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem'),
  ]);
  try {
    await server.waitFor(/ACCEPT/, 5000);
    const { readFileSync } = await import('node:fs');
    const err = await new Promise<DtlsError>((resolve, reject) => {
      const s = connected({ port, rejectUnauthorized: true, ca: readFileSync(fixturePath('ca-cert.pem')) });
      s.then(() => reject(new Error('connected with an untrusted certificate')), resolve);
    });
    assert.equal(err.code, 'ERR_DTLS_ALERT_SENT');
    assert.equal(err.alert?.description, 'unknown_ca');
    assert.equal(err.verifyResult?.code, 18); // self-signed certificate
    const last = err.opensslErrors[err.opensslErrors.length - 1];
    assert.equal(last?.function, 'tls_post_process_server_certificate');
    assert.equal(last?.reason, 'certificate verify failed');
  } finally {
    await stop(server);
  }
});
