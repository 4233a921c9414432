import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { createHash, X509Certificate } from 'node:crypto';

import { alertDescription, isCertificateAlert, messageName } from './alerts';
import {
  binding,
  FLAG_CONNECTED,
  FLAG_FAILED,
  FLAG_FINGERPRINT,
  FLAG_PEER_CLOSED,
  FLAG_TIMED_OUT,
  nativeSessionInfo,
  ARG_IN_ARRAY,
  ARG_IN_ONE,
  ARG_KNOWN,
  ARG_OUT_ARRAY,
  ARG_OUT_ONE,
  OP_SHUTDOWN,
  OP_START,
  OP_TIMER,
  type NativeAlert,
  type NativeFailure,
  type NativeSession,
  type NativeSessionOptions,
  type NativeStats,
  type NativeStepRare,
} from './binding';
import { parseFingerprint, type Fingerprint } from './certificate';
import {
  DEBUG_ENABLED,
  debugEvents,
  KeylogFile,
  lastFlightBefore,
  sessionLabel,
  summarizeCertificate,
  timelineEvent,
  type PeerCertificateSummary,
  type TimelineEvent,
} from './diagnostics';
import { DtlsError, invalidArgType, invalidArgValue, invalidState, outOfRange, type DtlsAlert } from './errors';
import { explainWith } from './explain';
import { implicatesOurKey, type KeyHealthReport } from './keyhealth';
import { createSecureContext, keyHealthOf, nativeContextOf, pskConfig, pskOf, SecureContext, type ContextOptions, type PskConfig } from './secure-context';
import { copySrtpKeys, isSrtpProfile, splitSrtpKeyingMaterial, SRTP_EXPORTER_LABEL, srtpKeyingMaterialLength, type SrtpKeys } from './srtp';
import {
  isBytes,
  toBuffer,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateObject,
  validateOneOf,
  validateString,
} from './validate';

/** Which side of the handshake a session plays. */
export type DtlsRole = 'client' | 'server';
/**
 * A session's lifecycle: `'new'` → `'connecting'` (handshake running) → `'connected'` → `'closed'`, or
 * `'failed'` from any state. `'closed'` and `'failed'` are final.
 */
export type SessionState = 'new' | 'connecting' | 'connected' | 'closed' | 'failed';

/** Options of a {@link DtlsSession}: the {@link ContextOptions} (unless `context` is given) plus these. */
export interface SessionOptions extends ContextOptions {
  /** `'client'` starts the handshake; `'server'` answers one */
  role: DtlsRole;
  /** called with every outgoing datagram; the Buffer is the receiver's to keep */
  send: (datagram: Buffer) => void;
  /** a shared context; the context options above are then ignored */
  context?: SecureContext;
  /** maximum datagram (UDP payload) size, 256..65507; default 1200 */
  mtu?: number;
  /** the peer certificate must match one of these (fail closed) */
  remoteFingerprints?: Fingerprint[];
  /**
   * The peer is authenticated by fingerprints only, and they may come later (SDP signalling can lag the
   * handshake): without remoteFingerprints the handshake runs, but the session stays 'connecting' —
   * nothing delivered, send() refused, no keys — until setRemoteFingerprints() matches (a mismatch fails it).
   */
  awaitRemoteFingerprints?: boolean;
  /** fail the session when no DTLS-SRTP profile was agreed (default: true when the context has srtpProfiles) */
  requireSrtp?: boolean;
  /** client: SNI and host name verification */
  servername?: string;
  /** initial retransmission timeout in ms (doubling, 4 s cap), or next = f(previous ms; 0 for the first) */
  retransmitTimeout?: number | ((previousMs: number) => number);
  /** whole-handshake deadline in ms (default 30000) */
  handshakeTimeout?: number;
  /** aborting it fails the session with ERR_DTLS_ABORTED */
  signal?: AbortSignal;
  /** server role: HelloVerifyRequest with an HMAC cookie bound to `peer` (default false) */
  cookieExchange?: boolean;
  /** the remote address, for cookies and diagnostics */
  peer?: {
    /** the remote IP address */
    address: string;
    /** the remote UDP port */
    port: number;
  };
  /** client: a Buffer from getSession() to resume */
  session?: Buffer;
  /**
   * Run handshake steps (key agreement, signatures) on the libuv thread pool,
   * one at a time and in arrival order; records after the handshake stay
   * synchronous. Default false (createServer turns it on for its sessions).
   * Ignored with a server pskCallback, which runs in JavaScript.
   */
  offloadHandshake?: boolean;
}

/** A negotiated cipher suite, as `tls.TLSSocket.getCipher()` describes one. */
export interface CipherInfo {
  /** OpenSSL's name, e.g. 'ECDHE-ECDSA-AES128-GCM-SHA256' */
  name: string;
  /** the IANA name, e.g. 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256' */
  standardName: string;
  /** the lowest protocol version the suite is defined for, e.g. 'TLSv1.2' (OpenSSL's SSL_CIPHER_get_version) */
  version: string;
}

/** What a completed handshake negotiated: `handshake()` resolves with it and `'secureConnect'` carries it. */
export interface HandshakeInfo {
  /** our role */
  role: DtlsRole;
  /** 'DTLSv1.2' or 'DTLSv1' */
  protocol: string;
  /** the negotiated suite */
  cipher: CipherInfo;
  /** whether a session from `getSession()` was resumed (no Certificate message then) */
  resumed: boolean;
  /** the protocol ALPN selected, or false without ALPN */
  alpnProtocol: string | false;
  /** RFC 7627 extended master secret in use */
  extendedMasterSecret: boolean;
  /** the peer's certificate, when it sent one */
  peerCertificate?: X509Certificate;
  /** the peer certificate's verification result (code 0 'ok' when verified or not checked) */
  verifyResult: {
    /** X509_V_* number; 0 is X509_V_OK */
    code: number;
    /** OpenSSL's text for it */
    message: string;
  };
  /** largest application payload that fits one MTU-sized datagram */
  maxPayload: number;
  /** from the handshake's start to connected, in ms */
  handshakeMs: number;
  /** DTLS-SRTP: the agreed profile and the SRTP master keys (RFC 5764 §4.2), local = what we encrypt */
  srtpKeys?: SrtpKeys;
}

/** A session's counters, from `getStats()`; they keep counting late datagrams after close. */
export interface SessionStats extends NativeStats {
  /** from the handshake's start to connected, in ms, once connected */
  handshakeMs?: number;
}

export type { PeerCertificateSummary, TimelineEvent } from './diagnostics';

/** The events of a {@link DtlsSession} and their arguments. */
export interface DtlsSessionEvents {
  /** the handshake completed */
  secureConnect: [info: HandshakeInfo];
  /** an application message arrived (the Buffer is the listener's to keep) */
  message: [data: Buffer];
  /** an alert was sent or received, with OpenSSL's error queue and an explanation */
  alert: [alert: DtlsAlert];
  /** the session failed; a pending handshake() rejects with the same error */
  error: [err: DtlsError];
  /** the session ended (after close(), destroy(), a failure, or the peer's close_notify); always the last event */
  close: [];
  /** an NSS key-log line (for Wireshark), produced only while a listener is attached */
  keylog: [line: Buffer];
  /** the key self-test ran after repeated failures that implicate our private key (see ContextOptions.keyHealth) */
  keyhealth: [report: KeyHealthReport];
}

