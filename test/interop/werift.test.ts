// Interop over UDP on 127.0.0.1 with werift-dtls (pure TypeScript DTLS 1.2, devDependency): werift
// clients → our createServer(), and our connect() → a werift DtlsServer fed from a dgram socket we route
// ourselves (one werift server object per remote address). Peer facts: test/support/werift.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type * as dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';

import { connect, createServer, fingerprint, type DtlsAlert, type DtlsServer, type DtlsSocket, type HandshakeInfo } from '../../lib/index.js';
import { ecPair, rsa2048Pair, type CertKeyPair } from '../support/fixtures';
import { bindLocal, Cleanup, collect, listenLocal, parseClientHello, suiteName, until, type Collector } from '../support/interop';
import { nextEvent } from '../support/pair';
import { requirePeer, withTimeout } from '../support/peers';
import { bridge, isEncryptedAlert, loadWerift, UdpPeerTransport, type Werift } from '../support/werift';

const { mod: werift, version } = loadWerift();
const WERIFT = `werift-dtls ${version ?? '(not installed)'}`;
const TEST_TIMEOUT = 15_000;
const WAIT_MS = 5_000;
const HANDSHAKE_MS = 8_000;
const EXPORTER = 'EXTRACTOR-dtls_srtp';

const gate = (t: { skip(m?: string): void }): boolean => requirePeer(t, 'werift-dtls', werift !== null, 'werift-dtls is not installed (npm install)');

const KEYS: Array<{ label: string; pair: () => CertKeyPair; suite: string; signature: 'ecdsa_3' | 'rsa_1' }> = [
  { label: 'ECDSA P-256', pair: ecPair, suite: 'ECDHE-ECDSA-AES128-GCM-SHA256', signature: 'ecdsa_3' },
  { label: 'RSA-2048', pair: rsa2048Pair, suite: 'ECDHE-RSA-AES128-GCM-SHA256', signature: 'rsa_1' },
];

/** An echo server ('echo:' + message) that records its connections. */
function echoServer(cleanup: Cleanup, pair: CertKeyPair): { server: DtlsServer; connections: Collector<DtlsSocket> } {
  const server = createServer({ ...pair, handshakeTimeout: HANDSHAKE_MS });
  cleanup.add('server.close()', () => server.close());
  const connections = collect<DtlsSocket>(server, 'secureConnection');
  server.on('secureConnection', (s) => {
    s.on('message', (m) => s.send(Buffer.concat([Buffer.from('echo:'), m])));
  });
  return { server, connections };
}

interface WeriftClient {
  client: InstanceType<Werift['DtlsClient']>;
  events: EventEmitter;
  transport: UdpPeerTransport;
  connected: Promise<void>;
  data: Collector<Buffer>;
}

/** A werift DtlsClient on its own 127.0.0.1 socket, handshaking with 127.0.0.1:port. */
async function weriftClient(cleanup: Cleanup, port: number, extendedMasterSecret: boolean): Promise<WeriftClient> {
  const udp = await bindLocal();
  const transport = new UdpPeerTransport(udp, { address: '127.0.0.1', port }, true);
  cleanup.add('werift client transport', () => transport.close());
  udp.on('message', (m, r) => {
    if (r.port === port && r.address === '127.0.0.1') transport.deliver(m);
  });
  const client = new werift!.DtlsClient({ transport, extendedMasterSecret });
  const events = bridge(client);
  const data = collect<Buffer>(events, 'data');
  const connected = nextEvent<void>(events, 'connect', HANDSHAKE_MS);
  connected.catch(() => {}); // awaited by the test; never an unhandled rejection if it fails first
  void client.connect().catch(() => {}); // its retransmission loop; the outcome is the 'connect' event
  return { client, events, transport, connected, data };
}

/** Resolves once an encrypted alert record (our close_notify) has reached werift's side of the wire. */
function closeNotifyArrived(transport: UdpPeerTransport): Promise<void> {
  return until(transport, 'datagram', () => transport.received.some(isEncryptedAlert), WAIT_MS, 'close_notify at the werift peer');
}

// ---------------------------------------------------------------------------- werift client → us

