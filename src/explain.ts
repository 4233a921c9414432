// explain(): what an OpenSSL error path means and what to check. Keyed by the
// (function, reason) of the last "SSL routines" entry, as verified on OpenSSL
// 3.0.19 (the alert-path notes the project keeps: §4 path tables, §9 design
// notes). Certificate failures are refined by the verify result. Alerts we
// receive are explained from the peer's side, from the flight we sent last.
// Failures without an alert (a stalled handshake) are told apart by what
// arrived meanwhile. Unknown paths get an honest generic explanation that
// names the function and reason — never a guess.
import { classifyingEntry, shortSourcePath, type DtlsAlert, type OpenSSLErrorEntry } from './errors';

/** What an OpenSSL error path means, for a person reading a failure: see {@link explain}. */
export interface Explanation {
  /** the OpenSSL function that raised the deciding entry, e.g. 'tls_process_finished' ('unknown' without one) */
  path: string;
  /** one line, e.g. 'No cipher suite is acceptable to both sides' */
  summary: string;
  /** what OpenSSL was doing when it gave up */
  meaning: string;
  /** the usual reasons for this path, most likely first */
  likelyCauses: string[];
  /** what to look at next */
  checks: string[];
  /**
   * A path that left no entry on our queue but that the evidence points to: for an alert we received, the
   * function in the peer's OpenSSL that most likely raised it (inferred from the flight we sent last); for a
   * handshake that stalled while the peer's encrypted records kept arriving, 'dtls1_process_record' (where
   * OpenSSL drops records it cannot decrypt, silently).
   */
  inferredPath?: string;
}

interface Entry {
  summary: string;
  meaning: string;
  likelyCauses: string[];
  checks: string[];
}

/** What a diagnosis may know besides the error queue. */
export interface ExplainContext {
  direction?: 'sent' | 'received';
  description?: string;
  verifyResult?: { code: number; message: string };
  lastMessageSent?: string;
  lastMessageReceived?: string;
  role?: 'client' | 'server';
  /** handshake messages of the flight we sent last (received alerts) */
  lastFlight?: readonly string[];
  negotiated?: DtlsAlert['negotiated'];
  /** records of a later epoch that arrived during the handshake and never yielded a message */
  undecryptedRecords?: number;
  /** datagrams received from the peer during the session */
  datagramsIn?: number;
  /** the handshake ran out of time: OpenSSL's retransmissions, or the handshakeTimeout option */
  timedOut?: boolean;
  /** SSL_get_error() of a failure with nothing queued */
  sslError?: number;
  /** our DtlsError code, for failures that are not OpenSSL's (abort, close, send callback) */
  code?: string;
}

// ---- sent alerts and local failures: keyed by "function|reason" of the last SSL entry -------------------

const KEY_OR_TRANSCRIPT_CHECKS = [
  'sign and verify a test message with the key and certificate in use (a failure proves the key state is wrong)',
  'compare timeline() of both sides: the same messages, in the same order, with the same lengths?',
  'capture the handshake (keylogFile makes it decryptable in Wireshark) and look for a middlebox rewriting it',
];

