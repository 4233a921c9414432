// createServer() and connect() over UDP loopback: cookies, data, close, IPv6, PSK, adopted sockets.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as os from 'node:os';

import { connect, createSecureContext, createServer, DtlsSocket, type DtlsError, type DtlsServer } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { withTimeout } from './support/peers';
import { connected, connectFails, LOCALHOST, listeningServer, nextMessage, rawSocket, sendRaw, SLOW, until } from './support/servers';

const echo = (s: DtlsSocket): void => {
  s.on('message', (m) => s.send(m));
};

test('connect() to createServer(): HelloVerifyRequest on the wire, echo, client close reaches the server', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  try {
    const client = await connected({ port });
    assert.equal(client.getProtocol(), 'DTLSv1.2');
    assert.equal(client.remoteAddress, LOCALHOST);
    assert.equal(client.remotePort, port);
    // The client answered a stateless HelloVerifyRequest: two ClientHellos, one HelloVerifyRequest.
    const msgs = client.timeline().filter((e) => e.type === 'message').map((e) => (e as { message: string }).message);
    assert.deepEqual(msgs.slice(0, 3), ['ClientHello', 'HelloVerifyRequest', 'ClientHello']);
    assert.equal(server.getStats().helloVerifyRequests, 1);
    client.send('ping');
    assert.equal((await nextMessage(client)).toString(), 'ping');
    const before = server.connections;
    assert.equal(before, 1);
    await client.close();
    await until(() => server.connections === 0, 5000, 'server saw close_notify');
    const st = server.getStats();
    assert.equal(st.handshakes, 1);
    assert.equal(st.handshakeFailures, 0);
    assert.equal(st.connections, 0);
  } finally {
    await server.close();
  }
});

test('send(data, cb) calls back once the datagram is written; data larger than one record is refused', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  try {
    const client = await connected({ port });
    const err = await new Promise<Error | null | undefined>((resolve) => client.send(Buffer.alloc(1000, 1), resolve));
    assert.equal(err, null);
    assert.equal((await nextMessage(client)).length, 1000);
    assert.throws(() => client.send(Buffer.alloc(16385)), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => client.send('x', 'nope' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    await client.close();
  } finally {
    await server.close();
  }
});

test('send([...], cb) over UDP: one record per message, the callback once after the last datagram is written', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  try {
    const client = await connected({ port });
    const got: string[] = [];
    const all = new Promise<void>((resolve) => {
      client.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 20) resolve();
      });
    });
    const before = client.getStats().datagramsOut;
    let calls = 0;
    const err = await new Promise<Error | null | undefined>((resolve) => {
      client.send(
        Array.from({ length: 20 }, (_, i) => `burst-${i}`),
        (e) => {
          calls++;
          resolve(e);
        },
      );
    });
    assert.equal(err, null);
    assert.equal(client.getStats().datagramsOut - before, 20, 'twenty records, twenty datagrams');
    await all;
    // UDP may reorder; on loopback it does not, and every message came back once.
    assert.deepEqual([...got].sort(), Array.from({ length: 20 }, (_, i) => `burst-${i}`).sort());
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1, 'one callback for the whole burst');
    assert.throws(() => client.send(['ok', 7 as never], () => {}), { code: 'ERR_INVALID_ARG_TYPE' });
    await client.close();
  } finally {
    await server.close();
  }
});

test('server.close() sends close_notify to every connected peer, then closes its socket', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  const clients = await Promise.all([1, 2, 3].map(() => connected({ port })));
  const closes = clients.map((c) => new Promise<void>((resolve) => c.once('close', resolve)));
  let serverClosed = false;
  server.once('close', () => {
    serverClosed = true;
  });
  await server.close();
  assert.equal(serverClosed, true);
  await withTimeout(Promise.all(closes), 5000, 'clients closed by close_notify');
  for (const c of clients) assert.equal(c.state, 'closed');
  assert.throws(() => server.address(), /ERR_SOCKET_DGRAM_NOT_RUNNING|Not running/);
});

