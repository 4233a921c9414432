// A browser-sized ClientHello, built here byte by byte as current Chromium sends it (PEERS.md): it offers
// DTLS 1.3 and 1.2 (supported_versions), an X25519MLKEM768 key share (1216 bytes) beside X25519, use_srtp
// 1, 8, 7 and EMS, and at ~1.4 KB it comes in two fragments, two datagrams. A server with the webrtc
// preset must answer with a plain DTLS 1.2 flight: version 1.2, no TLS 1.3 extensions, X25519 for ECDHE,
// its preferred SRTP profile among those offered, every datagram within the MTU, no alert.
// (The real browser: interop/chromium.webrtc.test.ts.)
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { DtlsSession, webrtc, type DtlsAlert } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { ContentType, HandshakeType, parseRecords } from './support/lossy-link';

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const u48 = (n: number) => Buffer.concat([u16(Math.floor(n / 2 ** 32)), Buffer.from([(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])]);
const vec8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const list16 = (xs: number[]) => Buffer.concat(xs.map(u16));
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), vec16(body)]);

const DTLS_1_2 = 0xfefd;
const DTLS_1_3 = 0xfefc;
const X25519MLKEM768 = 0x11ec;
const X25519 = 0x001d;
const EXT = { useSrtp: 0x000e, ems: 0x0017, supportedVersions: 0x002b, keyShare: 0x0033, renegotiationInfo: 0xff01 };

/** The ClientHello body (after the 12-byte DTLS handshake header). */
function browserClientHello(): Buffer {
  const suites = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035];
  const keyShare = Buffer.concat([u16(X25519MLKEM768), vec16(randomBytes(1216)), u16(X25519), vec16(randomBytes(32))]);
  const extensions = Buffer.concat([
    ext(EXT.renegotiationInfo, u8(0)),
    ext(EXT.ems, Buffer.alloc(0)),
    ext(0x000a, vec16(list16([X25519MLKEM768, X25519, 0x0017, 0x0018]))), // supported_groups
    ext(0x000b, vec8(u8(0))), // ec_point_formats: uncompressed
    ext(0x000d, vec16(list16([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]))), // signature_algorithms
    ext(EXT.useSrtp, Buffer.concat([vec16(list16([0x0001, 0x0008, 0x0007])), vec8(Buffer.alloc(0))])),
    ext(EXT.supportedVersions, vec8(list16([DTLS_1_3, DTLS_1_2]))),
    ext(EXT.keyShare, vec16(keyShare)),
    ext(0x002d, vec8(u8(1))), // psk_key_exchange_modes: psk_dhe_ke
  ]);
  return Buffer.concat([
    u16(DTLS_1_2), // legacy version
    randomBytes(32),
    vec8(Buffer.alloc(0)), // session id
    vec8(Buffer.alloc(0)), // cookie
    vec16(list16(suites)),
    vec8(u8(0)), // compression: null
    vec16(extensions),
  ]);
}

/** One handshake fragment in its own DTLS record (epoch 0), as one datagram. */
function fragmentDatagram(body: Buffer, offset: number, length: number, recordSeq: number): Buffer {
  const fragment = Buffer.concat([u8(HandshakeType.ClientHello), u24(body.length), u16(0), u24(offset), u24(length), body.subarray(offset, offset + length)]);
  return Buffer.concat([u8(ContentType.Handshake), u16(0xfeff), u16(0), u48(recordSeq), u16(fragment.length), fragment]);
}

/** Reassembles the epoch-0 handshake messages of a flight: message_seq → { type, body }. */
function reassemble(datagrams: Buffer[]): Map<number, { type: number; body: Buffer }> {
  const out = new Map<number, { type: number; body: Buffer }>();
  for (const d of datagrams) {
    for (const r of parseRecords(d)) {
      if (r.type !== ContentType.Handshake || r.epoch !== 0) continue;
      let off = 0;
      while (off + 12 <= r.body.length) {
        const type = r.body[off]!;
        const length = r.body.readUIntBE(off + 1, 3);
        const seq = r.body.readUInt16BE(off + 4);
        const fragOffset = r.body.readUIntBE(off + 6, 3);
        const fragLength = r.body.readUIntBE(off + 9, 3);
        const m = out.get(seq) ?? { type, body: Buffer.alloc(length) };
        r.body.copy(m.body, fragOffset, off + 12, off + 12 + fragLength);
        out.set(seq, m);
        off += 12 + fragLength;
      }
    }
  }
  return out;
}

