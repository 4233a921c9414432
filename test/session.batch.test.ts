// One receive() call carries a batch of datagrams across the N-API boundary;
// the step's output comes back through per-env shared buffers and is copied
// into Buffers the receiver owns. These tests pin the batching, the overflow
// paths (a step larger than the shared buffers) and buffer ownership.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, DtlsSession, type SessionOptions } from '../lib/index.js';
import { binding } from '../lib/binding.js';
import { ecPair } from './support/fixtures';

/** A connected pair whose datagrams are queued until the test delivers them. */
async function manualPair(server0: Partial<SessionOptions> = { ...ecPair() }, client0: Partial<SessionOptions> = { rejectUnauthorized: false }) {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const server = new DtlsSession({ ...server0, role: 'server', send: (d) => void toClient.push(d) });
  const client = new DtlsSession({ ...client0, role: 'client', send: (d) => void toServer.push(d) });
  const done = Promise.all([client.handshake(), server.handshake()]);
  for (let i = 0; i < 20 && (client.state !== 'connected' || server.state !== 'connected'); i++) {
    if (toServer.length > 0) server.receive(toServer.splice(0));
    if (toClient.length > 0) client.receive(toClient.splice(0));
  }
  await done;
  return { client, server, toServer, toClient };
}

test('a batch of datagrams in one receive() yields every message, in order', async () => {
  const p = await manualPair();
  try {
    const got: string[] = [];
    p.server.on('message', (m) => got.push(m.toString()));
    for (let i = 0; i < 20; i++) p.client.send(`m${i}`);
    assert.equal(p.toServer.length, 20, 'one datagram per send()');
    p.server.receive(p.toServer.splice(0));
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `m${i}`));
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('a step larger than the shared step buffers (5000 messages, ~500 KB) is delivered whole and intact', async () => {
  const p = await manualPair();
  try {
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(100, i & 0xff);
      b.writeUInt32BE(i, 0);
      p.client.send(b);
    }
    const got: Buffer[] = [];
    p.server.on('message', (m) => got.push(m));
    p.server.receive(p.toServer.splice(0));
    assert.equal(binding.stepMeta[2], -1, 'the item table overflowed stepMeta (items came back in the rare object)');
    assert.equal(binding.stepMeta[3], 1, 'the bytes overflowed stepData (they came back in a Buffer of their own)');
    assert.equal(got.length, n);
    for (let i = 0; i < n; i++) {
      assert.equal(got[i]!.length, 100);
      assert.equal(got[i]!.readUInt32BE(0), i, `message ${i} in order`);
      assert.equal(got[i]![99], i & 0xff, `message ${i} intact`);
    }
    // And the shared path still works right after an overflow step.
    const next = new Promise<Buffer>((resolve) => p.server.once('message', resolve));
    p.client.send('after');
    p.server.receive(p.toServer.splice(0));
    assert.equal((await next).toString(), 'after');
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('messages and datagrams belong to the receiver: later steps never change them', async () => {
  const p = await manualPair();
  try {
    const kept: Buffer[] = [];
    p.server.on('message', (m) => kept.push(m));
    p.client.send(Buffer.alloc(1000, 0x11));
    const firstDatagram = p.toServer[0]!;
    const firstCopy = Buffer.from(firstDatagram);
    p.server.receive(p.toServer.splice(0));
    for (let i = 0; i < 50; i++) {
      p.client.send(Buffer.alloc(1000, 0x22 + (i % 10)));
      p.server.receive(p.toServer.splice(0));
    }
    assert.equal(kept.length, 51);
    assert.ok(kept[0]!.equals(Buffer.alloc(1000, 0x11)), 'the first message is unchanged');
    assert.ok(firstDatagram.equals(firstCopy), 'the first datagram is unchanged');
    // Mutating one message does not touch another.
    kept[1]!.fill(0);
    assert.ok(kept[2]!.equals(Buffer.alloc(1000, 0x22 + 1)));
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('output pools: every kept datagram and message stays intact across many pool blocks, spills and large records', async () => {
  const p = await manualPair();
  try {
    const kept: Array<[Buffer, Buffer]> = []; // [message, what it must equal]
    const datagrams: Array<[Buffer, Buffer]> = [];
    p.server.on('message', (m) => kept.push([m, Buffer.from(m)]));
    let sizes = 0;
    for (let round = 0; round < 40; round++) {
      // Batches of up to 60 datagrams (some larger than a message block), and single records up to 16 KB.
      const count = round % 3 === 0 ? 60 : 1 + (round % 7);
      for (let i = 0; i < count; i++) {
        const len = round % 5 === 4 && i === 0 ? 16384 : 200 + ((round * 131 + i * 977) % 1100);
        sizes += len;
        p.client.send(Buffer.alloc(len, (round * 7 + i) % 251));
      }
      for (const d of p.toServer) datagrams.push([d, Buffer.from(d)]);
      p.server.receive(p.toServer.splice(0));
    }
    assert.ok(sizes > 8 * 64 * 1024, `enough bytes for several blocks (${sizes})`);
    assert.equal(kept.length, datagrams.length);
    for (const [m, copy] of kept) assert.ok(m.equals(copy), 'a kept message was overwritten');
    for (const [d, copy] of datagrams) assert.ok(d.equals(copy), 'a kept datagram was overwritten');
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('send([...]): each message becomes its own record (one datagram each), in order, in one call', async () => {
  const p = await manualPair();
  try {
    const got: Buffer[] = [];
    p.server.on('message', (m) => got.push(m));
    const before = p.client.getStats().datagramsOut;
    p.client.send(['one', Buffer.from('two'), new Uint8Array([0x74, 0x68, 0x72, 0x65, 0x65])]);
    assert.equal(p.toServer.length, 3, 'three records, three datagrams');
    assert.equal(p.client.getStats().datagramsOut - before, 3);
    p.server.receive(p.toServer.splice(0));
    assert.deepEqual(got.map((m) => m.toString()), ['one', 'two', 'three']);
    // An empty array sends nothing.
    p.client.send([]);
    assert.equal(p.toServer.length, 0);
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('send([...]) validates every element before sending any', async () => {
  const p = await manualPair();
  try {
    assert.throws(() => p.client.send(['fine', 5 as never]), (e: NodeJS.ErrnoException) => e.code === 'ERR_INVALID_ARG_TYPE' && /data\[1\]/.test(e.message));
    assert.throws(() => p.client.send(['fine', Buffer.alloc(0)]), (e: NodeJS.ErrnoException) => e.code === 'ERR_OUT_OF_RANGE' && /data\[1\]\.length/.test(e.message));
    assert.throws(() => p.client.send([Buffer.alloc(16385)]), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal(p.toServer.length, 0, 'nothing went out');
    p.client.destroy();
    assert.throws(() => p.client.send(['late']), { code: 'ERR_DTLS_INVALID_STATE' });
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('a burst larger than an output block (300 × 1200 B out, one receive of all 300) comes through whole, in order, each buffer its own', async () => {
  const p = await manualPair();
  try {
    const n = 300;
    const burst = Array.from({ length: n }, (_, i) => {
      const b = Buffer.alloc(1200, i & 0xff);
      b.writeUInt32BE(i, 0);
      return b;
    });
    p.client.send(burst);
    assert.equal(p.toServer.length, n);
    // Room for the whole burst was made first: every datagram is a view of one block, none a copy.
    assert.ok(p.toServer.every((d) => d.buffer === p.toServer[0]!.buffer), 'the burst\'s datagrams share one output block');
    const datagramCopies = p.toServer.map((d) => Buffer.from(d));
    const got: Buffer[] = [];
    p.server.on('message', (m) => got.push(m));
    p.server.receive(p.toServer.splice(0));
    assert.ok(got.every((m) => m.buffer === got[0]!.buffer), 'the batch\'s messages share one output block');
    // A second burst reuses nothing the first one handed out.
    p.client.send(burst.map((b) => Buffer.alloc(b.length, 0xee)));
    p.server.receive(p.toServer.splice(0));
    assert.equal(got.length, 2 * n);
    for (let i = 0; i < n; i++) {
      assert.equal(got[i]!.readUInt32BE(0), i, `message ${i} in order`);
      assert.ok(got[i]!.subarray(4).equals(burst[i]!.subarray(4)), `message ${i} intact`);
      assert.ok(got[n + i]!.equals(Buffer.alloc(1200, 0xee)));
    }
    assert.equal(datagramCopies.length, n);
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('a pskCallback may not drive another session (the env\'s step buffers are in use): the identity is refused with that cause', async () => {
  const other = await manualPair();
  const key = Buffer.alloc(16, 3);
  let thrown: unknown;
  let c: DtlsSession | undefined;
  const server = new DtlsSession({
    role: 'server',
    pskCallback: () => {
      try {
        other.client.send('from inside a pskCallback');
      } catch (e) {
        thrown = e;
        throw e;
      }
      return key;
    },
    send: (d) => c!.receive(d),
  });
  c = new DtlsSession({ role: 'client', psk: { identity: 'id', key }, send: (d) => server.receive(d) });
  const serverDone = server.handshake().then(
    () => undefined,
    (e: unknown) => e,
  );
  try {
    await assert.rejects(c.handshake(), (e: Error & { alert?: { description: string } }) => e.alert?.description === 'unknown_psk_identity');
    assert.equal((thrown as { code?: string }).code, 'ERR_DTLS_INVALID_STATE');
    assert.match((thrown as Error).message, /pskCallback/);
    const serverErr = (await serverDone) as Error;
    assert.equal(serverErr.cause, thrown, 'the server failure names the refused nested step');
    assert.equal(other.toServer.length, 0, 'the other session sent nothing');
    // Outside the callback the other session works as before.
    const got = new Promise<Buffer>((resolve) => other.server.once('message', resolve));
    other.client.send('afterwards');
    other.server.receive(other.toServer.splice(0));
    assert.equal((await got).toString(), 'afterwards');
  } finally {
    c.destroy();
    server.destroy();
    other.client.destroy();
    other.server.destroy();
  }
});

test('one datagram carrying several records: every message, then a close_notify in the same datagram, are all read', async () => {
  const p = await manualPair();
  try {
    const got: string[] = [];
    p.server.on('message', (m) => got.push(m.toString()));
    const closed = new Promise<void>((resolve) => p.server.once('close', resolve));
    p.client.send(['first', 'second', 'third']);
    void p.client.close();
    assert.equal(p.toServer.length, 4, 'three records and a close_notify');
    // A peer may pack records into one datagram (RFC 6347 §4.1.1): all four in one.
    p.server.receive(Buffer.concat(p.toServer.splice(0)));
    assert.deepEqual(got, ['first', 'second', 'third']);
    await closed;
    assert.equal(p.server.state, 'closed', 'the close_notify after the data was read too');
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});

test('resumed handshake: data that overtakes the client\'s final flight is delivered once it completes, one datagram at a time or in one batch', async () => {
  const serverCtx = createSecureContext({ ...ecPair() });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const first = await manualPair({ context: serverCtx }, { context: clientCtx });
  const session = first.client.getSession();
  first.client.destroy();
  first.server.destroy();
  assert.ok(session !== undefined);
  for (const batched of [false, true]) {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const server = new DtlsSession({ role: 'server', context: serverCtx, send: (d) => void toClient.push(d) });
    const client: DtlsSession = new DtlsSession({ role: 'client', context: clientCtx, session, send: (d) => void toServer.push(d) });
    const got: string[] = [];
    server.on('message', (m) => got.push(m.toString()));
    const done = Promise.all([client.handshake(), server.handshake()]);
    server.receive(toServer.splice(0)); // ClientHello with the session
    client.receive(toClient.splice(0)); // ServerHello, ChangeCipherSpec, Finished: the client is done
    assert.equal(client.state, 'connected', 'an abbreviated handshake: the client connects first');
    const finalFlight = toServer.splice(0);
    assert.ok(finalFlight.length > 0);
    client.send(['a', 'b', 'c']);
    const data = toServer.splice(0);
    // The network reorders: the data reaches the server before the client's ChangeCipherSpec and Finished.
    if (batched) server.receive([...data, ...finalFlight]);
    else for (const d of [...data, ...finalFlight]) server.receive(d);
    const [c, s] = await done;
    assert.equal(c.resumed, true);
    assert.equal(s.resumed, true);
    assert.deepEqual(got, ['a', 'b', 'c'], `every early record delivered (${batched ? 'one batch' : 'one datagram at a time'})`);
    client.destroy();
    server.destroy();
  }
});

test('a burst of 5000 records (more items than the step table holds): every datagram comes back intact, in order', async () => {
  const p = await manualPair();
  try {
    const n = 5000;
    const burst = Array.from({ length: n }, (_, i) => {
      const b = Buffer.alloc(64, i & 0xff);
      b.writeUInt32BE(i, 0);
      return b;
    });
    p.client.send(burst);
    assert.equal(binding.stepMeta[2], -1, 'the item table overflowed stepMeta (items came back in the rare object)');
    assert.equal(p.toServer.length, n);
    const got: Buffer[] = [];
    p.server.on('message', (m) => got.push(m));
    p.server.receive(p.toServer.splice(0));
    assert.equal(got.length, n);
    for (let i = 0; i < n; i++) {
      assert.equal(got[i]!.readUInt32BE(0), i, `message ${i} in order`);
      assert.equal(got[i]![63], i & 0xff, `message ${i} intact`);
    }
  } finally {
    p.client.destroy();
    p.server.destroy();
  }
});
