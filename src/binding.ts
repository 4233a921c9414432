// The one loader of the native addon, and the typed shape of what it exports.
// Nothing outside src/ sees these objects: public classes hold them privately.
import * as path from 'node:path';

import type { OpenSSLErrorEntry } from './errors';

/** Native error entries already have the public shape. */
export type NativeErrorEntry = OpenSSLErrorEntry;

export interface NativeAlert {
  sent: boolean;
  level: number;
  code: number;
  errors: NativeErrorEntry[];
  verifyResult: number;
  verifyMessage: string;
  lastSent: number;
  lastReceived: number;
  version: string;
  cipher?: string;
  /** extended_master_secret / encrypt_then_mac in the ServerHello: 1, 0, or -1 before it */
  ems: number;
  etm: number;
  clientAuth: boolean;
}

export interface NativeFailure {
  sslError: number;
  errors: NativeErrorEntry[];
  verifyResult: number;
  verifyMessage: string;
  lastSent: number;
  lastReceived: number;
  /** records of a later epoch received during the handshake since the last Finished we received */
  undecryptedRecords: number;
}

/**
 * What a step returns besides the env's shared step buffers: undefined in the
 * common case; an object when something rare happened.
 */
export interface NativeStepRare {
  /** the step's bytes when they did not fit stepData (then stepMeta[3] is 1) */
  buf?: Buffer;
  /** flat triples kind, offset, length when they did not fit stepMeta (then stepMeta[2] is -1) */
  items?: number[];
  alerts?: NativeAlert[];
  keylog?: string[];
  error?: NativeFailure;
}

/** handle.info()'s flat row (native/session_handle.cc Info); nativeSessionInfo() names the fields */
export type NativeSessionInfoRow = [
  protocol: string,
  cipherName: string | undefined,
  cipherStandardName: string | undefined,
  cipherVersion: string | undefined,
  resumed: boolean,
  extendedMasterSecret: boolean,
  alpnProtocol: string | undefined,
  hasPeerCertificate: boolean,
  verifyResult: number,
  verifyMessage: string,
  maxPayload: number,
  srtpProfile: string | undefined,
];

/** What the handshake negotiated, from a session handle. */
export function nativeSessionInfo(handle: NativeSession): NativeSessionInfo {
  const r = handle.info();
  const n: NativeSessionInfo = {
    protocol: r[0],
    resumed: r[4],
    extendedMasterSecret: r[5],
    hasPeerCertificate: r[7],
    verifyResult: r[8],
    verifyMessage: r[9],
    maxPayload: r[10],
  };
  if (r[1] !== undefined) n.cipher = { name: r[1], standardName: r[2]!, version: r[3]! };
  if (r[6] !== undefined) n.alpnProtocol = r[6];
  if (r[11] !== undefined) n.srtpProfile = r[11];
  return n;
}

export interface NativeSessionInfo {
  protocol: string;
  cipher?: { name: string; standardName: string; version: string };
  resumed: boolean;
  extendedMasterSecret: boolean;
  alpnProtocol?: string;
  /** the DER is handle.peerCertificateDer() (encoded on request) */
  hasPeerCertificate: boolean;
  verifyResult: number;
  verifyMessage: string;
  maxPayload: number;
  /** the DTLS-SRTP profile agreed on (OpenSSL name), if any */
  srtpProfile?: string;
}

export interface NativeStats {
  /** datagrams handed to receive() and processed */
  datagramsIn: number;
  /** datagrams passed to the send callback */
  datagramsOut: number;
  /** bytes of datagramsIn */
  bytesIn: number;
  /** bytes of datagramsOut */
  bytesOut: number;
  /** flights resent after a retransmission timeout */
  retransmits: number;
  /** datagrams discarded: not plausible DTLS, arriving after close, or records OpenSSL rejected */
  dropped: number;
  /** application messages received */
  messagesIn: number;
  /** application messages sent */
  messagesOut: number;
  /**
   * Records of the peer's next epoch that arrived during the handshake and never yielded its Finished (OpenSSL
   * drops records it cannot decrypt silently): non-zero in a stalled handshake means a key or transcript
   * mismatch, not packet loss.
   */
  undecryptedRecords: number;
}

/** a, b: fragment offset and message length; message: a = 1 when resent; negotiated: a = EMS | ETM << 1 | resumed << 2 */
export type NativeTimelineRow = [at: number, kind: number, dir: number, type: number, len: number, seq: number, a: number, b: number, index: number];

export interface NativeFingerprint {
  algorithm: string;
  digest: Buffer;
}

export interface NativeContextOptions {
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  passphrase?: string;
  ca?: Array<string | Uint8Array>;
  defaultRoots?: readonly string[];
  ciphers?: string;
  groups?: string;
  sigalgs?: string;
  minVersion?: number;
  maxVersion?: number;
  extendedMasterSecret?: boolean;
  alpn?: Buffer;
  /** PSK suites first in the default cipher list */
  psk?: boolean;
  /** OpenSSL's colon-separated SRTP profile list */
  srtpProfiles?: string;
}

export interface NativeSessionOptions {
  server: boolean;
  mtu: number;
  rejectUnauthorized: boolean;
  requestCert: boolean;
  cookieExchange: boolean;
  cookiePeer?: string;
  peerAddress?: string;
  peerPort?: number;
  schedule: number[];
  fingerprints?: NativeFingerprint[];
  servername?: string;
  session?: Buffer;
  keylog: boolean;
  /** server: the first datagram is a ClientHello with this (already verified) cookie: run it through DTLSv1_listen */
  listenCookie?: Buffer;
  /** client PSK */
  pskIdentity?: string;
  pskKey?: Buffer;
  /** server PSK: identity → key (never throws: the TS wrapper catches) */
  pskCallback?: (identity: string) => Buffer | null;
  pskIdentityHint?: string;
}

