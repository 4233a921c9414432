// explain(): what an OpenSSL error path means and what to check. Keyed by the
// (function, reason) of the last "SSL routines" entry, as verified on OpenSSL
// 3.0.19 (see the project's alert-path notes). Unknown paths get an honest
// generic explanation that names the function and reason — never a guess.
import { classifyingEntry, shortSourcePath, type DtlsAlert, type OpenSSLErrorEntry } from './errors';

/** What an OpenSSL error path means, for a person reading a failure: see {@link explain}. */
export interface Explanation {
  /** the OpenSSL function that raised the deciding entry, e.g. 'tls_process_finished' */
  path: string;
  /** one line, e.g. 'No cipher suite is acceptable to both sides' */
  summary: string;
  /** what OpenSSL was doing when it gave up */
  meaning: string;
  /** the usual reasons for this path, most likely first */
  likelyCauses: string[];
  /** what to look at next */
  checks: string[];
}

interface Entry {
  summary: string;
  meaning: string;
  likelyCauses: string[];
  checks: string[];
}

interface Context {
  direction?: 'sent' | 'received';
  description?: string;
  verifyResult?: { code: number; message: string };
  lastMessageSent?: string;
  role?: 'client' | 'server';
}

const TABLE: Record<string, Entry> = {
  'tls_post_process_client_hello|no shared cipher': {
    summary: 'No cipher suite is acceptable to both sides',
    meaning: 'The server found no suite in the ClientHello that it has enabled and can use with its certificate.',
    likelyCauses: [
      'the two cipher lists do not overlap (e.g. the client offers only CBC or RSA key exchange suites, which openssl-dtls enables only by name)',
      'the server certificate type does not fit the offered suites (ECDSA certificate, only ECDHE-RSA suites offered, or the reverse)',
      'a PSK-only peer talking to a certificate-only server',
    ],
    checks: ['compare the ClientHello suites with context.getCiphers()', 'check the server key type against the suite names (ECDSA vs RSA)'],
  },
  'tls_early_post_process_client_hello|no shared cipher': {
    summary: 'No cipher suite is acceptable to both sides',
    meaning: 'The server found no suite in the ClientHello that it has enabled.',
    likelyCauses: ['the two cipher lists do not overlap'],
    checks: ['compare the ClientHello suites with context.getCiphers()'],
  },
  'tls_process_key_exchange|bad signature': {
    summary: "The server's ServerKeyExchange signature does not verify",
    meaning: "The client checked the server's signature over its ephemeral key with the key in the server certificate, and it failed.",
    likelyCauses: [
      'the server signs with a key that does not match its certificate, or its key state is corrupted (fails until restart)',
      'the ServerKeyExchange or the hello randoms were changed in transit (middlebox, reassembly bug)',
    ],
    checks: ['check the server key and certificate (SSL_CTX_check_private_key)', 'sign and verify a test message with the server key', 'capture the handshake and compare both sides'],
  },
  'tls_process_cert_verify|bad signature': {
    summary: "The client's CertificateVerify signature does not verify",
    meaning: 'Either the client signed with a key that does not match its certificate, or the two sides hashed different handshake transcripts. With client certificates, a transcript mismatch shows up here, before Finished.',
    likelyCauses: [
      'the client private key does not match its certificate or its key state is corrupted',
      'a handshake message was changed, duplicated or hashed differently on one side (middlebox, retransmission or reassembly bug)',
    ],
    checks: ['check the client key and certificate', 'compare the handshake transcripts of both sides (timeline(), a capture with the keylog)'],
  },
  'tls_process_finished|digest check failed': {
    summary: "The peer's Finished message does not match our transcript",
    meaning: 'Both sides hold the same keys (the record decrypted) but hashed different handshake transcripts.',
    likelyCauses: [
      'a handshake message was changed in transit, or one side hashed a message the other did not (e.g. a HelloVerifyRequest)',
      'extended master secret off on one side, or a resumption mismatch',
    ],
    checks: ['compare timeline() of both sides', 'check the extendedMasterSecret setting on both sides'],
  },
  'tls_process_cke_rsa|decryption failed': {
    summary: "The client's RSA-encrypted premaster secret is publicly invalid",
    meaning: 'The ciphertext length or value does not fit the server RSA key.',
    likelyCauses: ['the client encrypted to a different certificate than the one this server uses'],
    checks: ['check which certificate the client saw', 'prefer ECDHE suites: RSA key exchange is off unless named'],
  },
  'tls_process_client_certificate|peer did not return a certificate': {
    summary: 'The client sent no certificate although one is required',
    meaning: 'The server requires a client certificate (requestCert with rejectUnauthorized, or remoteFingerprints) and the client sent an empty Certificate message.',
    likelyCauses: ['the client has no certificate configured', 'the client could not match the server\'s CertificateRequest'],
    checks: ['give the client cert and key', 'or set requestCert/rejectUnauthorized on the server as intended'],
  },
  'tls_early_post_process_client_hello|cookie mismatch': {
    summary: 'The ClientHello cookie does not verify',
    meaning: 'The server asked for a cookie (HelloVerifyRequest) and the ClientHello carried a cookie it did not issue for this peer.',
    likelyCauses: ['the client address changed between the two ClientHellos (NAT rebinding)', 'a spoofed or replayed ClientHello', 'the cookie secret was rotated in between'],
    checks: ['check the peer address given to the session', 'look for address changes in the capture'],
  },
  'dtls1_check_timeout_num|read timeout expired': {
    summary: 'The handshake gave up after repeated retransmissions',
    meaning: 'Our flight was retransmitted the maximum number of times without the peer answering it. No alert is sent on the wire.',
    likelyCauses: [
      'packet loss or a blocked path (firewall, NAT, wrong address/port)',
      'the peer silently discards our records: keys differ on the two sides (wrong RSA premaster, transcript or EMS mismatch) — most likely when the peer kept sending records of the next epoch',
      'the peer is not a DTLS endpoint or is not running',
    ],
    checks: ['check connectivity and the remote port', 'look at timeline(): did the peer answer at all?', 'compare the extendedMasterSecret and cipher settings of both sides'],
  },
  'dtls1_process_record|decryption failed or bad record mac': {
    summary: 'A record failed its integrity check with Encrypt-then-MAC',
    meaning: 'With CBC suites and Encrypt-then-MAC, OpenSSL treats a bad MAC as fatal (AEAD and MAC-then-encrypt records are dropped silently).',
    likelyCauses: ['the two sides derived different keys', 'a record was corrupted in transit'],
    checks: ['prefer AEAD suites (the default)', 'capture and decrypt with the keylog'],
  },
  'ossl_statem_client_read_transition|unexpected message': {
    summary: 'A handshake message arrived that the client did not expect in this state',
    meaning: "The client's state machine and the server's disagree.",
    likelyCauses: ['both sides act as DTLS server or both as client (role conflict, a=setup in WebRTC)', 'a suite that needs a ServerKeyExchange without one', 'a message rewritten in transit'],
    checks: ['check the DTLS roles on both sides', 'look at timeline() for the message order'],
  },
  'ossl_statem_server_read_transition|unexpected message': {
    summary: 'A handshake message arrived that the server did not expect in this state',
    meaning: "The server's state machine and the client's disagree.",
    likelyCauses: ['both sides act as DTLS server or both as client (role conflict)', 'a message rewritten in transit'],
    checks: ['check the DTLS roles on both sides', 'look at timeline() for the message order'],
  },
};

