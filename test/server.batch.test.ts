// Batched delivery: a server (and a connect() socket) hands each session the datagrams of one event-loop
// turn as one receive([...]) in the check phase of the same turn. Order per peer, routing to a restarted
// peer's successor, close() with datagrams queued, and a throwing listener are checked here; datagrams are
// injected on an adopted server socket so that many of them arrive in one turn, deterministically.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as path from 'node:path';

import { connect, createServer, type DtlsServer, type DtlsSocket } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { withTimeout } from './support/peers';
import { connected, LOCALHOST, nextMessage, until } from './support/servers';

/** A bound dgram socket whose outgoing datagrams can be held back (copied) instead of sent. */
async function holdingSocket(): Promise<{ udp: dgram.Socket; held: Buffer[]; hold(on: boolean): void; rinfo(): dgram.RemoteInfo }> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
  const held: Buffer[] = [];
  let holding = false;
  const send = udp.send.bind(udp) as (...args: unknown[]) => void;
  (udp as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    if (!holding) {
      send(...args);
      return;
    }
    held.push(Buffer.from(args[0] as Buffer));
    const cb = args.find((a) => typeof a === 'function') as ((err: Error | null) => void) | undefined;
    if (cb !== undefined) process.nextTick(cb, null);
  };
  return {
    udp,
    held,
    hold: (on) => {
      holding = on;
    },
    rinfo: () => ({ address: LOCALHOST, family: 'IPv4', port: udp.address().port, size: 0 }),
  };
}

/** A server on an adopted socket (so the test can inject datagrams "from" a peer), cookies off. */
async function adoptedServer(onConnection?: (s: DtlsSocket) => void): Promise<{ server: DtlsServer; udp: dgram.Socket; port: number }> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
  const server = createServer({ ...ecPair(), socket: udp, cookieExchange: false }, onConnection);
  await new Promise<void>((resolve) => server.listen(undefined, resolve));
  return { server, udp, port: udp.address().port };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('datagrams of one turn reach their sessions after the poll phase of that turn, in arrival order per peer', { timeout: 20_000 }, async () => {
  const received = new Map<number, string[]>();
  const { server, udp, port } = await adoptedServer((s) => {
    const list: string[] = [];
    received.set(s.remotePort!, list);
    s.on('message', (m) => list.push(m.toString()));
  });
  const a = await holdingSocket();
  const b = await holdingSocket();
  try {
    const ca = await connected({ port, socket: a.udp });
    const cb = await connected({ port, socket: b.udp });
    await until(() => received.size === 2, 5000, 'both peers connected');
    a.hold(true);
    b.hold(true);
    for (let i = 0; i < 100; i++) {
      ca.send(`a${i}`);
      cb.send(`b${i}`);
    }
    a.hold(false);
    b.hold(false);
    assert.equal(a.held.length, 100);
    assert.equal(b.held.length, 100);
    // Interleaved, as from two peers in one poll phase.
    for (let i = 0; i < 100; i++) {
      udp.emit('message', a.held[i], a.rinfo());
      udp.emit('message', b.held[i], b.rinfo());
    }
    const ra = received.get(a.udp.address().port)!;
    const rb = received.get(b.udp.address().port)!;
    assert.equal(ra.length + rb.length, 0, 'nothing is delivered inside the poll phase');
    await turn(); // queued after the server's own setImmediate: runs once the batch is delivered
    assert.deepEqual(ra, Array.from({ length: 100 }, (_, i) => `a${i}`));
    assert.deepEqual(rb, Array.from({ length: 100 }, (_, i) => `b${i}`));
    assert.equal(server.getStats().datagramsIn >= 200, true);
    await ca.close();
    await cb.close();
  } finally {
    await server.close();
    udp.close();
    a.udp.close();
    b.udp.close();
  }
});

