import * as tls from 'node:tls';

import { binding, type NativeContext, type NativeContextOptions } from './binding';
import { KeyHealthMonitor, validateKeyHealth, type KeyHealthOptions, type KeyHealthReport } from './keyhealth';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import { encodeSrtpProfiles, type SrtpProfile } from './srtp';
import { validateBoolean, validateFunction, validateObject, validateOneOf, validateString, validateStringOrBytes } from './validate';

/** A DTLS protocol version. OpenSSL 3 has no DTLS 1.3. */
export type DtlsVersion = 'DTLSv1' | 'DTLSv1.2';

/**
 * How a {@link SecureContext} is configured: identity, trust, suites and versions, ALPN, PSK. Sessions,
 * servers and `connect()` take the same options (or a ready `context`).
 */
export interface ContextOptions {
  /** PEM certificate, optionally followed by its chain (leaf first) */
  cert?: string | Buffer;
  /** PEM private key matching cert (checked when the context is created) */
  key?: string | Buffer;
  /** decrypts an encrypted `key` (OpenSSL never prompts) */
  passphrase?: string;
  /** trusted CA certificates (PEM); default: Node's bundled roots (tls.rootCertificates) */
  ca?: string | Buffer | Array<string | Buffer>;
  /** OpenSSL cipher string. RSA key exchange, CBC and unauthenticated suites are kept only when named one by one. */
  ciphers?: string;
  /** e.g. 'X25519:P-256' */
  groups?: string;
  /** e.g. 'ECDSA+SHA256:RSA-PSS+SHA256' */
  sigalgs?: string;
  /** default 'DTLSv1.2' */
  minVersion?: DtlsVersion;
  /** default: the highest this OpenSSL offers (DTLS 1.2) */
  maxVersion?: DtlsVersion;
  /** servers: ask the client for a certificate (default false) */
  requestCert?: boolean;
  /** verify the peer certificate chain (default true); see remoteFingerprints for WebRTC-style checks */
  rejectUnauthorized?: boolean;
  /** ALPN protocol names in preference order */
  alpnProtocols?: Array<string | Buffer>;
  /** RFC 7627 extended master secret (default true; false removes the extension) */
  extendedMasterSecret?: boolean;
  /** append NSS key-log lines of every session on this context to this file (Wireshark decrypts captures with it) */
  keylogFile?: string;
  /**
   * key self-test: after `failures` handshakes in `windowMs` fail in a way that implicates our private key,
   * sign and verify a nonce with it and emit 'keyhealth' (default { failures: 3, windowMs: 60000 }; false: off)
   */
  keyHealth?: KeyHealthOptions | false;
  /** DTLS-SRTP (RFC 5764) profiles, OpenSSL names, in preference order; sessions then require one (see requireSrtp) */
  srtpProfiles?: readonly SrtpProfile[];
  /** client: pre-shared key (RFC 4279); PSK suites are then offered first */
  psk?: PskOptions;
  /** server: the key for a client's PSK identity, or null to refuse it (unknown_psk_identity); synchronous */
  pskCallback?: (identity: string) => Buffer | Uint8Array | null | undefined;
  /** server: the identity hint sent in ServerKeyExchange */
  pskIdentityHint?: string;
}

/** A client's pre-shared key (RFC 4279): the identity it presents and the key. */
export interface PskOptions {
  /** sent in the clear; 1..256 bytes as UTF-8 */
  identity: string;
  /** the shared secret, 1..512 bytes */
  key: Buffer | Uint8Array;
}

/** @internal PSK settings as sessions take them (from their own options, else from the context). */
export interface PskConfig {
  psk?: { identity: string; key: Buffer };
  pskCallback?: (identity: string) => Buffer | Uint8Array | null | undefined;
  pskIdentityHint?: string;
}