const TABLE: Record<string, Entry> = {
  // decrypt_error (§4.1)
  'tls_process_key_exchange|bad signature': {
    summary: "The server's ServerKeyExchange signature does not verify (decrypt_error, D1)",
    meaning:
      "The client checked the server's signature over client_random, server_random and the ephemeral key parameters with the public key in the server certificate, and it failed: the server did not sign with the key of its certificate, or the signed bytes changed on the way.",
    likelyCauses: [
      'the server private key does not match its certificate, or its key state is corrupted in memory (then every new handshake fails until the server restarts)',
      'the ServerKeyExchange or a hello random was changed in transit (middlebox, a broken fragment reassembly)',
      'a signature algorithm interoperability bug in the server (e.g. RSA-PSS)',
    ],
    checks: [
      "check the server's key against its certificate and sign a test message with it",
      'if a restart of the server "fixes" it, suspect corrupted key state (the gateway case: an RSA key shared between threads without locking)',
      'capture the handshake',
    ],
  },
  'tls_process_cert_verify|bad signature': {
    summary: "The client's CertificateVerify signature does not verify (decrypt_error, D2)",
    meaning:
      'The server checked the signature the client made over the handshake transcript with the public key in the client certificate, and it failed. Either the client signed with a key that does not match its certificate, or the two sides hashed different transcripts: with client certificates a transcript mismatch is caught here, before Finished, whatever the extended master secret setting.',
    likelyCauses: [
      'the client private key does not match its certificate, or its key state is corrupted (fails until the client restarts)',
      'a handshake message between ClientHello and ClientKeyExchange was changed, duplicated or hashed differently on one side (middlebox, a peer retransmission or reassembly bug, a HelloVerifyRequest hashed by one side)',
    ],
    checks: ["check the client's key against its certificate", ...KEY_OR_TRANSCRIPT_CHECKS],
  },
  'tls_process_finished|digest check failed': {
    summary: "The peer's Finished does not match our transcript (decrypt_error, D4)",
    meaning:
      "The Finished record decrypted and its MAC was fine, so both sides hold the same keys — but the peer's verify_data differs from ours: the two sides hashed different handshake transcripts under the same master secret.",
    likelyCauses: [
      'extended master secret is off (always so with DTLS 1.0 and OpenSSL 1.0.x peers) and a handshake message was altered, duplicated or reordered in one side\'s hash',
      'a resumed handshake (the master secret comes from the session) with a different transcript',
      'a PRF or hash bug in the peer (e.g. the wrong PRF hash for a SHA-384 suite)',
      'a client (full handshake, EMS on): a NewSessionTicket that is not this server\'s — EMS covers the transcript only up to ClientKeyExchange, and an epoch-0 NewSessionTicket is not authenticated. Over UDP this happens when the client\'s port was used a moment earlier by another connection to the same server, whose late retransmitted final flight arrived first (measured: ~1 in 5,000 handshakes when thousands of short connections churn ports on a loaded machine); or an on-path tamperer',
    ],
    checks: [
      'check whether extended master secret was negotiated (alert.negotiated.extendedMasterSecret): with it on, the same defect would have shown up as undecryptable records instead — except for a NewSessionTicket, which comes after the part EMS covers',
      'on the client: the timeline shows two NewSessionTicket/ChangeCipherSpec arrivals, or a Finished that could not be decrypted right before the failing one, when a stale flight was taken first; a retry on a new port succeeds',
      ...KEY_OR_TRANSCRIPT_CHECKS.slice(1),
    ],
  },
  'tls_process_cke_rsa|decryption failed': {
    summary: "The client's RSA-encrypted premaster secret is not a valid ciphertext for our key (decrypt_error, D5–D7)",
    meaning:
      'With RSA key exchange, the ClientKeyExchange is publicly invalid for the server key (wrong length, or a value not below the modulus), or the key\'s provider cannot do TLS-style RSA decryption. A padding or version error does NOT land here: OpenSSL then continues with a random premaster and the failure shows up later as undecryptable records.',
    likelyCauses: [
      'the client encrypted to another public key (a wrong or cached server certificate; a certificate/key mismatch on the server)',
      'a truncated or corrupted ClientKeyExchange',
      'a key held in a provider or HSM without RSA_PKCS1_WITH_TLS_PADDING',
    ],
    checks: ['check which certificate the client used', 'prefer ECDHE suites: openssl-dtls enables RSA key exchange only when a suite is named'],
  },
  // bad_record_mac (§4.2)
  'dtls1_process_record|decryption failed or bad record mac': {
    summary: 'A record failed its integrity check under Encrypt-then-MAC (bad_record_mac)',
    meaning:
      'With a CBC suite and Encrypt-then-MAC (RFC 7366, negotiated by default between OpenSSL >= 1.1.0 peers), OpenSSL treats a record whose HMAC does not match as fatal — AEAD and MAC-then-encrypt records that fail are dropped silently instead. During the handshake this means the two sides derived different keys.',
    likelyCauses: [
      'different master secrets: an RSA premaster the server decrypted wrongly (its key state is corrupted: OpenSSL then uses a random premaster), an extended-master-secret session hash mismatch (a handshake message changed in transit), a wrong PSK',
      'after the handshake: a corrupted or tampered record, or a stale record from a previous association on the same address and port',
    ],
    checks: ['sign and verify a test message with the server key', 'compare timeline() of both sides', 'decrypt a capture with the keylog: which record fails?'],
  },
  // handshake_failure (§4.3)
  'tls_post_process_client_hello|no shared cipher': {
    summary: 'No cipher suite is acceptable to both sides (handshake_failure)',
    meaning:
      "The server found no suite in the ClientHello that it has enabled and can use: the choice also takes the certificate's key type, the shared groups, the signature algorithms and the security level into account, not just the two lists.",
    likelyCauses: [
      'the two cipher lists do not overlap (openssl-dtls enables CBC and RSA key exchange suites only by name)',
      'the server certificate type does not fit the offered suites (ECDSA certificate, only ECDHE-RSA suites offered, or the reverse)',
      'no common group for ECDHE, or no signature algorithm usable with the server key',
      'a PSK-only peer talking to a certificate-only server',
    ],
    checks: ['compare the ClientHello suites with context.getCiphers()', 'check the server key type against the suite names (ECDSA vs RSA)', 'compare groups and sigalgs'],
  },
  'tls_early_post_process_client_hello|no shared cipher': {
    summary: 'No cipher suite is acceptable to both sides (handshake_failure)',
    meaning: 'The server found no suite in the ClientHello that it has enabled.',
    likelyCauses: ['the two cipher lists do not overlap'],
    checks: ['compare the ClientHello suites with context.getCiphers()'],
  },
  'tls_early_post_process_client_hello|cookie mismatch': {
    summary: 'The ClientHello cookie does not verify (handshake_failure)',
    meaning: 'The server asked for a cookie (HelloVerifyRequest) and the second ClientHello carried a cookie it did not issue for this peer address.',
    likelyCauses: ['the client address changed between the two ClientHellos (NAT rebinding)', 'a spoofed, replayed or rewritten ClientHello', 'the cookie secret changed in between'],
    checks: ['check the peer address given to the session', 'look for address changes in a capture'],
  },
  'tls_early_post_process_client_hello|scsv received when renegotiating': {
    summary: 'The renegotiation ClientHello carries the SCSV (handshake_failure)',
    meaning: 'A ClientHello sent to renegotiate contains TLS_EMPTY_RENEGOTIATION_INFO_SCSV, which RFC 5746 forbids.',
    likelyCauses: ['a buggy peer'],
    checks: ['avoid renegotiation: openssl-dtls refuses it anyway'],
  },
  'tls_early_post_process_client_hello|unsupported protocol': {
    summary: 'No DTLS version is acceptable to both sides (protocol_version)',
    meaning: "The server supports none of the versions in the client's hello.",
    likelyCauses: ['a DTLS 1.0-only peer (DTLS 1.0 is off unless minVersion is DTLSv1)', 'minVersion/maxVersion set differently on the two sides'],
    checks: ['compare minVersion/maxVersion on both sides'],
  },
  'tls_handle_alpn|no application protocol': {
    summary: 'No ALPN protocol is acceptable to both sides (no_application_protocol)',
    meaning: 'The client offered ALPN protocols and the server supports none of them.',
    likelyCauses: ['the two alpnProtocols lists do not overlap'],
    checks: ['compare alpnProtocols on both sides'],
  },
  'final_ems|inconsistent extms': {
    summary: 'Extended master secret use changed for a resumed session (handshake_failure)',
    meaning: 'One side resumes a session made with extended master secret in a hello without it, or the reverse.',
    likelyCauses: ['the peer changed its extendedMasterSecret setting between connections', 'a session shared between differently configured contexts'],
    checks: ['use the same extendedMasterSecret setting for every connection that shares sessions'],
  },
  'ssl_get_prev_session|inconsistent extms': {
    summary: 'Extended master secret use changed for a resumed session (handshake_failure)',
    meaning: 'The client offered a session made with extended master secret in a ClientHello without the extension (RFC 7627 §5.3).',
    likelyCauses: ['the client changed its extendedMasterSecret setting between connections'],
    checks: ['use the same extendedMasterSecret setting for every connection that resumes sessions'],
  },
  'final_renegotiate|unsafe legacy renegotiation disabled': {
    summary: 'The peer does not support secure renegotiation (handshake_failure)',
    meaning: 'The peer sent no renegotiation_info (RFC 5746); OpenSSL 3.0 refuses such peers by default.',
    likelyCauses: ['a very old DTLS stack'],
    checks: ['upgrade the peer'],
  },
  'tls_parse_ctos_renegotiate|renegotiation mismatch': {
    summary: 'renegotiation_info does not match the previous Finished (handshake_failure)',
    meaning: "The client's renegotiation_info extension does not carry the verify data of the connection it renegotiates.",
    likelyCauses: ['a confused or buggy peer'],
    checks: ['avoid renegotiation'],
  },
  'dtls1_read_bytes|no renegotiation': {
    summary: 'The peer refused to renegotiate (handshake_failure)',
    meaning: 'A renegotiation was answered with a no_renegotiation warning.',
    likelyCauses: ['renegotiation is not supported by the peer'],
    checks: ['do not renegotiate DTLS (DTLS-SRTP never needs it)'],
  },
  'tls12_check_peer_sigalg|wrong signature type': {
    summary: 'The peer signed with a signature algorithm we did not offer or that does not fit its key',
    meaning: "The signature algorithm in the peer's ServerKeyExchange or CertificateVerify is not one this side offered or allows (security level, Suite B), or it does not match the type of the peer's key.",
    likelyCauses: ['an old peer signing with SHA-1 or MD5-SHA1', 'sigalgs restricted on this side', 'the message was changed in transit'],
    checks: ['compare the sigalgs settings of both sides', 'check the peer certificate key type'],
  },
  'tls12_check_peer_sigalg|unknown digest': {
    summary: "The digest of the peer's signature algorithm is unavailable",
    meaning: "The digest named by the peer's signature algorithm is not available in this OpenSSL.",
    likelyCauses: ['a disabled or missing digest in this OpenSSL configuration'],
    checks: ['compare sigalgs with the peer'],
  },
  'tls12_check_peer_sigalg|wrong curve': {
    summary: "The peer's signing key uses a curve we did not offer",
    meaning: "The curve of the peer's ECDSA key does not match the signature algorithm, or is not one this side offered.",
    likelyCauses: ['a P-384/P-521 certificate with a peer restricted to P-256 (or the reverse)'],
    checks: ['compare groups and sigalgs with the certificate key'],
  },
  'tls12_check_peer_sigalg|illegal point compression': {
    summary: "The peer's EC key uses a point format we did not offer",
    meaning: "The peer's ECDSA key is encoded with a point compression format that was not negotiated.",
    likelyCauses: ['a certificate with a compressed EC point'],
    checks: ['use a certificate with an uncompressed point'],
  },
  'tls1_set_server_sigalgs|no shared signature algorithms': {
    summary: 'No signature algorithm is usable by both sides (handshake_failure)',
    meaning: "None of the client's signature algorithms can be used with the server key.",
    likelyCauses: ["an ECDSA server certificate and a client without ECDSA sigalgs", 'a DTLS 1.0 peer and a security level that forbids MD5-SHA1'],
    checks: ['compare sigalgs with the server key type'],
  },
  'tls_choose_sigalg|no suitable signature algorithm': {
    summary: 'No signature algorithm fits our key and the peer list (handshake_failure)',
    meaning: "This side cannot sign with its key using any signature algorithm the peer accepts.",
    likelyCauses: ["the peer's sigalgs do not include our key type", 'sigalgs restricted on this side'],
    checks: ['compare sigalgs with the key type of our certificate'],
  },
  'tls_choose_sigalg|wrong signature type': {
    summary: 'No signature algorithm fits our key and the peer list (handshake_failure)',
    meaning: "The signature algorithm the peer asks for does not fit this side's key.",
    likelyCauses: ['a key type the peer does not support'],
    checks: ['compare sigalgs with the key type of our certificate'],
  },
  'tls_setup_handshake|no ciphers available': {
    summary: 'This side has no cipher suite usable with the enabled versions',
    meaning: 'The local configuration leaves nothing to offer or accept, before anything is sent.',
    likelyCauses: ['a cipher string that selects no DTLS suite for the enabled versions', 'DTLS 1.0 without @SECLEVEL=0'],
    checks: ['print context.getCiphers()', 'check minVersion/maxVersion and ciphers'],
  },
  'tls_setup_handshake|no suitable digest algorithm': {
    summary: 'This side has no usable digest for the enabled versions',
    meaning: 'The local configuration leaves no usable handshake digest.',
    likelyCauses: ['a misconfigured min/max version'],
    checks: ['check minVersion/maxVersion'],
  },
  'tls_construct_server_key_exchange|unsupported elliptic curve': {
    summary: 'No shared group for the ECDHE key exchange (handshake_failure)',
    meaning: "The server found no group offered by the client that it supports.",
    likelyCauses: ['groups restricted differently on the two sides'],
    checks: ['compare the groups settings'],
  },
  'tls_construct_server_key_exchange|dh key too small': {
    summary: 'The DH parameters are below the security level (handshake_failure)',
    meaning: 'The server has no acceptable DH parameters for a DHE suite.',
    likelyCauses: ['small DH parameters'],
    checks: ['prefer ECDHE suites'],
  },
  'tls_process_ske_dhe|dh key too small': {
    summary: "The server's DH group is below our security level (handshake_failure)",
    meaning: 'The DHE parameters the server sent are too small.',
    likelyCauses: ['an old server with 1024-bit DH'],
    checks: ['prefer ECDHE suites'],
  },
  'tls_process_cke_ecdhe|missing tmp ecdh key': {
    summary: 'ClientKeyExchange without a key for the ECDHE suite (handshake_failure)',
    meaning: 'The server has no ephemeral key to pair with the client key share.',
    likelyCauses: ['a buggy peer'],
    checks: ['capture the handshake'],
  },
  'ssl3_check_cert_and_algorithm|missing signing cert': {
    summary: "The server certificate cannot sign for the negotiated suite (handshake_failure)",
    meaning: 'The server certificate does not fit the suite the server chose.',
    likelyCauses: ['a server misconfiguration'],
    checks: ['check the server certificate type against the suite'],
  },
  'ssl3_check_cert_and_algorithm|bad ecc cert': {
    summary: 'The server ECC certificate does not fit the negotiated suite (handshake_failure)',
    meaning: 'The server certificate cannot be used with the suite the server chose.',
    likelyCauses: ['a server misconfiguration'],
    checks: ['check the server certificate type against the suite'],
  },
  'ssl3_check_cert_and_algorithm|missing rsa encrypting cert': {
    summary: 'RSA key exchange with a certificate that cannot encrypt (handshake_failure)',
    meaning: 'The server chose an RSA key exchange suite with a certificate that is not an RSA encryption certificate.',
    likelyCauses: ['a server misconfiguration'],
    checks: ['check the server certificate type against the suite'],
  },
  'tls_process_client_certificate|peer did not return a certificate': {
    summary: 'The client sent no certificate although one is required',
    meaning: 'The server requires a client certificate (requestCert with verification, or remoteFingerprints) and the client sent an empty Certificate message.',
    likelyCauses: ['the client has no certificate configured', "the client could not match the server's CertificateRequest (key types, CA names)"],
    checks: ['give the client cert and key', 'or set requestCert/rejectUnauthorized on the server as intended'],
  },
  'tls_process_client_certificate|unknown certificate type': {
    summary: 'The client certificate key cannot be used (handshake_failure)',
    meaning: "The server cannot use the client certificate's public key.",
    likelyCauses: ['an exotic key type'],
    checks: ['use an ECDSA P-256, RSA or Ed25519 client certificate'],
  },
  'tls_process_server_certificate|ASN1 lib': {
    summary: 'The server certificate does not parse (bad_certificate)',
    meaning: 'The DER of a certificate in the server Certificate message is not a valid X.509 certificate.',
    likelyCauses: ['a certificate corrupted in transit or in the server configuration', 'a broken fragment reassembly'],
    checks: ['check the server certificate with openssl x509 -text', 'capture the handshake'],
  },
  'tls_post_process_server_certificate|unknown certificate type': {
    summary: 'The server certificate key type is unusable (illegal_parameter)',
    meaning: "The client cannot use the server certificate's key.",
    likelyCauses: ['an exotic key type'],
    checks: ['use an ECDSA P-256 or RSA server certificate'],
  },
  'tls_post_process_server_certificate|wrong certificate type': {
    summary: 'The server certificate does not fit the negotiated suite (illegal_parameter)',
    meaning: 'The key type of the server certificate does not match the suite, e.g. an ECDSA certificate with an *_RSA_* suite.',
    likelyCauses: ['a buggy server'],
    checks: ['check the server certificate type against the suite'],
  },
  // illegal_parameter (§4.4)
  'set_client_ciphersuite|wrong cipher returned': {
    summary: 'The server chose a suite the client did not offer (illegal_parameter)',
    meaning: 'The ServerHello names a known cipher suite that the client did not offer or does not allow.',
    likelyCauses: ['a buggy server or middlebox', "a client security level stricter than the server's choice"],
    checks: ['compare the ServerHello suite with the client cipher list', 'capture the handshake'],
  },
  'set_client_ciphersuite|unknown cipher returned': {
    summary: 'The server chose a suite the client does not know (illegal_parameter)',
    meaning: 'The ServerHello names a cipher suite code that this OpenSSL does not know at all.',
    likelyCauses: ['a buggy server', 'a middlebox rewriting the ServerHello'],
    checks: ['capture the handshake'],
  },
  'set_client_ciphersuite|old session cipher not returned': {
    summary: 'The server resumed the session with another suite (illegal_parameter)',
    meaning: 'The server accepted the session the client offered but picked a different cipher suite than the session has.',
    likelyCauses: ['a buggy server'],
    checks: ['resume without the cached session'],
  },
  'dtls_process_hello_verify|length too long': {
    summary: 'The HelloVerifyRequest cookie is longer than 255 bytes (illegal_parameter)',
    meaning: 'The server sent a cookie longer than DTLS allows.',
    likelyCauses: ['a buggy server'],
    checks: ['capture the handshake'],
  },
  'tls_process_ske_ecdhe|wrong curve': {
    summary: 'The server used a group the client did not offer (illegal_parameter)',
    meaning: 'The named group in the ServerKeyExchange is not one of the groups the client offered.',
    likelyCauses: ['a buggy server', 'the ServerKeyExchange was changed in transit'],
    checks: ['compare the groups settings', 'capture the handshake'],
  },
  'tls_process_ske_ecdhe|bad ecpoint': {
    summary: "The server's ephemeral public key is not a valid point (illegal_parameter)",
    meaning: 'The ECDHE public key in the ServerKeyExchange does not decode as a point of the named group.',
    likelyCauses: ['a buggy server', 'the ServerKeyExchange was corrupted in transit'],
    checks: ['capture the handshake'],
  },
  'tls_process_ske_dhe|bad dh value': {
    summary: "The server's DH value is invalid (illegal_parameter)",
    meaning: 'The DHE public value in the ServerKeyExchange is out of range.',
    likelyCauses: ['a buggy server'],
    checks: ['prefer ECDHE suites'],
  },
  'tls_process_cke_ecdhe|bad key share': {
    summary: "The client's ephemeral public key is not a valid point (illegal_parameter)",
    meaning: 'The ECDHE public key in the ClientKeyExchange does not decode as a point of the negotiated group.',
    likelyCauses: ['a buggy client', 'the ClientKeyExchange was corrupted in transit'],
    checks: ['capture the handshake'],
  },
  'tls_process_cke_dhe|bad key share': {
    summary: "The client's DH value is invalid (illegal_parameter)",
    meaning: 'The DHE public value in the ClientKeyExchange is invalid.',
    likelyCauses: ['a buggy client'],
    checks: ['prefer ECDHE suites'],
  },
  'ssl_derive|bad key share': {
    summary: 'The key agreement failed (illegal_parameter)',
    meaning: "Deriving the shared secret from the peer's public key failed.",
    likelyCauses: ['an invalid or weak peer public value'],
    checks: ['capture the handshake'],
  },
  'dtls1_preprocess_fragment|excessive message size': {
    summary: 'A handshake fragment does not fit its message (illegal_parameter)',
    meaning: 'A fragment reaches beyond the length of its message, the message is larger than allowed, or two fragments of one message disagree on its length.',
    likelyCauses: ['a broken DTLS fragmenter in the peer or a middlebox', 'a message rewritten in transit'],
    checks: ["look at the 'fragment' events in timeline(): offsets, lengths and message lengths"],
  },
  'read_state_machine|excessive message size': {
    summary: 'A handshake message is larger than allowed in this state (illegal_parameter)',
    meaning: 'The message exceeds the size OpenSSL allows for this handshake state.',
    likelyCauses: ['a very large certificate chain', 'a corrupted length'],
    checks: ['check the size of the certificate chain'],
  },
  'dtls_get_reassembled_message|bad length': {
    summary: 'A handshake fragment is longer than its record (illegal_parameter)',
    meaning: 'The fragment length in a handshake header is larger than what the record carries.',
    likelyCauses: ['a broken DTLS fragmenter or middlebox', 'a truncated record'],
    checks: ["look at the 'fragment' events in timeline()", 'capture the handshake'],
  },
  'tls_process_cert_verify|signature for non signing certificate': {
    summary: 'CertificateVerify from a certificate that cannot sign (illegal_parameter)',
    meaning: "The client certificate's key usage does not allow signing.",
    likelyCauses: ['a client certificate made for key encipherment only'],
    checks: ['check keyUsage of the client certificate'],
  },
  'tls_early_post_process_client_hello|required cipher missing': {
    summary: "The resumed session's suite is missing from the ClientHello (illegal_parameter)",
    meaning: 'The client offered a session but not the cipher suite it was made with.',
    likelyCauses: ['the client cipher list changed between connections'],
    checks: ['keep the same ciphers for connections that share sessions'],
  },
  'tls_parse_stoc_use_srtp|bad srtp mki value': {
    summary: 'The server returned an SRTP MKI the client never offered (illegal_parameter)',
    meaning: 'The use_srtp extension in the ServerHello carries an MKI the client did not send.',
    likelyCauses: ['a buggy DTLS-SRTP server'],
    checks: ['capture the handshake'],
  },
  'tls_collect_extensions|bad extension': {
    summary: 'A hello carries a malformed or duplicated extension (illegal_parameter)',
    meaning: 'An extension appears twice or does not fit the message.',
    likelyCauses: ['a buggy peer or middlebox'],
    checks: ['capture the handshake'],
  },
  'final_ec_pt_formats|tls invalid ecpointformat list': {
    summary: 'The EC point format list lacks the uncompressed format (illegal_parameter)',
    meaning: "The peer's ec_point_formats extension does not include uncompressed points.",
    likelyCauses: ['a buggy peer'],
    checks: ['capture the handshake'],
  },
  'bytes_to_cipher_list|no ciphers specified': {
    summary: 'The ClientHello offers no cipher suite (illegal_parameter)',
    meaning: 'The cipher_suites list of the ClientHello is empty.',
    likelyCauses: ['a buggy client'],
    checks: ['check the client cipher configuration'],
  },
  'tls_process_client_hello|length mismatch': {
    summary: 'The ClientHello is malformed (illegal_parameter)',
    meaning: 'The lengths inside the ClientHello do not add up.',
    likelyCauses: ['a buggy client or middlebox'],
    checks: ['capture the handshake'],
  },
  'dtls1_read_bytes|unknown alert type': {
    summary: 'An alert with a level that is neither warning nor fatal (illegal_parameter)',
    meaning: 'The peer sent an alert record whose level byte is not 1 or 2.',
    likelyCauses: ['a buggy peer', 'a corrupted or injected record'],
    checks: ['capture the traffic'],
  },
  // unexpected_message (§4.5)
  'ossl_statem_client_read_transition|unexpected message': {
    summary: 'A handshake message arrived that the client did not expect in this state (unexpected_message)',
    meaning: "The client's state machine and the server's disagree about what comes next.",
    likelyCauses: [
      'both sides act as DTLS client (a role conflict: a=setup in WebRTC signalling)',
      'a suite that needs a ServerKeyExchange without one, or the reverse',
      'a message rewritten in transit',
    ],
    checks: ['check the DTLS roles on both sides', "look at timeline() for the message order"],
  },
  'ossl_statem_server_read_transition|unexpected message': {
    summary: 'A handshake message arrived that the server did not expect in this state (unexpected_message)',
    meaning: "The server's state machine and the client's disagree about what comes next.",
    likelyCauses: ['both sides act as DTLS server or client (a role conflict)', 'a client that skipped a message (e.g. no Certificate although one was requested)', 'a message rewritten in transit'],
    checks: ['check the DTLS roles on both sides', 'look at timeline() for the message order'],
  },
  'tls_process_key_exchange|unexpected message': {
    summary: 'A ServerKeyExchange for a suite that does not use one (unexpected_message)',
    meaning: 'The server sent key exchange parameters the negotiated suite has no use for.',
    likelyCauses: ['a buggy server'],
    checks: ['capture the handshake'],
  },
  'dtls_get_reassembled_message|unexpected message': {
    summary: 'A handshake record too short for a handshake header, or a malformed HelloRequest (unexpected_message)',
    meaning: 'A handshake record is shorter than the 12-byte DTLS handshake header, or a HelloRequest has a body.',
    likelyCauses: ['a truncated record (a middlebox, a broken fragmenter)', 'a buggy peer'],
    checks: ["look at the 'fragment' events in timeline()", 'capture the handshake'],
  },
  'dtls_get_reassembled_message|bad change cipher spec': {
    summary: 'A malformed ChangeCipherSpec (unexpected_message)',
    meaning: 'The ChangeCipherSpec record does not carry the single byte 1.',
    likelyCauses: ['a buggy peer', 'a record rewritten in transit'],
    checks: ['capture the handshake'],
  },
  'tls_process_change_cipher_spec|bad change cipher spec': {
    summary: 'A malformed ChangeCipherSpec (decode_error)',
    meaning: 'The ChangeCipherSpec message has the wrong length.',
    likelyCauses: ['a buggy peer', 'a record rewritten in transit'],
    checks: ['capture the handshake'],
  },
  'tls_process_change_cipher_spec|ccs received early': {
    summary: 'ChangeCipherSpec before a cipher was negotiated (unexpected_message)',
    meaning: 'The peer switched to encryption before the suite was known.',
    likelyCauses: ['a buggy peer'],
    checks: ['capture the handshake'],
  },
  'tls_process_finished|got a fin before a ccs': {
    summary: 'Finished without a preceding ChangeCipherSpec (unexpected_message)',
    meaning: 'In DTLS a lost ChangeCipherSpec is recovered by retransmission, so this is a peer bug.',
    likelyCauses: ['a buggy peer'],
    checks: ['capture the handshake'],
  },
  'dtls1_read_bytes|app data in handshake': {
    summary: 'Application data where a handshake message was expected (unexpected_message)',
    meaning: 'The peer sent application data before the handshake completed.',
    likelyCauses: ['a buggy peer'],
    checks: ['capture the handshake'],
  },
  'dtls1_read_bytes|invalid alert': {
    summary: 'A malformed alert record (unexpected_message)',
    meaning: 'An alert record is not exactly two bytes long.',
    likelyCauses: ['a buggy peer', 'a corrupted or injected record'],
    checks: ['capture the traffic'],
  },
  'dtls1_read_bytes|too many warn alerts': {
    summary: 'A flood of warning alerts (unexpected_message)',
    meaning: 'The peer sent more than four warning alerts in a row without anything else.',
    likelyCauses: ['a buggy peer or an attack'],
    checks: ['capture the traffic'],
  },
  'dtls1_read_bytes|unexpected record': {
    summary: 'A record of an unexpected content type (unexpected_message)',
    meaning: 'A record of an unknown content type, or application data during the handshake, arrived.',
    likelyCauses: ['a buggy peer', 'another protocol multiplexed on the same port (check RFC 7983 demultiplexing)'],
    checks: ['check that only DTLS datagrams reach the session (isDtlsPacket)', 'capture the traffic'],
  },
  // no alert on the wire
  'dtls1_check_timeout_num|read timeout expired': {
    summary: 'The handshake gave up after repeated retransmissions (no alert is sent)',
    meaning: 'Our flight was retransmitted the maximum number of times (12) without the handshake moving on.',
    likelyCauses: [
      'packet loss or a blocked path (firewall, NAT, wrong address or port)',
      'the peer is not a DTLS endpoint, is not running, or uses the same DTLS role as we do',
    ],
    checks: ['check connectivity and the remote port', "look at timeline(): did the peer answer at all, and what did it repeat?"],
  },
};