test('a connect() socket gets a burst in order; close() with datagrams queued counts them as dropped', { timeout: 20_000 }, async () => {
  let serverSide: DtlsSocket | undefined;
  const { server, udp, port } = await adoptedServer((s) => {
    serverSide = s;
  });
  const c = await holdingSocket();
  try {
    const client = await connected({ port, socket: c.udp });
    await until(() => serverSide !== undefined, 5000, 'server side');
    const got: string[] = [];
    client.on('message', (m) => got.push(m.toString()));
    const done = new Promise<void>((resolve) => client.on('message', () => got.length === 100 && resolve()));
    // 100 small datagrams: well inside the default socket receive buffer (no loss on loopback).
    for (let i = 0; i < 100; i++) serverSide!.send(`m${i}`);
    await withTimeout(done, 5000, '100 messages');
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `m${i}`));

    // Datagrams queued for a socket that closes before its batch is delivered are dropped, and counted.
    const from = { address: LOCALHOST, family: 'IPv4', port, size: 0 };
    const records: Buffer[] = [];
    const send = udp.send.bind(udp) as (...args: unknown[]) => void;
    (udp as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
      records.push(Buffer.from(args[0] as Buffer));
      const cb = args.find((x) => typeof x === 'function') as ((err: Error | null) => void) | undefined;
      if (cb !== undefined) process.nextTick(cb, null);
    };
    for (let i = 0; i < 3; i++) serverSide!.send(`late${i}`);
    (udp as unknown as { send: unknown }).send = send;
    const before = client.getStats().dropped;
    for (const r of records) c.udp.emit('message', r, from);
    client.destroy();
    await turn();
    assert.equal(got.length, 100, 'nothing delivered after destroy()');
    assert.equal(client.getStats().dropped - before, 3);
  } finally {
    await server.close();
    udp.close();
    c.udp.close();
  }
});

test('a restart in the same turn as the old session\'s data: the data reaches the old session, the ClientHello a successor', { timeout: 20_000 }, async () => {
  const sockets: DtlsSocket[] = [];
  const messages: Array<[number, string]> = [];
  const { server, udp, port } = await adoptedServer((s) => {
    const index = sockets.push(s) - 1;
    s.on('message', (m) => messages.push([index, m.toString()]));
  });
  const c = await holdingSocket();
  try {
    const first = await connected({ port, socket: c.udp });
    await until(() => sockets.length === 1, 5000, 'first connected');
    c.hold(true);
    first.send('before the restart');
    first.destroy(); // a crash: no close_notify
    const second = connect({ host: LOCALHOST, port, socket: c.udp, rejectUnauthorized: false });
    const secondUp = new Promise<void>((resolve, reject) => {
      second.once('secureConnect', () => resolve());
      second.once('error', reject);
    });
    await until(() => c.held.length === 2, 5000, 'the new ClientHello');
    c.hold(false);
    assert.equal(c.held[1]![0], 22, 'a handshake record');
    // One turn: the old session's record, then the restarted client's ClientHello (same address and port).
    udp.emit('message', c.held[0], c.rinfo());
    udp.emit('message', c.held[1], c.rinfo());
    await withTimeout(secondUp, 5000, 'the restarted client connects');
    await until(() => sockets.length === 2, 5000, 'successor announced');
    assert.deepEqual(messages, [[0, 'before the restart']]);
    assert.equal(sockets[0]!.state, 'closed');
    second.send('after the restart');
    await until(() => messages.length === 2, 5000, 'successor data');
    assert.deepEqual(messages[1], [1, 'after the restart']);
    const st = server.getStats();
    assert.equal(st.replaced, 1);
    assert.equal(st.connections, 1);
    await second.close();
  } finally {
    await server.close();
    udp.close();
    c.udp.close();
  }
});

