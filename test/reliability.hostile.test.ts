// Hostile input to sessions in every state: random datagrams, bit-flipped and truncated copies of real
// handshake datagrams, and endless handshake fragments. Nothing may throw, crash or grow without bound;
// garbage is counted; a connected session keeps working.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { DtlsError, DtlsSession } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { mulberry32 } from './support/lossy-link';
import { makePair, withPair } from './support/pair';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The datagrams of one real handshake (both directions), to mutate. */
async function realDatagrams(): Promise<Buffer[]> {
  return withPair({}, async (p) => {
    await p.handshake();
    p.client.send('application data');
    await delay(20);
    return [...p.clientOut, ...p.serverOut].map((d) => Buffer.from(d));
  });
}

/**
 * Garbage a network or an off-path attacker produces: random bytes, real datagrams cut inside a record,
 * and real datagrams whose record length lies. Deterministic per seed.
 */
function garbageDatagrams(real: Buffer[], seed: number, count: number): Buffer[] {
  const rnd = mulberry32(seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const src = real[pick(real.length)]!;
    switch (i % 3) {
      case 0: {
        const d = Buffer.alloc(pick(1500));
        for (let j = 0; j < d.length; j++) d[j] = pick(256);
        out.push(d);
        break;
      }
      case 1: {
        // Cut inside the first record: never a whole record.
        const recLen = src.length >= 13 ? src.readUInt16BE(11) : 0;
        out.push(Buffer.from(src.subarray(0, Math.min(src.length - 1, pick(13 + recLen)))));
        break;
      }
      default: {
        const d = Buffer.from(src);
        if (d.length > 13) d.writeUInt16BE(d.readUInt16BE(11) + 1 + pick(60000), 11);
        out.push(d);
      }
    }
  }
  return out;
}

/**
 * What an attacker who can inject datagrams produces: real records (from another handshake) with flipped
 * bits, or replayed whole with bytes appended. Epoch-0 handshake records carry no integrity protection in
 * DTLS 1.2, so these can legitimately end a handshake in progress (never complete one wrongly).
 */
function forgedDatagrams(real: Buffer[], seed: number, count: number): Buffer[] {
  const rnd = mulberry32(seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const src = real[pick(real.length)]!;
    if (i % 2 === 0) {
      const d = Buffer.from(src);
      for (let f = 0; f < 1 + pick(4); f++) d[pick(d.length)]! ^= 1 << pick(8);
      out.push(d);
    } else {
      const tail = Buffer.alloc(pick(64));
      for (let j = 0; j < tail.length; j++) tail[j] = pick(256);
      out.push(Buffer.concat([src, tail]));
    }
  }
  return out;
}

function feed(session: DtlsSession, datagrams: Buffer[]): void {
  for (const d of datagrams) session.receive(d); // must never throw
}

