// The man-in-the-middle harness itself (src/mitm.ts via support/mitm.ts): parsing, fragment-aware edits,
// retransmitted copies, record rules. Hand-made datagrams, checked byte by byte, then a real fragmented flight.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';

import { rsa4096Chain, rsa4096Root } from './support/fixtures';
import { describeDatagram, parseRecords as linkParseRecords } from './support/lossy-link';
import {
  breakCertificateSignature,
  ContentType,
  flipLastByte,
  HandshakeType,
  Mitm,
  parseFragments,
  parseRecords,
  runThroughMitm,
  serializeFragments,
  serializeRecords,
  type HandshakeFragment,
} from './support/mitm';

const V12 = 0xfefd;

/** One datagram holding one epoch-0 handshake record with these fragments. */
function datagram(seq: number, fragments: HandshakeFragment[]): Buffer {
  return serializeRecords([{ type: ContentType.Handshake, version: V12, epoch: 0, seq, body: serializeFragments(fragments) }]);
}

function fragment(msgType: number, message: Buffer, messageSeq: number, offset: number, length: number): HandshakeFragment {
  return { msgType, msgLength: message.length, messageSeq, fragmentOffset: offset, fragmentLength: length, body: Buffer.from(message.subarray(offset, offset + length)) };
}

test('records and fragments round-trip byte for byte, and agree with the lossy-link parser', () => {
  const msg = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
  const d = Buffer.concat([
    datagram(7, [fragment(HandshakeType.ServerHello, msg, 0, 0, 40), fragment(HandshakeType.ServerHelloDone, Buffer.alloc(0), 1, 0, 0)]),
    serializeRecords([{ type: ContentType.Handshake, version: V12, epoch: 1, seq: 0x0102030405, body: Buffer.from('encrypted') }]),
  ]);
  const { records, rest } = parseRecords(d);
  assert.equal(rest.length, 0);
  assert.equal(records.length, 2);
  assert.equal(records[1]!.seq, 0x0102030405);
  assert.deepEqual(serializeRecords(records), d);
  assert.deepEqual(
    linkParseRecords(d).map((r) => [r.type, r.epoch, r.seq, r.length]),
    records.map((r) => [r.type, r.epoch, r.seq, r.body.length]),
  );
  const frags = parseFragments(records[0]!.body)!;
  assert.deepEqual(frags.map((f) => [f.msgType, f.messageSeq, f.fragmentOffset, f.fragmentLength, f.msgLength]), [[2, 0, 0, 40, 40], [14, 1, 0, 0, 0]]);
  assert.deepEqual(serializeFragments(frags), records[0]!.body);
  assert.equal(describeDatagram(d), 'Handshake/e0[ServerHello,ServerHelloDone] Handshake/e1[encrypted]');
  // A body that is not whole fragments is not parsed (and so never edited).
  assert.equal(parseFragments(Buffer.from([1, 0, 0])), undefined);
  // A truncated record stays in `rest`.
  const cut = d.subarray(0, d.length - 3);
  assert.equal(parseRecords(cut).records.length, 1);
  assert.equal(parseRecords(cut).rest.length, cut.length - (13 + records[0]!.body.length));
});

test('a message in two fragments in two datagrams: the first is held until the message is complete, then both go out edited', () => {
  const msg = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
  const d1 = datagram(1, [fragment(HandshakeType.ServerKeyExchange, msg, 2, 0, 60)]);
  const d2 = datagram(2, [fragment(HandshakeType.ServerKeyExchange, msg, 2, 60, 40), fragment(HandshakeType.ServerHelloDone, Buffer.alloc(0), 3, 0, 0)]);
  const mitm = new Mitm([
    {
      direction: 's->c',
      message: HandshakeType.ServerKeyExchange,
      mutate: (body) => {
        body[10] = 0xaa; // in the first fragment
        body[99] = 0xbb; // in the second
      },
    },
  ]);
  assert.deepEqual(mitm.process(d1, 's->c'), [], 'held: the message is not complete yet');
  assert.equal(mitm.held, 1);
  // The other direction is not held up.
  const other = datagram(0, [fragment(HandshakeType.ClientHello, Buffer.alloc(10), 0, 0, 10)]);
  assert.deepEqual(mitm.process(other, 'c->s'), [other]);
  const out = mitm.process(d2, 's->c');
  assert.equal(out.length, 2, 'both released, in order');
  assert.equal(mitm.held, 0);
  assert.equal(mitm.edits, 1);
  const f1 = parseFragments(parseRecords(out[0]!).records[0]!.body)!;
  const f2 = parseFragments(parseRecords(out[1]!).records[0]!.body)!;
  const expected = Buffer.from(msg);
  expected[10] = 0xaa;
  expected[99] = 0xbb;
  assert.deepEqual(f1[0]!.body, expected.subarray(0, 60));
  assert.deepEqual(f2[0]!.body, expected.subarray(60));
  assert.deepEqual([f2[1]!.msgType, f2[1]!.fragmentLength], [HandshakeType.ServerHelloDone, 0], 'other fragments untouched');
  // Only the edited bytes differ from the input.
  assert.equal(out[0]!.length, d1.length);
  let diffs = 0;
  for (let i = 0; i < d1.length; i++) if (out[0]![i] !== d1[i]) diffs++;
  assert.equal(diffs, 1);

  // A retransmitted copy (same message_seq), fragmented differently, gets the same edit; edits count once.
  const again = datagram(9, [fragment(HandshakeType.ServerKeyExchange, msg, 2, 0, 100)]);
  const [resent] = mitm.process(again, 's->c');
  assert.deepEqual(parseFragments(parseRecords(resent!).records[0]!.body)![0]!.body, expected);
  assert.equal(mitm.edits, 1);
});