test('100 concurrent clients on one server, each exchanging data', { timeout: 60_000 * SLOW }, async () => {
  const { server, port } = await listeningServer({}, echo);
  try {
    const N = 100;
    const clients = await Promise.all(Array.from({ length: N }, () => connected({ port }, 30_000)));
    // Application data over UDP is not retransmitted (DTLS protects, it does not deliver): a burst of 100 may
    // overflow a socket buffer on a slow machine, so each client retries, as a CoAP client would (bounded).
    let retries = 0;
    const replies = await Promise.all(
      clients.map(async (c, i) => {
        for (let attempt = 0; ; attempt++) {
          const p = nextMessage(c, 2000);
          c.send(`client ${i}`);
          try {
            return (await p).toString();
          } catch (e) {
            if (attempt === 4) throw e;
            retries++;
          }
        }
      }),
    );
    if (retries > 0) console.log(`# 100 clients: ${retries} message(s) resent after a loss`);
    assert.deepEqual(replies, clients.map((_, i) => `client ${i}`));
    assert.equal(server.connections, N);
    const st = server.getStats();
    assert.equal(st.handshakes, N);
    assert.equal(st.helloVerifyRequests >= N, true);
    assert.equal(st.handshakeFailures, 0);
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    await server.close();
  }
});

test('a ClientHello fragmented across datagrams (mtu 256, long ALPN list) passes the stateless cookie check', { timeout: 20_000 }, async () => {
  const alpn = Array.from({ length: 30 }, (_, i) => `protocol-name-number-${i}`);
  const { server, port } = await listeningServer({ alpnProtocols: ['protocol-name-number-29'] }, echo);
  try {
    const client = await connected({ port, mtu: 256, alpnProtocols: alpn });
    const hellos = client.timeline().filter((e) => e.type === 'message' && e.direction === 'out' && e.message === 'ClientHello');
    assert.equal(hellos.length, 2);
    assert.ok((hellos[1] as { length: number }).length > 3 * 256, 'the ClientHello spans several datagrams');
    assert.equal(client.getALPNProtocol(), 'protocol-name-number-29');
    assert.equal(server.getStats().helloVerifyRequests, 1);
    await client.close();
  } finally {
    await server.close();
  }
});

test('cookieExchange: false: no HelloVerifyRequest', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({ cookieExchange: false }, echo);
  try {
    const client = await connected({ port });
    const msgs = client.timeline().filter((e) => e.type === 'message').map((e) => (e as { message: string }).message);
    assert.deepEqual(msgs.slice(0, 2), ['ClientHello', 'ServerHello']);
    assert.equal(server.getStats().helloVerifyRequests, 0);
    await client.close();
  } finally {
    await server.close();
  }
});

const hasIpv6Loopback = Object.values(os.networkInterfaces()).some((l) => l?.some((a) => a.address === '::1'));

test('IPv6: a udp6 server on ::1 and a client connecting to ::1', { timeout: 20_000, skip: hasIpv6Loopback ? false : 'no ::1 on this machine' }, async () => {
  const { server, port } = await listeningServer({ type: 'udp6' }, echo, '::1');
  try {
    const client = await connected({ host: '::1', port });
    assert.equal(client.remoteFamily, 'IPv6');
    client.send('six');
    assert.equal((await nextMessage(client)).toString(), 'six');
    await client.close();
  } finally {
    await server.close();
  }
});

test('a host name resolves through dns.lookup (localhost), and a custom lookup is honoured', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  try {
    let asked = '';
    const client = await connected({
      host: 'dtls.invalid',
      port,
      lookup: ((host: string, _opts: unknown, cb: (e: Error | null, a: string, f: number) => void) => {
        asked = host;
        cb(null, LOCALHOST, 4);
      }) as never,
    });
    assert.equal(asked, 'dtls.invalid');
    assert.equal(client.remoteAddress, LOCALHOST);
    await client.close();
    const err = await connectFails({
      host: 'dtls.invalid',
      port,
      lookup: ((_h: string, _o: unknown, cb: (e: Error | null) => void) => cb(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }))) as never,
    });
    assert.equal(err.code, 'ERR_DTLS_LOOKUP');
  } finally {
    await server.close();
  }
});