test('server.close() in the same turn: datagrams that arrived before it are delivered first', { timeout: 20_000 }, async () => {
  let serverSide: DtlsSocket | undefined;
  const got: string[] = [];
  const { server, udp, port } = await adoptedServer((s) => {
    serverSide = s;
    s.on('message', (m) => got.push(m.toString()));
  });
  const c = await holdingSocket();
  try {
    const client = await connected({ port, socket: c.udp });
    await until(() => serverSide !== undefined, 5000, 'server side');
    c.hold(true);
    client.send('last words');
    c.hold(false);
    udp.emit('message', c.held[0], c.rinfo());
    const closed = server.close();
    assert.deepEqual(got, ['last words']);
    await closed;
    assert.equal(serverSide!.state, 'closed');
    client.destroy();
  } finally {
    await server.close();
    udp.close();
    c.udp.close();
  }
});

test('a message listener that throws: the exception is uncaught, and the other sessions of the batch still get theirs', { timeout: 30_000 }, () => {
  // In a child process: the throw must reach process 'uncaughtException', which the test runner owns here.
  const lib = path.join(__dirname, '..', 'lib', 'index.js');
  const script = `
    const { createServer, connect } = require(${JSON.stringify(lib)});
    const { cert, key } = JSON.parse(process.argv[1]);
    let thrown = 0;
    process.on('uncaughtException', (e) => { if (e.message === 'listener') thrown++; else throw e; });
    const got = [];
    const server = createServer({ cert, key }, (s) => {
      s.on('message', (m) => {
        if (m.toString() === 'boom') throw new Error('listener');
        got.push(m.toString());
      });
    });
    server.listen(0, '127.0.0.1', async () => {
      const port = server.address().port;
      const up = () => new Promise((resolve, reject) => {
        const c = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
        c.once('secureConnect', () => resolve(c));
        c.once('error', reject);
      });
      const a = await up();
      const b = await up();
      await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 20; i++) { a.send('boom'); b.send('b' + i); }
      const deadline = Date.now() + 5000;
      while (got.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      console.log(JSON.stringify({ thrown, got }));
      a.destroy(); b.destroy();
      await server.close();
    });`;
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(ecPair())], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { thrown: number; got: string[] };
  assert.equal(out.thrown >= 1, true);
  assert.deepEqual(out.got, Array.from({ length: 20 }, (_, i) => `b${i}`));
});

test('the old session\'s close_notify and the restarted client\'s ClientHello in one turn: the new handshake carries on', { timeout: 20_000 }, async () => {
  const sockets: DtlsSocket[] = [];
  const { server, udp, port } = await adoptedServer((s) => {
    sockets.push(s);
    s.on('message', (m) => s.send(m));
  });
  const c = await holdingSocket();
  try {
    const first = await connected({ port, socket: c.udp });
    await until(() => sockets.length === 1, 5000, 'first connected');
    c.hold(true);
    await first.close(); // close_notify, held
    // A long first retransmission timeout: if the server dropped this ClientHello, the handshake would stall.
    const second = connect({ host: LOCALHOST, port, socket: c.udp, rejectUnauthorized: false, retransmitTimeout: 20_000 });
    const secondUp = new Promise<void>((resolve, reject) => {
      second.once('secureConnect', () => resolve());
      second.once('error', reject);
    });
    await until(() => c.held.length === 2, 5000, 'the new ClientHello');
    c.hold(false);
    udp.emit('message', c.held[0], c.rinfo()); // close_notify for the old session
    udp.emit('message', c.held[1], c.rinfo()); // ClientHello: a successor, since the old session is still up at arrival
    await withTimeout(secondUp, 5000, 'the new handshake completes without a retransmission');
    await until(() => sockets.length === 2, 5000, 'announced');
    assert.equal(sockets[0]!.state, 'closed');
    assert.equal(second.getStats().retransmits, 0);
    second.send('works');
    assert.equal((await nextMessage(second)).toString(), 'works');
    const st = server.getStats();
    assert.equal(st.connections, 1);
    assert.equal(st.handshakes, 2);
    assert.equal(st.handshakeFailures, 0);
    await second.close();
    await until(() => server.connections === 0, 5000, 'closed');
  } finally {
    await server.close();
    udp.close();
    c.udp.close();
  }
});
