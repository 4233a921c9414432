// Interop over UDP on 127.0.0.1 with node-dtls-client (PSK-only DTLS 1.2 client, the one IKEA TRADFRI /
// Hue-style gateway integrations use) → our createServer() with pskCallback. Peer facts:
// test/support/node-dtls-client.ts. The server runs on a dgram socket of ours (the `socket` option) so
// the test also sees the client's ClientHello on the wire.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type * as dgram from 'node:dgram';

import { createServer, DtlsError, type DtlsServer, type DtlsSocket } from '../../lib/index.js';
import { bindLocal, Cleanup, collect, lastSslEntry, listenLocal, parseClientHello, suiteName, type Collector } from '../support/interop';
import { loadNodeDtlsClient, nodeDtlsClientVersion, type NdcOptions, type NdcSocket, type NodeDtlsClient } from '../support/node-dtls-client';
import { nextEvent } from '../support/pair';
import { requirePeer, withTimeout } from '../support/peers';

const NDC = `node-dtls-client ${nodeDtlsClientVersion() ?? '(not installed)'}`;
const TEST_TIMEOUT = 15_000;
const WAIT_MS = 5_000;
const HANDSHAKE_MS = 8_000;
const IDENTITY = 'Client_identity';
const KEY = Buffer.from('a7Hq9k2LmX4pR8sT', 'utf8'); // gateways print a 16-character key like this

/** Its default ClientHello (build/DTLS/HandshakeHandler.js), in its order. */
const DEFAULT_OFFER = [
  'TLS_PSK_WITH_3DES_EDE_CBC_SHA',
  'TLS_PSK_WITH_AES_128_CBC_SHA',
  'TLS_PSK_WITH_AES_256_CBC_SHA',
  'TLS_PSK_WITH_AES_128_CBC_SHA256',
  'TLS_PSK_WITH_AES_256_CBC_SHA384',
  'TLS_PSK_WITH_AES_128_GCM_SHA256',
  'TLS_PSK_WITH_AES_256_GCM_SHA384',
  'TLS_PSK_WITH_AES_128_CCM',
  'TLS_PSK_WITH_AES_256_CCM',
  'TLS_PSK_WITH_AES_128_CCM_8',
  'TLS_PSK_WITH_AES_256_CCM_8',
];

async function gate(t: { skip(m?: string): void }): Promise<NodeDtlsClient | null> {
  const { dtls, reason } = await loadNodeDtlsClient();
  return requirePeer(t, 'node-dtls-client', dtls !== null, reason ?? 'node-dtls-client is not installed (npm install)') ? dtls : null;
}

interface PskServer {
  server: DtlsServer;
  port: number;
  /** every datagram that reached the server's socket */
  inbound: Buffer[];
  identities: string[];
  connections: Collector<DtlsSocket>;
  clientErrors: Collector<DtlsError>;
}

/** An echo server ('echo:' + message) on a socket of ours; pskCallback knows IDENTITY only. */
async function pskServer(cleanup: Cleanup, ciphers?: string): Promise<PskServer> {
  const udp: dgram.Socket = await bindLocal();
  cleanup.add('server socket', () => new Promise<void>((resolve) => udp.close(() => resolve())));
  const inbound: Buffer[] = [];
  udp.on('message', (m: Buffer) => inbound.push(m));
  const identities: string[] = [];
  const server = createServer({
    socket: udp,
    handshakeTimeout: HANDSHAKE_MS,
    pskCallback: (identity) => {
      identities.push(identity);
      return identity === IDENTITY ? KEY : null;
    },
    pskIdentityHint: 'openssl-dtls',
    ...(ciphers !== undefined ? { ciphers } : {}),
  });
  cleanup.add('server.close()', () => server.close());
  const connections = collect<DtlsSocket>(server, 'secureConnection');
  const clientErrors = collect<DtlsError>(server, 'tlsClientError');
  server.on('secureConnection', (s) => {
    s.on('message', (m) => s.send(Buffer.concat([Buffer.from('echo:'), m])));
  });
  const port = await listenLocal(server);
  return { server, port, inbound, identities, connections, clientErrors };
}

interface Client {
  sock: NdcSocket;
  connected: Promise<void>;
  messages: Collector<Buffer>;
  errors: Collector<Error>;
}

