import { createHash, randomBytes, X509Certificate } from 'node:crypto';

import { binding } from './binding';
import { invalidArgType } from './errors';
import { validateInteger, validateObject, validateOneOf, validateString, validateStringOrBytes } from './validate';

/** Key types {@link generateCertificate} makes: ECDSA on P-256 (the default), RSA 2048-bit, Ed25519. */
export type KeyType = 'ecdsa-p256' | 'rsa-2048' | 'ed25519';
/**
 * Hash algorithms of a {@link Fingerprint}, spelled as SDP spells them (RFC 8122 `a=fingerprint`, the
 * IANA "Hash Function Textual Names").
 */
export type FingerprintAlgorithm = 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512';

/**
 * A certificate fingerprint as in SDP (RFC 8122): `{ algorithm: 'sha-256', value: 'AB:CD:…' }`, the form
 * {@link fingerprint} returns and {@link SessionOptions.remoteFingerprints} checks.
 */
export interface Fingerprint {
  /** the hash over the certificate's DER encoding */
  algorithm: FingerprintAlgorithm;
  /** the digest as hex pairs joined by ':', e.g. 'AB:CD:…'; compared case-insensitively */
  value: string;
}

export const FINGERPRINT_ALGORITHMS: readonly FingerprintAlgorithm[] = ['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'];
const DIGEST_LENGTH: Record<FingerprintAlgorithm, number> = { 'sha-1': 20, 'sha-224': 28, 'sha-256': 32, 'sha-384': 48, 'sha-512': 64 };
const NODE_HASH: Record<FingerprintAlgorithm, string> = { 'sha-1': 'sha1', 'sha-224': 'sha224', 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512' };

/**
 * Generates a self-signed certificate and its key, on the libuv thread pool: for tests and for WebRTC-style
 * peers that authenticate by {@link fingerprint} rather than by a CA.
 *
 * @param options - `keyType` (default `'ecdsa-p256'`), `commonName` (default a unique random name),
 *   `days` of validity from now (1..36500, default 30). The serial number is random (128 bits).
 * @returns the PEM certificate and its unencrypted PEM (PKCS #8) private key
 * @throws TypeError / RangeError (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`, `ERR_OUT_OF_RANGE`) for bad options
 */
export async function generateCertificate(options: { keyType?: KeyType; commonName?: string; days?: number } = {}): Promise<{
  /** the self-signed certificate, PEM */
  cert: string;
  /** its private key, PEM (PKCS #8, unencrypted) */
  key: string;
}> {
  validateObject(options, 'options');
  const keyType = options.keyType ?? 'ecdsa-p256';
  validateOneOf(keyType, 'options.keyType', ['ecdsa-p256', 'rsa-2048', 'ed25519'] as const);
  // Unique per certificate: Firefox refuses a certificate whose issuer and serial it has seen before.
  const commonName = options.commonName ?? `openssl-dtls-${randomBytes(8).toString('hex')}`;
  validateString(commonName, 'options.commonName');
  const days = options.days ?? 30;
  validateInteger(days, 'options.days', 1, 36500);
  return binding.generateCertificate(keyType, commonName, days);
}

function derOf(cert: string | Buffer | X509Certificate): Buffer {
  if (cert instanceof X509Certificate) return cert.raw;
  validateStringOrBytes(cert, 'cert');
  return new X509Certificate(cert).raw;
}

/**
 * The certificate's fingerprint in SDP form (RFC 8122): the digest of its DER encoding as uppercase hex
 * pairs joined by ':', e.g. `'AB:CD:…'`; what a WebRTC `a=fingerprint` line carries.
 *
 * @param cert - a PEM certificate (string or Buffer; the first certificate counts) or an X509Certificate
 * @param algorithm - default `'sha-256'`
 */
export function fingerprint(cert: string | Buffer | X509Certificate, algorithm: FingerprintAlgorithm = 'sha-256'): string {
  validateOneOf(algorithm, 'algorithm', FINGERPRINT_ALGORITHMS);
  const hex = createHash(NODE_HASH[algorithm]).update(derOf(cert)).digest('hex').toUpperCase();
  return hex.match(/../g)!.join(':');
}

/** Parses and checks a Fingerprint; returns the OpenSSL digest name and the raw digest. */
export function parseFingerprint(fp: unknown, name: string): { algorithm: string; digest: Buffer } {
  validateObject(fp, name);
  const { algorithm, value } = fp as { algorithm?: unknown; value?: unknown };
  validateOneOf(algorithm, `${name}.algorithm`, FINGERPRINT_ALGORITHMS);
  validateString(value, `${name}.value`);
  const hex = value.replace(/:/g, '');
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== DIGEST_LENGTH[algorithm] * 2) {
    const err = new TypeError(`The property '${name}.value' must be ${DIGEST_LENGTH[algorithm]} hex bytes (AB:CD:...) for ${algorithm}. Received '${value.slice(0, 40)}'`);
    (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  return { algorithm: NODE_HASH[algorithm].toUpperCase(), digest: Buffer.from(hex, 'hex') };
}

/**
 * RFC 7983 demultiplexing of a datagram on a port shared with STUN, RTP/RTCP, ZRTP or TURN channels: DTLS
 * records start with a byte in 20..63.
 *
 * @param datagram - one received datagram
 */
export function isDtlsPacket(datagram: Uint8Array): boolean {
  if (!(datagram instanceof Uint8Array)) throw invalidArgType('datagram', 'an instance of Buffer or Uint8Array', datagram);
  return datagram.length > 0 && datagram[0]! >= 20 && datagram[0]! <= 63;
}