test('messageSeq selects one message of a type; a rule that declines leaves it alone', () => {
  const hello = Buffer.alloc(50, 1);
  const mitm = new Mitm([{ direction: 'c->s', message: HandshakeType.ClientHello, messageSeq: 1, mutate: flipLastByte }]);
  const first = datagram(0, [fragment(HandshakeType.ClientHello, hello, 0, 0, 50)]);
  assert.deepEqual(mitm.process(first, 'c->s'), [first], 'message_seq 0 passes unchanged');
  const second = datagram(1, [fragment(HandshakeType.ClientHello, hello, 1, 0, 50)]);
  const [out] = mitm.process(second, 'c->s');
  assert.notDeepEqual(out, second);
  assert.equal(mitm.edits, 1);

  const declining = new Mitm([{ direction: 'c->s', message: HandshakeType.ClientHello, mutate: () => false }]);
  assert.deepEqual(declining.process(first, 'c->s'), [first]);
  assert.equal(declining.edits, 0);
});

test('a message that never completes does not hold datagrams forever: after 64 they are released as they were', () => {
  const msg = Buffer.alloc(1000, 3);
  const mitm = new Mitm([{ direction: 's->c', message: HandshakeType.Certificate, mutate: flipLastByte }]);
  const partial = datagram(0, [fragment(HandshakeType.Certificate, msg, 1, 0, 100)]);
  for (let i = 0; i < 63; i++) assert.deepEqual(mitm.process(partial, 's->c'), []);
  const out = mitm.process(partial, 's->c');
  assert.equal(out.length, 64);
  assert.ok(out.every((d) => d.equals(partial)));
  assert.equal(mitm.edits, 0);
});

test('record rules drop, duplicate and rewrite records; a datagram left without records is not delivered', () => {
  const hs = datagram(0, [fragment(HandshakeType.ClientHello, Buffer.alloc(5), 0, 0, 5)]);
  const ccs = serializeRecords([{ type: ContentType.ChangeCipherSpec, version: V12, epoch: 0, seq: 1, body: Buffer.from([1]) }]);
  const mitm = new Mitm([
    { direction: 'c->s', rewrite: (r) => (r.type === ContentType.ChangeCipherSpec ? [] : undefined) },
    { direction: 's->c', rewrite: (r) => [r, r] },
  ]);
  assert.deepEqual(mitm.process(ccs, 'c->s'), [], 'the only record dropped: nothing to send');
  assert.deepEqual(mitm.process(hs, 'c->s'), [hs]);
  const [dup] = mitm.process(hs, 's->c');
  assert.equal(parseRecords(dup!).records.length, 2);
  assert.equal(mitm.rewrites, 2);
});

test('fragment-aware in a real handshake: a Certificate split over several records (RSA-4096 chain, mtu 576) is edited once, in the right fragment', async () => {
  const seen = new Map<number, Buffer>(); // fragment offset -> bytes, as delivered (first transmission)
  let msgLength = 0;
  const r = await runThroughMitm({
    client: { mtu: 576, rejectUnauthorized: true, ca: rsa4096Root() },
    server: { ...rsa4096Chain(), mtu: 576 },
    rules: [
      { direction: 's->c', message: HandshakeType.Certificate, mutate: breakCertificateSignature },
      {
        // Record rules see the records after the message edits: collect what the client gets.
        direction: 's->c',
        rewrite: (rec) => {
          if (rec.type !== ContentType.Handshake || rec.epoch !== 0) return undefined;
          for (const f of parseFragments(rec.body) ?? []) {
            if (f.msgType !== HandshakeType.Certificate || seen.has(f.fragmentOffset)) continue;
            seen.set(f.fragmentOffset, f.body);
            msgLength = f.msgLength;
          }
          return undefined;
        },
      },
    ],
  });
  assert.ok(seen.size >= 4, `the Certificate came in ${seen.size} fragments`);
  assert.equal(r.mitm.edits, 1);
  const delivered = Buffer.alloc(msgLength);
  for (const [off, body] of seen) body.copy(delivered, off);
  // The original Certificate message body: certificate_list length, then (length, DER) per certificate.
  const ders = rsa4096Chain().cert.split('-----END CERTIFICATE-----').filter((p) => p.includes('BEGIN')).map((p) => new X509Certificate(`${p}-----END CERTIFICATE-----`).raw);
  const entries = ders.map((der) => Buffer.concat([Buffer.from([der.length >> 16, (der.length >> 8) & 0xff, der.length & 0xff]), der]));
  const list = Buffer.concat(entries);
  const original = Buffer.concat([Buffer.from([list.length >> 16, (list.length >> 8) & 0xff, list.length & 0xff]), list]);
  assert.equal(delivered.length, original.length);
  const diff = [...delivered].flatMap((b, i) => (b !== original[i] ? [i] : []));
  assert.deepEqual(diff, [6 + ders[0]!.length - 1], 'exactly the last byte of the leaf (inside its signature) changed');
  // And the client noticed: the leaf signature no longer verifies (D8).
  const sent = r.client.alerts.find((a) => a.direction === 'sent');
  assert.equal(sent?.description, 'decrypt_error');
  assert.equal(sent?.verifyResult?.code, 7);
});
