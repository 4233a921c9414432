// Faulty keys and certificates made on purpose, for `dtls-probe selftest`
// and the test suite. Internal: not exported from the package index.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

function bigFromB64url(s: string): bigint {
  return BigInt(`0x${Buffer.from(s, 'base64url').toString('hex') || '0'}`);
}

function b64urlFromBig(n: bigint): string {
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
}

/**
 * An RSA private key whose public half is that of `keyPem` but whose private operations are wrong: d and dp
 * are off by 2. OpenSSL checks a key against its certificate by the public half only, so a context accepts it,
 * and every signature or decryption it makes is silently wrong — the "corrupted key state" of a server that
 * fails every new handshake until it restarts. (Both d and dp change: OpenSSL re-checks a CRT result and falls
 * back to d when it is wrong.)
 */
export function corruptedRsaKey(keyPem: string | Buffer): string {
  const jwk = createPrivateKey(keyPem).export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || jwk.d === undefined || jwk.dp === undefined) throw new TypeError('corruptedRsaKey: not an RSA private key');
  const bad = { ...jwk, d: b64urlFromBig(bigFromB64url(jwk.d) + 2n), dp: b64urlFromBig(bigFromB64url(jwk.dp) + 2n) };
  return createPrivateKey({ key: bad, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }) as string;
}

// ---- a minimal X.509 v3 certificate, DER by hand (RFC 5280 §4.1) ----

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const OID_ECDSA_SHA256 = Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
const OID_COMMON_NAME = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);

function name(cn: string): Buffer {
  return seq(tlv(0x31, seq(OID_COMMON_NAME, tlv(0x0c, Buffer.from(cn, 'utf8')))));
}

function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

function positiveInteger(bytes: Buffer): Buffer {
  const b = bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return tlv(0x02, b);
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * A self-signed ECDSA P-256 certificate (and its key) valid only between `notBefore` and `notAfter` — by
 * default the whole of January 2020, so it is expired: verified against itself as the trust anchor, its only
 * fault is the date (X509_V_ERR_CERT_HAS_EXPIRED, 10).
 */
export function datedCertificate(options: { commonName?: string; notBefore?: Date; notAfter?: Date } = {}): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cn = options.commonName ?? 'expired.dtls-probe';
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version v3
    positiveInteger(randomBytes(16)),
    seq(OID_ECDSA_SHA256),
    name(cn),
    seq(utcTime(options.notBefore ?? new Date(Date.UTC(2020, 0, 1))), utcTime(options.notAfter ?? new Date(Date.UTC(2020, 1, 1)))),
    name(cn),
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey as KeyObject);
  const cert = seq(tbs, seq(OID_ECDSA_SHA256), tlv(0x03, Buffer.from([0]), signature));
  return { cert: toPem(cert), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