/** @internal validates the PSK options of a context or session */
export function pskConfig(options: ContextOptions): PskConfig {
  const out: PskConfig = {};
  if (options.psk !== undefined) {
    validateObject(options.psk, 'options.psk');
    validateString(options.psk.identity, 'options.psk.identity');
    const idLen = Buffer.byteLength(options.psk.identity, 'utf8');
    if (idLen < 1 || idLen > 256) throw outOfRange('options.psk.identity.length', '>= 1 && <= 256 bytes', idLen);
    if (options.psk.identity.includes('\0')) throw invalidArgValue('options.psk.identity', options.psk.identity, 'must not contain NUL');
    if (!(options.psk.key instanceof Uint8Array)) throw invalidArgType('options.psk.key', 'an instance of Buffer or Uint8Array', options.psk.key);
    const k = options.psk.key;
    if (k.byteLength < 1 || k.byteLength > 512) throw outOfRange('options.psk.key.length', '>= 1 && <= 512', k.byteLength);
    out.psk = { identity: options.psk.identity, key: Buffer.from(k) };
  }
  if (options.pskCallback !== undefined) {
    validateFunction(options.pskCallback, 'options.pskCallback');
    out.pskCallback = options.pskCallback;
  }
  if (options.pskIdentityHint !== undefined) {
    validateString(options.pskIdentityHint, 'options.pskIdentityHint');
    if (Buffer.byteLength(options.pskIdentityHint, 'utf8') > 256) throw outOfRange('options.pskIdentityHint.length', '<= 256 bytes', options.pskIdentityHint.length);
    out.pskIdentityHint = options.pskIdentityHint;
  }
  return out;
}

const VERSIONS: Record<DtlsVersion, number> = { DTLSv1: 0xfeff, 'DTLSv1.2': 0xfefd };
const kNative = Symbol('openssl-dtls.native');
const kKeyHealth = Symbol('openssl-dtls.keyHealth');

/** @internal the context's key self-test, when it has one */
export function keyHealthOf(ctx: SecureContext): KeyHealthMonitor | undefined {
  return ctx[kKeyHealth];
}
const kPsk = Symbol('openssl-dtls.psk');

/** A configured OpenSSL SSL_CTX, shared by any number of sessions. */
export class SecureContext {
  readonly #native: NativeContext;
  /** @internal */
  readonly [kNative]: NativeContext;
  /** the verification policy sessions on this context inherit unless they set their own */
  readonly rejectUnauthorized: boolean;
  /** whether servers on this context ask clients for a certificate */
  readonly requestCert: boolean;
  /** where sessions on this context append their NSS key-log lines, if anywhere */
  readonly keylogFile: string | undefined;
  /** @internal the key self-test of this context (undefined: off, or no key) */
  [kKeyHealth]: KeyHealthMonitor | undefined;
  /** @internal */
  readonly [kPsk]: PskConfig;
  /** the DTLS-SRTP profiles offered or accepted, in preference order (empty: no use_srtp) */
  readonly srtpProfiles: readonly SrtpProfile[];

  /** @internal use createSecureContext() */
  constructor(native: NativeContext, policy: { rejectUnauthorized: boolean; requestCert: boolean; keylogFile?: string; srtpProfiles?: readonly SrtpProfile[] }, psk: PskConfig = {}) {
    this.#native = native;
    this[kNative] = native;
    this[kPsk] = psk;
    this.rejectUnauthorized = policy.rejectUnauthorized;
    this.requestCert = policy.requestCert;
    this.keylogFile = policy.keylogFile;
    this.srtpProfiles = Object.freeze([...(policy.srtpProfiles ?? [])]);
  }

  /**
   * Runs the key self-test now: signs a nonce with the private key this context holds in memory and verifies
   * it with its certificate. `ok: false` means every handshake that needs the key will fail.
   */
  checkKey(): KeyHealthReport {
    return new KeyHealthMonitor(this.#native).check();
  }

  /** How many sessions use this context and have not been closed or destroyed. */
  get sessionCount(): number {
    return this.#native.liveSessions();
  }

  /** The DTLS cipher suites this context offers or accepts, in order (OpenSSL names). */
  getCiphers(): string[] {
    return this.#native.ciphers().filter((name) => !name.startsWith('TLS_'));
  }
}

export function nativeContextOf(ctx: SecureContext): NativeContext {
  return ctx[kNative];
}

/** @internal the PSK settings a context was created with */
export function pskOf(ctx: SecureContext): PskConfig {
  return ctx[kPsk];
}

function encodeAlpn(list: unknown): Buffer {
  if (!Array.isArray(list)) throw invalidArgType('options.alpnProtocols', 'an instance of Array', list);
  const parts: Buffer[] = [];
  list.forEach((p, i) => {
    const name = `options.alpnProtocols[${i}]`;
    validateStringOrBytes(p, name);
    const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p);
    if (b.length < 1 || b.length > 255) throw outOfRange(`${name}.length`, '>= 1 && <= 255', b.length);
    parts.push(Buffer.from([b.length]), b);
  });
  if (parts.length === 0) throw invalidArgValue('options.alpnProtocols', list, 'must not be empty');
  return Buffer.concat(parts);
}