test('PSK over UDP: our client with psk, our server with pskCallback; a wrong key fails both ends with the alert', { timeout: 20_000 }, async () => {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const seen: string[] = [];
  const clientErrors: DtlsError[] = [];
  const { server, port } = await listeningServer(
    { cert: undefined, key: undefined, handshakeTimeout: 1500, pskIdentityHint: 'hint', pskCallback: (id) => (seen.push(id), id === 'sensor-1' ? key : null) },
    echo,
  );
  server.on('tlsClientError', (e) => clientErrors.push(e));
  try {
    const client = await connected({ port, psk: { identity: 'sensor-1', key } });
    assert.match(client.getCipher()!.name, /PSK/);
    client.send('reading');
    assert.equal((await nextMessage(client)).toString(), 'reading');
    await client.close();

    // A wrong key is silent in DTLS: the server cannot authenticate the
    // client's Finished and discards it (RFC 6347 §4.1.2.7); both ends time out.
    const err = await connectFails({ port, psk: { identity: 'sensor-1', key: Buffer.alloc(16, 9) }, handshakeTimeout: 1500 });
    assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
    await until(() => clientErrors.length === 1, 5000, 'tlsClientError');
    assert.equal(clientErrors[0]!.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');

    const unknown = await connectFails({ port, psk: { identity: 'stranger', key } });
    assert.equal(unknown.alert?.description, 'unknown_psk_identity');
    assert.deepEqual(seen, ['sensor-1', 'sensor-1', 'stranger']);
  } finally {
    await server.close();
  }
});

test('a pskCallback that throws refuses the identity and names the cause', { timeout: 20_000 }, async () => {
  const errors: DtlsError[] = [];
  const { server, port } = await listeningServer({
    cert: undefined,
    key: undefined,
    pskCallback: () => {
      throw new Error('key store offline');
    },
  });
  server.on('tlsClientError', (e) => errors.push(e));
  try {
    const err = await connectFails({ port, psk: { identity: 'x', key: Buffer.alloc(16) } });
    assert.equal(err.alert?.description, 'unknown_psk_identity');
    await until(() => errors.length === 1, 5000, 'tlsClientError');
    assert.equal((errors[0]!.cause as Error).message, 'key store offline');
  } finally {
    await server.close();
  }
});

test('a server on an adopted dgram socket ignores non-DTLS datagrams and leaves the socket open', { timeout: 20_000 }, async () => {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
  const port = udp.address().port;
  const server = createServer({ ...ecPair(), socket: udp }, echo);
  await new Promise<void>((resolve) => server.listen(undefined, resolve));
  const raw = await rawSocket();
  try {
    // A STUN binding request's first byte is 0x00: RFC 7983 says not DTLS.
    await sendRaw(raw, Buffer.from('0001000021124442000000000000000000000000', 'hex'), port);
    const client = await connected({ port });
    client.send('adopted');
    assert.equal((await nextMessage(client)).toString(), 'adopted');
    await until(() => server.getStats().ignored === 1, 2000, 'STUN ignored');
    await client.close();
    await server.close();
    assert.equal(udp.address().port, port, 'the adopted socket is still open');
  } finally {
    raw.close();
    udp.close();
  }
});

test('connect() over a caller-provided dgram socket filters datagrams from other peers', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
  const raw = await rawSocket();
  try {
    const client = await connected({ port, socket: udp });
    await sendRaw(raw, Buffer.from('17fefd000100000000000100050102030405', 'hex'), udp.address().port);
    client.send('mine');
    assert.equal((await nextMessage(client)).toString(), 'mine');
    assert.equal(client.getStats().datagramsIn >= 1, true);
    await client.close();
    assert.equal(udp.address().port > 0, true, 'a caller-provided socket stays open');
  } finally {
    raw.close();
    udp.close();
    await server.close();
  }
});