/** ServerHello fields: version, suite, and extensions by type. */
function parseServerHello(body: Buffer) {
  let off = 2 + 32;
  off += 1 + body[off]!; // session id
  const suite = body.readUInt16BE(off);
  off += 3; // suite, compression
  const extensions = new Map<number, Buffer>();
  const end = off + 2 + body.readUInt16BE(off);
  off += 2;
  while (off + 4 <= end) {
    const type = body.readUInt16BE(off);
    const len = body.readUInt16BE(off + 2);
    extensions.set(type, body.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return { version: body.readUInt16BE(0), suite, extensions };
}

for (const order of ['in order', 'second fragment first'] as const) {
  test(`a 1.4 KB browser ClientHello in two fragments (${order}), offering DTLS 1.3 and X25519MLKEM768: a webrtc-preset server answers with DTLS 1.2`, async () => {
    const out: Buffer[] = [];
    const alerts: DtlsAlert[] = [];
    const server = new DtlsSession({ ...webrtc, ...ecPair(), role: 'server', send: (d) => out.push(d) });
    server.on('alert', (a) => alerts.push(a));
    try {
      const body = browserClientHello();
      assert.ok(body.length > 1300 && body.length < 1500, `ClientHello body ${body.length} bytes`);
      const split = 1000;
      let datagrams = [fragmentDatagram(body, 0, split, 0), fragmentDatagram(body, split, body.length - split, 1)];
      if (order === 'second fragment first') datagrams = datagrams.reverse();
      for (const d of datagrams) assert.ok(d.length <= webrtc.mtu, `our ClientHello datagram is ${d.length} bytes`);

      server.receive(datagrams[0]!);
      assert.equal(out.length, 0, 'half a ClientHello: nothing to answer yet');
      server.receive(datagrams[1]!);
      assert.ok(out.length > 0, 'the server answered');
      assert.deepEqual(alerts, [], 'no alert');
      assert.equal(server.state, 'connecting');
      for (const d of out) assert.ok(d.length <= webrtc.mtu, `server datagram of ${d.length} bytes within the MTU`);

      const flight = reassemble(out);
      const types = [...flight.values()].map((m) => m.type);
      assert.deepEqual(types, [HandshakeType.ServerHello, HandshakeType.Certificate, HandshakeType.ServerKeyExchange, HandshakeType.CertificateRequest, HandshakeType.ServerHelloDone]);
      const hello = parseServerHello(flight.get(0)!.body);
      assert.equal(hello.version.toString(16), DTLS_1_2.toString(16), 'ServerHello version DTLS 1.2');
      assert.equal(hello.suite, 0xc02b, 'ECDHE-ECDSA-AES128-GCM-SHA256: the first 1.2 suite offered');
      assert.equal(hello.extensions.has(EXT.supportedVersions), false, 'no supported_versions in a 1.2 ServerHello');
      assert.equal(hello.extensions.has(EXT.keyShare), false, 'no key_share');
      assert.ok(hello.extensions.has(EXT.ems), 'extended_master_secret');
      assert.ok(hello.extensions.has(EXT.renegotiationInfo), 'renegotiation_info');
      // use_srtp: profiles<2> = [0x0008] (our first preference that was offered), mki<1> empty.
      assert.deepEqual(hello.extensions.get(EXT.useSrtp), Buffer.from([0x00, 0x02, 0x00, 0x08, 0x00]));
      const ske = flight.get(2)!.body;
      assert.equal(ske[0], 3, 'named_curve');
      assert.equal(ske.readUInt16BE(1), X25519, 'ECDHE over X25519, not the hybrid group');
    } finally {
      server.destroy();
    }
  });
}