const VERIFY_HINTS: Record<number, Entry> = {
  10: {
    summary: 'The peer certificate has expired',
    meaning: 'Chain verification found a certificate whose notAfter date is in the past.',
    likelyCauses: ['an expired certificate', 'a wrong clock on this machine'],
    checks: ['look at the validity dates of the peer certificate', 'check the system clock'],
  },
  9: {
    summary: 'The peer certificate is not yet valid',
    meaning: 'Chain verification found a certificate whose notBefore date is in the future.',
    likelyCauses: ['a freshly issued certificate and clock skew', 'a wrong clock on this machine'],
    checks: ['check the clocks of both machines'],
  },
  18: {
    summary: 'The peer certificate is self-signed and not trusted',
    meaning: 'The peer presented a self-signed certificate that is not in the trust store (ca).',
    likelyCauses: ['a self-signed certificate (WebRTC-style) verified against a CA store'],
    checks: ['pass its fingerprint in remoteFingerprints, add it to ca, or set rejectUnauthorized: false for tests'],
  },
  19: {
    summary: 'The chain ends in a self-signed CA that is not trusted',
    meaning: 'The chain is complete but its root is not in the trust store.',
    likelyCauses: ['a private CA not given in ca'],
    checks: ['add the root certificate to ca'],
  },
  20: {
    summary: 'The issuer of the peer certificate is unknown',
    meaning: 'No certificate in the trust store or the presented chain issued the peer certificate.',
    likelyCauses: ['a missing intermediate certificate in the peer chain', 'the issuing CA is not in ca'],
    checks: ['make the peer send its full chain', 'add the CA to ca'],
  },
  21: {
    summary: 'The leaf certificate could not be verified',
    meaning: 'No issuer certificate was found for the only certificate presented.',
    likelyCauses: ['a missing intermediate or root'],
    checks: ['make the peer send its full chain', 'add the CA to ca'],
  },
  50: {
    summary: 'The peer certificate does not match the expected fingerprint',
    meaning: "openssl-dtls checked the peer certificate against remoteFingerprints during the handshake and none matched, so OpenSSL sent handshake_failure.",
    likelyCauses: ['the fingerprint in the signalling (SDP a=fingerprint) belongs to another certificate', 'the peer rotated its certificate', 'the wrong algorithm or a typo in the value'],
    checks: ['compare fingerprint(peerCertificate) with the value you passed', 'make sure the signalling and the DTLS endpoint use the same certificate'],
  },
  62: {
    summary: 'The peer certificate does not match the expected host name',
    meaning: 'servername was given and the certificate names another host.',
    likelyCauses: ['connecting by a name or address the certificate does not list'],
    checks: ['check the certificate subjectAltName against servername'],
  },
  64: {
    summary: 'The peer certificate does not match the expected IP address',
    meaning: 'servername was an IP address that the certificate does not list.',
    likelyCauses: ['connecting by an address the certificate does not list'],
    checks: ['check the certificate subjectAltName IP entries'],
  },
};