/** Validates ContextOptions and translates them for the native layer. */
export function nativeContextOptions(options: ContextOptions): NativeContextOptions {
  validateObject(options, 'options');
  const o: NativeContextOptions = {};
  if (options.cert !== undefined) {
    validateStringOrBytes(options.cert, 'options.cert');
    o.cert = options.cert;
  }
  if (options.key !== undefined) {
    validateStringOrBytes(options.key, 'options.key');
    o.key = options.key;
  }
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw invalidArgValue(o.cert === undefined ? 'options.cert' : 'options.key', undefined, 'is required when ' + (o.cert === undefined ? 'key' : 'cert') + ' is given');
  }
  if (options.passphrase !== undefined) {
    validateString(options.passphrase, 'options.passphrase');
    o.passphrase = options.passphrase;
  }
  if (options.ca !== undefined) {
    const list = Array.isArray(options.ca) ? options.ca : [options.ca];
    list.forEach((c, i) => validateStringOrBytes(c, Array.isArray(options.ca) ? `options.ca[${i}]` : 'options.ca'));
    o.ca = list;
  } else if (options.rejectUnauthorized !== false) {
    o.defaultRoots = tls.rootCertificates;
  }
  for (const k of ['ciphers', 'groups', 'sigalgs'] as const) {
    const v = options[k];
    if (v !== undefined) {
      validateString(v, `options.${k}`);
      o[k] = v;
    }
  }
  const versions = Object.keys(VERSIONS) as DtlsVersion[];
  if (options.minVersion !== undefined) {
    validateOneOf(options.minVersion, 'options.minVersion', versions);
    o.minVersion = VERSIONS[options.minVersion];
  } else {
    o.minVersion = VERSIONS['DTLSv1.2'];
  }
  if (options.maxVersion !== undefined) {
    validateOneOf(options.maxVersion, 'options.maxVersion', versions);
    o.maxVersion = VERSIONS[options.maxVersion];
    // DTLS version numbers count down: 1.2 (0xfefd) < 1.0 (0xfeff).
    if (o.maxVersion > o.minVersion) {
      throw invalidArgValue('options.maxVersion', options.maxVersion, 'must not be below minVersion');
    }
  }
  if (options.requestCert !== undefined) validateBoolean(options.requestCert, 'options.requestCert');
  if (options.rejectUnauthorized !== undefined) validateBoolean(options.rejectUnauthorized, 'options.rejectUnauthorized');
  if (options.extendedMasterSecret !== undefined) {
    validateBoolean(options.extendedMasterSecret, 'options.extendedMasterSecret');
    o.extendedMasterSecret = options.extendedMasterSecret;
  }
  if (options.alpnProtocols !== undefined) o.alpn = encodeAlpn(options.alpnProtocols);
  if (options.psk !== undefined || options.pskCallback !== undefined) o.psk = true;
  if (options.srtpProfiles !== undefined) o.srtpProfiles = encodeSrtpProfiles(options.srtpProfiles, 'options.srtpProfiles');
  return o;
}

/**
 * Creates a context (an OpenSSL SSL_CTX) that many sessions can share.
 *
 * @throws DtlsError when OpenSSL refuses the configuration (e.g. a key that does not match the certificate:
 *   `ERR_OSSL_X509_KEY_VALUES_MISMATCH`), with OpenSSL's error queue
 * @throws TypeError / RangeError for options of the wrong type or range, before OpenSSL sees them
 */
export function createSecureContext(options: ContextOptions = {}): SecureContext {
  const nativeOptions = nativeContextOptions(options);
  if (options.keylogFile !== undefined) validateString(options.keylogFile, 'options.keylogFile');
  const keyHealth = validateKeyHealth(options.keyHealth);
  const psk = pskConfig(options);
  const native = new binding.ContextHandle(nativeOptions);
  const ctx = new SecureContext(native, {
    rejectUnauthorized: options.rejectUnauthorized !== false,
    requestCert: options.requestCert === true,
    ...(options.keylogFile !== undefined ? { keylogFile: options.keylogFile } : {}),
    ...(options.srtpProfiles !== undefined ? { srtpProfiles: options.srtpProfiles } : {}),
  }, psk);
  ctx[kKeyHealth] = keyHealth !== false && nativeOptions.key !== undefined ? new KeyHealthMonitor(native, keyHealth) : undefined;
  return ctx;
}

