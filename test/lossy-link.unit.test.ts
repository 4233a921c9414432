// Tests of the test-support link simulator itself (no DTLS involved).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  LossyLink,
  type LinkOptions,
  mulberry32,
  recordTypes,
  handshakeTypes,
  epochs,
  parseRecords,
  hasHandshake,
  describeDatagram,
  ENCRYPTED_HANDSHAKE,
  HandshakeType,
} from './support/lossy-link';

const datagram = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(n, 0);
  b.writeUInt32BE(0xdeadbeef, 4);
  return b;
};
const idOf = (b: Buffer): number => b.readUInt32BE(0);

/** Resolves once `cond()` holds, polling on setImmediate; rejects after `timeoutMs`. */
function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setImmediate(tick);
    };
    tick();
  });
}

/** Sends n numbered datagrams each way and returns what arrived on each side, in arrival order. */
async function run(opts: LinkOptions, n: number): Promise<{ ab: number[]; ba: number[]; link: LossyLink }> {
  const link = new LossyLink(opts);
  const ab: number[] = [];
  const ba: number[] = [];
  const toB = link.endpoint('a->b', (d) => ab.push(idOf(d)));
  const toA = link.endpoint('b->a', (d) => ba.push(idOf(d)));
  for (let i = 0; i < n; i++) {
    toB(datagram(i));
    toA(datagram(1_000_000 + i));
  }
  // Everything not dropped is delivered once, plus the duplicates (held ones are released by their timer).
  const expected = (): number => link.stats.sent - link.stats.dropped + link.stats.duplicated;
  await until(() => link.stats.delivered === expected() && link.pending === 0, 5000, 'all deliveries');
  link.close();
  return { ab, ba, link };
}

test('mulberry32 is deterministic and uniform-ish', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const sa = Array.from({ length: 100 }, a);
  assert.deepEqual(sa, Array.from({ length: 100 }, b));
  assert.notDeepEqual(sa, Array.from({ length: 100 }, c));
  const r = mulberry32(7);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) {
    const x = r();
    assert.ok(x >= 0 && x < 1, `out of range: ${x}`);
    sum += x;
  }
  assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02, `mean ${sum / 10_000}`);
});

test('same seed gives the same deliveries, another seed does not', async () => {
  const opts = { loss: 0.25, duplicate: 0.1, reorder: 0.15, reorderHoldMs: 5 };
  const r1 = await run({ seed: 1234, ...opts }, 500);
  const r2 = await run({ seed: 1234, ...opts }, 500);
  const r3 = await run({ seed: 4321, ...opts }, 500);
  assert.deepEqual(r1.ab, r2.ab);
  assert.deepEqual(r1.ba, r2.ba);
  assert.deepEqual(r1.link.stats, r2.link.stats);
  assert.notDeepEqual(r1.ab, r3.ab);
  // The two directions use different streams.
  assert.notDeepEqual(
    r1.ab,
    r1.ba.map((x) => x - 1_000_000),
  );
  // Every fault kind actually happened.
  const s = r1.link.stats;
  assert.ok(s.dropped > 0 && s.duplicated > 0 && s.reordered > 0, JSON.stringify(s));
  assert.equal(s.sent, 1000);
  assert.equal(s.delivered, s.sent - s.dropped + s.duplicated);
});

test('loss ratio over 10,000 datagrams is within bounds', async () => {
  for (const [seed, loss] of [
    [1, 0.2],
    [99, 0.05],
    [2024, 0.5],
  ] as const) {
    const link = new LossyLink({ seed, loss });
    let delivered = 0;
    const send = link.endpoint('a->b', () => delivered++);
    for (let i = 0; i < 10_000; i++) send(datagram(i));
    await until(() => link.pending === 0, 5000, 'deliveries');
    const ratio = link.stats.dropped / link.stats.sent;
    // sd = sqrt(p(1-p)/n) <= 0.005; allow 0.02 (4+ sd).
    assert.ok(Math.abs(ratio - loss) < 0.02, `seed ${seed}: loss ${ratio} vs ${loss}`);
    assert.equal(delivered, 10_000 - link.stats.dropped);
    assert.equal(link.stats.delivered, delivered);
    link.close();
  }
});

test('no loss, no faults: everything arrives once, in order, as a copy', async () => {
  const link = new LossyLink({ seed: 5 });
  const got: Buffer[] = [];
  const send = link.endpoint('a->b', (d) => got.push(d));
  const sent: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    const d = datagram(i);
    sent.push(d);
    send(d);
    d.fill(0); // the sender scribbles over its buffer right after sending
  }
  await until(() => got.length === 50, 2000, '50 deliveries');
  assert.deepEqual(
    got.map(idOf),
    Array.from({ length: 50 }, (_, i) => i),
  );
  for (const d of got) assert.equal(d.readUInt32BE(4), 0xdeadbeef);
  assert.equal(link.stats.dropped, 0);
  link.close();
});