test('connect(): an AbortSignal aborts a handshake nobody answers; handshakeTimeout bounds it otherwise', { timeout: 20_000 }, async () => {
  const silent = await rawSocket(); // receives ClientHellos, answers nothing
  const port = silent.address().port;
  try {
    const ac = new AbortController();
    const p = connectFails({ port, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    assert.equal((await p).code, 'ERR_DTLS_ABORTED');
    const t = await connectFails({ port, handshakeTimeout: 300 });
    assert.equal(t.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
  } finally {
    silent.close();
  }
});

test('bad options throw Node-style errors before any socket exists', () => {
  assert.throws(() => connect({ port: 'x' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => connect({ port: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => connect({ port: 1, host: 5 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => connect({ port: 1, type: 'udp5' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => connect({ port: 1, socket: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => connect({ port: 1, psk: { identity: '', key: Buffer.alloc(1) } }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => connect({ port: 1, psk: { identity: 'a', key: 'k' as never } }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createServer({ maxConnections: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => createServer({ maxHandshakes: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => createServer({ idleTimeout: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => createServer({ cookieExchange: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createServer({ mtu: 100 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => createServer({ type: 'tcp' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => createServer({ pskCallback: 'no' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createServer({ context: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createServer({}, 'cb' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  const s: DtlsServer = createServer({ context: createSecureContext(ecPair()) });
  assert.throws(() => s.listen(70000), { code: 'ERR_OUT_OF_RANGE' });
  void s.close();
  assert.equal(DtlsSocket.name, 'DtlsSocket');
});

test('handshake() right after connect() waits for the socket, then resolves; the server records one ClientHello', { timeout: 20_000 }, async () => {
  let serverSide: DtlsSocket | undefined;
  const { server, port } = await listeningServer({}, (s) => {
    serverSide = s;
  });
  try {
    const sock = connect({ host: 'localhost', port, rejectUnauthorized: false, type: 'udp4' });
    const info = await withTimeout(sock.handshake(), 10_000, 'handshake');
    assert.equal(info.protocol, 'DTLSv1.2');
    await until(() => serverSide !== undefined, 2000, 'secureConnection');
    const hellos = serverSide!.timeline().filter((e) => e.type === 'message' && e.direction === 'in' && e.message === 'ClientHello');
    assert.equal(hellos.length, 1, 'the stateless front end answered the first ClientHello; the session saw one');
    await sock.close();
  } finally {
    await server.close();
  }
});

test('recvBufferSize / sendBufferSize size the server\'s and the client\'s own sockets; wrong values and adopted sockets are refused', { timeout: 20_000 }, async () => {
  const plain = await listeningServer({}, echo);
  const sized = await listeningServer({ recvBufferSize: 1 << 20, sendBufferSize: 1 << 19 }, echo);
  try {
    const before = plain.server.getStats();
    const after = sized.server.getStats();
    assert.ok(typeof before.recvBufferSize === 'number' && before.recvBufferSize > 0, 'the default is reported');
    // Linux doubles the request and caps it at net.core.rmem_max/wmem_max: compare with what the kernel allows.
    const probe = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 19 });
    await new Promise<void>((resolve) => probe.bind(0, LOCALHOST, resolve));
    const expectRecv = probe.getRecvBufferSize();
    const expectSend = probe.getSendBufferSize();
    probe.close();
    assert.equal(after.recvBufferSize, expectRecv);
    assert.ok(after.recvBufferSize! > before.recvBufferSize!, `larger than the default (${before.recvBufferSize} → ${after.recvBufferSize})`);
    assert.equal(after.sendBufferSize, expectSend);
    // A client with its own sizes still connects and echoes.
    const client = await connected({ port: sized.port, recvBufferSize: 1 << 20, sendBufferSize: 1 << 19 });
    client.send('sized');
    assert.equal((await nextMessage(client)).toString(), 'sized');
    await client.close();

    assert.throws(() => createServer({ recvBufferSize: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => createServer({ sendBufferSize: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => createServer({ recvBufferSize: '1M' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    const udp = dgram.createSocket('udp4');
    try {
      assert.throws(() => createServer({ socket: udp, recvBufferSize: 1 << 20 }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => connect({ port: sized.port, socket: udp, sendBufferSize: 1 << 20 }), { code: 'ERR_INVALID_ARG_VALUE' });
    } finally {
      udp.close();
    }
    assert.throws(() => connect({ port: sized.port, recvBufferSize: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  } finally {
    await plain.server.close();
    await sized.server.close();
  }
  assert.equal(sized.server.getStats().recvBufferSize, undefined, 'not reported once closed');
});