test('garbage in every state: new, mid-handshake, connected, after close_notify, after close() — nothing throws, drops are counted', { timeout: 60_000 }, async () => {
  const real = await realDatagrams();
  const garbage = [...garbageDatagrams(real, 42, 600), ...forgedDatagrams(real, 43, 400)];
  const errors: unknown[] = [];

  // new: a server that has seen nothing, a client that has not started. A forged ClientHello may start
  // (and garbage then end) a server's handshake: only ever as a coded DtlsError.
  for (const role of ['server', 'client'] as const) {
    const s = new DtlsSession({ role, ...ecPair(), rejectUnauthorized: false, send: () => {} });
    s.on('error', (e) => {
      assert.ok(e instanceof DtlsError);
      assert.match(e.code, /^ERR_(DTLS|SSL|OSSL)_/);
    });
    feed(s, garbage);
    assert.ok(s.getStats().dropped > 0, `${role} new: drops counted`);
    s.destroy();
  }

  // mid-handshake, garbage between every flight (both directions): every handshake completes.
  const midHandshake = async (make: (seed: number) => Buffer[], label: string): Promise<{ ok: number; failed: DtlsError[] }> => {
    const failed: DtlsError[] = [];
    let ok = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const p = makePair({ client: { handshakeTimeout: 5000 }, server: { handshakeTimeout: 5000 } });
      const g = make(seed);
      let n = 0;
      for (const side of [p.client, p.server]) {
        const original = side.receive.bind(side);
        side.receive = (d) => {
          for (const x of g.slice(n, (n += 5))) original(x); // must never throw
          original(d);
        };
      }
      try {
        await p.handshake();
        ok++;
      } catch (e) {
        assert.ok(e instanceof DtlsError, `${label} seed ${seed}: ${String(e)}`);
        assert.match(e.code, /^ERR_(DTLS|SSL|OSSL)_/);
        failed.push(e);
      } finally {
        p.dispose();
      }
    }
    return { ok, failed };
  };
  const noise = await midHandshake((seed) => garbageDatagrams(real, seed, 60), 'garbage');
  assert.equal(noise.ok, 20, `garbage ended handshakes: ${noise.failed.map((e) => e.message).join('; ')}`);
  // Forged records may end a handshake (documented DTLS 1.2 limit) — always as a coded DtlsError.
  const forged = await midHandshake((seed) => forgedDatagrams(real, seed, 60), 'forged');
  console.log(`# forged handshake records: ${forged.ok}/20 handshakes completed, ${forged.failed.length} failed with coded errors`);

  // connected: garbage is dropped, data keeps flowing both ways, no error
  await withPair({}, async (p) => {
    await p.handshake();
    p.client.on('error', (e) => errors.push(e));
    p.server.on('error', (e) => errors.push(e));
    const before = p.server.getStats().dropped + p.client.getStats().dropped;
    feed(p.server, garbage);
    feed(p.client, garbage);
    const got: string[] = [];
    p.server.on('message', (m) => got.push(m.toString()));
    p.client.send('still fine');
    for (let i = 0; i < 100 && got.length === 0; i++) await delay(5);
    assert.deepEqual(got, ['still fine']);
    assert.equal(p.server.state, 'connected');
    assert.equal(p.client.state, 'connected');
    assert.ok(p.server.getStats().dropped + p.client.getStats().dropped > before);
  });

  // after the peer's close_notify, and after our own close(): late garbage is counted
  await withPair({}, async (p) => {
    await p.handshake();
    await p.client.close();
    for (let i = 0; i < 100 && p.server.state !== 'closed'; i++) await delay(5);
    assert.equal(p.server.state, 'closed');
    const a = p.server.getStats().dropped;
    const b = p.client.getStats().dropped;
    feed(p.server, garbage);
    feed(p.client, garbage);
    assert.equal(p.server.getStats().dropped, a + garbage.length);
    assert.equal(p.client.getStats().dropped, b + garbage.length);
  });
  assert.deepEqual(errors, []);
});

/** A ClientHello fragment: record header + handshake header + `body` at `fragOff` of a message of `msgLen`. */
function helloFragment(seq: number, messageSeq: number, msgLen: number, fragOff: number, body: Buffer): Buffer {
  const d = Buffer.alloc(13 + 12 + body.length);
  d[0] = 22;
  d.writeUInt16BE(0xfefd, 1);
  d.writeUIntBE(seq, 5, 6);
  d.writeUInt16BE(12 + body.length, 11);
  d[13] = 1;
  d.writeUIntBE(msgLen, 14, 3);
  d.writeUInt16BE(messageSeq, 17);
  d.writeUIntBE(fragOff, 19, 3);
  d.writeUIntBE(body.length, 22, 3);
  body.copy(d, 25);
  return d;
}

test('a ClientHello fragment claiming 16 MB ends the handshake at once (OpenSSL queues nothing: the failure says why), not buffered', () => {
  const s = new DtlsSession({ role: 'server', ...ecPair(), send: () => {} });
  let err: DtlsError | undefined;
  s.on('error', (e) => (err = e));
  const before = process.memoryUsage().rss;
  s.receive(helloFragment(0, 0, 0xffffff, 0, randomBytes(100)));
  assert.ok(err instanceof DtlsError);
  assert.equal(err.code, 'ERR_DTLS_INTERNAL');
  assert.deepEqual(err.opensslErrors, []);
  assert.match(err.message, /refused to reassemble/);
  assert.equal(s.state, 'failed');
  if (!process.env.DTLS_SANITIZER) assert.ok(process.memoryUsage().rss - before < 8 * 1048576, 'the claimed 16 MB were not allocated');
});

test('endless fragments of messages that never complete: reassembly memory stays bounded', { timeout: 60_000 }, async () => {
  const s = new DtlsSession({ role: 'server', ...ecPair(), send: () => {}, handshakeTimeout: 60_000 });
  s.on('error', () => {});
  const before = process.memoryUsage().rss;
  const body = randomBytes(1000);
  // 20,000 fragments (~20 MB on the wire) of ClientHellos of 60 KB each, for message_seq 0..30, never completing.
  for (let i = 0; i < 20_000; i++) {
    const messageSeq = i % 31;
    const off = 1000 * (1 + (i % 50)); // never the whole message, never the first fragment at offset 0
    s.receive(helloFragment(i, messageSeq, 60_000, off, body));
  }
  const grownMb = (process.memoryUsage().rss - before) / 1048576;
  console.log(`# fragment flood: rss +${grownMb.toFixed(1)} MB after 20,000 fragments; session ${s.state}, dropped ${s.getStats().dropped}`);
  // OpenSSL buffers at most the next few messages (handshake_read_seq + 10), each at most its claimed size.
  // (Under ASan the quarantine holds freed memory: rss says nothing there.)
  if (!process.env.DTLS_SANITIZER) assert.ok(grownMb < 16, `reassembly grew rss by ${grownMb.toFixed(1)} MB`);
  s.destroy();
});

