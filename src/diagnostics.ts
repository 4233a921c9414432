// The session's diagnostics plumbing: decoding the native flight recorder,
// the flight we sent last (to explain an alert from the peer's side), the
// NODE_DEBUG=dtls live trace, and the keylogFile writer.
import * as fs from 'node:fs';
import { debuglog } from 'node:util';
import type { X509Certificate } from 'node:crypto';

import { alertDescription, messageName } from './alerts';
import type { NativeTimelineRow } from './binding';
import type { SessionState } from './session';


/** The peer certificate as the 'negotiated' timeline event describes it. */
export interface PeerCertificateSummary {
  /** e.g. 'CN=example.test' (RDNs joined by ', ') */
  subject: string;
  /** the issuer's name, as subject */
  issuer: string;
  /** notBefore, ISO 8601 */
  validFrom: string;
  /** notAfter, ISO 8601 */
  validTo: string;
  /** notAfter had passed when the handshake completed */
  expired: boolean;
  /** notBefore had not come yet when the handshake completed */
  notYetValid: boolean;
  /** 'AB:CD:…' */
  fingerprint256: string;
}

/**
 * One entry of a session's flight recorder ({@link DtlsSession.timeline}); `at` is in ms since the session
 * was created. The recorder keeps the latest 256 entries.
 */
export type TimelineEvent =
  | {
      /** ms since the session was created */
      at: number;
      /** a handshake message (or ChangeCipherSpec) went by, whole (as the message callback reports it) */
      type: 'message';
      /** 'out': we sent it; 'in': we received it */
      direction: 'in' | 'out';
      /** e.g. 'ClientHello', 'HelloVerifyRequest', 'ChangeCipherSpec', 'Finished' */
      message: string;
      /** the message body's length in bytes */
      length: number;
      /** the DTLS handshake message_seq (0 for ChangeCipherSpec) */
      seq: number;
      /** set when we sent this message again (a retransmitted flight) */
      retransmission?: true;
    }
  | {
      /** ms since the session was created (outgoing fragments are noted when the step hands its datagrams over) */
      at: number;
      /** one fragment of a plaintext handshake message in a datagram, during the handshake */
      type: 'fragment';
      /** 'out': in a datagram we sent; 'in': in one we received */
      direction: 'in' | 'out';
      /** the message type, e.g. 'Certificate' */
      message: string;
      /** its message_seq */
      seq: number;
      /** fragment_offset */
      offset: number;
      /** fragment_length */
      length: number;
      /** the length of the whole message, as this fragment's header gives it */
      messageLength: number;
    }
  | {
      /** ms since the session was created */
      at: number;
      /** a record of a later epoch arrived during the handshake (encrypted: its content is unknown until decrypted) */
      type: 'record';
      /** always 'in': records we send are not listed this way */
      direction: 'in';
      /** 'handshake', 'alert', 'application_data', … */
      contentType: string;
      /** the record's epoch (1 in DTLS 1.2 once the peer switched to encryption) */
      epoch: number;
      /** the record body's length in bytes */
      length: number;
    }
  | {
      /** ms since the session was created */
      at: number;
      /** an alert went by */
      type: 'alert';
      /** 'sent' by us or 'received' from the peer */
      direction: 'sent' | 'received';
      /** a fatal alert ends the session */
      level: 'warning' | 'fatal';
      /** the RFC name, e.g. 'handshake_failure' */
      description: string;
    }
  | {
      /** ms since the session was created */
      at: number;
      /** a flight was resent after a retransmission timeout */
      type: 'retransmit';
    }
  | {
      /** ms since the session was created */
      at: number;
      /** the retransmission timer fired */
      type: 'timer';
    }
  | {
      /** ms since the session was created */
      at: number;
      /** the session changed state */
      type: 'state';
      /** the state entered */
      state: SessionState;
    }
  | {
      /** ms since the session was created */
      at: number;
      /** the handshake completed: what was agreed (right before the state change to 'connected') */
      type: 'negotiated';
      /** e.g. 'DTLSv1.2' */
      protocol: string;
      /** OpenSSL name of the suite */
      cipher: string;
      /** RFC 7627 */
      extendedMasterSecret: boolean;
      /** RFC 7366 (CBC suites) */
      encryptThenMac: boolean;
      /** an abbreviated handshake resumed a session */
      resumed: boolean;
      /** the DTLS-SRTP profile agreed, if any (OpenSSL name) */
      srtpProfile?: string;
      /** SSL_get_verify_result, whether or not it was enforced */
      verifyResult: {
        /** X509_V_* number (0: ok) */
        code: number;
        /** OpenSSL's text for it */
        message: string;
      };
      /** the peer certificate, when the peer sent one */
      peerCertificate?: PeerCertificateSummary;
    };