for (const [i, { label, pair, suite }] of KEYS.entries()) {
  const ems = i === 0; // both settings of werift's extendedMasterSecret option, one per key type
  test(`${WERIFT} client (extendedMasterSecret ${ems}) → our server (${label}): ${suite}, data both ways, close_notify on server.close()`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!gate(t)) return;
    const cleanup = new Cleanup();
    try {
      const { server, connections } = echoServer(cleanup, pair());
      const port = await listenLocal(server);
      const w = await weriftClient(cleanup, port, ems);
      await w.connected;
      const [sock] = await connections.waitFor(1, WAIT_MS);
      assert.ok(sock !== undefined);

      // What werift offered (its first datagram): exactly its two suites.
      const hello = parseClientHello(w.transport.sent[0]!);
      assert.ok(hello !== undefined, 'werift sent a ClientHello first');
      assert.deepEqual(hello.suites.map(suiteName), ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256']);
      assert.equal(hello.extensions.includes(23), ems, `extended_master_secret offered: ${hello.extensions.join(',')}`);

      const info = await sock.handshake(); // connected: resolves at once
      assert.equal(info.protocol, 'DTLSv1.2');
      assert.equal(info.cipher.name, suite);
      assert.equal(info.extendedMasterSecret, ems);
      assert.ok(server.getStats().helloVerifyRequests >= 1, 'werift went through the cookie exchange');
      // Both ends derived the same keys (RFC 5705 exporter, as DTLS-SRTP uses it).
      assert.deepEqual(w.client.exportKeyingMaterial(EXPORTER, 60), sock.exportKeyingMaterial(60, EXPORTER));

      // werift → us, several messages (one near the MTU), each echoed back.
      const sent = [Buffer.from(`one ${randomUUID()}`), randomBytes(1100), Buffer.from(`three ${randomUUID()}`)];
      for (const m of sent) await w.client.send(m);
      const echoed = await w.data.waitFor(sent.length, WAIT_MS);
      assert.deepEqual(echoed, sent.map((m) => Buffer.concat([Buffer.from('echo:'), m])));
      // us → werift, unprompted.
      const push = Buffer.from(`from our server ${randomUUID()}`);
      sock.send(push);
      assert.deepEqual((await w.data.waitFor(sent.length + 1, WAIT_MS))[sent.length], push);

      // server.close(): our close_notify reaches werift's socket (its own onClose is unreliable: see
      // test/support/werift.ts).
      const alerts = collect<DtlsAlert>(sock, 'alert');
      await server.close();
      assert.equal(sock.state, 'closed');
      assert.deepEqual(alerts.items.map((a) => `${a.direction}:${a.description}`), ['sent:close_notify']);
      await closeNotifyArrived(w.transport);
    } finally {
      await cleanup.run();
    }
  });
}

test(`${WERIFT}: 10 concurrent clients → one our server, each gets its own echo, server.close() sends close_notify to all`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const N = 10;
    const { server, connections } = echoServer(cleanup, ecPair());
    const port = await listenLocal(server);
    const clients = await Promise.all(Array.from({ length: N }, () => weriftClient(cleanup, port, true)));
    await withTimeout(Promise.all(clients.map((c) => c.connected)), HANDSHAKE_MS, `${N} werift handshakes`);
    await connections.waitFor(N, WAIT_MS);
    assert.equal(server.connections, N);
    const stats = server.getStats();
    assert.equal(stats.handshakes, N);
    assert.equal(stats.handshakeFailures, 0);
    assert.ok(stats.helloVerifyRequests >= N, JSON.stringify(stats));
    // One session per client address:port.
    const localPorts = clients.map((c) => c.transport.address.port).sort((a, b) => a - b);
    assert.deepEqual(connections.items.map((s) => s.remotePort!).sort((a, b) => a - b), localPorts);

    const tokens = clients.map((_, i) => Buffer.from(`client ${i} ${randomUUID()}`));
    await Promise.all(clients.map((c, i) => c.client.send(tokens[i]!)));
    const replies = await Promise.all(clients.map((c) => c.data.waitFor(1, WAIT_MS)));
    replies.forEach((r, i) => assert.deepEqual(r, [Buffer.concat([Buffer.from('echo:'), tokens[i]!])], `client ${i}`));

    await server.close();
    assert.equal(server.connections, 0);
    await Promise.all(clients.map((c) => closeNotifyArrived(c.transport)));
  } finally {
    await cleanup.run();
  }
});

test(`${WERIFT} client → our server: the server session's timeline shows the one ClientHello it handshook with once`, {
  timeout: TEST_TIMEOUT,
}, async (t) => {
  if (!gate(t)) return;
  const cleanup = new Cleanup();
  try {
    const { server, connections } = echoServer(cleanup, ecPair());
    const port = await listenLocal(server);
    const w = await weriftClient(cleanup, port, true);
    await w.connected;
    const [sock] = await connections.waitFor(1, WAIT_MS);
    // On the wire: one ClientHello without a cookie (answered statelessly), one with it.
    const hellos = w.transport.sent.map(parseClientHello).filter((h) => h !== undefined);
    assert.deepEqual(hellos.map((h) => h.cookie.length > 0), [false, true]);
    const inbound = sock!.timeline().flatMap((e) => (e.type === 'message' && e.direction === 'in' ? [e.message] : []));
    assert.equal(inbound.filter((m) => m === 'ClientHello').length, 1, inbound.join(' '));
  } finally {
    await cleanup.run();
  }
});

