// explain.ts imports from this module too; explainWith is only called at run time, after both have loaded.
import { explainWith, type Explanation } from './explain';

/** One entry of OpenSSL's error queue, oldest first. */
export interface OpenSSLErrorEntry {
  /** the packed OpenSSL error code (e.g. 0x0A0000C1) */
  code: number;
  /** e.g. "SSL routines" */
  library: string;
  /** e.g. "no shared cipher" */
  reason: string;
  /** the reason number (ERR_GET_REASON of `code`), e.g. 193 for "no shared cipher" */
  reasonCode: number;
  /** the C function that raised it, e.g. "tls_post_process_client_hello" */
  function: string;
  /** source file as compiled into this OpenSSL (match by suffix: prefixes differ between builds) */
  file: string;
  /** line in `file` */
  line: number;
  /** text OpenSSL attached to the entry (ERR_add_error_data), e.g. a system call, a name or a value */
  data?: string;
}

/**
 * {@link DtlsError.code}: this library's `ERR_DTLS_*` codes (README "Error codes"), or, for an OpenSSL
 * failure outside a handshake, Node's spelling of the deciding entry (`ERR_SSL_*`, `ERR_OSSL_*`, e.g.
 * `ERR_SSL_NO_CIPHER_MATCH`, `ERR_OSSL_PEM_NO_START_LINE`).
 */
export type DtlsErrorCode =
  | 'ERR_DTLS_ALERT_SENT'
  | 'ERR_DTLS_ALERT_RECEIVED'
  | 'ERR_DTLS_HANDSHAKE_TIMEOUT'
  | 'ERR_DTLS_FINGERPRINT_MISMATCH'
  | 'ERR_DTLS_INVALID_STATE'
  | 'ERR_DTLS_CLOSED'
  | 'ERR_DTLS_ABORTED'
  | 'ERR_DTLS_INTERNAL'
  | 'ERR_DTLS_SEND_FAILED'
  | 'ERR_DTLS_SOCKET'
  | 'ERR_DTLS_LOOKUP'
  | 'ERR_DTLS_SRTP_NOT_NEGOTIATED'
  | (string & {});

/**
 * A DTLS alert that went by, sent or received, with OpenSSL's account of it: emitted as `'alert'` for every
 * alert and attached to the {@link DtlsError} a fatal one causes.
 */
export interface DtlsAlert {
  /** `'sent'`: our OpenSSL found the problem; `'received'`: the peer found a problem with our last flight */
  direction: 'sent' | 'received';
  /** a fatal alert ends the session */
  level: 'warning' | 'fatal';
  /** the alert number (RFC 5246 §7.2), e.g. 40 for handshake_failure */
  code: number;
  /** RFC name with underscores: 'decrypt_error', 'handshake_failure', 'close_notify' */
  description: string;
  /** OpenSSL's error queue for this alert, oldest first (for a received alert: what OpenSSL queued on receipt) */
  opensslErrors: OpenSSLErrorEntry[];
  /** the certificate verification result, for certificate alerts */
  verifyResult?: {
    /** X509_V_* number, e.g. 18 (self-signed certificate), 50 (application verification: a fingerprint mismatch) */
    code: number;
    /** OpenSSL's text for it */
    message: string;
  };
  /** the last handshake message we sent before the alert, e.g. 'ClientHello' */
  lastMessageSent?: string;
  /** the last handshake message we received before the alert */
  lastMessageReceived?: string;
  /** our role in the session */
  role: 'client' | 'server';
  /** how far negotiation had got when the alert went by */
  negotiated: {
    /** e.g. 'DTLSv1.2' */
    protocol: string;
    /** the suite in use or chosen (OpenSSL name), once ServerHello has gone by */
    cipher?: string;
    /** RFC 7627 extended master secret, as the ServerHello said (once it has gone by) */
    extendedMasterSecret?: boolean;
    /** RFC 7366 encrypt-then-MAC (CBC suites only): with it, OpenSSL's DTLS treats a bad MAC as fatal */
    encryptThenMac?: boolean;
    /** whether the server asked for a client certificate (a CertificateRequest went by) */
    clientCertificateRequested: boolean;
  };
  /** what the OpenSSL path that raised it means and what to check (see {@link explain}) */
  explanation: Explanation;
}

// ERR_LIB_* numbers (openssl/err.h) to the names Node uses in ERR_OSSL_* codes.
const LIBRARY_NAMES: Record<number, string> = {
  2: 'SYS', 3: 'BN', 4: 'RSA', 5: 'DH', 6: 'EVP', 7: 'BUF', 8: 'OBJ', 9: 'PEM', 10: 'DSA', 11: 'X509',
  13: 'ASN1', 14: 'CONF', 15: 'CRYPTO', 16: 'EC', 20: 'SSL', 32: 'BIO', 33: 'PKCS7', 34: 'X509V3',
  35: 'PKCS12', 36: 'RAND', 37: 'DSO', 38: 'ENGINE', 39: 'OCSP', 40: 'UI', 41: 'COMP', 42: 'ECDSA',
  43: 'ECDH', 44: 'OSSL_STORE', 45: 'FIPS', 46: 'CMS', 47: 'TS', 48: 'HMAC', 50: 'CT', 51: 'ASYNC',
  52: 'KDF', 53: 'SM2', 54: 'ESS', 55: 'PROP', 56: 'CRMF', 57: 'PROV', 58: 'CMP', 59: 'OSSL_ENCODER',
  60: 'OSSL_DECODER', 61: 'HTTP', 128: 'USER',
};