/** A node-dtls-client socket to 127.0.0.1:port (its error events are collected, never unhandled). */
function ndcClient(cleanup: Cleanup, dtls: NodeDtlsClient, port: number, options: Partial<NdcOptions> = {}): Client {
  const sock = dtls.createSocket({ type: 'udp4', address: '127.0.0.1', port, psk: { [IDENTITY]: KEY }, timeout: HANDSHAKE_MS, ...options });
  const errors = collect<Error>(sock, 'error');
  const messages = collect<Buffer>(sock, 'message');
  cleanup.add('node-dtls-client close()', async () => {
    const closed = nextEvent(sock, 'close', 2000);
    try {
      sock.close();
    } catch {
      // already gone (after a fatal alert or its own timeout): it emits no 'close' then
      closed.catch(() => {});
      return;
    }
    await closed;
  });
  const connected = withTimeout(
    new Promise<void>((resolve, reject) => {
      sock.once('connected', () => resolve());
      sock.once('error', reject);
    }),
    HANDSHAKE_MS + 1000,
    `${NDC} handshake`,
  );
  connected.catch(() => {}); // awaited by the test; never an unhandled rejection if it fails first
  return { sock, connected, messages, errors };
}

test(`${NDC} PSK client (its default suites) → our server (pskCallback): PSK-AES128-GCM-SHA256, data both ways, close_notify`, { timeout: TEST_TIMEOUT }, async (t) => {
  const dtls = await gate(t);
  if (dtls === null) return;
  const cleanup = new Cleanup();
  try {
    const s = await pskServer(cleanup);
    const c = ndcClient(cleanup, dtls, s.port);
    await c.connected;
    const [sock] = await s.connections.waitFor(1, WAIT_MS);
    assert.ok(sock !== undefined);

    // What it offered, first datagram on the wire: CBC suites first, no extensions at all.
    const hello = parseClientHello(s.inbound[0]!);
    assert.ok(hello !== undefined);
    assert.equal(hello.cookie.length, 0);
    assert.deepEqual(hello.suites.map(suiteName), DEFAULT_OFFER);
    assert.deepEqual(hello.extensions, []);
    t.diagnostic(`${NDC} offers: ${hello.suites.map(suiteName).join(', ')}`);

    // Our default refuses its CBC suites (named ones only): the first AEAD suite in its order wins.
    const info = await sock.handshake();
    assert.deepEqual(info.cipher, { name: 'PSK-AES128-GCM-SHA256', standardName: 'TLS_PSK_WITH_AES_128_GCM_SHA256', version: 'TLSv1.2' });
    assert.equal(info.protocol, 'DTLSv1.2');
    assert.equal(info.extendedMasterSecret, false, 'it sends no extended_master_secret extension');
    assert.equal(info.peerCertificate, undefined);
    assert.deepEqual(s.identities, [IDENTITY]);
    const stats = s.server.getStats();
    assert.equal(stats.helloVerifyRequests, 1);
    assert.equal(stats.handshakes, 1);

    // Several messages each way.
    const sent = [`on ${randomUUID()}`, `brightness 254 ${randomUUID()}`, `off ${randomUUID()}`].map((m) => Buffer.from(m));
    for (const m of sent) c.sock.send(m);
    assert.deepEqual(await c.messages.waitFor(sent.length, WAIT_MS), sent.map((m) => Buffer.concat([Buffer.from('echo:'), m])));
    const push = Buffer.from(`observe ${randomUUID()}`);
    sock.send(push);
    assert.deepEqual((await c.messages.waitFor(sent.length + 1, WAIT_MS))[sent.length], push);

    // Its close() sends close_notify: our session closes cleanly.
    const alerts: string[] = [];
    sock.on('alert', (a) => alerts.push(`${a.direction}:${a.level}:${a.description}`));
    const closed = nextEvent(sock, 'close', WAIT_MS);
    c.sock.close();
    await closed;
    assert.equal(sock.state, 'closed');
    assert.equal(alerts[0], 'received:warning:close_notify', alerts.join(' '));
    assert.equal(c.errors.items.length, 0, c.errors.items.map((e) => e.message).join('; '));
  } finally {
    await cleanup.run();
  }
});

