// An in-process man-in-the-middle for DTLS 1.2 datagrams: a record and
// handshake-fragment parser, and targeted rewrites of what passes.
//
//   const mitm = new Mitm([
//     { direction: 's->c', message: HandshakeType.ServerKeyExchange, mutate: flipLastByte },
//   ]);
//   // in the server's send callback:  for (const d of mitm.process(datagram, 's->c')) deliver(d);
//
// Message rules edit one handshake message in place (same length). They are
// fragment-aware: a message carried in several fragments, records or
// datagrams is reassembled first — the datagrams that carry its parts are
// held back until the message is complete, then released, in order, with the
// edited bytes written into every fragment that covers them. A retransmitted
// copy of an edited message (same message_seq) is edited the same way, as a
// middlebox would. Record rules see every record after that and may replace,
// drop, duplicate or reorder records, including encrypted ones.
//
// Internal: used by `dtls-probe selftest` and the test suite, not exported
// from the package index.

export type MitmDirection = 'c->s' | 's->c';

export const ContentType = { ChangeCipherSpec: 20, Alert: 21, Handshake: 22, ApplicationData: 23 } as const;

export const HandshakeType = {
  HelloRequest: 0,
  ClientHello: 1,
  ServerHello: 2,
  HelloVerifyRequest: 3,
  NewSessionTicket: 4,
  Certificate: 11,
  ServerKeyExchange: 12,
  CertificateRequest: 13,
  ServerHelloDone: 14,
  CertificateVerify: 15,
  ClientKeyExchange: 16,
  Finished: 20,
} as const;

export const RECORD_HEADER_LENGTH = 13;
export const HANDSHAKE_HEADER_LENGTH = 12;

export interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  /** 48-bit record sequence number (exact in a JS number) */
  seq: number;
  /** the record body; a copy, free to edit */
  body: Buffer;
}

export interface HandshakeFragment {
  msgType: number;
  /** length of the whole message (the msg_len field) */
  msgLength: number;
  messageSeq: number;
  fragmentOffset: number;
  fragmentLength: number;
  /** the fragment's bytes (fragmentLength of them, fewer if the record is cut short); a copy */
  body: Buffer;
}

/** Splits a datagram into records. `rest` holds what follows the last complete record (normally nothing). */
export function parseRecords(datagram: Buffer): { records: DtlsRecord[]; rest: Buffer } {
  const records: DtlsRecord[] = [];
  let off = 0;
  while (off + RECORD_HEADER_LENGTH <= datagram.length) {
    const length = datagram.readUInt16BE(off + 11);
    const start = off + RECORD_HEADER_LENGTH;
    if (start + length > datagram.length) break;
    records.push({
      type: datagram[off]!,
      version: datagram.readUInt16BE(off + 1),
      epoch: datagram.readUInt16BE(off + 3),
      seq: datagram.readUIntBE(off + 5, 6),
      body: Buffer.from(datagram.subarray(start, start + length)),
    });
    off = start + length;
  }
  return { records, rest: Buffer.from(datagram.subarray(off)) };
}

/** The datagram for these records (record lengths recomputed from the bodies). */
export function serializeRecords(records: readonly DtlsRecord[], rest: Buffer = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const h = Buffer.alloc(RECORD_HEADER_LENGTH);
    h[0] = r.type;
    h.writeUInt16BE(r.version, 1);
    h.writeUInt16BE(r.epoch, 3);
    h.writeUIntBE(r.seq, 5, 6);
    h.writeUInt16BE(r.body.length, 11);
    parts.push(h, r.body);
  }
  parts.push(rest);
  return Buffer.concat(parts);
}

/**
 * The handshake fragments in a plaintext (epoch 0) handshake record body, or undefined when the body is not a
 * sequence of whole fragments (then it is left alone).
 */
export function parseFragments(body: Buffer): HandshakeFragment[] | undefined {
  const out: HandshakeFragment[] = [];
  let off = 0;
  while (off < body.length) {
    if (off + HANDSHAKE_HEADER_LENGTH > body.length) return undefined;
    const fragmentLength = body.readUIntBE(off + 9, 3);
    const start = off + HANDSHAKE_HEADER_LENGTH;
    if (start + fragmentLength > body.length) return undefined;
    out.push({
      msgType: body[off]!,
      msgLength: body.readUIntBE(off + 1, 3),
      messageSeq: body.readUInt16BE(off + 4),
      fragmentOffset: body.readUIntBE(off + 6, 3),
      fragmentLength,
      body: Buffer.from(body.subarray(start, start + fragmentLength)),
    });
    off = start + fragmentLength;
  }
  return out;
}