// ---- verify results (X509_V_ERR_*) for "certificate verify failed": §4.6 x509table ----------------------

const VERIFY_HINTS: Record<number, Entry> = {
  1: {
    summary: 'Certificate verification failed without a reason (X509_V_ERR_UNSPECIFIED)',
    meaning: 'A verify callback rejected the certificate without naming why, so OpenSSL sends internal_error.',
    likelyCauses: ['a verify callback that returns 0 without setting an error (openssl-dtls sets APPLICATION_VERIFICATION for its own checks)'],
    checks: ['look at the verify callback of the side that rejected'],
  },
  2: {
    summary: "The issuer of a certificate in the peer's chain is unknown (unknown_ca)",
    meaning: 'OpenSSL could not find the certificate that issued one in the chain.',
    likelyCauses: ['a missing intermediate certificate', 'the issuing CA is not in ca'],
    checks: ['make the peer send its full chain', 'add the CA to ca'],
  },
  7: {
    summary: "A certificate signature in the peer's chain does not verify (decrypt_error, D8)",
    meaning: 'A certificate in the chain is not validly signed by its issuer: chain verification failed with X509_V_ERR_CERT_SIGNATURE_FAILURE, which OpenSSL sends as decrypt_error.',
    likelyCauses: ['a certificate corrupted in transit or on disk', 'an issuer with the same name but another key (a re-issued CA)', 'a forged certificate'],
    checks: ['check the chain with openssl verify', 'compare the issuer certificate in ca with the one that signed'],
  },
  8: {
    summary: 'A CRL signature does not verify (decrypt_error, D8)',
    meaning: 'A CRL used for the check is not validly signed by its issuer.',
    likelyCauses: ['a corrupted or foreign CRL'],
    checks: ['check the CRL with openssl crl -verify'],
  },
  9: {
    summary: 'The peer certificate is not yet valid (bad_certificate)',
    meaning: 'Chain verification found a certificate whose notBefore date is in the future.',
    likelyCauses: ['a freshly issued certificate and clock skew', 'a wrong clock on this machine'],
    checks: ['check the clocks of both machines'],
  },
  10: {
    summary: 'The peer certificate has expired (certificate_expired)',
    meaning: 'Chain verification found a certificate whose notAfter date is in the past.',
    likelyCauses: ['an expired certificate', 'a wrong clock on this machine'],
    checks: ['look at the validity dates of the peer certificate (timeline() shows them once connected; dtls-probe connect prints them)', 'check the system clock'],
  },
  11: {
    summary: 'A CRL is not yet valid (bad_certificate)',
    meaning: 'The CRL used for the check has a lastUpdate date in the future.',
    likelyCauses: ['clock skew'],
    checks: ['check the clocks'],
  },
  12: {
    summary: 'A CRL has expired (certificate_expired)',
    meaning: 'The CRL used for the check is past its nextUpdate date.',
    likelyCauses: ['a stale CRL'],
    checks: ['refresh the CRL'],
  },
  18: {
    summary: 'The peer certificate is self-signed and not trusted (unknown_ca)',
    meaning: 'The peer presented a self-signed certificate that is not in the trust store (ca).',
    likelyCauses: ['a self-signed certificate (WebRTC style) verified against a CA store'],
    checks: ['pass its fingerprint in remoteFingerprints, add it to ca, or set rejectUnauthorized: false for tests'],
  },
  19: {
    summary: 'The chain ends in a self-signed CA that is not trusted (unknown_ca)',
    meaning: 'The chain is complete but its root is not in the trust store.',
    likelyCauses: ['a private CA not given in ca'],
    checks: ['add the root certificate to ca'],
  },
  20: {
    summary: 'The issuer of the peer certificate is unknown (unknown_ca)',
    meaning: 'No certificate in the trust store or the presented chain issued the peer certificate.',
    likelyCauses: ['a missing intermediate certificate in the peer chain', 'the issuing CA is not in ca'],
    checks: ['make the peer send its full chain', 'add the CA to ca'],
  },
  21: {
    summary: 'The leaf certificate could not be verified (unknown_ca)',
    meaning: 'No issuer certificate was found for the only certificate presented.',
    likelyCauses: ['a missing intermediate or root'],
    checks: ['make the peer send its full chain', 'add the CA to ca'],
  },
  22: {
    summary: 'The certificate chain is too long (unknown_ca)',
    meaning: 'The chain exceeds the verification depth.',
    likelyCauses: ['an unusually deep chain'],
    checks: ['shorten the chain'],
  },
  23: {
    summary: 'The peer certificate is revoked (certificate_revoked)',
    meaning: 'A CRL lists the certificate as revoked.',
    likelyCauses: ['a revoked certificate still in use'],
    checks: ['issue a new certificate'],
  },
  24: {
    summary: 'A CA certificate in the chain is not a valid CA (unknown_ca)',
    meaning: 'A certificate used as an issuer lacks basicConstraints CA:TRUE or keyCertSign.',
    likelyCauses: ['a leaf certificate used as an issuer'],
    checks: ['check the chain with openssl verify'],
  },
  25: {
    summary: 'A path length constraint is exceeded (unknown_ca)',
    meaning: 'The chain is longer than a CA allows (pathlen).',
    likelyCauses: ['an intermediate issued below a pathlen:0 CA'],
    checks: ['check the chain with openssl verify'],
  },
  26: {
    summary: 'The peer certificate is not made for this purpose (unsupported_certificate)',
    meaning: 'Its extended key usage does not allow this use (e.g. a serverAuth-only certificate used as a client certificate).',
    likelyCauses: ['a certificate without clientAuth used by a client, or without serverAuth by a server'],
    checks: ['check extendedKeyUsage of the peer certificate'],
  },
  50: {
    summary: 'The peer certificate does not match the expected fingerprint (handshake_failure)',
    meaning: 'openssl-dtls checked the peer certificate against remoteFingerprints during the handshake and none matched, so OpenSSL sent handshake_failure.',
    likelyCauses: ['the fingerprint in the signalling (SDP a=fingerprint) belongs to another certificate', 'the peer rotated its certificate', 'the wrong algorithm or a typo in the value'],
    checks: ['compare fingerprint(peerCertificate) with the value you passed', 'make sure the signalling and the DTLS endpoint use the same certificate'],
  },
  62: {
    summary: 'The peer certificate does not match the expected host name (bad_certificate)',
    meaning: 'servername was given and the certificate names another host.',
    likelyCauses: ['connecting by a name the certificate does not list'],
    checks: ['check the certificate subjectAltName against servername'],
  },
  64: {
    summary: 'The peer certificate does not match the expected IP address (bad_certificate)',
    meaning: 'servername was an IP address that the certificate does not list.',
    likelyCauses: ['connecting by an address the certificate does not list'],
    checks: ['check the certificate subjectAltName IP entries'],
  },
  66: {
    summary: "The peer certificate's key is too small (bad_certificate)",
    meaning: 'The end-entity key is below the security level.',
    likelyCauses: ['an RSA-1024 certificate'],
    checks: ['use a larger key'],
  },
  67: {
    summary: "A CA key in the peer's chain is too small (bad_certificate)",
    meaning: 'A CA key is below the security level.',
    likelyCauses: ['an old CA'],
    checks: ['re-issue with a larger CA key'],
  },
  68: {
    summary: "A CA signature digest in the peer's chain is too weak (bad_certificate)",
    meaning: 'A certificate is signed with a digest the security level forbids (e.g. SHA-1).',
    likelyCauses: ['an old chain signed with SHA-1 or MD5'],
    checks: ['re-issue with SHA-256'],
  },
};

