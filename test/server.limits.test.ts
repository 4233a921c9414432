// DtlsServer limits and hostile input: maxConnections, the half-open cap, idle timeout, spoofed
// ClientHello floods, garbage, and a peer restarting on the same address and port (RFC 6347 §4.2.8).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';

import { connect, createSecureContext, createServer, DtlsSession, type DtlsError, type DtlsSocket } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { withTimeout } from './support/peers';
import { connected, connectFails, LOCALHOST, listeningServer, nextMessage, rawSocket, sendRaw, until } from './support/servers';

const echo = (s: DtlsSocket): void => {
  s.on('message', (m) => s.send(m));
};

/** The first datagram a fresh client sends: a ClientHello without cookie. */
async function clientHello(): Promise<Buffer> {
  let first: Buffer | undefined;
  const s = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => (first ??= d) });
  s.handshake().catch(() => {});
  s.destroy();
  assert.ok(first !== undefined);
  return first;
}

/** The same ClientHello with a fresh client random (offset: 13-byte record + 12-byte handshake header + 2-byte version). */
function withNewRandom(hello: Buffer): Buffer {
  const d = Buffer.from(hello);
  randomBytes(32).copy(d, 13 + 12 + 2);
  return d;
}

test('maxConnections: a peer beyond the limit is refused with internal_error and counted', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({ maxConnections: 2 }, echo);
  try {
    const a = await connected({ port });
    const b = await connected({ port });
    const err = await connectFails({ port });
    assert.equal(err.code, 'ERR_DTLS_ALERT_RECEIVED');
    assert.equal(err.alert?.description, 'internal_error');
    assert.equal(server.getStats().refused, 1);
    assert.equal(server.connections, 2);
    // A slot frees up when a peer leaves.
    await a.close();
    await until(() => server.connections === 1, 5000, 'slot freed');
    const c = await connected({ port });
    await Promise.all([b.close(), c.close()]);
  } finally {
    await server.close();
  }
});

test('maxHandshakes caps half-open sessions when cookies are off (spoofed ClientHellos from many ports)', { timeout: 20_000 }, async () => {
  const context = createSecureContext(ecPair());
  const server = createServer({ context, cookieExchange: false, maxHandshakes: 5, handshakeTimeout: 2000 });
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  const port = server.address().port;
  const senders = await Promise.all(Array.from({ length: 20 }, () => rawSocket()));
  try {
    const hello = await clientHello();
    await Promise.all(senders.map((s) => sendRaw(s, withNewRandom(hello), port)));
    await until(() => server.getStats().datagramsIn === 20, 5000, 'all ClientHellos arrived');
    const st = server.getStats();
    assert.equal(st.handshaking, 5);
    assert.equal(st.handshakesShed, 15);
    assert.equal(context.sessionCount, 5);
    // The half-open sessions time out and free their slots.
    await until(() => server.getStats().handshaking === 0, 8000, 'half-open sessions timed out');
    assert.equal(server.getStats().handshakeFailures, 5);
    assert.equal(context.sessionCount, 0);
  } finally {
    for (const s of senders) s.close();
    await server.close();
  }
});

test('with cookies on, a flood of spoofed ClientHellos creates no session', { timeout: 30_000 }, async () => {
  const context = createSecureContext(ecPair());
  const server = createServer({ context }, echo);
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  const port = server.address().port;
  const senders = await Promise.all(Array.from({ length: 10 }, () => rawSocket()));
  try {
    const hello = await clientHello();
    // A cookie that was never issued, too.
    const forged = Buffer.concat([hello.subarray(0, 13 + 12 + 2 + 32 + 1), Buffer.from([32]), randomBytes(32), hello.subarray(13 + 12 + 2 + 32 + 1 + 1)]);
    forged.writeUInt16BE(forged.length - 13, 11);
    const bodyLen = forged.length - 13 - 12;
    forged.writeUIntBE(bodyLen, 13 + 1, 3);
    forged.writeUIntBE(bodyLen, 13 + 9, 3);
    const rounds = 100;
    for (let r = 0; r < rounds; r++) {
      await Promise.all(senders.map((s, i) => sendRaw(s, i === 0 ? forged : withNewRandom(hello), port)));
      await new Promise((resolve) => setImmediate(resolve)); // let the server read
    }
    // A flood overruns the kernel's receive buffer: count what arrived once it stops growing.
    let seen = -1;
    await until(() => {
      const now = server.getStats().datagramsIn;
      const stable = now === seen && now > 0;
      seen = now;
      return stable;
    }, 10_000, 'flood settled');
    const st = server.getStats();
    assert.ok(st.datagramsIn >= senders.length, `at least one round arrived (${st.datagramsIn})`);
    assert.equal(context.sessionCount, 0);
    assert.equal(st.connections, 0);
    assert.equal(st.handshaking, 0);
    // Every ClientHello was answered statelessly; the forged cookies were recognised as such.
    assert.equal(st.helloVerifyRequests, st.datagramsIn);
    assert.ok(st.badCookies >= 1 && st.badCookies <= rounds);
    // The server still serves real clients.
    const c = await connected({ port });
    c.send('still here');
    assert.equal((await nextMessage(c)).toString(), 'still here');
    await c.close();
  } finally {
    for (const s of senders) s.close();
    await server.close();
  }
});