/** A handshake record body for these fragments (the header fields are written as they are, not recomputed). */
export function serializeFragments(fragments: readonly HandshakeFragment[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fragments) {
    const h = Buffer.alloc(HANDSHAKE_HEADER_LENGTH);
    h[0] = f.msgType;
    h.writeUIntBE(f.msgLength, 1, 3);
    h.writeUInt16BE(f.messageSeq, 4);
    h.writeUIntBE(f.fragmentOffset, 6, 3);
    h.writeUIntBE(f.fragmentLength, 9, 3);
    parts.push(h, f.body);
  }
  return Buffer.concat(parts);
}

/** Edits one handshake message in place. `body` is the whole message without its 12-byte header. */
export interface MessageRule {
  direction: MitmDirection;
  /** handshake type, e.g. HandshakeType.ServerKeyExchange */
  message: number;
  /** only the message with this message_seq (e.g. 1 for the ClientHello that answers a HelloVerifyRequest) */
  messageSeq?: number;
  /** a length-preserving edit; return false to leave this message alone */
  mutate: (body: Buffer, message: { type: number; seq: number }) => void | boolean;
}

/** Rewrites records. Return the records to send instead (an empty array drops it), or undefined to keep it. */
export interface RecordRule {
  direction: MitmDirection;
  rewrite: (record: DtlsRecord, where: { datagram: number; index: number }) => DtlsRecord[] | undefined;
}

export type MitmRule = MessageRule | RecordRule;

interface Assembly {
  data: Buffer;
  covered: Uint8Array;
  missing: number;
}

interface DirectionState {
  datagrams: number;
  held: Buffer[];
  /** reassembly of targeted messages, by "type:seq" */
  assembling: Map<string, Assembly>;
  /** edited messages, by "type:seq": what every later copy is rewritten to */
  edited: Map<string, Buffer>;
  /** targeted messages left as they were (the rule declined) */
  declined: Set<string>;
}

// A flight that never completes the targeted message must not hold datagrams forever.
const MAX_HELD = 64;

export class Mitm {
  readonly #messageRules: MessageRule[];
  readonly #recordRules: RecordRule[];
  readonly #dirs: Record<MitmDirection, DirectionState>;
  /** handshake messages edited (first copies; retransmitted copies are not counted again) */
  edits = 0;
  /** records a record rule replaced, dropped or multiplied */
  rewrites = 0;

  constructor(rules: readonly MitmRule[]) {
    this.#messageRules = rules.filter((r): r is MessageRule => 'message' in r);
    this.#recordRules = rules.filter((r): r is RecordRule => 'rewrite' in r);
    const state = (): DirectionState => ({ datagrams: 0, held: [], assembling: new Map(), edited: new Map(), declined: new Set() });
    this.#dirs = { 'c->s': state(), 's->c': state() };
  }

  /** Datagrams currently held back while a targeted message is incomplete. */
  get held(): number {
    return this.#dirs['c->s'].held.length + this.#dirs['s->c'].held.length;
  }

  /** What to deliver in place of `datagram` (none while it is held back; several when held ones are released). */
  process(datagram: Buffer, direction: MitmDirection): Buffer[] {
    const st = this.#dirs[direction];
    const rules = this.#messageRules.filter((r) => r.direction === direction);
    if (rules.length > 0) {
      for (const frag of this.#targetedFragments(datagram, rules)) {
        const key = `${frag.msgType}:${frag.messageSeq}`;
        if (st.edited.has(key) || st.declined.has(key)) continue;
        let a = st.assembling.get(key);
        if (a === undefined) {
          a = { data: Buffer.alloc(frag.msgLength), covered: new Uint8Array(frag.msgLength), missing: frag.msgLength };
          st.assembling.set(key, a);
        }
        const end = Math.min(frag.fragmentOffset + frag.body.length, a.data.length);
        for (let i = frag.fragmentOffset; i < end; i++) {
          a.data[i] = frag.body[i - frag.fragmentOffset]!;
          if (a.covered[i] === 0) {
            a.covered[i] = 1;
            a.missing--;
          }
        }
        if (a.missing > 0) continue;
        st.assembling.delete(key);
        const rule = rules.find((r) => r.message === frag.msgType && (r.messageSeq === undefined || r.messageSeq === frag.messageSeq))!;
        const copy = Buffer.from(a.data);
        if (rule.mutate(copy, { type: frag.msgType, seq: frag.messageSeq }) === false) {
          st.declined.add(key);
          continue;
        }
        st.edited.set(key, copy);
        this.edits++;
      }
    }
    st.held.push(datagram);
    if (st.assembling.size > 0) {
      if (st.held.length < MAX_HELD) return [];
      st.assembling.clear(); // give up on messages that never completed: release what is held as it is
    }
    const out: Buffer[] = [];
    for (const d of st.held.splice(0)) {
      const rewritten = this.#rewrite(d, direction, st);
      if (rewritten !== undefined) out.push(rewritten);
    }
    return out;
  }