// ---- alerts the peer sent: what it found wrong with our last flight ---------------------------------------

interface PeerView extends Entry {
  inferredPath?: string;
}

function hasAny(flight: readonly string[], ...names: string[]): boolean {
  return names.some((n) => flight.includes(n));
}

/** RSA key transport: no ECDHE/DHE and no PSK in the suite name (OpenSSL names, e.g. AES128-GCM-SHA256). */
function isRsaKeyExchange(cipher: string | undefined): boolean {
  return cipher !== undefined && !/(^|-)(ECDHE|DHE|EDH|PSK|ECDH|ADH|AECDH|SRP)(-|$)/.test(cipher) && !cipher.startsWith('TLS_');
}

function peerView(description: string, ctx: ExplainContext): PeerView | undefined {
  const flight = ctx.lastFlight ?? (ctx.lastMessageSent !== undefined ? [ctx.lastMessageSent] : []);
  const we = ctx.role ?? 'client';
  const peer = we === 'client' ? 'server' : 'client';
  const ourCertPath = we === 'client' ? 'tls_process_client_certificate' : 'tls_post_process_server_certificate';
  switch (description) {
    case 'decrypt_error': {
      if (hasAny(flight, 'CertificateVerify')) {
        return {
          inferredPath: 'tls_process_cert_verify',
          summary: 'The peer rejected our CertificateVerify: our key or our transcript (decrypt_error)',
          meaning:
            'We sent a client certificate, so the server checked our CertificateVerify — a signature over the whole handshake transcript — with the public key in our certificate before it looked at our Finished. It did not verify: our private key does not produce valid signatures for our certificate, or the server hashed a different transcript than we did.',
          likelyCauses: [
            'our private key does not match our certificate, or its state is corrupted in memory (then every new handshake fails until this process restarts: the gateway case)',
            'the two transcripts differ: a handshake message changed in transit, or a peer retransmission or reassembly bug',
            'less likely: our CertificateVerify passed and our Finished did not (same keys, different transcript)',
          ],
          checks: ['sign and verify a test message with our key and certificate', ...KEY_OR_TRANSCRIPT_CHECKS.slice(1)],
        };
      }
      if (hasAny(flight, 'ServerKeyExchange')) {
        return {
          inferredPath: 'tls_process_key_exchange',
          summary: 'The peer rejected our ServerKeyExchange signature (our key or our certificate), or a signature in our certificate chain (decrypt_error)',
          meaning:
            'The client checked our signature over the hello randoms and our ephemeral key with the public key in our certificate, and it failed: our private key does not produce valid signatures for our certificate, or the signed bytes changed on the way. A client that verifies certificate chains sends the same alert when a certificate in our chain is not validly signed by its issuer.',
          likelyCauses: [
            'our private key does not match our certificate, or its state is corrupted in memory (then every new handshake fails until this process restarts: the gateway case)',
            'our ServerKeyExchange or a hello random was changed in transit',
            'if the client verifies certificate chains: a signature in our chain does not verify (verify result 7)',
          ],
          checks: ['sign and verify a test message with our key and certificate', 'capture the handshake'],
        };
      }
      if (hasAny(flight, 'Finished')) {
        const rsa = isRsaKeyExchange(ctx.negotiated?.cipher) && flight.includes('ClientKeyExchange');
        return {
          inferredPath: rsa ? undefined : 'tls_process_finished',
          summary: 'The peer computed a different Finished: same keys, different transcript (decrypt_error)',
          meaning:
            'Our Finished record decrypted at the peer (so the keys agree) but its verify_data did not match the peer\'s: the two sides hashed different handshake transcripts.' +
            (rsa ? ' With RSA key exchange the peer may also have rejected our encrypted premaster as publicly invalid for its key (tls_process_cke_rsa).' : ''),
          likelyCauses: [
            'extended master secret off and a handshake message changed, duplicated or reordered on the way',
            'a resumed session with a different transcript',
            ...(rsa ? ['we encrypted the premaster to a public key that is not the server\'s (a wrong or cached certificate)'] : []),
          ],
          checks: ['check alert.negotiated.extendedMasterSecret', ...KEY_OR_TRANSCRIPT_CHECKS.slice(1)],
        };
      }
      if (hasAny(flight, 'Certificate')) {
        return {
          inferredPath: ourCertPath,
          summary: 'The peer found a certificate signature in our chain invalid (decrypt_error)',
          meaning: 'The peer verified our certificate chain and a signature in it did not verify (verify result 7).',
          likelyCauses: ['a corrupted certificate in our configuration', 'our chain was issued by another key than the CA the peer trusts'],
          checks: ['check our chain with openssl verify'],
        };
      }
      return undefined;
    }
    case 'bad_record_mac':
      return {
        inferredPath: 'dtls1_process_record',
        summary: 'The peer could not authenticate our encrypted record: the two sides hold different keys (bad_record_mac)',
        meaning:
          'With a CBC suite and Encrypt-then-MAC, the peer treats a record whose MAC does not match as fatal. During the handshake that means the two sides derived different master secrets.',
        likelyCauses: [
          'with RSA key exchange: the server decrypted our premaster wrongly (its key state is corrupted; OpenSSL then uses a random premaster by design)',
          'extended master secret on and a handshake message changed in transit (the session hashes differ)',
          'different PSKs',
          'after the handshake: a corrupted record, or a record from a previous association',
        ],
        checks: ['sign and verify a test message with the server key', 'compare timeline() of both sides'],
      };
    case 'handshake_failure': {
      if (we === 'server' && hasAny(flight, 'Certificate')) {
        return {
          inferredPath: 'tls_post_process_server_certificate',
          summary: 'The peer refused the handshake after our certificate: most likely its fingerprint check (handshake_failure)',
          meaning:
            'The client got our ServerHello flight and gave up: a client that checks fingerprints (WebRTC) sends handshake_failure when our certificate is not the one it expects; a signature algorithm it does not accept in our ServerKeyExchange gives the same alert.',
          likelyCauses: ['the fingerprint the client expects (SDP a=fingerprint) is not the one of our certificate', 'our ServerKeyExchange uses a signature algorithm the client did not offer'],
          checks: ['compare fingerprint(our certificate) with what the client was given', 'compare sigalgs'],
        };
      }
      if (we === 'client' && hasAny(flight, 'ClientKeyExchange', 'Certificate', 'Finished')) {
        return {
          inferredPath: 'tls_process_client_certificate',
          summary: 'The peer refused our certificate or required one we did not send (handshake_failure)',
          meaning: 'The server got our final flight and gave up: it checks client certificates (fingerprints or a required certificate) and ours did not pass, or we sent none.',
          likelyCauses: ['the server expects another certificate fingerprint', 'the server requires a client certificate and we have none', 'a signature algorithm the server does not accept'],
          checks: ['give the client cert and key', "compare our certificate's fingerprint with what the server expects"],
        };
      }
      if (we === 'client' && ctx.lastMessageReceived === 'HelloVerifyRequest') {
        return {
          summary: "The server refused the ClientHello that answered its HelloVerifyRequest: its cookie, or no common suite (handshake_failure)",
          meaning: 'The server asked for a cookie, we sent our ClientHello again with it, and the server gave up: it did not accept the cookie, or it found nothing acceptable in the hello. The wire does not say which.',
          likelyCauses: ['our address changed between the two ClientHellos (NAT rebinding), or something rewrote the cookie', 'the server rotated its cookie secret in between', 'no common cipher suite, group or signature algorithm'],
          checks: ["look at the server's logs (a cookie mismatch names tls_early_post_process_client_hello)", 'compare cipher, group and sigalg settings'],
        };
      }
      return {
        inferredPath: we === 'client' ? 'tls_post_process_client_hello' : undefined,
        summary: `The peer refused our ${flight[0] ?? 'hello'} (handshake_failure)`,
        meaning: `The ${peer} found nothing acceptable in our hello, or rejected it; the wire does not say why.`,
        likelyCauses: ['no common cipher suite, group or signature algorithm', 'extended master secret use changed for a resumed session'],
        checks: [`look at the ${peer}'s logs`, 'compare cipher, group and sigalg settings with context.getCiphers()'],
      };
    }
    case 'illegal_parameter': {
      // Which message the peer objected to is not on the wire: name the candidates in our flight.
      const candidates = flight.filter((m) => ['ServerHello', 'Certificate', 'ServerKeyExchange', 'ClientHello', 'ClientKeyExchange', 'CertificateVerify'].includes(m));
      return {
        summary: `The peer found an invalid field in our ${candidates.length > 0 ? candidates.join(' or ') : 'last flight'} (illegal_parameter)`,
        meaning:
          'A value in our last flight is out of range or inconsistent for the peer: a cipher suite or extension in a hello, a group, point or signature algorithm in a key exchange, a certificate type, or a fragment length.',
        likelyCauses: ['a group, point format or signature algorithm the peer did not offer', 'a message changed in transit', 'a fragmentation problem on the path'],
        checks: ['compare ciphers, groups and sigalgs with the peer', "look at the 'fragment' events in timeline()"],
      };
    }
    case 'unexpected_message':
      return {
        summary: `The peer did not expect our ${flight[0] ?? 'message'} in its state (unexpected_message)`,
        meaning: "The peer's state machine disagrees with ours about what comes next.",
        likelyCauses: [`a DTLS role conflict: the peer is a ${we} too (a=setup in WebRTC signalling)`, 'a message changed or injected in transit'],
        checks: ['check the DTLS roles on both sides'],
      };
    case 'certificate_expired':
    case 'unknown_ca':
    case 'bad_certificate':
    case 'unsupported_certificate':
    case 'certificate_revoked':
    case 'certificate_unknown': {
      const what: Record<string, string> = {
        certificate_expired: 'says our certificate has expired (or is past a CRL date)',
        unknown_ca: 'does not trust the issuer of our certificate',
        bad_certificate: 'finds our certificate unusable (not yet valid, wrong host name, weak key or digest, or it does not parse)',
        unsupported_certificate: 'says our certificate is not made for this use (extended key usage)',
        certificate_revoked: 'says our certificate is revoked',
        certificate_unknown: 'rejected our certificate for an unspecified reason',
      };
      return {
        inferredPath: ourCertPath,
        summary: `The peer ${what[description]} (${description})`,
        meaning: `The ${peer} verified the certificate chain we sent against its trust store and it failed.`,
        likelyCauses:
          description === 'unknown_ca'
            ? ['a self-signed certificate sent to a peer that verifies chains (give it our fingerprint or CA)', 'a missing intermediate in our chain']
            : description === 'certificate_expired'
              ? ['an expired certificate on our side', 'a wrong clock on the peer']
              : ['our certificate does not meet the peer\'s policy'],
        checks: ['check our certificate with openssl x509 -text', 'send the full chain in cert'],
      };
    }
    case 'certificate_required':
      return {
        inferredPath: 'tls_process_client_certificate',
        summary: 'The peer requires a client certificate and we sent none (certificate_required)',
        meaning: 'The server asked for a certificate and refuses clients without one.',
        likelyCauses: ['no cert/key configured on this client'],
        checks: ['give the client cert and key'],
      };
    case 'protocol_version':
      return {
        inferredPath: we === 'client' ? 'tls_early_post_process_client_hello' : undefined,
        summary: 'The peer does not support our DTLS version (protocol_version)',
        meaning: 'No DTLS version is acceptable to both sides.',
        likelyCauses: ['the peer only speaks DTLS 1.0 (off unless minVersion is DTLSv1) or only DTLS 1.3'],
        checks: ['compare minVersion/maxVersion with the peer'],
      };
    case 'no_application_protocol':
      return {
        inferredPath: we === 'client' ? 'tls_handle_alpn' : undefined,
        summary: 'The peer supports none of our ALPN protocols (no_application_protocol)',
        meaning: 'ALPN was offered and the two lists do not overlap.',
        likelyCauses: ['different alpnProtocols on the two sides'],
        checks: ['compare alpnProtocols'],
      };
    case 'decode_error':
      return {
        summary: `The peer could not parse our ${flight[flight.length - 1] ?? 'message'} (decode_error)`,
        meaning: 'A message in our last flight is malformed for the peer.',
        likelyCauses: ['a message changed or truncated in transit', 'an interoperability bug'],
        checks: ['capture the handshake'],
      };
    case 'internal_error':
      return {
        summary: 'The peer hit an internal error (internal_error)',
        meaning: 'The peer failed for a reason of its own, often a verify callback that rejected our certificate without naming why.',
        likelyCauses: ["a verify callback in the peer that returns 0 without an error code", 'a resource problem in the peer'],
        checks: ["look at the peer's logs"],
      };
    case 'close_notify':
      return {
        summary: 'The peer closed the session (close_notify)',
        meaning: 'An orderly close, not an error.',
        likelyCauses: [],
        checks: [],
      };
    default:
      return undefined;
  }
}