// ---------------------------------------------------------------------------- us → werift server

/**
 * A dgram socket on 127.0.0.1 that routes each remote address:port to its own werift DtlsServer
 * (werift serves one peer per object).
 */
async function weriftServer(cleanup: Cleanup, pair: CertKeyPair, signature: 'ecdsa_3' | 'rsa_1') {
  const udp: dgram.Socket = await bindLocal();
  cleanup.add('werift server socket', () => new Promise<void>((resolve) => udp.close(() => resolve())));
  const peers = new Map<string, { server: InstanceType<Werift['DtlsServer']>; events: EventEmitter; transport: UdpPeerTransport }>();
  const created = collect<{ server: InstanceType<Werift['DtlsServer']>; events: EventEmitter; transport: UdpPeerTransport }>(udp, 'werift-peer');
  udp.on('message', (m, r) => {
    const key = `${r.address}:${r.port}`;
    let peer = peers.get(key);
    if (peer === undefined) {
      const transport = new UdpPeerTransport(udp, { address: r.address, port: r.port }, false);
      cleanup.add(`werift server for ${key}`, () => transport.close());
      const server = new werift!.DtlsServer({
        transport,
        cert: pair.cert,
        key: pair.key,
        signatureHash: { hash: werift!.HashAlgorithm.sha256_4, signature: werift!.SignatureAlgorithm[signature] },
        extendedMasterSecret: true,
      });
      const events = bridge(server);
      // Echo with a prefix, as our servers do.
      events.on('data', (d: Buffer) => void server.send(Buffer.concat([Buffer.from('werift:'), d])));
      peer = { server, events, transport };
      peers.set(key, peer);
      udp.emit('werift-peer', { server, events, transport });
    }
    peer.transport.deliver(m);
  });
  return { port: udp.address().port, created };
}

for (const { label, pair, suite, signature } of KEYS) {
  test(`${WERIFT} server (${label}) ← our connect() with remoteFingerprints: ${suite}, data both ways, close() sends close_notify`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!gate(t)) return;
    const cleanup = new Cleanup();
    try {
      const keys = pair();
      const { port, created } = await weriftServer(cleanup, keys, signature);
      // WebRTC style: the peer certificate is pinned by fingerprint instead of a CA chain.
      const sock = connect({ host: '127.0.0.1', port, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(keys.cert) }], handshakeTimeout: HANDSHAKE_MS });
      cleanup.add('client.close()', () => sock.close());
      const info = await withTimeout(
        new Promise<HandshakeInfo>((resolve, reject) => {
          sock.once('secureConnect', resolve);
          sock.once('error', reject);
        }),
        HANDSHAKE_MS + 1000,
        'connect() to werift',
      );
      assert.equal(info.protocol, 'DTLSv1.2');
      assert.equal(info.cipher.name, suite);
      assert.equal(info.extendedMasterSecret, true);
      assert.equal(fingerprint(info.peerCertificate!), fingerprint(keys.cert));
      const messages = sock.timeline().flatMap((e) => (e.type === 'message' ? [`${e.direction}:${e.message}`] : []));
      assert.ok(messages.includes('in:HelloVerifyRequest'), `werift sent a HelloVerifyRequest: ${messages.join(' ')}`);

      const [peer] = await created.waitFor(1, WAIT_MS);
      assert.ok(peer !== undefined);
      // werift marks itself connected once its last flight is handed to the socket (just after ours).
      if (!peer.server.connected) await nextEvent(peer.events, 'connect', WAIT_MS);
      assert.equal(created.items.length, 1, 'one werift server object for our one address');
      assert.deepEqual(peer.server.exportKeyingMaterial(EXPORTER, 60), sock.exportKeyingMaterial(60, EXPORTER));

      // us → werift (echoed with its prefix), several messages incl. one of 1100 bytes.
      const received = collect<Buffer>(sock, 'message');
      const sent = [Buffer.from(`hello ${randomUUID()}`), randomBytes(1100), Buffer.from(`bye ${randomUUID()}`)];
      for (const m of sent) sock.send(m);
      assert.deepEqual(await received.waitFor(sent.length, WAIT_MS), sent.map((m) => Buffer.concat([Buffer.from('werift:'), m])));
      // werift → us, unprompted.
      const push = Buffer.from(`from werift ${randomUUID()}`);
      await peer.server.send(push);
      assert.deepEqual((await received.waitFor(sent.length + 1, WAIT_MS))[sent.length], push);

      const alerts = collect<DtlsAlert>(sock, 'alert');
      const transport = peer.transport;
      await sock.close();
      assert.equal(sock.state, 'closed');
      assert.deepEqual(alerts.items.map((a) => `${a.direction}:${a.description}`), ['sent:close_notify']);
      await closeNotifyArrived(transport);
    } finally {
      await cleanup.run();
    }
  });
}