/** Node's spelling of an OpenSSL error as a code: ERR_SSL_NO_SHARED_CIPHER, ERR_OSSL_PEM_NO_START_LINE. */
export function nodeStyleCode(entry: OpenSSLErrorEntry): string {
  const reason = entry.reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  const lib = libraryNumber(entry);
  if (lib === 20) return `ERR_SSL_${reason}`;
  const name = LIBRARY_NAMES[lib];
  return name !== undefined ? `ERR_OSSL_${name}_${reason}` : `ERR_OSSL_${reason}`;
}

function libraryNumber(entry: OpenSSLErrorEntry): number {
  // ERR_GET_LIB: bit 31 marks a system (errno) error; otherwise bits 23..30.
  if (entry.code >= 0x80000000) return 2;
  return (entry.code >>> 23) & 0xff;
}

/** The source path from OpenSSL's own tree ("ssl/statem/statem_srvr.c"), whatever the build prefix. */
export function shortSourcePath(file: string): string {
  let best = -1;
  for (const dir of ['/ssl/', '/crypto/', '/providers/']) best = Math.max(best, file.lastIndexOf(dir));
  if (best >= 0) return file.slice(best + 1);
  return file.replace(/^(\.\.\/)+/, '');
}

/** The entry that names the path: the last "SSL routines" entry, else the last one. */
export function classifyingEntry(entries: readonly OpenSSLErrorEntry[]): OpenSSLErrorEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (libraryNumber(e) === 20) return e;
  }
  return entries[entries.length - 1];
}

/** What a {@link DtlsError} is made from. */
export interface DtlsErrorOptions {
  /** default: Node's spelling of the deciding OpenSSL entry, else 'ERR_DTLS_INTERNAL' */
  code?: DtlsErrorCode;
  /** the drained error queue, oldest first; `library` and `reason` come from its deciding entry */
  opensslErrors?: OpenSSLErrorEntry[];
  /** the alert that caused the failure */
  alert?: DtlsAlert;
  /** default: the alert's explanation */
  explanation?: Explanation;
  /** the underlying error, as `Error.cause` */
  cause?: unknown;
}

/**
 * Every failure of a session, a context or a socket: a stable `code` plus OpenSSL's drained error queue.
 * Errors thrown from native code are instances too. Match on `code`, `library` and `reason`, not on
 * messages (they vary across OpenSSL releases).
 */
export class DtlsError extends Error {
  /** e.g. 'ERR_DTLS_ALERT_RECEIVED', 'ERR_SSL_NO_CIPHER_MATCH' (see {@link DtlsErrorCode}) */
  code: DtlsErrorCode;
  /** OpenSSL's error queue, oldest first; empty when OpenSSL queued nothing */
  opensslErrors: OpenSSLErrorEntry[];
  /** the alert sent or received, when one was involved */
  alert?: DtlsAlert;
  /** the library of the deciding entry (the last "SSL routines" entry, else the last one), e.g. 'SSL routines' */
  library?: string;
  /** the reason of the deciding entry, e.g. 'no shared cipher' */
  reason?: string;
  /** what the deciding entry means and what to check (every DtlsError has one) */
  explanation: Explanation;
  /** the certificate verification result, when a certificate check failed */
  verifyResult?: {
    /** X509_V_* number */
    code: number;
    /** OpenSSL's text for it */
    message: string;
  };

  /**
   * @param message - the error message
   * @param options - code, error queue, alert, explanation, cause
   */
  constructor(message: string, options: DtlsErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'DtlsError';
    this.opensslErrors = options.opensslErrors ?? [];
    const last = classifyingEntry(this.opensslErrors);
    if (last !== undefined) {
      this.library = last.library;
      this.reason = last.reason;
    }
    this.code = options.code ?? (last !== undefined ? nodeStyleCode(last) : 'ERR_DTLS_INTERNAL');
    if (options.alert !== undefined) this.alert = options.alert;
    this.explanation = options.explanation ?? options.alert?.explanation ?? explainWith(this.opensslErrors, { code: this.code });
  }
}

/** Node-style argument errors, as node:internal/errors spells them. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${(value as { name?: string }).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
    return ctor ? `an instance of ${ctor}` : 'an object';
  }
  let shown = String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  if (typeof value === 'string') shown = `'${shown}'`;
  return `type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${expected}. Received ${describeValue(actual)}`);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  const err = new TypeError(`The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${describeValue(value)}`);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`);
  (err as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return err;
}

export function invalidState(message: string): DtlsError {
  return new DtlsError(message, { code: 'ERR_DTLS_INVALID_STATE' });
}