test('garbage datagrams from unknown and connected peers are dropped and counted; the session survives', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({}, echo);
  const raw = await rawSocket();
  try {
    const client = await connected({ port });
    const junk = [Buffer.from([0x16]), Buffer.alloc(13, 0x16), randomBytes(200), Buffer.from('16fefd0000000000000000ffff', 'hex'), Buffer.from('17fefd00010000000000050010aabb', 'hex')];
    for (const j of junk) await sendRaw(raw, j, port);
    for (let i = 0; i < 50; i++) {
      const d = randomBytes(1 + (i * 37) % 300);
      d[0] = 20 + (i % 44); // keeps it in the DTLS range of RFC 7983
      await sendRaw(raw, d, port);
    }
    await until(() => server.getStats().dropped >= 55, 5000, 'garbage counted');
    client.send('intact');
    assert.equal((await nextMessage(client)).toString(), 'intact');
    assert.equal(server.connections, 1);
    await client.close();
  } finally {
    raw.close();
    await server.close();
  }
});

test('idleTimeout closes a silent connected session with close_notify', { timeout: 20_000 }, async () => {
  const { server, port } = await listeningServer({ idleTimeout: 200 }, echo);
  try {
    const client = await connected({ port });
    const closed = new Promise<void>((resolve) => client.once('close', resolve));
    await withTimeout(closed, 5000, 'idle close');
    assert.equal(server.getStats().idleClosed, 1);
    assert.equal(server.connections, 0);
  } finally {
    await server.close();
  }
});

test('a peer that restarts on the same address and port gets a new session once its new handshake completes', { timeout: 20_000 }, async () => {
  const replaced: DtlsSocket[] = [];
  const { server, port } = await listeningServer({}, (s) => {
    replaced.push(s);
    echo(s);
  });
  try {
    const first = await connected({ port });
    const localPort = first.address().port;
    // The "crash": no close_notify, the socket just goes away.
    first.destroy();
    await until(() => first.state === 'closed', 2000, 'first destroyed');
    await new Promise((r) => setTimeout(r, 50)); // let its dgram socket close
    const second = await connected({ port, localPort });
    second.send('after restart');
    assert.equal((await nextMessage(second)).toString(), 'after restart');
    assert.equal(server.getStats().replaced, 1);
    assert.equal(server.connections, 1);
    assert.equal(replaced.length, 2);
    assert.equal(replaced[0]!.state, 'closed');
    await second.close();
  } finally {
    await server.close();
  }
});

test('spoofed ClientHellos from a connected peer address do not disturb its session', { timeout: 20_000 }, async () => {
  // Spoofing needs the server's socket: an adopted one lets the test inject datagrams "from" the client.
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
  const port = udp.address().port;
  const errors: DtlsError[] = [];
  const server = createServer({ ...ecPair(), socket: udp, cookieExchange: false, handshakeTimeout: 1000 }, echo);
  server.on('tlsClientError', (e) => errors.push(e));
  try {
    const client = await connected({ port });
    const hello = await clientHello();
    const from = { address: LOCALHOST, family: 'IPv4', port: client.address().port, size: hello.length };
    for (let i = 0; i < 5; i++) udp.emit('message', withNewRandom(hello), from);
    // The successor handshake never completes (the real client ignores its ServerHello) and times out.
    await until(() => errors.length >= 1, 5000, 'spoofed handshake failed');
    client.send('undisturbed');
    assert.equal((await nextMessage(client)).toString(), 'undisturbed');
    const st = server.getStats();
    assert.equal(st.replaced, 0);
    assert.equal(st.connections, 1);
    assert.equal(errors.every((e) => e.code === 'ERR_DTLS_HANDSHAKE_TIMEOUT'), true);
    await client.close();
  } finally {
    await server.close();
    udp.close();
  }
});

test('connect() errors reach the error event; without a listener connect() never throws synchronously', { timeout: 20_000 }, async () => {
  const silent = await rawSocket();
  try {
    const sock = connect({ host: LOCALHOST, port: silent.address().port, handshakeTimeout: 200 });
    const err = await withTimeout(new Promise<DtlsError>((resolve) => sock.once('error', resolve)), 5000, 'error');
    assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
    assert.equal(sock.state, 'failed');
  } finally {
    silent.close();
  }
});
