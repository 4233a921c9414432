// DTLS-SRTP (RFC 5764): the profiles this library negotiates and the SRTP
// master keys and salts split out of the DTLS keying material.
import { invalidArgType, invalidArgValue } from './errors';

/** SRTP protection profiles by their OpenSSL names (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export type SrtpProfile = 'SRTP_AEAD_AES_256_GCM' | 'SRTP_AEAD_AES_128_GCM' | 'SRTP_AES128_CM_SHA1_80' | 'SRTP_AES128_CM_SHA1_32';

/** SRTP master keys for one connected session. local* protects what we send, remote* what we receive. */
export interface SrtpKeys {
  profile: SrtpProfile;
  /** the profile's number on the wire (use_srtp): 0x0001, 0x0002, 0x0007, 0x0008 */
  profileId: number;
  localKey: Buffer;
  localSalt: Buffer;
  remoteKey: Buffer;
  remoteSalt: Buffer;
}

interface ProfileParams {
  id: number;
  keyLength: number;
  saltLength: number;
}

// Master key and salt lengths: RFC 5764 §4.1.2 (AES-CM: 128-bit key, 112-bit
// salt) and RFC 7714 §12 (AEAD: 128- or 256-bit key, 96-bit salt).
const PROFILES: Record<SrtpProfile, ProfileParams> = {
  SRTP_AEAD_AES_256_GCM: { id: 0x0008, keyLength: 32, saltLength: 12 },
  SRTP_AEAD_AES_128_GCM: { id: 0x0007, keyLength: 16, saltLength: 12 },
  SRTP_AES128_CM_SHA1_80: { id: 0x0001, keyLength: 16, saltLength: 14 },
  SRTP_AES128_CM_SHA1_32: { id: 0x0002, keyLength: 16, saltLength: 14 },
};

/** Every profile this library knows, strongest first (the default preference order of the `webrtc` preset). */
export const SRTP_PROFILES: readonly SrtpProfile[] = Object.freeze([
  'SRTP_AEAD_AES_256_GCM',
  'SRTP_AEAD_AES_128_GCM',
  'SRTP_AES128_CM_SHA1_80',
  'SRTP_AES128_CM_SHA1_32',
] as const);

/** The exporter label RFC 5764 §4.2 defines for DTLS-SRTP keying material. */
export const SRTP_EXPORTER_LABEL = 'EXTRACTOR-dtls_srtp';

export function isSrtpProfile(name: unknown): name is SrtpProfile {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(PROFILES, name);
}

/** How many bytes of keying material a profile needs: 2 × (key + salt). */
export function srtpKeyingMaterialLength(profile: SrtpProfile): number {
  const p = PROFILES[profile];
  return 2 * (p.keyLength + p.saltLength);
}

/** Validates a list of profile names and returns it as OpenSSL's colon-separated string. */
export function encodeSrtpProfiles(list: unknown, name: string): string {
  if (!Array.isArray(list)) throw invalidArgType(name, 'an instance of Array', list);
  if (list.length === 0) throw invalidArgValue(name, list, 'must not be empty');
  const seen = new Set<string>();
  list.forEach((p, i) => {
    if (!isSrtpProfile(p)) {
      throw invalidArgValue(`${name}[${i}]`, p, `must be one of ${SRTP_PROFILES.map((s) => `'${s}'`).join(', ')}`);
    }
    if (seen.has(p)) throw invalidArgValue(`${name}[${i}]`, p, 'is listed twice');
    seen.add(p);
  });
  return list.join(':');
}

/**
 * Splits exported keying material per RFC 5764 §4.2:
 *   client_write_SRTP_master_key | server_write_SRTP_master_key |
 *   client_write_SRTP_master_salt | server_write_SRTP_master_salt
 * A client encrypts with the client_write half, a server with the server_write half.
 */
export function splitSrtpKeyingMaterial(profile: SrtpProfile, material: Uint8Array, role: 'client' | 'server'): SrtpKeys {
  const p = PROFILES[profile];
  if (p === undefined) throw invalidArgValue('profile', profile, 'is not a known SRTP profile');
  const need = 2 * (p.keyLength + p.saltLength);
  if (material.length !== need) throw invalidArgValue('material', material.length, `must be ${need} bytes for ${profile}`);
  const k = p.keyLength;
  const s = p.saltLength;
  const copy = (from: number, len: number) => Buffer.from(material.subarray(from, from + len));
  const clientKey = copy(0, k);
  const serverKey = copy(k, k);
  const clientSalt = copy(2 * k, s);
  const serverSalt = copy(2 * k + s, s);
  const client = role === 'client';
  return {
    profile,
    profileId: p.id,
    localKey: client ? clientKey : serverKey,
    localSalt: client ? clientSalt : serverSalt,
    remoteKey: client ? serverKey : clientKey,
    remoteSalt: client ? serverSalt : clientSalt,
  };
}

/** A copy the caller may keep or wipe without touching the session's own. */
export function copySrtpKeys(k: SrtpKeys): SrtpKeys {
  return {
    profile: k.profile,
    profileId: k.profileId,
    localKey: Buffer.from(k.localKey),
    localSalt: Buffer.from(k.localSalt),
    remoteKey: Buffer.from(k.remoteKey),
    remoteSalt: Buffer.from(k.remoteSalt),
  };
}