  /** Releases held datagrams unmodified (e.g. when a test gives up waiting). */
  flush(direction: MitmDirection): Buffer[] {
    return this.#dirs[direction].held.splice(0);
  }

  #targetedFragments(datagram: Buffer, rules: MessageRule[]): HandshakeFragment[] {
    const out: HandshakeFragment[] = [];
    for (const r of parseRecords(datagram).records) {
      if (r.type !== ContentType.Handshake || r.epoch !== 0) continue;
      const frags = parseFragments(r.body);
      if (frags === undefined) continue;
      for (const f of frags) {
        if (rules.some((rule) => rule.message === f.msgType && (rule.messageSeq === undefined || rule.messageSeq === f.messageSeq))) out.push(f);
      }
    }
    return out;
  }

  #rewrite(datagram: Buffer, direction: MitmDirection, st: DirectionState): Buffer | undefined {
    const index = st.datagrams++;
    const recordRules = this.#recordRules.filter((r) => r.direction === direction);
    if (st.edited.size === 0 && recordRules.length === 0) return datagram;
    const { records, rest } = parseRecords(datagram);
    let changed = false;
    if (st.edited.size > 0) {
      for (const r of records) {
        if (r.type !== ContentType.Handshake || r.epoch !== 0) continue;
        const frags = parseFragments(r.body);
        if (frags === undefined) continue;
        let touched = false;
        for (const f of frags) {
          const edited = st.edited.get(`${f.msgType}:${f.messageSeq}`);
          if (edited === undefined) continue;
          const end = Math.min(f.fragmentOffset + f.body.length, edited.length);
          if (f.fragmentOffset < end) {
            edited.copy(f.body, 0, f.fragmentOffset, end);
            touched = true;
          }
        }
        if (touched) {
          r.body = serializeFragments(frags);
          changed = true;
        }
      }
    }
    let out = records;
    if (recordRules.length > 0) {
      out = [];
      records.forEach((r, i) => {
        let list: DtlsRecord[] = [r];
        for (const rule of recordRules) {
          const next: DtlsRecord[] = [];
          for (const rec of list) {
            const res = rule.rewrite(rec, { datagram: index, index: i });
            if (res === undefined) {
              next.push(rec);
            } else {
              next.push(...res);
              this.rewrites++;
              changed = true;
            }
          }
          list = next;
        }
        out.push(...list);
      });
    }
    if (!changed) return datagram;
    if (out.length === 0 && rest.length === 0) return undefined;
    return serializeRecords(out, rest);
  }
}

// ---- edits for DTLS 1.2 message layouts (RFC 5246 §7.4, RFC 6347 §4.2; bodies without the 12-byte header) ----

/** Flips the last byte: inside the signature of a ServerKeyExchange or CertificateVerify. */
export function flipLastByte(body: Buffer): boolean {
  if (body.length === 0) return false;
  body[body.length - 1] ^= 0x01;
  return true;
}

/** Offset of the cipher_suites vector (its 2-byte length) in a ClientHello body. */
function clientHelloSuitesOffset(body: Buffer): number {
  let off = 2 + 32; // client_version, random
  off += 1 + body[off]!; // session_id
  off += 1 + body[off]!; // cookie (DTLS)
  return off;
}

/** Swaps the first two cipher suites a ClientHello offers (a transcript change that keeps the handshake going). */
export function swapFirstTwoSuites(body: Buffer): boolean {
  const off = clientHelloSuitesOffset(body);
  if (off + 2 > body.length || body.readUInt16BE(off) < 4) return false;
  const a = body.readUInt16BE(off + 2);
  const b = body.readUInt16BE(off + 4);
  if (a === b) return false;
  body.writeUInt16BE(b, off + 2);
  body.writeUInt16BE(a, off + 4);
  return true;
}

