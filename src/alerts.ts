// Names for alert codes (RFC 5246/8446 spelling with underscores) and for
// handshake message types as the timeline and alerts report them.

const ALERT_NAMES: Record<number, string> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 21: 'decryption_failed',
  22: 'record_overflow', 30: 'decompression_failure', 40: 'handshake_failure', 41: 'no_certificate',
  42: 'bad_certificate', 43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired',
  46: 'certificate_unknown', 47: 'illegal_parameter', 48: 'unknown_ca', 49: 'access_denied',
  50: 'decode_error', 51: 'decrypt_error', 60: 'export_restriction', 70: 'protocol_version',
  71: 'insufficient_security', 80: 'internal_error', 86: 'inappropriate_fallback', 90: 'user_canceled',
  100: 'no_renegotiation', 109: 'missing_extension', 110: 'unsupported_extension',
  111: 'certificate_unobtainable', 112: 'unrecognized_name', 113: 'bad_certificate_status_response',
  114: 'bad_certificate_hash_value', 115: 'unknown_psk_identity', 116: 'certificate_required',
  120: 'no_application_protocol',
};

const MESSAGE_NAMES: Record<number, string> = {
  0: 'HelloRequest', 1: 'ClientHello', 2: 'ServerHello', 3: 'HelloVerifyRequest', 4: 'NewSessionTicket',
  11: 'Certificate', 12: 'ServerKeyExchange', 13: 'CertificateRequest', 14: 'ServerHelloDone',
  15: 'CertificateVerify', 16: 'ClientKeyExchange', 20: 'Finished', 22: 'CertificateStatus',
  256: 'ChangeCipherSpec',
};

export function alertDescription(code: number): string {
  return ALERT_NAMES[code] ?? `unknown_alert_${code}`;
}

export function messageName(type: number): string | undefined {
  if (type < 0) return undefined;
  return MESSAGE_NAMES[type] ?? `handshake_type_${type}`;
}

/** Alerts whose cause is a certificate check: they carry the verify result. */
export function isCertificateAlert(code: number): boolean {
  return code === 42 || code === 43 || code === 44 || code === 45 || code === 46 || code === 48 || code === 116;
}