test(`${NDC} PSK client with an unknown identity → our server sends unknown_psk_identity; both sides report it`, { timeout: TEST_TIMEOUT }, async (t) => {
  const dtls = await gate(t);
  if (dtls === null) return;
  const cleanup = new Cleanup();
  try {
    const s = await pskServer(cleanup);
    const remotes: Array<{ address: string; port: number }> = [];
    s.server.on('tlsClientError', (_e, remote) => remotes.push(remote));
    const c = ndcClient(cleanup, dtls, s.port, { psk: { 'someone-else': KEY } });
    const clientFailure = c.connected.then(
      () => assert.fail('the handshake succeeded with an unknown identity'),
      (e: unknown) => e,
    );

    const [err] = await s.clientErrors.waitFor(1, HANDSHAKE_MS);
    assert.ok(err instanceof DtlsError);
    assert.equal(err.code, 'ERR_DTLS_ALERT_SENT');
    assert.deepEqual(
      { direction: err.alert?.direction, level: err.alert?.level, description: err.alert?.description },
      { direction: 'sent', level: 'fatal', description: 'unknown_psk_identity' },
    );
    const entry = lastSslEntry(err.opensslErrors);
    assert.deepEqual({ function: entry?.function, reason: entry?.reason }, { function: 'tls_process_cke_psk_preamble', reason: 'psk identity not found' });
    assert.equal(err.alert?.lastMessageReceived, 'ClientKeyExchange');
    assert.deepEqual(s.identities, ['someone-else']);
    assert.equal(remotes[0]?.address, '127.0.0.1');

    const theirs = await clientFailure;
    assert.ok(theirs instanceof Error);
    assert.match(theirs.message, /received fatal alert: unknown_psk_identity/);
    assert.equal(s.connections.items.length, 0);
    assert.equal(s.server.getStats().handshakeFailures, 1);
  } finally {
    await cleanup.run();
  }
});

// One suite at a time (as a gateway would pin it). CCM_8 — CoAP's mandatory suite, what IKEA's gateway
// speaks — and CBC are only used by our server when named in `ciphers`.
const PINNED: Array<{ suite: string; ciphers?: string; name: string }> = [
  { suite: 'TLS_PSK_WITH_AES_128_CCM_8', ciphers: 'PSK-AES128-CCM8', name: 'PSK-AES128-CCM8' },
  { suite: 'TLS_PSK_WITH_AES_128_CCM', name: 'PSK-AES128-CCM' },
  { suite: 'TLS_PSK_WITH_AES_256_GCM_SHA384', name: 'PSK-AES256-GCM-SHA384' },
  { suite: 'TLS_PSK_WITH_AES_128_CBC_SHA256', ciphers: 'PSK-AES128-CBC-SHA256', name: 'PSK-AES128-CBC-SHA256' },
];

for (const { suite, ciphers, name } of PINNED) {
  test(`${NDC} PSK client offering only ${suite} → our server${ciphers !== undefined ? ` (ciphers '${ciphers}')` : ''}: negotiated and echoed`, { timeout: TEST_TIMEOUT }, async (t) => {
    const dtls = await gate(t);
    if (dtls === null) return;
    const cleanup = new Cleanup();
    try {
      const s = await pskServer(cleanup, ciphers);
      const c = ndcClient(cleanup, dtls, s.port, { ciphers: [suite as NonNullable<NdcOptions['ciphers']>[number]] });
      await c.connected;
      const [sock] = await s.connections.waitFor(1, WAIT_MS);
      assert.deepEqual(parseClientHello(s.inbound[0]!)?.suites.map(suiteName), [suite]);
      assert.equal(sock?.getCipher()?.name, name);
      assert.equal(sock?.getCipher()?.standardName, suite);
      const token = Buffer.from(`${suite} ${randomUUID()}`);
      c.sock.send(token);
      assert.deepEqual(await c.messages.waitFor(1, WAIT_MS), [Buffer.concat([Buffer.from('echo:'), token])]);
    } finally {
      await cleanup.run();
    }
  });
}

test(`${NDC} PSK client offering only a CBC suite → our default server refuses it (no shared cipher)`, { timeout: TEST_TIMEOUT }, async (t) => {
  const dtls = await gate(t);
  if (dtls === null) return;
  const cleanup = new Cleanup();
  try {
    const s = await pskServer(cleanup);
    const c = ndcClient(cleanup, dtls, s.port, { ciphers: ['TLS_PSK_WITH_AES_128_CBC_SHA256'] });
    const clientFailure = c.connected.then(
      () => assert.fail('the handshake succeeded on a CBC suite the default does not enable'),
      (e: unknown) => e,
    );
    const [err] = await s.clientErrors.waitFor(1, HANDSHAKE_MS);
    assert.ok(err instanceof DtlsError);
    assert.equal(err.code, 'ERR_DTLS_ALERT_SENT');
    assert.equal(err.alert?.description, 'handshake_failure');
    const entry = lastSslEntry(err.opensslErrors);
    assert.deepEqual({ function: entry?.function, reason: entry?.reason }, { function: 'tls_post_process_client_hello', reason: 'no shared cipher' });
    assert.deepEqual(s.identities, [], 'refused before any PSK lookup');
    const theirs = await clientFailure;
    assert.ok(theirs instanceof Error);
    assert.match(theirs.message, /received fatal alert: handshake_failure/);
  } finally {
    await cleanup.run();
  }
});
