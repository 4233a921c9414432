// Key self-test (openssl-alert-paths.md §6 H1, §9.7): a context whose
// handshakes keep failing in a way that implicates its own private key —
// the peer rejects our ServerKeyExchange or CertificateVerify signature, or
// (RSA key exchange) the keys we derive from the premaster never match —
// signs a nonce with the key the SSL_CTX holds in memory and verifies it with
// the certificate. A failure proves corrupted key state: the kind of fault
// that makes every new handshake fail until the process restarts.
import { randomBytes } from 'node:crypto';

import type { NativeContext } from './binding';
import { invalidArgType, outOfRange, type DtlsAlert, type OpenSSLErrorEntry } from './errors';
import { validateInteger, validateObject } from './validate';

/** When the key self-test runs (ContextOptions.keyHealth). */
export interface KeyHealthOptions {
  /** failures that implicate our key within `windowMs` before the self-test runs (default 3) */
  failures?: number;
  /** the window in ms (default 60000); the self-test runs at most once per window */
  windowMs?: number;
}

/** The result of a key self-test: the 'keyhealth' event and SecureContext.checkKey(). */
export interface KeyHealthReport {
  /** the signature made with the in-memory private key verified with the certificate's public key */
  ok: boolean;
  /** what was found, in words */
  detail: string;
  /** OpenSSL's name of the key type, e.g. 'RSA', 'EC', 'ED25519' */
  keyType: string;
  /** failures that implicated the key within the window, this one included */
  failures: number;
  /** the window the failures were counted in (ms) */
  windowMs: number;
  /** what the last of them was, e.g. 'the peer rejected our ServerKeyExchange signature (decrypt_error)' */
  trigger: string;
  /** what OpenSSL queued during the self-test (lower-level detail of a failed signature or verification) */
  opensslErrors: OpenSSLErrorEntry[];
}

const DEFAULT_FAILURES = 3;
const DEFAULT_WINDOW_MS = 60_000;

/** Counts key-implicating failures of one context and runs the self-test when they pile up. */
export class KeyHealthMonitor {
  readonly #native: NativeContext;
  readonly #failures: number;
  readonly #windowMs: number;
  #times: number[] = [];
  #lastCheck = -Infinity;

  constructor(native: NativeContext, options: KeyHealthOptions = {}) {
    this.#native = native;
    this.#failures = options.failures ?? DEFAULT_FAILURES;
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  }

  /** Runs the self-test now. */
  check(trigger = 'requested', failures = 0): KeyHealthReport {
    const r = this.#native.checkKey(randomBytes(32));
    return { ok: r.ok, detail: r.detail, keyType: r.keyType ?? '', failures, windowMs: this.#windowMs, trigger, opensslErrors: r.errors };
  }

  /** Notes one failure; returns the self-test's report when this one reaches the threshold. */
  note(trigger: string, now = Date.now()): KeyHealthReport | undefined {
    this.#times = this.#times.filter((t) => now - t < this.#windowMs);
    this.#times.push(now);
    if (this.#times.length < this.#failures || now - this.#lastCheck < this.#windowMs) return undefined;
    this.#lastCheck = now;
    return this.check(trigger, this.#times.length);
  }
}

/** Validates the keyHealth context option: an object, or false to switch the self-test off. */
export function validateKeyHealth(value: unknown): KeyHealthOptions | false {
  if (value === false) return false;
  if (value === undefined) return {};
  if (value === true) return {};
  validateObject(value, 'options.keyHealth');
  const o = value as KeyHealthOptions;
  if (o.failures !== undefined) validateInteger(o.failures, 'options.keyHealth.failures', 1, 1_000_000);
  if (o.windowMs !== undefined) {
    if (typeof o.windowMs !== 'number') throw invalidArgType('options.keyHealth.windowMs', 'of type number', o.windowMs);
    if (!(o.windowMs >= 1 && o.windowMs <= 2 ** 31 - 1)) throw outOfRange('options.keyHealth.windowMs', '>= 1 && <= 2147483647', o.windowMs);
  }
  return { ...(o.failures !== undefined ? { failures: o.failures } : {}), ...(o.windowMs !== undefined ? { windowMs: o.windowMs } : {}) };
}

/** RSA key transport: no ECDHE/DHE and no PSK in the OpenSSL suite name (e.g. AES128-GCM-SHA256). */
function isRsaKeyExchange(cipher: string | undefined): boolean {
  return cipher !== undefined && !/(^|-)(ECDHE|DHE|EDH|PSK|ECDH|ADH|AECDH|SRP)(-|$)/.test(cipher) && !cipher.startsWith('TLS_');
}

/** Whether a fatal alert points at our own private key, and how to say so; undefined when it does not. */
export function implicatesOurKey(alert: DtlsAlert): string | undefined {
  if (alert.level !== 'fatal') return undefined;
  const inferred = alert.explanation.inferredPath;
  if (alert.direction === 'received' && alert.description === 'decrypt_error') {
    if (inferred === 'tls_process_key_exchange') return 'the peer rejected our ServerKeyExchange signature (decrypt_error)';
    if (inferred === 'tls_process_cert_verify') return 'the peer rejected our CertificateVerify signature (decrypt_error)';
  }
  // RSA key exchange: a server whose private key decrypts the premaster wrongly derives other keys than
  // the client, and with encrypt-then-MAC it is the server that notices (it cannot check the Finished).
  if (alert.description === 'bad_record_mac' && alert.role === 'server' && alert.direction === 'sent' && isRsaKeyExchange(alert.negotiated.cipher)) {
    return "the client's Finished did not authenticate under keys from an RSA premaster we decrypted (bad_record_mac)";
  }
  return undefined;
}