/** @internal the socket layer's hooks into a session (not part of the public API) */
export const kListenCookie = Symbol('openssl-dtls.listenCookie');
export const kStart = Symbol('openssl-dtls.start');

/** @internal */
export interface InternalSessionOptions extends SessionOptions {
  /** server: the first datagram is a ClientHello whose cookie a stateless front end verified */
  [kListenCookie]?: Buffer;
}

// The env's shared step output (see NativeStepRare): read right after each step.
const STEP_BLOCK = binding.stepData;
const STEP_META = binding.stepMeta;

/**
 * Node's Buffer class proper (FastBuffer, what Buffer.from() constructs, via
 * the public Symbol.species): a view made with it is a real Buffer without
 * Buffer.from()'s argument checks, a tenth of a record's JS time. Verified
 * once; Buffer.from() is the fallback.
 */
type ViewConstructor = new (block: ArrayBuffer, offset: number, length: number) => Buffer;
const BufferView: ViewConstructor | undefined = (() => {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species !== 'function') return undefined;
  try {
    const probe = new (species as ViewConstructor)(new ArrayBuffer(4), 1, 2);
    return Buffer.isBuffer(probe) && Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1 && probe.length === 2 ? (species as ViewConstructor) : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Where a step's output Buffers live: native code copies each datagram and
 * message into an output pool (an unzeroed block this side hands over with
 * binding.setOutputPool) at increasing offsets, and a Buffer is a view of it:
 * nothing copied here, no allocation per item. Native never writes a byte
 * twice, so the views are the receiver's to keep. A block is replaced when
 * nearly full. Like Buffer.allocUnsafe()'s 8 KiB pool, a Buffer keeps its
 * whole block alive: datagrams, which a transport sends and drops, use
 * 64 KiB blocks; messages, which an application may keep, 32 KiB ones.
 * (Small blocks cost: a new block per few records was a tenth of a record.)
 */
class OutputPool {
  #block!: ArrayBuffer;
  #size = 0;
  #end = 0;
  #spill = false;

  constructor(
    readonly kind: 0 | 1,
    readonly blockSize: number,
  ) {
    this.#replace();
  }

  /** The item native code put in the pool at `off`. */
  view(off: number, len: number): Buffer {
    this.#end = off + len;
    return BufferView !== undefined ? new BufferView(this.#block, off, len) : Buffer.from(this.#block, off, len);
  }

  /** An item that did not fit the pool: copied out of the step block. */
  copy(off: number, len: number): Buffer {
    this.#spill = true;
    const b = Buffer.allocUnsafe(len);
    b.set(new Uint8Array(STEP_BLOCK, off, len));
    return b;
  }

  /** After a step's items are taken: a new block when this one is (nearly) full. */
  refill(): void {
    if (this.#spill || this.#size - this.#end < this.blockSize >>> 4) this.#replace();
  }

  /**
   * Before a step expected to produce about `bytes` of this kind (a batch of
   * datagrams in, or of messages out): a block with that much room, so the
   * batch's items are views too rather than copies (and no block is
   * abandoned half-used mid-batch).
   */
  reserve(bytes: number): void {
    if (this.#size - this.#end < bytes) this.#replace(bytes);
  }

  #replace(bytes = 0): void {
    this.#size = bytes > this.blockSize ? bytes : this.blockSize;
    this.#block = Buffer.allocUnsafeSlow(this.#size).buffer as ArrayBuffer;
    this.#end = 0;
    this.#spill = false;
    binding.setOutputPool(this.kind, this.#block);
  }
}
const DATAGRAM_POOL = new OutputPool(0, 64 * 1024);
const MESSAGE_POOL = new OutputPool(1, 32 * 1024);
const nativeStep = binding.step;

const SSL_ERROR_SYSCALL = 5;
const DEFAULT_MTU = 1200;
// Datagrams held for a session while a thread-pool step runs; beyond, dropped (counted).
const MAX_QUEUED_DURING_JOB = 64;
const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;
const MAX_PLAINTEXT = 16384;
// A record's bytes beyond its plaintext, generously (header 13, explicit IV,
// MAC or tag, CBC padding) plus the pool's 8-byte alignment.
const RECORD_ROOM = 96;
// Application messages held while the remote fingerprints are awaited; more are dropped (and counted).
const MAX_HELD_MESSAGES = 32;
// OpenSSL gives up after 12 retransmissions of a flight: 13 timeouts cover it.
const SCHEDULE_LENGTH = 13;

// OpenSSL treats a timer with less than 15 ms left as already expired, so a
// shorter timeout would resend a flight in a burst rather than on a schedule.
const MIN_RETRANSMIT_MS = 20;
const MAX_RETRANSMIT_MS = 60_000;

function retransmitSchedule(opt: SessionOptions['retransmitTimeout']): number[] {
  const out: number[] = [];
  if (opt === undefined || typeof opt === 'number') {
    if (opt !== undefined) validateMs(opt, 'options.retransmitTimeout');
    let t = opt ?? 100;
    const cap = Math.max(4000, t);
    for (let i = 0; i < SCHEDULE_LENGTH; i++) {
      out.push(t);
      t = Math.min(t * 2, cap);
    }
    return out;
  }
  if (typeof opt !== 'function') throw invalidArgType('options.retransmitTimeout', 'of type number or function', opt);
  let prev = 0;
  for (let i = 0; i < SCHEDULE_LENGTH; i++) {
    let next = opt(prev);
    if (typeof next !== 'number') throw invalidArgType('options.retransmitTimeout()', 'to return a number', next);
    // A growing schedule may overshoot: cap it rather than reject it.
    if (next > MAX_RETRANSMIT_MS) next = MAX_RETRANSMIT_MS;
    validateMs(next, 'options.retransmitTimeout()');
    out.push(next);
    prev = next;
  }
  return out;
}

function validateMs(v: unknown, name: string): void {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!(v >= MIN_RETRANSMIT_MS && v <= MAX_RETRANSMIT_MS)) throw outOfRange(name, `>= ${MIN_RETRANSMIT_MS} && <= ${MAX_RETRANSMIT_MS}`, v);
}

/** A DTLS 1.2 session over any datagram transport: datagrams in with receive(), out through `send`. */
export class DtlsSession extends EventEmitter {
  #handle: NativeSession | null;
  /** #handle's id for nativeStep() */
  #stepId = -1;
  readonly #role: DtlsRole;
  readonly #send: (datagram: Buffer) => void;
  readonly #handshakeTimeoutMs: number;
  readonly #requestsCert: boolean;
  #state: SessionState = 'new';
  #timer: NodeJS.Timeout | null = null;
  #handshakeTimer: NodeJS.Timeout | null = null;
  #startedAt = 0;
  #handshakeMs: number | undefined;
  #info: HandshakeInfo | undefined;
  #error: DtlsError | undefined;
  #waiters: Array<{ resolve: (i: HandshakeInfo) => void; reject: (e: Error) => void }> = [];
  #closing: Promise<void> | undefined;
  /** the native handle after its SSL was freed: counters and the flight recorder outlive it */
  #retired: NativeSession | undefined;
  #droppedLocally = 0;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  #keylogFile: KeylogFile | undefined;
  #context: SecureContext;
  /** the peer certificate as the 'negotiated' event shows it: made when a timeline is read, judged at connectedAt */
  #peerCertificate: PeerCertificateSummary | undefined;
  /** the peer certificate (DER) of the completed handshake: fingerprints are checked on it */
  #peerDer: PeerDer | undefined;
  #connectedAt = 0;
  /** NODE_DEBUG=dtls: this session's name in the trace, and the next recorder event to print */
  #debugLabel: string | undefined;
  #debugNext = 0;
  /** inside handle.step(): the native session must not be freed until it returns */
  #stepping = false;
  #destroyAfterStep: NativeSession | undefined;
  /** what the user's pskCallback threw or returned wrongly (held apart from `this`: the native side keeps the callback alive) */
  readonly #pskProblem: { error?: unknown } = {};
  /** handshake steps on the thread pool (offloadHandshake) */
  #offload = false;
  /** a thread-pool step is in flight, or its output is being handled: inbound datagrams wait */
  #job = false;
  /** datagrams (copies) and ops that arrived during a job, in order */
  #queued: Buffer[] = [];
  #queuedOps = 0;
  #onJobDone: ((rare: NativeStepRare | undefined) => void) | undefined;
  readonly #requireSrtp: boolean;
  readonly #awaitFingerprints: boolean;
  /** what the peer certificate must match: OpenSSL checks it when the certificate arrives, #connected() again at the end */
  #expected: Array<{ algorithm: string; digest: Buffer }> | undefined;
  /** handshake done, remote fingerprints not yet given: the info to publish once they match */
  #pending: HandshakeInfo | undefined;
  #held: Buffer[] = [];

  /**
   * @param options - see {@link SessionOptions}; `role` and `send` are required
   * @throws TypeError / RangeError for invalid options, before OpenSSL sees them; DtlsError when OpenSSL
   *   refuses the context options
   */
  constructor(options: SessionOptions) {
    super();
    validateObject(options, 'options');
    validateOneOf(options.role, 'options.role', ['client', 'server'] as const);
    validateFunction(options.send, 'options.send');
    const mtu = options.mtu === undefined ? DEFAULT_MTU : options.mtu;
    validateInteger(mtu, 'options.mtu', 256, 65507);
    const handshakeTimeout = options.handshakeTimeout === undefined ? DEFAULT_HANDSHAKE_TIMEOUT : options.handshakeTimeout;
    validateInteger(handshakeTimeout, 'options.handshakeTimeout', 1, 2 ** 31 - 1);
    this.#role = options.role;
    this.#send = options.send;
    this.#handshakeTimeoutMs = handshakeTimeout;

    if (options.rejectUnauthorized !== undefined) validateBoolean(options.rejectUnauthorized, 'options.rejectUnauthorized');
    if (options.requestCert !== undefined) validateBoolean(options.requestCert, 'options.requestCert');
    let context = options.context;
    if (context !== undefined) {
      if (!(context instanceof SecureContext)) throw invalidArgType('options.context', 'an instance of SecureContext', context);
    } else {
      context = createSecureContext(options);
    }
    const native: NativeSessionOptions = {
      server: options.role === 'server',
      mtu,
      rejectUnauthorized: options.rejectUnauthorized ?? context.rejectUnauthorized,
      requestCert: options.requestCert ?? context.requestCert,
      cookieExchange: false,
      schedule: retransmitSchedule(options.retransmitTimeout),
      keylog: false,
    };
    if (options.cookieExchange !== undefined) {
      validateBoolean(options.cookieExchange, 'options.cookieExchange');
      native.cookieExchange = options.cookieExchange && options.role === 'server';
    }
    if (options.peer !== undefined) {
      validateObject(options.peer, 'options.peer');
      validateString(options.peer.address, 'options.peer.address');
      validateInteger(options.peer.port, 'options.peer.port', 0, 65535);
      native.peerAddress = options.peer.address;
      native.peerPort = options.peer.port;
      native.cookiePeer = `${options.peer.address}|${options.peer.port}`;
    }
    if (native.cookieExchange && native.cookiePeer === undefined) {
      // A cookie proves the client can receive at an address: without one it proves nothing.
      throw invalidArgValue('options.peer', options.peer, 'is required with cookieExchange (the cookie is bound to the peer address)');
    }
    if (options.remoteFingerprints !== undefined) {
      native.fingerprints = parseFingerprints(options.remoteFingerprints, 'options.remoteFingerprints');
      this.#expected = native.fingerprints;
    }
    if (options.awaitRemoteFingerprints !== undefined) validateBoolean(options.awaitRemoteFingerprints, 'options.awaitRemoteFingerprints');
    this.#awaitFingerprints = options.awaitRemoteFingerprints === true;
    if (this.#awaitFingerprints && native.fingerprints === undefined) {
      // Nothing to check the certificate against yet: OpenSSL accepts it (a
      // server still asks for one) and the check runs when the fingerprints come.
      native.rejectUnauthorized = false;
      native.requestCert = true;
    }
    if (options.requireSrtp !== undefined) {
      validateBoolean(options.requireSrtp, 'options.requireSrtp');
      if (options.requireSrtp && context.srtpProfiles.length === 0) {
        throw invalidArgValue('options.requireSrtp', options.requireSrtp, 'needs srtpProfiles (on the session or its context)');
      }
    }
    this.#requireSrtp = options.requireSrtp ?? context.srtpProfiles.length > 0;
    if (options.servername !== undefined) {
      validateString(options.servername, 'options.servername');
      native.servername = options.servername;
    }
    if (options.session !== undefined) {
      if (!isBytes(options.session)) throw invalidArgType('options.session', 'an instance of Buffer', options.session);
      native.session = toBuffer(options.session);
    }
    if (options.signal !== undefined) {
      const signal = options.signal;
      if (signal === null || typeof signal !== 'object' || typeof (signal as AbortSignal).aborted !== 'boolean') {
        throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
      }
      this.#signal = signal;
    }
    const listenCookie = (options as InternalSessionOptions)[kListenCookie];
    if (listenCookie !== undefined && options.role === 'server') native.listenCookie = listenCookie;
    const ownPsk = options.psk !== undefined || options.pskCallback !== undefined || options.pskIdentityHint !== undefined;
    this.#applyPsk(native, ownPsk ? pskConfig(options) : pskOf(context));
    this.#requestsCert = native.requestCert || native.fingerprints !== undefined;
    if (options.offloadHandshake !== undefined) validateBoolean(options.offloadHandshake, 'options.offloadHandshake');
    this.#offload = options.offloadHandshake === true && native.pskCallback === undefined;
    if (this.#offload) this.#onJobDone = (rare) => this.#jobDone(rare);
    const keylogFile = options.keylogFile ?? context.keylogFile;
    if (keylogFile !== undefined) {
      validateString(keylogFile, 'options.keylogFile');
      this.#keylogFile = new KeylogFile(keylogFile);
      native.keylog = true;
    }
    this.#context = context;
    this.#handle = new binding.SessionHandle(nativeContextOf(context), native);
    this.#stepId = this.#handle.stepId();
    if (DEBUG_ENABLED) this.#debugLabel = sessionLabel(this.#role);

    // Keylog lines are produced only while someone listens (or a keylogFile takes them).
    this.on('newListener', (event: string | symbol) => {
      if (event === 'keylog' && this.#handle !== null) this.#handle.setKeylog(true);
    });
    this.on('removeListener', (event: string | symbol) => {
      if (event === 'keylog' && this.listenerCount('keylog') === 0 && this.#keylogFile === undefined && this.#handle !== null) this.#handle.setKeylog(false);
    });

    if (this.#signal !== undefined) {
      if (this.#signal.aborted) {
        // After the constructor returns, so the caller can attach listeners
        // or call handshake() (as node:net does with an aborted signal).
        process.nextTick(() => this.#abort());
      } else {
        this.#onAbort = () => this.#abort();
        this.#signal.addEventListener('abort', this.#onAbort, { once: true });
      }
    }
  }

  /** `'client'` or `'server'`. */
  get role(): DtlsRole {
    return this.#role;
  }

  /** Where the session is in its lifecycle. */
  get state(): SessionState {
    return this.#state;
  }

  /** Largest application payload that fits one MTU-sized datagram (0 before the handshake). */
  get maxPayload(): number {
    return this.#info?.maxPayload ?? 0;
  }

  /** Starts the handshake (client) or waits for it (server); resolves once connected. */
  handshake(): Promise<HandshakeInfo> {
    if (this.#state === 'connected' && this.#info !== undefined) return Promise.resolve(this.#info);
    if (this.#state === 'failed') return Promise.reject(this.#error ?? new DtlsError('the DTLS session failed', { code: 'ERR_DTLS_INTERNAL' }));
    if (this.#state === 'closed') return Promise.reject(new DtlsError('the DTLS session is closed', { code: 'ERR_DTLS_CLOSED' }));
    const p = new Promise<HandshakeInfo>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this[kStart]();
    return p;
  }

  /** @internal starts a client (or arms a server's deadline) without waiting: failures then go to 'error' */
  [kStart](): void {
    // An already-aborted signal fails the session on the next tick: send nothing meanwhile.
    if (this.#state === 'new' && this.#signal?.aborted !== true) {
      this.#enterConnecting();
      if (this.#role === 'client') this.#step(null, null, OP_START);
    }
  }

  /** Feeds datagrams that arrived from the peer (one Buffer per datagram). */
  receive(datagram: Buffer | Uint8Array | Array<Buffer | Uint8Array>): void {
    if (Array.isArray(datagram)) {
      let bytes = 0;
      for (let i = 0; i < datagram.length; i++) {
        const d = datagram[i];
        if (!isBytes(d)) throw invalidArgType(`datagram[${i}]`, 'an instance of Buffer or Uint8Array', d);
        bytes += d.byteLength + 8;
      }
      // A batch's plaintexts are no longer than its datagrams: room for all of them.
      if (datagram.length > 1 && this.#state === 'connected') MESSAGE_POOL.reserve(bytes);
    } else if (!isBytes(datagram)) {
      throw invalidArgType('datagram', 'an instance of Buffer, Uint8Array or Array', datagram);
    }
    if (this.#handle === null) {
      // Late datagrams after close are normal on a datagram transport.
      this.#droppedLocally += Array.isArray(datagram) ? datagram.length : 1;
      return;
    }
    if (this.#signal?.aborted === true) {
      this.#droppedLocally += Array.isArray(datagram) ? datagram.length : 1;
      return;
    }
    if (this.#state === 'new' && this.#role === 'server') this.#enterConnecting();
    this.#step(datagram, null, 0);
  }

  /**
   * Sends one application message as one DTLS record (1..16384 bytes), or an
   * array of messages, each its own record, sealed in one native call (a
   * burst: SCTP packets of a data channel, a batch of game-state updates).
   * An array is validated whole before anything is sent.
   */
  send(data: Buffer | Uint8Array | string | ReadonlyArray<Buffer | Uint8Array | string>): void {
    let out: Uint8Array | Uint8Array[];
    if (Array.isArray(data)) {
      const list = data as ReadonlyArray<unknown>;
      const records: Uint8Array[] = new Array(list.length);
      let bytes = 0;
      for (let i = 0; i < list.length; i++) {
        records[i] = messageBytes(list[i], `data[${i}]`);
        bytes += records[i]!.byteLength + RECORD_ROOM;
      }
      if (records.length === 0) return;
      if (this.#state === 'connected') DATAGRAM_POOL.reserve(bytes);
      out = records;
    } else {
      out = messageBytes(data, 'data');
    }
    if (this.#state !== 'connected' || this.#handle === null) {
      const why = this.#pending !== undefined ? ' (the remote fingerprints have not been set yet)' : '';
      throw invalidState(`cannot send on a DTLS session in state '${this.#state}'${why}`);
    }
    this.#step(null, out, 0);
  }

  /** Sends close_notify (when connected) and closes; idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#handle !== null && (this.#state === 'connected' || this.#pending !== undefined)) this.#step(null, null, OP_SHUTDOWN);
    this.#finish('closed', undefined);
    this.#closing = Promise.resolve();
    return this.#closing;
  }

  /** Tears the session down at once, without close_notify. */
  destroy(error?: Error): void {
    if (error !== undefined && !(error instanceof Error)) throw invalidArgType('error', 'an instance of Error', error);
    if (this.#handle === null) return;
    let err: DtlsError | undefined;
    if (error !== undefined) {
      err = error instanceof DtlsError ? error : new DtlsError(error.message, { code: 'ERR_DTLS_INTERNAL', cause: error });
    }
    this.#finish(err !== undefined ? 'failed' : 'closed', err);
  }

  /**
   * Replaces the fingerprints the peer certificate is checked against. Before the certificate arrives
   * they are checked inside the handshake; after it, against the certificate received — a mismatch
   * fails the session (close_notify is sent). With awaitRemoteFingerprints, a session whose handshake
   * is already done becomes 'connected' here when they match.
   */
  setRemoteFingerprints(fps: Fingerprint[]): void {
    const parsed = parseFingerprints(fps, 'fingerprints');
    if (this.#handle === null) throw invalidState(`the DTLS session is ${this.#state}`);
    this.#handle.setFingerprints(parsed);
    this.#expected = parsed;
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      const der = this.#peerDer?.der();
      if (der === undefined || !matchesAny(der, parsed)) {
        this.#failAfterHandshake(lateMismatch());
        return;
      }
      const held = this.#held;
      this.#held = [];
      this.#publish(pending);
      this.#announce();
      for (const m of held) {
        if (this.#state !== 'connected') break;
        this.emit('message', m);
      }
      return;
    }
    if (this.#state === 'connected') {
      const der = this.#peerDer?.der();
      if (der === undefined || !matchesAny(der, parsed)) this.#failAfterHandshake(lateMismatch());
    }
  }

  /** The DTLS-SRTP profile and SRTP master keys (copies), once connected; undefined without SRTP. */
  getSrtpKeys(): SrtpKeys | undefined {
    const keys = this.#info?.srtpKeys;
    return keys !== undefined ? copySrtpKeys(keys) : undefined;
  }

  /**
   * RFC 5705 keying material exporter (`SSL_export_keying_material`), e.g. `(60, 'EXTRACTOR-dtls_srtp')`
   * for DTLS-SRTP keys.
   *
   * @param length - bytes to export, 1..65535
   * @param label - the exporter label
   * @param context - optional context value (its absence and an empty one differ)
   * @throws DtlsError `ERR_DTLS_INVALID_STATE` unless connected
   */
  exportKeyingMaterial(length: number, label: string, context?: Buffer): Buffer {
    validateInteger(length, 'length', 1, 65535);
    validateString(label, 'label');
    if (context !== undefined && !isBytes(context)) throw invalidArgType('context', 'an instance of Buffer', context);
    if (this.#state !== 'connected' || this.#handle === null) throw invalidState(`keying material needs a connected session (state '${this.#state}')`);
    return this.#handle.exportKeyingMaterial(length, label, context);
  }

  /** The negotiated protocol version ('DTLSv1.2'), or null before the handshake completes. */
  getProtocol(): string | null {
    return this.#info?.protocol ?? null;
  }

  /** The negotiated suite, once connected. */
  getCipher(): CipherInfo | undefined {
    return this.#info?.cipher;
  }

  /** The peer's certificate, once connected (undefined when it sent none, e.g. PSK). */
  getPeerCertificate(): X509Certificate | undefined {
    return this.#info?.peerCertificate;
  }

  /** The protocol ALPN selected, or false. */
  getALPNProtocol(): string | false {
    return this.#info?.alpnProtocol ?? false;
  }

  /** The negotiated session, serialized for resumption (pass it as `session`). */
  getSession(): Buffer | undefined {
    if (this.#handle !== null && this.#state === 'connected') return this.#handle.getSession();
    // After close: what the retired handle kept (nothing unless it closed while connected).
    return this.#retired?.getSession();
  }

  /** Datagram, byte, message, retransmission and drop counters; they keep working after close. */
  getStats(): SessionStats {
    const s: SessionStats = (this.#handle ?? this.#retired!).stats();
    s.dropped += this.#droppedLocally;
    if (this.#handshakeMs !== undefined) s.handshakeMs = this.#handshakeMs;
    return s;
  }

  /** The bounded flight recorder: handshake messages, retransmissions, alerts, state changes. */
  timeline(): TimelineEvent[] {
    const cert = this.#certificateSummary();
    return (this.#handle ?? this.#retired!).timeline().map((row) => timelineEvent(row, this.#info, cert));
  }

  // Off the hot path: nothing about the certificate is read unless a timeline is.
  #certificateSummary(): PeerCertificateSummary | undefined {
    const cert = this.#info?.peerCertificate;
    if (this.#peerCertificate === undefined && cert !== undefined) this.#peerCertificate = summarizeCertificate(cert, this.#connectedAt);
    return this.#peerCertificate;
  }

  // ---- internals ------------------------------------------------------------

  #enterConnecting(): void {
    this.#state = 'connecting';
    this.#startedAt = performance.now();
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = null;
      if (this.#pending !== undefined) {
        this.#pending = undefined;
        this.#failAfterHandshake(
          new DtlsError(`the remote fingerprints were not set within ${this.#handshakeTimeoutMs} ms (the DTLS handshake itself completed)`, { code: 'ERR_DTLS_HANDSHAKE_TIMEOUT' }),
        );
      } else if (this.#state === 'connecting' && this.#handle !== null) {
        // No alert and nothing queued: what arrived meanwhile tells loss from a key mismatch.
        const stats = this.#handle.stats();
        const explanation = explainWith([], { timedOut: true, datagramsIn: stats.datagramsIn, undecryptedRecords: stats.undecryptedRecords, role: this.#role });
        this.#fail(new DtlsError(`the DTLS handshake did not complete within ${this.#handshakeTimeoutMs} ms`, { code: 'ERR_DTLS_HANDSHAKE_TIMEOUT', explanation }));
      }
    }, this.#handshakeTimeoutMs);
  }

  #abort(): void {
    this.#fail(new DtlsError('the DTLS session was aborted', { code: 'ERR_DTLS_ABORTED', cause: this.#signal?.reason }));
  }

  #applyPsk(native: NativeSessionOptions, psk: PskConfig): void {
    if (this.#role === 'client' && psk.psk !== undefined) {
      native.pskIdentity = psk.psk.identity;
      native.pskKey = psk.psk.key;
    }
    const cb = psk.pskCallback;
    if (this.#role === 'server' && cb !== undefined) {
      const problem = this.#pskProblem;
      native.pskCallback = (identity: string): Buffer | null => {
        try {
          const key = cb(identity);
          if (key === null || key === undefined) return null;
          if (!(key instanceof Uint8Array) || key.byteLength < 1 || key.byteLength > 512) {
            problem.error = invalidArgType('pskCallback()', 'to return a Buffer of 1..512 bytes, null or undefined', key);
            return null;
          }
          return toBuffer(key);
        } catch (e) {
          problem.error = e;
          return null;
        }
      };
      if (psk.pskIdentityHint !== undefined) native.pskIdentityHint = psk.pskIdentityHint;
    }
  }

  #step(inbound: Uint8Array | Uint8Array[] | null, outbound: Uint8Array | Uint8Array[] | null, ops: number): void {
    const handle = this.#handle;
    if (handle === null) return;
    if (this.#job && outbound === null) {
      this.#enqueue(inbound, ops);
      return;
    }
    if (this.#offload && this.#state === 'connecting' && outbound === null && (ops & OP_START) === 0 && inbound !== null) {
      this.#job = true;
      handle.stepAsync(Array.isArray(inbound) ? inbound : [inbound], ops, this.#onJobDone!);
      return;
    }
    let rare: NativeStepRare | undefined;
    this.#stepping = true;
    try {
      const kinds =
        ARG_KNOWN |
        (inbound === null ? 0 : Array.isArray(inbound) ? ARG_IN_ARRAY : ARG_IN_ONE) |
        (outbound === null ? 0 : Array.isArray(outbound) ? ARG_OUT_ARRAY : ARG_OUT_ONE);
      rare = nativeStep(this.#stepId, inbound, outbound, ops | kinds);
    } finally {
      this.#stepping = false;
      // Closed from inside the step (a pskCallback): free the SSL now that OpenSSL has returned.
      const late = this.#destroyAfterStep;
      if (late !== undefined) {
        this.#destroyAfterStep = undefined;
        late.destroy();
      }
    }
    if (this.#handle !== handle) return;
    this.#afterStep(handle, rare);
  }

  /** Handles what a step left in the env's step buffers (and `rare`). */
  #afterStep(handle: NativeSession, rare: NativeStepRare | undefined): void {
    // Copy the step's output out of the env's shared buffers before any
    // callback runs: a callback may step another session (or this one).
    const flags = STEP_META[0]!;
    const timeout = STEP_META[1]!;
    let datagrams: Buffer[] | undefined;
    let messages: Buffer[] | undefined;
    const count = STEP_META[2]!;
    if (count > 0 && STEP_META[3] === 0) {
      // The common case: native put the items in the output pools (kind | 2).
      for (let i = 0, k = 4; i < count; i++, k += 3) {
        const kind = STEP_META[k]!;
        const pool = (kind & 1) === 0 ? DATAGRAM_POOL : MESSAGE_POOL;
        const b = (kind & 2) !== 0 ? pool.view(STEP_META[k + 1]!, STEP_META[k + 2]!) : pool.copy(STEP_META[k + 1]!, STEP_META[k + 2]!);
        if ((kind & 1) === 0) {
          if (datagrams === undefined) datagrams = [b];
          else datagrams.push(b);
        } else if (messages === undefined) {
          messages = [b];
        } else {
          messages.push(b);
        }
      }
      if (datagrams !== undefined) DATAGRAM_POOL.refill();
      if (messages !== undefined) MESSAGE_POOL.refill();
    } else if (count !== 0) {
      const items: ArrayLike<number> = count < 0 ? rare!.items! : STEP_META;
      const base = count < 0 ? 0 : 4;
      const n = count < 0 ? items.length / 3 : count;
      const own = STEP_META[3] === 1 ? rare!.buf! : undefined;
      for (let i = 0; i < n; i++) {
        const kind = items[base + 3 * i]!;
        const off = items[base + 3 * i + 1]!;
        const len = items[base + 3 * i + 2]!;
        let b: Buffer;
        if ((kind & 2) !== 0) {
          // Written straight to its pool (datagrams of a main-thread step).
          b = ((kind & 1) === 0 ? DATAGRAM_POOL : MESSAGE_POOL).view(off, len);
        } else if (own !== undefined) {
          b = own.subarray(off, off + len);
        } else {
          b = Buffer.allocUnsafe(len);
          b.set(new Uint8Array(STEP_BLOCK, off, len));
        }
        if ((kind & 1) === 0) (datagrams ??= []).push(b);
        else (messages ??= []).push(b);
      }
      DATAGRAM_POOL.refill();
      MESSAGE_POOL.refill();
    }
    this.#process(handle, flags, timeout, datagrams, messages, rare);
    if (DEBUG_ENABLED) this.#debugFlush(handle);
  }

  /** NODE_DEBUG=dtls: prints the recorder events this session has not printed yet. */
  #debugFlush(handle: NativeSession): void {
    const rows = handle.timeline(this.#debugNext);
    if (rows.length === 0) return;
    this.#debugNext = rows[rows.length - 1]![8] + 1;
    const cert = this.#certificateSummary();
    debugEvents(this.#debugLabel ?? this.#role, rows.map((row) => timelineEvent(row, this.#info, cert)));
  }

  // One job per session: a datagram arriving during a thread-pool step waits
  // for it (copied: the caller may reuse its buffer once receive() returns),
  // as does a timer tick. Bounded: a handshake has a few datagrams in flight.
  #enqueue(inbound: Uint8Array | Uint8Array[] | null, ops: number): void {
    this.#queuedOps |= ops;
    if (inbound === null) return;
    const list = Array.isArray(inbound) ? inbound : [inbound];
    for (const d of list) {
      if (this.#queued.length >= MAX_QUEUED_DURING_JOB) this.#droppedLocally++;
      else this.#queued.push(Buffer.from(d));
    }
  }

  #jobDone(rare: NativeStepRare | undefined): void {
    // Native calls back only while the handle lives (not after destroy()).
    const handle = this.#handle;
    if (handle !== null) {
      // #job stays set meanwhile: a datagram that a listener feeds in now
      // still waits behind the ones queued during the job.
      this.#afterStep(handle, rare);
    }
    this.#job = false;
    if (this.#handle === null) {
      this.#queued = [];
      return;
    }
    if (this.#queued.length === 0 && this.#queuedOps === 0) return;
    const queued = this.#queued;
    const ops = this.#queuedOps;
    this.#queued = [];
    this.#queuedOps = 0;
    // Still handshaking: the next job; connected: synchronous steps.
    if (queued.length > 0) this.#step(queued, null, ops);
    else this.#step(null, null, ops);
  }

  #process(handle: NativeSession, flags: number, timeout: number, datagrams: Buffer[] | undefined, messages: Buffer[] | undefined, rare: NativeStepRare | undefined): void {
    let sendError: unknown;
    if (datagrams !== undefined) {
      for (let i = 0; i < datagrams.length; i++) {
        try {
          this.#send(datagrams[i]!);
        } catch (e) {
          sendError = e;
          break;
        }
      }
    }
    if (flags === 0 && rare === undefined && sendError === undefined) {
      // Nothing but datagrams and messages (every record after the handshake).
      if (this.#state === 'connecting') this.#armTimer(timeout);
      if (messages !== undefined) this.#deliver(messages);
      return;
    }
    // A send callback may deliver synchronously to a peer that answers
    // synchronously: this session can have moved on (or ended) meanwhile.
    let announce = false;
    if ((flags & FLAG_CONNECTED) !== 0 && this.#handle === handle && this.#state === 'connecting') announce = this.#connected(handle);

    if (this.#state === 'connecting' && (flags & FLAG_FAILED) === 0) this.#armTimer(timeout);

    if (rare?.keylog !== undefined) {
      for (const line of rare.keylog) {
        const b = Buffer.from(`${line}\n`, 'latin1');
        this.#keylogFile?.write(b);
        this.emit('keylog', b);
      }
    }
    if (announce && this.#state === 'connected' && this.#handle === handle) this.#announce();
    if (messages !== undefined) this.#deliver(messages);
    const alerts = rare?.alerts !== undefined ? rare.alerts.map((a) => this.#alert(a, handle)) : [];
    for (const a of alerts) this.emit('alert', a);
    // A failure that points at our own private key counts towards the context's key self-test.
    for (const a of alerts) {
      const why = implicatesOurKey(a);
      const report = why !== undefined ? keyHealthOf(this.#context)?.note(why) : undefined;
      if (report !== undefined) this.emit('keyhealth', report);
    }

    if (sendError !== undefined && this.#handle !== null) {
      this.#fail(new DtlsError(`the send callback threw: ${(sendError as Error)?.message ?? String(sendError)}`, { code: 'ERR_DTLS_SEND_FAILED', cause: sendError }));
      return;
    }
    if (rare?.error !== undefined && this.#handle !== null) {
      this.#fail(this.#failure(rare.error, flags, alerts, handle));
      return;
    }
    if ((flags & FLAG_PEER_CLOSED) !== 0 && this.#handle !== null) {
      this.#finish('closed', undefined);
    }
  }

  #deliver(messages: Buffer[]): void {
    for (let i = 0; i < messages.length; i++) {
      if (this.#pending !== undefined) {
        // Not delivered before the peer is verified.
        if (this.#held.length < MAX_HELD_MESSAGES) this.#held.push(messages[i]!);
        else this.#droppedLocally++;
        continue;
      }
      if (this.#state !== 'connected') break;
      this.emit('message', messages[i]!);
    }
  }

  /**
   * The handshake is done: gather what it negotiated, then check what OpenSSL
   * could not (SRTP required; fingerprints that are still awaited or were set
   * after the certificate arrived). True when the session is now connected.
   */
  #connected(handle: NativeSession): boolean {
    const n = nativeSessionInfo(handle);
    this.#handshakeMs = performance.now() - this.#startedAt;
    const info: HandshakeInfo = {
      role: this.#role,
      protocol: n.protocol,
      cipher: n.cipher ?? { name: '', standardName: '', version: '' },
      resumed: n.resumed,
      alpnProtocol: n.alpnProtocol ?? false,
      extendedMasterSecret: n.extendedMasterSecret,
      verifyResult: { code: n.verifyResult, message: n.verifyMessage },
      maxPayload: n.maxPayload,
      handshakeMs: this.#handshakeMs,
    };
    if (n.hasPeerCertificate) {
      const cert = new PeerDer(handle);
      this.#peerDer = cert;
      definePeerCertificate(info, cert);
    }
    this.#connectedAt = Date.now();
    if (n.srtpProfile !== undefined && isSrtpProfile(n.srtpProfile)) {
      const material = handle.exportKeyingMaterial(srtpKeyingMaterialLength(n.srtpProfile), SRTP_EXPORTER_LABEL);
      info.srtpKeys = splitSrtpKeyingMaterial(n.srtpProfile, material, this.#role);
      material.fill(0);
    }
    if (this.#requireSrtp && info.srtpKeys === undefined) {
      const offered = this.#role === 'client' ? 'the server chose no SRTP profile we offered' : 'the client offered no SRTP profile we accept';
      this.#failAfterHandshake(new DtlsError(`DTLS-SRTP was required but not negotiated: ${offered}`, { code: 'ERR_DTLS_SRTP_NOT_NEGOTIATED' }));
      return false;
    }
    const expected = this.#expected;
    if (expected !== undefined) {
      // OpenSSL checked the fingerprints it had when the certificate arrived;
      // setRemoteFingerprints() may have replaced them since.
      const der = this.#peerDer?.der();
      if (der === undefined || !matchesAny(der, expected)) {
        this.#failAfterHandshake(lateMismatch());
        return false;
      }
    } else if (this.#awaitFingerprints) {
      this.#pending = info;
      return false;
    }
    this.#publish(info);
    return true;
  }

  #publish(info: HandshakeInfo): void {
    this.#info = info;
    this.#state = 'connected';
    this.#clearTimers();
  }

  /** Settles handshake() first (a listener may close the session, and the handshake did complete), then 'secureConnect'. */
  #announce(): void {
    for (const w of this.#waiters.splice(0)) w.resolve(this.#info!);
    this.emit('secureConnect', this.#info!);
  }

  /** The peer believes the handshake succeeded: tell it the association is over, then fail. */
  #failAfterHandshake(err: DtlsError): void {
    if (this.#handle === null) return;
    this.#step(null, null, OP_SHUTDOWN);
    this.#fail(err);
  }

  #alert(a: NativeAlert, handle: NativeSession): DtlsAlert {
    const description = alertDescription(a.code);
    const opensslErrors = a.errors;
    const alert: DtlsAlert = {
      direction: a.sent ? 'sent' : 'received',
      level: a.level === 2 ? 'fatal' : 'warning',
      code: a.code,
      description,
      opensslErrors,
      role: this.#role,
      negotiated: { protocol: a.version, clientCertificateRequested: a.clientAuth || (this.#role === 'server' && this.#requestsCert) },
      explanation: undefined as never,
    };
    if (a.cipher !== undefined) alert.negotiated.cipher = a.cipher;
    if (a.ems >= 0) alert.negotiated.extendedMasterSecret = a.ems === 1;
    if (a.etm >= 0) alert.negotiated.encryptThenMac = a.etm === 1;
    // Our verify result explains alerts we send; a received alert is about our certificate, not theirs.
    if (a.sent && (a.verifyResult !== 0 || isCertificateAlert(a.code))) alert.verifyResult = { code: a.verifyResult, message: a.verifyMessage };
    const sent = messageName(a.lastSent);
    const received = messageName(a.lastReceived);
    if (sent !== undefined) alert.lastMessageSent = sent;
    if (received !== undefined) alert.lastMessageReceived = received;
    alert.explanation = explainWith(opensslErrors, {
      direction: alert.direction,
      description,
      verifyResult: alert.verifyResult,
      lastMessageSent: alert.lastMessageSent,
      lastMessageReceived: alert.lastMessageReceived,
      role: this.#role,
      negotiated: alert.negotiated,
      // The peer judged what we sent last: explain its alert from that flight.
      ...(a.sent ? {} : { lastFlight: lastFlightBefore(handle.timeline(), a.code) }),
    });
    return alert;
  }

  #failure(f: NativeFailure, flags: number, alerts: DtlsAlert[], handle: NativeSession): DtlsError {
    const opensslErrors = f.errors;
    const fatal = alerts.find((a) => a.level === 'fatal');
    const verifyResult = f.verifyResult !== 0 ? { code: f.verifyResult, message: f.verifyMessage } : undefined;
    let code: string;
    let message: string;
    const last = opensslErrors[opensslErrors.length - 1];
    const where = last !== undefined ? ` (${last.reason} in ${last.function})` : '';
    if ((flags & FLAG_FINGERPRINT) !== 0) {
      code = 'ERR_DTLS_FINGERPRINT_MISMATCH';
      message = 'the peer certificate does not match any of the remote fingerprints';
    } else if ((flags & FLAG_TIMED_OUT) !== 0) {
      code = 'ERR_DTLS_HANDSHAKE_TIMEOUT';
      message = `the DTLS handshake timed out: the peer did not answer our retransmissions${where}`;
    } else if (fatal !== undefined && fatal.direction === 'sent') {
      code = 'ERR_DTLS_ALERT_SENT';
      message = `DTLS handshake failed: we sent fatal alert ${fatal.description}${where}`;
    } else if (fatal !== undefined) {
      code = 'ERR_DTLS_ALERT_RECEIVED';
      message = `DTLS handshake failed: the peer sent fatal alert ${fatal.description}` + (fatal.lastMessageSent !== undefined ? ` after our ${fatal.lastMessageSent}` : '');
    } else if (opensslErrors.length === 0 && f.sslError === SSL_ERROR_SYSCALL && this.#state === 'connecting') {
      // OpenSSL 3.0 gives up on a handshake without queuing anything when dtls1_reassemble_fragment
      // rejects a fragment (declared length above the maximum, or fragments that disagree on the length).
      code = 'ERR_DTLS_INTERNAL';
      message =
        'OpenSSL abandoned the DTLS handshake without an error on its queue (SSL_ERROR_SYSCALL): in DTLS 1.2 this is a handshake ' +
        'fragment it refused to reassemble (a declared message length beyond the maximum, or fragments disagreeing on the length)';
    } else {
      const err = new DtlsError(`DTLS failed${where}`, { opensslErrors });
      code = err.code;
      message = err.message;
    }
    // After the handshake, an alert ends the session, not a handshake.
    if (this.#state === 'connected' && code !== 'ERR_DTLS_HANDSHAKE_TIMEOUT') message = message.replace('DTLS handshake failed', 'the DTLS session failed').replace('handshake ', '');
    const explanation =
      fatal?.explanation ??
      explainWith(opensslErrors, {
        verifyResult,
        role: this.#role,
        timedOut: (flags & FLAG_TIMED_OUT) !== 0,
        undecryptedRecords: f.undecryptedRecords,
        datagramsIn: handle.stats().datagramsIn,
        sslError: f.sslError,
      });
    const pskError = this.#pskProblem.error;
    if (pskError !== undefined) message += ` (pskCallback: ${(pskError as Error)?.message ?? String(pskError)})`;
    const err = new DtlsError(message, {
      code, opensslErrors, explanation, ...(fatal !== undefined ? { alert: fatal } : {}), ...(pskError !== undefined ? { cause: pskError } : {}),
    });
    if (verifyResult !== undefined) err.verifyResult = verifyResult;
    return err;
  }

  #armTimer(timeout: number): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (timeout < 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#state === 'connecting') this.#step(null, null, OP_TIMER);
    }, timeout);
  }

  #clearTimers(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#timer = null;
    this.#handshakeTimer = null;
  }

  #fail(err: DtlsError): void {
    if (this.#handle === null) return;
    this.#finish('failed', err);
  }

  #finish(state: 'closed' | 'failed', err: DtlsError | undefined): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#clearTimers();
    if (this.#signal !== undefined && this.#onAbort !== undefined) this.#signal.removeEventListener('abort', this.#onAbort);
    // The SSL goes now; what getters need afterwards stays: the negotiated
    // session (a reference, encoded if getSession() asks), and the handle
    // itself for its counters and flight recorder.
    if (this.#state === 'connected') handle.keepSession();
    this.#handle = null;
    this.#retired = handle;
    this.#queued = [];
    this.#queuedOps = 0;
    this.#pending = undefined;
    this.#held = [];
    if (this.#stepping) this.#destroyAfterStep = handle;
    else handle.destroy();
    if (DEBUG_ENABLED) this.#debugFlush(handle);
    this.#state = state;
    this.#error = err;
    const waiters = this.#waiters.splice(0);
    if (waiters.length > 0) {
      // Built only when someone waits: an Error captures a stack trace.
      const rejection = err ?? new DtlsError('the DTLS session was closed before the handshake completed', { code: 'ERR_DTLS_CLOSED' });
      for (const w of waiters) w.reject(rejection);
    }
    if (err !== undefined && (this.listenerCount('error') > 0 || waiters.length === 0)) this.emit('error', err);
    this.emit('close');
  }
}

/** One message's bytes (a string as UTF-8), 1..16384 of them. */
function messageBytes(data: unknown, name: string): Uint8Array {
  if (typeof data !== 'string' && !isBytes(data)) throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', data);
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (buf.byteLength < 1 || buf.byteLength > MAX_PLAINTEXT) throw outOfRange(`${name}.length`, `>= 1 && <= ${MAX_PLAINTEXT}`, buf.byteLength);
  return buf;
}

function parseFingerprints(fps: unknown, name: string) {
  if (!Array.isArray(fps)) throw invalidArgType(name, 'an instance of Array', fps);
  return fps.map((f, i) => parseFingerprint(f, `${name}[${i}]`));
}

function lateMismatch(): DtlsError {
  return new DtlsError('the peer certificate does not match the remote fingerprints (checked after the handshake)', { code: 'ERR_DTLS_FINGERPRINT_MISMATCH' });
}

function matchesAny(der: Buffer, fps: Array<{ algorithm: string; digest: Buffer }>): boolean {
  return fps.some((f) => createHash(f.algorithm.toLowerCase()).update(der).digest().equals(f.digest));
}

// Parsing a certificate into an X509Certificate decodes its public key
// through OpenSSL 3.0's provider decoders: a fifth of a whole handshake's CPU,
// for a field most applications never read (fingerprints are checked on the
// DER). So the object is built on first access; the property is there,
// enumerable, exactly when the peer sent a certificate, and always the same
// object. (The RSS growth once blamed on this in the soak test was V8's young
// generation growing its semi-spaces, which happens at a load-dependent moment
// either way: see test/reliability.soak.test.ts.)
/**
 * The peer certificate's DER, encoded by native code the first time someone
 * needs it (X509Certificate, fingerprints set late): most handshakes never
 * look, and the encoding costs more than everything else info() reports.
 * Holds the native handle only until then.
 */
class PeerDer {
  #handle: NativeSession | null;
  #der: Buffer | undefined;

  constructor(handle: NativeSession) {
    this.#handle = handle;
  }

  der(): Buffer | undefined {
    if (this.#handle !== null) {
      this.#der = this.#handle.peerCertificateDer();
      this.#handle = null;
    }
    return this.#der;
  }
}

function definePeerCertificate(info: HandshakeInfo, source: PeerDer): void {
  let cert: X509Certificate | undefined;
  Object.defineProperty(info, 'peerCertificate', {
    configurable: true,
    enumerable: true,
    get: () => {
      if (cert === undefined) {
        const der = source.der();
        if (der !== undefined) cert = new X509Certificate(der);
      }
      return cert;
    },
  });
}

// Typed events for DtlsSession.
export interface DtlsSession {
  /** Adds a listener for one of the {@link DtlsSessionEvents}. */
  on<K extends keyof DtlsSessionEvents>(event: K, listener: (...args: DtlsSessionEvents[K]) => void): this;
  /** Adds a one-time listener for one of the {@link DtlsSessionEvents}. */
  once<K extends keyof DtlsSessionEvents>(event: K, listener: (...args: DtlsSessionEvents[K]) => void): this;
  /** Removes a listener. */
  off<K extends keyof DtlsSessionEvents>(event: K, listener: (...args: DtlsSessionEvents[K]) => void): this;
  /** Emits an event (the session emits its own; this is EventEmitter's method, typed). */
  emit<K extends keyof DtlsSessionEvents>(event: K, ...args: DtlsSessionEvents[K]): boolean;
  /** EventEmitter's own 'newListener' and 'removeListener' events. */
  on(event: 'newListener' | 'removeListener', listener: (event: string | symbol) => void): this;
}
