// The server's stateless front end (RFC 6347 §4.2.1): read the first
// ClientHello fragment of an unknown peer, answer with a HelloVerifyRequest
// carrying an HMAC cookie bound to the peer's address, and let a session (an
// OpenSSL SSL) exist only once a ClientHello returns that cookie. Nothing here
// allocates per peer.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { ContentType, HANDSHAKE_HEADER_LENGTH as HANDSHAKE_HEADER, HandshakeType, RECORD_HEADER_LENGTH as RECORD_HEADER } from './mitm';

const CT_ALERT = ContentType.Alert;
const CT_HANDSHAKE = ContentType.Handshake;
const HT_CLIENT_HELLO = HandshakeType.ClientHello;
const HT_HELLO_VERIFY_REQUEST = HandshakeType.HelloVerifyRequest;

export interface ClientHelloStart {
  /** epoch and sequence number of the record (8 bytes): the reply reuses them */
  recordSeq: Buffer;
  messageSeq: number;
  /** the client random: tells a retransmission or duplicate from a new handshake */
  random: Buffer;
  cookie: Buffer;
  /** the whole ClientHello is in this fragment */
  complete: boolean;
}

/**
 * The start of a ClientHello: a datagram whose first record is an epoch-0
 * handshake record holding the first fragment of a ClientHello, far enough to
 * read the cookie. Anything else: undefined.
 */
export function parseClientHelloStart(d: Buffer): ClientHelloStart | undefined {
  if (d.length < RECORD_HEADER + HANDSHAKE_HEADER + 2 + 32 + 2) return undefined;
  if (d[0] !== CT_HANDSHAKE || d[1] !== 0xfe || d[3] !== 0 || d[4] !== 0) return undefined;
  const recLen = d.readUInt16BE(11);
  if (RECORD_HEADER + recLen > d.length) return undefined;
  const h = RECORD_HEADER;
  if (d[h] !== HT_CLIENT_HELLO) return undefined;
  const msgLen = d.readUIntBE(h + 1, 3);
  const messageSeq = d.readUInt16BE(h + 4);
  const fragOff = d.readUIntBE(h + 6, 3);
  const fragLen = d.readUIntBE(h + 9, 3);
  if (fragOff !== 0 || fragLen > msgLen || HANDSHAKE_HEADER + fragLen > recLen) return undefined;
  const body = h + HANDSHAKE_HEADER;
  const end = body + fragLen;
  let off = body + 2; // client_version
  if (off + 32 + 1 > end) return undefined;
  const random = d.subarray(off, off + 32);
  off += 32;
  const sidLen = d[off]!;
  off += 1 + sidLen;
  if (sidLen > 32 || off + 1 > end) return undefined;
  const cookieLen = d[off]!;
  off += 1;
  if (off + cookieLen > end) return undefined;
  return {
    recordSeq: d.subarray(3, 11),
    messageSeq,
    random,
    cookie: d.subarray(off, off + cookieLen),
    complete: fragLen === msgLen,
  };
}

/** Epoch of the first record of a datagram (-1 when it is not DTLS). */
export function firstRecordEpoch(d: Buffer): number {
  if (d.length < RECORD_HEADER || d[1] !== 0xfe) return -1;
  return d.readUInt16BE(3);
}

/** A HelloVerifyRequest record (version DTLS 1.0 on the wire, as RFC 6347 §4.2.1 asks). */
export function helloVerifyRequest(hello: ClientHelloStart, cookie: Buffer): Buffer {
  const bodyLen = 2 + 1 + cookie.length;
  const out = Buffer.allocUnsafe(RECORD_HEADER + HANDSHAKE_HEADER + bodyLen);
  out[0] = CT_HANDSHAKE;
  out.writeUInt16BE(0xfeff, 1);
  hello.recordSeq.copy(out, 3);
  out.writeUInt16BE(HANDSHAKE_HEADER + bodyLen, 11);
  let o = RECORD_HEADER;
  out[o] = HT_HELLO_VERIFY_REQUEST;
  out.writeUIntBE(bodyLen, o + 1, 3);
  out.writeUInt16BE(0, o + 4); // message_seq of a HelloVerifyRequest is 0
  out.writeUIntBE(0, o + 6, 3);
  out.writeUIntBE(bodyLen, o + 9, 3);
  o += HANDSHAKE_HEADER;
  out.writeUInt16BE(0xfeff, o);
  out[o + 2] = cookie.length;
  cookie.copy(out, o + 3);
  return out;
}

/** A plaintext (epoch 0) fatal alert answering a ClientHello, e.g. when the server is full. */
export function plaintextAlert(hello: ClientHelloStart, description: number): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER + 2);
  out[0] = CT_ALERT;
  out.writeUInt16BE(0xfefd, 1);
  hello.recordSeq.copy(out, 3);
  out.writeUInt16BE(2, 11);
  out[13] = 2; // fatal
  out[14] = description;
  return out;
}

const COOKIE_LENGTH = 32;

/**
 * HMAC-SHA256 cookies over the peer's address and port with a rotating
 * secret: a cookie made under the previous secret still verifies, so a
 * rotation never fails a handshake in flight. Rotation happens lazily (no
 * timer), at most once per `lifetimeMs`.
 */
export class CookieJar {
  #current = randomBytes(32);
  #previous: Buffer | undefined;
  #rotatedAt: number;
  readonly #lifetimeMs: number;
  readonly #clock: () => number;

  /** `clock` (ms, monotonic) is for tests. */
  constructor(lifetimeMs: number, clock: () => number = () => performance.now()) {
    this.#lifetimeMs = lifetimeMs;
    this.#clock = clock;
    this.#rotatedAt = clock();
  }

  make(address: string, port: number): Buffer {
    this.#rotate();
    return mac(this.#current, address, port);
  }

  verify(cookie: Buffer, address: string, port: number): boolean {
    if (cookie.length !== COOKIE_LENGTH) return false;
    this.#rotate();
    if (timingSafeEqual(cookie, mac(this.#current, address, port))) return true;
    return this.#previous !== undefined && timingSafeEqual(cookie, mac(this.#previous, address, port));
  }

  #rotate(): void {
    const now = this.#clock();
    if (now - this.#rotatedAt < this.#lifetimeMs) return;
    // Two lifetimes without traffic: the previous secret is stale too.
    this.#previous = now - this.#rotatedAt < 2 * this.#lifetimeMs ? this.#current : undefined;
    this.#current = randomBytes(32);
    this.#rotatedAt = now;
  }
}

function mac(secret: Buffer, address: string, port: number): Buffer {
  return createHmac('sha256', secret).update(address).update(`|${port}`).digest();
}