export interface NativeContext {
  ciphers(): string[];
  liveSessions(): number;
  /** signs `nonce` with the context's in-memory private key and verifies it with its certificate */
  checkKey(nonce: Uint8Array): { ok: boolean; detail: string; keyType?: string; errors: NativeErrorEntry[] };
}

export interface NativeSession {
  step(inbound: Uint8Array | Uint8Array[] | null, outbound: Uint8Array | Uint8Array[] | null, ops: number): NativeStepRare | undefined;
  /** this session's id for binding.step(id, ...), valid until destroy() */
  stepId(): number;
  /** the same step on the libuv thread pool (no plaintext); `done` gets what step() returns, the output in the step buffers */
  stepAsync(inbound: Uint8Array[], ops: number, done: (rare: NativeStepRare | undefined) => void): void;
  destroy(): void;
  setFingerprints(fps: NativeFingerprint[]): void;
  setKeylog(on: boolean): void;
  info(): NativeSessionInfoRow;
  /** the peer certificate info() saw, DER-encoded now; also after destroy() */
  peerCertificateDer(): Buffer | undefined;
  /** the live session's, or after destroy() the one keepSession() kept */
  getSession(): Buffer | undefined;
  /** keeps a reference to the negotiated session for getSession() after destroy() */
  keepSession(): void;
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Buffer;
  stats(): NativeStats;
  /** the recorder's events, or only those numbered `since` and later */
  timeline(since?: number): NativeTimelineRow[];
}

export interface NativeBinding {
  ContextHandle: new (options: NativeContextOptions) => NativeContext;
  SessionHandle: new (context: NativeContext, options: NativeSessionOptions) => NativeSession;
  setErrorFactory(factory: (message: string, errors: NativeErrorEntry[]) => Error): void;
  generateCertificate(keyType: string, commonName: string, days: number): Promise<{ cert: string; key: string }>;
  liveSessions(): number;
  /** session.step() by stepId(): the hot path (no method-call unwrap); throws ERR_DTLS_INVALID_STATE once destroyed */
  step(id: number, inbound: Uint8Array | Uint8Array[] | null, outbound: Uint8Array | Uint8Array[] | null, ops: number): NativeStepRare | undefined;
  /** later steps copy their output items of `kind` (0 datagrams, 1 messages) into `pool`, from offset 0 */
  setOutputPool(kind: 0 | 1, pool: ArrayBuffer): void;
  /** this thread's OpenSSL error queue, read without consuming it (tests, diagnostics) */
  errorQueueSnapshot(): NativeErrorEntry[];
  /** the env's step output block (see native/session_handle.cc BuildResult) */
  stepData: ArrayBuffer;
  /** [flags, timeout, item count, bytes-elsewhere, kind, offset, length, ...] */
  stepMeta: Int32Array;
  opensslVersion: string;
  opensslVersionNumber: number;
  headerVersion: string;
}

export const OP_START = 1;
export const OP_TIMER = 2;
export const OP_SHUTDOWN = 4;
// What a step's inbound/outbound arguments are (native/session_handle.cc ArgKind):
// the hot path then makes one Node-API call per argument instead of probing its type.
export const ARG_IN_ONE = 8;
export const ARG_IN_ARRAY = 16;
export const ARG_OUT_ONE = 32;
export const ARG_OUT_ARRAY = 64;
export const ARG_KNOWN = 128;

// Step flags (stepMeta[0]).
export const FLAG_CONNECTED = 1;
export const FLAG_FAILED = 2;
export const FLAG_PEER_CLOSED = 8;
export const FLAG_TIMED_OUT = 16;
export const FLAG_FINGERPRINT = 32;

/**
 * Refuses runtimes whose crypto is not OpenSSL 3 before the addon is loaded: the addon resolves every
 * OpenSSL symbol from the running binary, so anywhere else it would fail on a missing symbol or worse.
 * Electron ships BoringSSL, and recent releases report no process.versions.openssl at all.
 */
function checkRuntime(): void {
  const versions = process.versions as Record<string, string | undefined>;
  const v = versions.openssl;
  const major = v === undefined ? NaN : Number.parseInt(v, 10);
  let which: string | undefined;
  if (versions.electron !== undefined) which = `Electron ${versions.electron}, whose crypto is BoringSSL`;
  else if (versions.boringssl !== undefined) which = 'BoringSSL';
  else if (!(major >= 3)) which = v === undefined ? 'no OpenSSL' : `OpenSSL ${v}`;
  if (which === undefined) return;
  const err = new Error(
    `openssl-dtls needs a Node.js runtime built with OpenSSL 3.0 or later; this one has ${which}. ` +
      'The addon resolves its OpenSSL symbols from the running node binary: run it in a Node.js process.',
  ) as Error & { code: string };
  err.code = 'ERR_DTLS_UNSUPPORTED_RUNTIME';
  throw err;
}

function load(): NativeBinding {
  checkRuntime();
  // node-gyp-build finds prebuilds/ first, then build/Release.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
  return nodeGypBuild(path.join(__dirname, '..'));
}

export const binding: NativeBinding = load();