test('reorder: a held datagram is delivered right after its successor', async () => {
  const link = new LossyLink({ seed: 3, reorder: 1, reorderHoldMs: Infinity });
  const got: number[] = [];
  const send = link.endpoint('a->b', (d) => got.push(idOf(d)));
  for (let i = 0; i < 6; i++) send(datagram(i));
  await until(() => got.length === 6, 2000, '6 deliveries');
  assert.deepEqual(got, [1, 0, 3, 2, 5, 4]);
  assert.equal(link.stats.reordered, 3);
  // An odd datagram with no successor stays held until close() (hold time Infinity).
  send(datagram(6));
  assert.equal(link.held, 1);
  link.close();
  assert.equal(link.held, 0);
});

test('reorder: a held datagram with no successor is released after reorderHoldMs', async () => {
  const link = new LossyLink({ seed: 3, reorder: 1, reorderHoldMs: 20 });
  const got: number[] = [];
  const send = link.endpoint('b->a', (d) => got.push(idOf(d)));
  const t0 = Date.now();
  send(datagram(7));
  assert.equal(link.held, 1);
  await until(() => got.length === 1, 2000, 'release of the held datagram');
  assert.ok(Date.now() - t0 >= 15, 'released too early');
  assert.deepEqual(got, [7]);
  assert.equal(link.pending, 0);
  link.close();
});

test('duplicate: every datagram twice, as distinct buffers', async () => {
  const link = new LossyLink({ seed: 8, duplicate: 1 });
  const got: Buffer[] = [];
  const send = link.endpoint('a->b', (d) => got.push(d));
  for (let i = 0; i < 4; i++) send(datagram(i));
  await until(() => got.length === 8, 2000, '8 deliveries');
  assert.deepEqual(got.map(idOf).sort((a, b) => a - b), [0, 0, 1, 1, 2, 2, 3, 3]);
  assert.notEqual(got[0], got[1]);
  got[0]!.fill(0);
  assert.ok(got.slice(1).every((d) => d.readUInt32BE(4) === 0xdeadbeef));
  assert.equal(link.stats.duplicated, 4);
  link.close();
});

test('drop callback targets datagrams by index and direction', async () => {
  const calls: string[] = [];
  const link = new LossyLink({
    seed: 1,
    drop: (d, index, dir) => {
      calls.push(`${dir}#${index}:${idOf(d)}`);
      return dir === 'a->b' && index === 2;
    },
  });
  const ab: number[] = [];
  const ba: number[] = [];
  const toB = link.endpoint('a->b', (d) => ab.push(idOf(d)));
  const toA = link.endpoint('b->a', (d) => ba.push(idOf(d)));
  for (let i = 0; i < 4; i++) {
    toB(datagram(i));
    toA(datagram(10 + i));
  }
  await until(() => link.pending === 0, 2000, 'deliveries');
  assert.deepEqual(ab, [0, 1, 3]);
  assert.deepEqual(ba, [10, 11, 12, 13]);
  assert.equal(link.stats.dropped, 1);
  assert.deepEqual(calls.slice(0, 4), ['a->b#0:0', 'b->a#0:10', 'a->b#1:1', 'b->a#1:11']);
  link.close();
});

test('delays: deliveries wait at least delayMs[0]', async () => {
  const link = new LossyLink({ seed: 11, delayMs: [20, 30] });
  const times: number[] = [];
  const t0 = Date.now();
  const send = link.endpoint('a->b', () => times.push(Date.now() - t0));
  for (let i = 0; i < 5; i++) send(datagram(i));
  assert.equal(link.pending, 5);
  await until(() => times.length === 5, 2000, '5 delayed deliveries');
  assert.ok(
    times.every((t) => t >= 19),
    `too early: ${times.join(',')}`,
  );
  link.close();
});

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
}

test('close() cancels every pending delivery and leaves no timers behind', async () => {
  const before = activeTimers();
  const link = new LossyLink({ seed: 9, delayMs: [5, 40], reorder: 0.3, duplicate: 0.2, reorderHoldMs: 50 });
  let delivered = 0;
  const send = link.endpoint('a->b', () => delivered++);
  const send2 = link.endpoint('b->a', () => delivered++);
  for (let i = 0; i < 200; i++) {
    send(datagram(i));
    send2(datagram(i));
  }
  const immediate = new LossyLink({ seed: 9 });
  const send3 = immediate.endpoint('a->b', () => delivered++);
  for (let i = 0; i < 10; i++) send3(datagram(i));

  assert.ok(link.pending > 300, `pending ${link.pending}`);
  assert.equal(immediate.pending, 10);
  assert.ok(activeTimers() >= before + 1, 'expected active timers while deliveries are pending');
  link.close();
  immediate.close();
  assert.equal(link.pending, 0);
  assert.equal(immediate.pending, 0);
  assert.equal(link.held, 0);
  assert.equal(activeTimers(), before, 'timers left behind after close()');
  // Nothing arrives later, and sends after close are dropped.
  send(datagram(999));
  assert.equal(link.pending, 0);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(delivered, 0);
  assert.equal(link.stats.delivered, 0);
  assert.equal(link.stats.dropped, 1);
});