/** Flips a byte of the cookie in a ClientHello (declines a ClientHello without a cookie). */
export function flipCookieByte(body: Buffer): boolean {
  let off = 2 + 32;
  off += 1 + body[off]!;
  const len = body[off]!;
  if (len === 0) return false;
  body[off + 1] ^= 0x01;
  return true;
}

/** Offset of the cipher_suite a ServerHello chose. */
function serverHelloSuiteOffset(body: Buffer): number {
  return 2 + 32 + 1 + body[34]!;
}

/** Replaces the cipher suite a ServerHello chose (by IANA code, e.g. 0xC02C). */
export function setServerHelloSuite(code: number): (body: Buffer) => boolean {
  return (body) => {
    const off = serverHelloSuiteOffset(body);
    if (off + 2 > body.length) return false;
    body.writeUInt16BE(code, off);
    return true;
  };
}

/** ECDHE ServerKeyExchange layout: curve_type(1)=named_curve, group(2), point length(1), point, sigalg(2), signature. */
function skePointLength(body: Buffer): number | undefined {
  if (body.length < 4 || body[0] !== 3) return undefined;
  return body[3]!;
}

/** Replaces the named group of an ECDHE ServerKeyExchange (e.g. 29 for X25519, 23 for P-256). */
export function setSkeGroup(group: number): (body: Buffer) => boolean {
  return (body) => {
    if (skePointLength(body) === undefined) return false;
    body.writeUInt16BE(group, 1);
    return true;
  };
}

/** Replaces the signature algorithm of an ECDHE ServerKeyExchange (e.g. 0x0603 ecdsa_secp521r1_sha512). */
export function setSkeSigalg(sigalg: number): (body: Buffer) => boolean {
  return (body) => {
    const n = skePointLength(body);
    if (n === undefined || 4 + n + 2 > body.length) return false;
    body.writeUInt16BE(sigalg, 4 + n);
    return true;
  };
}

/** Makes the ECDHE public point of a ServerKeyExchange invalid (its uncompressed-point tag 4 becomes 5). */
export function breakSkePoint(body: Buffer): boolean {
  const n = skePointLength(body);
  if (n === undefined || n === 0) return false;
  body[4] ^= 0x01;
  return true;
}

/** Makes the ECDHE public point of a ClientKeyExchange invalid (its uncompressed-point tag 4 becomes 5). */
export function breakCkePoint(body: Buffer): boolean {
  if (body.length < 2 || body[0] !== body.length - 1) return false;
  body[1] ^= 0x01;
  return true;
}

/** Fills the RSA-encrypted premaster of a ClientKeyExchange with 0xFF bytes: a value above any modulus. */
export function saturateRsaPremaster(body: Buffer): boolean {
  if (body.length < 3 || body.readUInt16BE(0) !== body.length - 2) return false;
  body.fill(0xff, 2);
  return true;
}

/** The offset and length of the first certificate's DER in a Certificate message body. */
function firstCertificate(body: Buffer): { off: number; len: number } | undefined {
  if (body.length < 6) return undefined;
  const len = body.readUIntBE(3, 3);
  if (6 + len > body.length) return undefined;
  return { off: 6, len };
}

/** Flips the last byte of the first certificate: inside its signature, so chain verification fails on it. */
export function breakCertificateSignature(body: Buffer): boolean {
  const c = firstCertificate(body);
  if (c === undefined || c.len === 0) return false;
  body[c.off + c.len - 1] ^= 0x01;
  return true;
}

/** Changes the first byte of the first certificate (the DER SEQUENCE tag), so it no longer parses. */
export function breakCertificateEncoding(body: Buffer): boolean {
  const c = firstCertificate(body);
  if (c === undefined || c.len === 0) return false;
  body[c.off] = 0x31;
  return true;
}

/**
 * A record rule that edits the 12-byte headers of plaintext handshake fragments (`edit` changes the fields in
 * place; the fragment bytes stay as they were): for inconsistent lengths, offsets or message types.
 */
export function rewriteFragmentHeaders(direction: MitmDirection, edit: (fragment: HandshakeFragment) => boolean): RecordRule {
  return {
    direction,
    rewrite(record) {
      if (record.type !== ContentType.Handshake || record.epoch !== 0) return undefined;
      const frags = parseFragments(record.body);
      if (frags === undefined) return undefined;
      let changed = false;
      for (const f of frags) if (edit(f)) changed = true;
      if (!changed) return undefined;
      return [{ ...record, body: serializeFragments(frags) }];
    },
  };
}