// OpenSSL 3.0 fails a session with internal_error (tls1_enc: EVP_CTRL_AEAD_TLS1_AAD "invalid aad") when an
// AEAD record is shorter than its explicit nonce plus tag, and with decode_error (dtls1_process_record:
// "length too short") when a CBC record cannot hold IV, MAC and padding byte; the library drops such
// records first.
// With CBC suites OpenSSL negotiates encrypt-then-MAC, and then any forged record long enough to be
// MAC-checked is fatal (bad_record_mac): a documented limit of CBC suites, which are off unless named.
const suites: Array<[string, string, number]> = [
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 24],
  ['ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-CHACHA20-POLY1305', 16],
  ['ECDHE-ECDSA-AES128-CCM', 'ECDHE-ECDSA-AES128-CCM', 24],
  ['ECDHE-ECDSA-AES128-CCM8', 'ECDHE-ECDSA-AES128-CCM8', 16],
  ['ECDHE-ECDSA-AES128-SHA (CBC, HMAC-SHA1)', 'ECDHE-ECDSA-AES128-SHA', 48],
  ['ECDHE-ECDSA-AES256-SHA384 (CBC, HMAC-SHA384)', 'ECDHE-ECDSA-AES256-SHA384', 80],
];
for (const [name, ciphers, min] of suites) {
  test(`spoofed short protected records cannot end a connected session (${name}); records of the minimum length still work`, async () => {
    await withPair({ client: { ciphers }, server: { ciphers } }, async (p) => {
      const [ci] = await p.handshake();
      assert.equal(ci.cipher.name, ciphers);
      const errors: DtlsError[] = [];
      p.server.on('error', (e) => errors.push(e));
      p.client.on('error', (e) => errors.push(e));
      const dropped = p.server.getStats().dropped;
      const cbc = ciphers.includes('-SHA') && !ciphers.includes('GCM');
      // AEAD: any forged length is survivable. CBC: only the lengths below the minimum (see above).
      for (let len = 0; len < (cbc ? min : 96); len++) {
        for (const type of [20, 21, 22, 23]) {
          const d = Buffer.alloc(13 + len, 0x41);
          d[0] = type;
          d.writeUInt16BE(0xfefd, 1);
          d.writeUInt16BE(1, 3); // epoch 1: the current one
          d.writeUIntBE(1000 + len * 4 + type, 5, 6);
          d.writeUInt16BE(len, 11);
          p.server.receive(d);
          p.client.receive(d);
        }
      }
      assert.deepEqual(errors.map((e) => e.message), []);
      assert.equal(p.server.state, 'connected');
      assert.ok(p.server.getStats().dropped - dropped >= 4 * min, 'the short records were counted as dropped');
      // A one-byte message makes the shortest real records (1 + overhead): still delivered.
      const got: Buffer[] = [];
      p.server.on('message', (m) => got.push(m));
      p.client.send(Buffer.from([7]));
      for (let i = 0; i < 100 && got.length === 0; i++) await delay(5);
      assert.deepEqual(got, [Buffer.from([7])]);
      // And close_notify (an 18-byte record under ChaCha20 and CCM_8) still closes.
      await p.client.close();
      for (let i = 0; i < 100 && p.server.state === 'connected'; i++) await delay(5);
      assert.equal(p.server.state, 'closed');
    });
  });
}

test('documented limit: with a CBC suite (encrypt-then-MAC) a forged record of full length ends the session with bad_record_mac', async () => {
  const ciphers = 'ECDHE-ECDSA-AES128-SHA';
  await withPair({ client: { ciphers }, server: { ciphers } }, async (p) => {
    const [ci] = await p.handshake();
    assert.equal(ci.cipher.name, ciphers);
    let err: DtlsError | undefined;
    p.server.on('error', (e) => (err = e));
    const d = Buffer.alloc(13 + 64, 0x41);
    d[0] = 23;
    d.writeUInt16BE(0xfefd, 1);
    d.writeUInt16BE(1, 3);
    d.writeUIntBE(99, 5, 6);
    d.writeUInt16BE(64, 11);
    p.server.receive(d);
    assert.equal(err?.alert?.description, 'bad_record_mac');
    assert.equal(err?.alert?.negotiated.encryptThenMac, true);
    const last = err?.opensslErrors[err.opensslErrors.length - 1];
    assert.equal(last?.function, 'dtls1_process_record');
  });
});