const RECEIVED: Record<string, Entry> = {
  handshake_failure: {
    summary: 'The peer refused the handshake (handshake_failure)',
    meaning: 'The peer found the negotiation unacceptable; it does not say why on the wire.',
    likelyCauses: ['no common cipher suite, group or signature algorithm', 'the peer rejected our certificate (e.g. a fingerprint check)', 'the peer requires a client certificate we did not send'],
    checks: ["look at the peer's logs", 'compare cipher, group and sigalg settings', 'check that the peer has our current certificate fingerprint'],
  },
  decrypt_error: {
    summary: 'The peer could not verify one of our signatures or our Finished (decrypt_error)',
    meaning: 'The peer checked a signature or Finished value we sent and it failed.',
    likelyCauses: ['our private key does not match our certificate, or its state is corrupted', 'the two transcripts differ (a message changed in transit)'],
    checks: ['sign and verify a test message with our key', 'compare timelines of both sides'],
  },
  bad_certificate: {
    summary: 'The peer rejected our certificate (bad_certificate)',
    meaning: 'The peer could not use or verify the certificate we sent.',
    likelyCauses: ['an unsupported key or signature type', 'a host name or usage mismatch'],
    checks: ['check our certificate with openssl x509 -text'],
  },
  unknown_ca: {
    summary: 'The peer does not trust the issuer of our certificate (unknown_ca)',
    meaning: 'The peer verified our chain against its trust store and could not find a trusted root.',
    likelyCauses: ['a self-signed certificate sent to a peer that verifies chains', 'a missing intermediate in our chain'],
    checks: ['send the full chain in cert', 'give the peer our CA or fingerprint'],
  },
  certificate_expired: {
    summary: 'The peer says our certificate has expired (certificate_expired)',
    meaning: "The peer's chain verification found an expired certificate in what we sent.",
    likelyCauses: ['an expired certificate on our side', 'a wrong clock on the peer'],
    checks: ['check the validity dates of our certificate'],
  },
  protocol_version: {
    summary: 'The peer does not support our DTLS version (protocol_version)',
    meaning: 'No DTLS version is acceptable to both sides.',
    likelyCauses: ['the peer only speaks DTLS 1.0 (off unless minVersion is DTLSv1) or only DTLS 1.3'],
    checks: ['compare minVersion/maxVersion with the peer'],
  },
  illegal_parameter: {
    summary: 'The peer found an invalid field in our messages (illegal_parameter)',
    meaning: 'A value in our last flight is out of range or inconsistent for the peer.',
    likelyCauses: ['a group, point format or signature algorithm the peer does not accept'],
    checks: ['compare groups and sigalgs with the peer'],
  },
  unexpected_message: {
    summary: 'The peer did not expect our message in its state (unexpected_message)',
    meaning: "The peer's state machine disagrees with ours.",
    likelyCauses: ['a DTLS role conflict (both client or both server)'],
    checks: ['check the DTLS roles on both sides'],
  },
};