/** What the session knows once connected, for the 'negotiated' event. */
export interface NegotiatedInfo {
  protocol: string;
  cipher: { name: string; standardName: string };
  verifyResult: { code: number; message: string };
  peerCertificate?: X509Certificate;
  srtpKeys?: { profile: string };
}

// Row kinds (native/session_handle.cc TimelineKind).
const KIND_MESSAGE = 0;
const KIND_CCS = 1;
const KIND_ALERT = 2;
const KIND_RETRANSMIT = 3;
const KIND_STATE = 4;
const KIND_FRAGMENT = 6;
const KIND_NEGOTIATED = 7;
const KIND_RECORD = 8;

const STATE_BY_CODE: Record<number, SessionState> = { 1: 'connecting', 2: 'connected', 3: 'failed', 4: 'closed' };
const CONTENT_TYPES: Record<number, string> = { 20: 'change_cipher_spec', 21: 'alert', 22: 'handshake', 23: 'application_data' };

/** Date.parse of X509Certificate.validFrom/validTo ('Jan  1 00:00:00 2020 GMT'). */
function isoDate(s: string): string {
  const t = Date.parse(s);
  return Number.isNaN(t) ? s : new Date(t).toISOString();
}

export function summarizeCertificate(cert: X509Certificate, at: number = Date.now()): PeerCertificateSummary {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    validFrom: isoDate(cert.validFrom),
    validTo: isoDate(cert.validTo),
    expired: !Number.isNaN(to) && at > to,
    notYetValid: !Number.isNaN(from) && at < from,
    fingerprint256: cert.fingerprint256,
  };
}

export function timelineEvent(row: NativeTimelineRow, info: NegotiatedInfo | undefined, certificate: PeerCertificateSummary | undefined): TimelineEvent {
  const [at, kind, dir, type, len, seq, a, b] = row;
  switch (kind) {
    case KIND_MESSAGE:
    case KIND_CCS: {
      const e: TimelineEvent = { at, type: 'message', direction: dir === 1 ? 'out' : 'in', message: messageName(type) ?? String(type), length: len, seq };
      if (kind === KIND_MESSAGE && a === 1) e.retransmission = true;
      return e;
    }
    case KIND_FRAGMENT:
      return { at, type: 'fragment', direction: dir === 1 ? 'out' : 'in', message: messageName(type) ?? String(type), seq, offset: a, length: len, messageLength: b };
    case KIND_RECORD:
      return { at, type: 'record', direction: 'in', contentType: CONTENT_TYPES[type] ?? `content_type_${type}`, epoch: seq, length: len };
    case KIND_ALERT:
      return { at, type: 'alert', direction: dir === 1 ? 'sent' : 'received', level: len === 2 ? 'fatal' : 'warning', description: alertDescription(type) };
    case KIND_RETRANSMIT:
      return { at, type: 'retransmit' };
    case KIND_STATE:
      return { at, type: 'state', state: STATE_BY_CODE[type] ?? 'new' };
    case KIND_NEGOTIATED: {
      const e: TimelineEvent = {
        at,
        type: 'negotiated',
        protocol: info?.protocol ?? '',
        cipher: info?.cipher.name ?? '',
        extendedMasterSecret: (a & 1) !== 0,
        encryptThenMac: (a & 2) !== 0,
        resumed: (a & 4) !== 0,
        verifyResult: info?.verifyResult ?? { code: 0, message: 'ok' },
      };
      if (info?.srtpKeys !== undefined) e.srtpProfile = info.srtpKeys.profile;
      if (certificate !== undefined) e.peerCertificate = certificate;
      return e;
    }
    default:
      return { at, type: 'timer' };
  }
}