// ---- failures without an alert ---------------------------------------------------------------------------

function silentFailure(path: string, ctx: ExplainContext): Explanation | undefined {
  const n = ctx.undecryptedRecords ?? 0;
  if (n > 0) {
    return {
      path,
      inferredPath: 'dtls1_process_record',
      summary: "The peer's encrypted records could not be decrypted: the two sides derived different keys",
      meaning:
        `${n} record${n === 1 ? '' : 's'} of the peer's next epoch arrived during the handshake and none yielded its Finished: OpenSSL's DTLS drops a record that fails decryption without an alert or an error entry, and the handshake stalled until the retransmissions ran out. This is a key or transcript mismatch, not packet loss.`,
      likelyCauses: [
        'RSA key exchange and a server whose private key state is wrong: the premaster decrypts to garbage and OpenSSL, by design, carries on with a random one',
        'extended master secret on and a handshake message changed in transit (the session hashes, and so the keys, differ)',
        'different PSKs on the two sides',
        'a PRF or key-derivation bug in the peer',
      ],
      checks: [
        'sign and verify a test message with the server key (dtls-probe selftest shows the same symptom for a corrupted key)',
        'compare timeline() of both sides: same messages and lengths?',
        'decrypt a capture with keylogFile: which side\'s Finished fails?',
      ],
    };
  }
  // Without knowing what arrived, say nothing more than the path does.
  if (ctx.timedOut !== true || ctx.datagramsIn === undefined) return undefined;
  const heard = (ctx.datagramsIn ?? 0) > 0;
  return {
    path,
    summary: heard ? 'The handshake stalled: the peer answered but did not move on' : 'The handshake timed out: the peer never answered',
    meaning: heard
      ? 'Datagrams arrived from the peer but the handshake did not progress, and none of the peer\'s encrypted records arrived: our flights (or the peer\'s answers) are being lost, or the peer repeats its own flight because ours does not reach it.'
      : 'Our flight was retransmitted without any datagram coming back: nothing is listening, or the path drops our datagrams or the answers. No alert is sent on the wire.',
    likelyCauses: heard
      ? [
          'the peer drops our encrypted Finished because its keys differ from ours (its own diagnosis then counts undecryptedRecords)',
          'loss in one direction (an MTU too large for the path: one fragment of a large flight keeps getting lost)',
          'a middlebox that passes small datagrams only',
        ]
      : ['wrong address or port', 'a firewall or NAT in the way', 'the peer is not running, or uses the same DTLS role as we do (two servers wait forever)'],
    checks: heard
      ? ['lower mtu', "look at the 'fragment' events in timeline(): which fragments were sent, which came back"]
      : ['check connectivity and the remote port', 'check the DTLS roles'],
  };
}