function fromEntry(path: string, e: Entry): Explanation {
  return { path, summary: e.summary, meaning: e.meaning, likelyCauses: [...e.likelyCauses], checks: [...e.checks] };
}

/** explain() with the context an alert or a failure carries (direction, verify result, our last message). */
export function explainWith(entries: readonly OpenSSLErrorEntry[], ctx: Context): Explanation {
  const last = classifyingEntry(entries);
  if (ctx.direction === 'received' && ctx.description !== undefined) {
    const path = last?.function ?? 'dtls1_read_bytes';
    const after = ctx.lastMessageSent !== undefined ? ` after our ${ctx.lastMessageSent}` : '';
    const hit = RECEIVED[ctx.description];
    if (hit !== undefined) {
      const x = fromEntry(path, hit);
      x.summary += after;
      x.meaning = `The peer detected the problem, not us: ${x.meaning}`;
      return x;
    }
    return {
      path,
      summary: `The peer sent ${ctx.description}${after}`,
      meaning: `The peer detected a problem it reports as ${ctx.description}; OpenSSL on our side only records that the alert arrived.`,
      likelyCauses: [],
      checks: ["look at the peer's logs for the cause", 'compare timeline() with what the peer expected'],
    };
  }
  const vr = ctx.verifyResult;
  if (last !== undefined && last.reason === 'certificate verify failed' && vr !== undefined && vr.code !== 0) {
    const hint = VERIFY_HINTS[vr.code];
    if (hint !== undefined) return fromEntry(last.function, hint);
    return {
      path: last.function,
      summary: `Certificate verification failed: ${vr.message}`,
      meaning: `OpenSSL's chain verification returned ${vr.code} ("${vr.message}") for the peer certificate.`,
      likelyCauses: [],
      checks: ['inspect the peer certificate chain', 'check ca, remoteFingerprints and rejectUnauthorized'],
    };
  }
  if (last === undefined) {
    return {
      path: 'unknown',
      summary: ctx.description !== undefined ? `Alert ${ctx.description} with no OpenSSL error entry` : 'No OpenSSL error entry',
      meaning: 'OpenSSL queued nothing for this event, so there is no code path to name.',
      likelyCauses: [],
      checks: ['look at timeline() for the messages around the event'],
    };
  }
  const hit = TABLE[`${last.function}|${last.reason}`];
  if (hit !== undefined) return fromEntry(last.function, hit);
  const where = last.file !== '' ? ` (${shortSourcePath(last.file)}:${last.line})` : '';
  return {
    path: last.function || 'unknown',
    summary: `OpenSSL raised "${last.reason}" in ${last.function || 'an unnamed function'}`,
    meaning: `${last.library}: "${last.reason}" was raised by ${last.function || 'OpenSSL'}${where}. openssl-dtls has no specific explanation for this path.`,
    likelyCauses: [],
    checks: ['read the OpenSSL source at the named function and line', 'look at timeline() for the messages around the failure'],
  };
}

/** Explains an alert, an error, or a raw list of error-queue entries. */
export function explain(source: DtlsAlert | { opensslErrors: OpenSSLErrorEntry[]; alert?: DtlsAlert; verifyResult?: { code: number; message: string } } | readonly OpenSSLErrorEntry[]): Explanation {
  if (Array.isArray(source)) return explainWith(source as readonly OpenSSLErrorEntry[], {});
  const s = source as Partial<DtlsAlert> & { opensslErrors: OpenSSLErrorEntry[]; alert?: DtlsAlert; verifyResult?: { code: number; message: string } };
  if (s.direction !== undefined) {
    return explainWith(s.opensslErrors, {
      direction: s.direction,
      description: s.description,
      verifyResult: s.verifyResult,
      lastMessageSent: s.lastMessageSent,
      role: s.role,
    });
  }
  if (s.alert !== undefined) return explain(s.alert);
  return explainWith(s.opensslErrors ?? [], { verifyResult: s.verifyResult });
}