test('options are validated', () => {
  assert.throws(() => new LossyLink({ seed: 1, loss: 1.5 }), RangeError);
  assert.throws(() => new LossyLink({ seed: 1, duplicate: -0.1 }), RangeError);
  assert.throws(() => new LossyLink({ seed: 1, delayMs: [10, 5] }), RangeError);
  assert.throws(() => new LossyLink({ seed: Number.NaN }), RangeError);
});

// ----------------------------------------------------------------------------------------- parsing

function record(type: number, epoch: number, seq: number, body: Buffer): Buffer {
  const h = Buffer.alloc(13);
  h[0] = type;
  h.writeUInt16BE(0xfefd, 1); // DTLS 1.2
  h.writeUInt16BE(epoch, 3);
  h.writeUIntBE(seq, 5, 6);
  h.writeUInt16BE(body.length, 11);
  return Buffer.concat([h, body]);
}

function handshake(msgType: number, messageSeq: number, body: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[0] = msgType;
  h.writeUIntBE(body.length, 1, 3);
  h.writeUInt16BE(messageSeq, 4);
  h.writeUIntBE(0, 6, 3); // fragment_offset
  h.writeUIntBE(body.length, 9, 3); // fragment_length
  return Buffer.concat([h, body]);
}

test('parses a hand-made ClientHello datagram', () => {
  const d = record(22, 0, 0, handshake(HandshakeType.ClientHello, 0, Buffer.alloc(40, 1)));
  assert.deepEqual(recordTypes(d), [22]);
  assert.deepEqual(epochs(d), [0]);
  assert.deepEqual(handshakeTypes(d), [1]);
  assert.ok(hasHandshake(d, HandshakeType.ClientHello));
  assert.ok(!hasHandshake(d, HandshakeType.Finished));
  const [r] = parseRecords(d);
  assert.equal(r!.version, 0xfefd);
  assert.equal(r!.length, 52);
  assert.equal(r!.truncated, false);
});

test('parses a server flight and a client final flight', () => {
  // ServerHello, Certificate, ServerKeyExchange, ServerHelloDone: one record each, plus one record with two.
  const flight2 = Buffer.concat([
    record(22, 0, 1, handshake(2, 1, Buffer.alloc(70))),
    record(22, 0, 2, handshake(11, 2, Buffer.alloc(300))),
    record(22, 0, 3, Buffer.concat([handshake(12, 3, Buffer.alloc(100)), handshake(14, 4, Buffer.alloc(0))])),
  ]);
  assert.deepEqual(recordTypes(flight2), [22, 22, 22]);
  assert.deepEqual(handshakeTypes(flight2), [2, 11, 12, 14]);

  // ClientKeyExchange (epoch 0), ChangeCipherSpec (epoch 0), Finished (encrypted, epoch 1), then an alert.
  const flight3 = Buffer.concat([
    record(22, 0, 4, handshake(16, 2, Buffer.alloc(66))),
    record(20, 0, 5, Buffer.from([1])),
    record(22, 1, 0, Buffer.alloc(40, 0xab)),
    record(21, 1, 1, Buffer.alloc(26)),
  ]);
  assert.deepEqual(recordTypes(flight3), [22, 20, 22, 21]);
  assert.deepEqual(epochs(flight3), [0, 0, 1, 1]);
  assert.deepEqual(handshakeTypes(flight3), [16, ENCRYPTED_HANDSHAKE]);
  assert.equal(parseRecords(flight3)[2]!.seq, 0);
  assert.equal(
    describeDatagram(flight3),
    'Handshake/e0[ClientKeyExchange] CCS/e0 Handshake/e1[encrypted] Alert/e1',
  );

  const big = record(23, 3, 2 ** 40 + 5, Buffer.alloc(10));
  assert.equal(parseRecords(big)[0]!.seq, 2 ** 40 + 5);
  assert.equal(parseRecords(big)[0]!.epoch, 3);
});

test('truncated or garbage datagrams do not throw', () => {
  const full = record(22, 0, 0, handshake(1, 0, Buffer.alloc(40)));
  const cut = full.subarray(0, 20); // header + 7 bytes of the handshake header
  assert.deepEqual(recordTypes(cut), [22]);
  assert.equal(parseRecords(cut)[0]!.truncated, true);
  assert.deepEqual(handshakeTypes(cut), [1]);
  assert.deepEqual(recordTypes(Buffer.alloc(5)), []);
  assert.deepEqual(handshakeTypes(Buffer.alloc(0)), []);
  assert.equal(describeDatagram(Buffer.from([0x17])), '(no DTLS record, 1 bytes)');
  // Two records where the second one's length runs past the end.
  const two = Buffer.concat([record(20, 0, 1, Buffer.from([1])), record(23, 1, 0, Buffer.alloc(30)).subarray(0, 20)]);
  assert.deepEqual(recordTypes(two), [20, 23]);
  assert.deepEqual(epochs(two), [0, 1]);
});