const CODE_HINTS: Record<string, Entry> = {
  ERR_DTLS_ABORTED: { summary: 'The session was aborted through its AbortSignal', meaning: 'The application aborted the session; OpenSSL did not fail.', likelyCauses: [], checks: [] },
  ERR_DTLS_CLOSED: { summary: 'The session was closed before the handshake completed', meaning: 'close() or destroy() ended the session; OpenSSL did not fail.', likelyCauses: [], checks: [] },
  ERR_DTLS_SEND_FAILED: { summary: 'The send callback threw', meaning: 'The transport failed (see err.cause); OpenSSL did not fail.', likelyCauses: [], checks: ['look at err.cause'] },
  ERR_DTLS_INVALID_STATE: { summary: 'A method was called in a state that does not allow it', meaning: 'An API misuse, not a protocol failure.', likelyCauses: [], checks: ['check session.state before the call'] },
};

function fromEntry(path: string, e: Entry, inferredPath?: string): Explanation {
  const x: Explanation = { path, summary: e.summary, meaning: e.meaning, likelyCauses: [...e.likelyCauses], checks: [...e.checks] };
  if (inferredPath !== undefined) x.inferredPath = inferredPath;
  return x;
}

function sslErrorName(e: number): string {
  const names: Record<number, string> = { 1: 'SSL_ERROR_SSL', 5: 'SSL_ERROR_SYSCALL', 6: 'SSL_ERROR_ZERO_RETURN' };
  return names[e] ?? String(e);
}