/**
 * The handshake messages of the flight we sent last before the most recent alert of this code we received:
 * the messages sent since we last received one (retransmissions of that flight included once).
 */
export function lastFlightBefore(rows: readonly NativeTimelineRow[], alertCode: number): string[] {
  let i = rows.length - 1;
  while (i >= 0 && !(rows[i]![1] === KIND_ALERT && rows[i]![2] === 0 && rows[i]![3] === alertCode)) i--;
  const names: string[] = [];
  for (i--; i >= 0; i--) {
    const [, kind, dir, type] = rows[i]!;
    if (kind !== KIND_MESSAGE && kind !== KIND_CCS) continue;
    if (dir !== 1) break;
    const name = messageName(type) ?? String(type);
    if (!names.includes(name)) names.unshift(name);
  }
  return names;
}

// ---- NODE_DEBUG=dtls ------------------------------------------------------------------------------------

const debug = debuglog('dtls');
/** NODE_DEBUG=dtls: checked once at load, so a session pays one boolean test per step when it is off. */
export const DEBUG_ENABLED: boolean = debug.enabled;

let nextSessionNumber = 1;
export function sessionLabel(role: string): string {
  return `${role}#${nextSessionNumber++}`;
}

export function describeEvent(e: TimelineEvent): string {
  switch (e.type) {
    case 'message':
      return `${e.direction === 'out' ? '-->' : '<--'} ${e.message} seq=${e.seq} len=${e.length}${e.retransmission ? ' (resent)' : ''}`;
    case 'fragment':
      return `${e.direction === 'out' ? '-->' : '<--'}   fragment ${e.message} seq=${e.seq} [${e.offset}, ${e.offset + e.length}) of ${e.messageLength}`;
    case 'record':
      return `<--   ${e.contentType} record, epoch ${e.epoch}, ${e.length} bytes (encrypted)`;
    case 'alert':
      return `${e.direction === 'sent' ? '-->' : '<--'} alert ${e.level} ${e.description}`;
    case 'retransmit':
      return 'retransmission timer: resending the flight';
    case 'timer':
      return 'timer';
    case 'state':
      return `state ${e.state}`;
    case 'negotiated': {
      const c = e.peerCertificate;
      const cert = c !== undefined ? `, peer ${c.subject} valid ${c.validFrom} .. ${c.validTo}${c.expired ? ' (EXPIRED)' : c.notYetValid ? ' (NOT YET VALID)' : ''}` : '';
      return `negotiated ${e.protocol} ${e.cipher}, EMS ${e.extendedMasterSecret ? 'on' : 'off'}, ETM ${e.encryptThenMac ? 'on' : 'off'}${e.resumed ? ', resumed' : ''}${e.srtpProfile !== undefined ? `, SRTP ${e.srtpProfile}` : ''}, verify ${e.verifyResult.code} ${e.verifyResult.message}${cert}`;
    }
  }
}

export function debugEvents(label: string, events: readonly TimelineEvent[]): void {
  for (const e of events) debug('%s +%sms %s', label, e.at.toFixed(3), describeEvent(e));
}

// ---- keylogFile ---------------------------------------------------------------------------------------

/** Appends NSS key-log lines to a file (Wireshark: Preferences > Protocols > TLS > (Pre)-Master-Secret log). */
export class KeylogFile {
  readonly path: string;
  #warned = false;

  constructor(path: string) {
    this.path = path;
    // Fail at construction, not at the first handshake: create the file (or check that it can be appended to).
    fs.appendFileSync(path, '');
  }

  write(line: Buffer): void {
    try {
      // Synchronous: one short line per handshake, on disk before the handshake is reported.
      fs.appendFileSync(this.path, line);
    } catch (e) {
      if (!this.#warned) {
        this.#warned = true;
        process.emitWarning(`openssl-dtls: cannot append to keylogFile ${this.path}: ${(e as Error).message}`, 'DtlsKeylogWarning');
      }
    }
  }
}