/** explain() with the context an alert or a failure carries. */
export function explainWith(entries: readonly OpenSSLErrorEntry[], ctx: ExplainContext): Explanation {
  const last = classifyingEntry(entries);
  if (ctx.direction === 'received' && ctx.description !== undefined) {
    const path = last?.function ?? 'dtls1_read_bytes';
    const after = ctx.lastMessageSent !== undefined ? ` after our ${ctx.lastMessageSent}` : '';
    const view = peerView(ctx.description, ctx);
    if (view !== undefined) {
      const x = fromEntry(path, view, view.inferredPath);
      x.summary += after;
      if (ctx.description !== 'close_notify') x.meaning = `The peer detected the problem, not us. ${x.meaning}`;
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
      checks: ['inspect the peer certificate chain (openssl verify)', 'check ca, remoteFingerprints and rejectUnauthorized'],
    };
  }
  if (last === undefined) {
    const silent = silentFailure('unknown', ctx);
    if (silent !== undefined) return silent;
    const hint = ctx.code !== undefined ? CODE_HINTS[ctx.code] : undefined;
    if (hint !== undefined) return fromEntry('unknown', hint);
    if (ctx.sslError !== undefined) {
      return {
        path: 'unknown',
        summary: `OpenSSL ended the session without an error entry or an alert (${sslErrorName(ctx.sslError)})`,
        meaning:
          'The SSL call failed but OpenSSL queued nothing and sent nothing, so there is no code path to name and the peer is not told. In OpenSSL 3.0 DTLS this happens, for one, when a handshake fragment announces a message larger than the state allows: the reassembly gives up without raising an error.',
        likelyCauses: ['a malformed handshake fragment from the peer or a middlebox'],
        checks: ["look at the 'fragment' events in timeline(): a messageLength far beyond the message?", 'capture the handshake'],
      };
    }
    return {
      path: 'unknown',
      summary: ctx.description !== undefined ? `Alert ${ctx.description} with no OpenSSL error entry` : 'No OpenSSL error entry',
      meaning: 'OpenSSL queued nothing for this event, so there is no code path to name.',
      likelyCauses: [],
      checks: ['look at timeline() for the messages around the event'],
    };
  }
  if (last.function === 'dtls1_check_timeout_num') {
    const silent = silentFailure(last.function, { ...ctx, timedOut: true });
    if (silent !== undefined) return silent;
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
export function explain(
  source: DtlsAlert | { opensslErrors: OpenSSLErrorEntry[]; alert?: DtlsAlert; verifyResult?: { code: number; message: string }; explanation?: Explanation; code?: string } | readonly OpenSSLErrorEntry[],
): Explanation {
  if (Array.isArray(source)) return explainWith(source as readonly OpenSSLErrorEntry[], {});
  const s = source as Partial<DtlsAlert> & { opensslErrors: OpenSSLErrorEntry[]; alert?: DtlsAlert; verifyResult?: { code: number; message: string }; explanation?: Explanation; code?: string };
  // An alert or an error made by a session already carries what only the session knew (its last flight,
  // the records that arrived): that explanation is the answer.
  if (s.explanation !== undefined) return copy(s.explanation);
  if (s.direction !== undefined) {
    return explainWith(s.opensslErrors, {
      direction: s.direction,
      description: s.description,
      verifyResult: s.verifyResult,
      lastMessageSent: s.lastMessageSent,
      lastMessageReceived: s.lastMessageReceived,
      role: s.role,
      negotiated: s.negotiated,
    });
  }
  if (s.alert !== undefined) return explain(s.alert);
  return explainWith(s.opensslErrors ?? [], { verifyResult: s.verifyResult, code: s.code });
}

function copy(x: Explanation): Explanation {
  return { ...x, likelyCauses: [...x.likelyCauses], checks: [...x.checks] };
}
