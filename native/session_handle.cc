#include "session_handle.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "addon.h"

namespace dtls {

namespace {

// What one idle session costs in OpenSSL memory, reported to V8 so the GC
// knows what dropping a session frees (measured: ~48-52 KB per idle session).
constexpr int64_t kSessionExternalBytes = 48 * 1024;
constexpr size_t kTimelineCapacity = 256;
constexpr int kMaxPlaintext = 16384;
// A datagram holds at most this many records (65507 / 13-byte headers).
constexpr int kMaxRecordsPerDatagram = 5100;

enum Op : uint32_t { kOpStart = 1, kOpTimer = 2, kOpShutdown = 4 };
// What the caller passes as inbound/outbound, so the hot path need not probe
// each argument's type across Node-API (four calls per step saved). Without
// these bits a step probes, as for any caller.
enum ArgKind : uint32_t { kArgInOne = 8, kArgInArray = 16, kArgOutOne = 32, kArgOutArray = 64, kArgKnown = 128 };
enum Flag : uint32_t {
  kFlagConnected = 1,      // became connected in this step
  kFlagFailed = 2,         // failed in this step
  kFlagPeerClosed = 8,     // the peer sent close_notify — sticky
  kFlagTimedOut = 16,      // retransmissions exhausted
  kFlagFingerprint = 32,   // failed because of a fingerprint mismatch
};
enum TimelineKind : uint8_t {
  kTlMessage = 0,
  kTlCcs = 1,
  kTlAlert = 2,
  kTlRetransmit = 3,
  kTlState = 4,
  kTlTimer = 5,
  kTlFragment = 6,    // a handshake fragment in a datagram (plaintext epoch 0)
  kTlNegotiated = 7,  // the handshake completed: what was negotiated
  kTlRecord = 8,      // a record of a later epoch received during the handshake
};
enum TimelineState : uint16_t { kStConnecting = 1, kStConnected = 2, kStFailed = 3, kStClosed = 4 };

// Cheap framing check before OpenSSL sees a datagram: a sequence of whole
// DTLS records (13-byte header, content type 20..25, major version 0xFE).
// Protected records (epoch > 0) shorter than `min_protected` are refused too:
// OpenSSL 3.0 fails the whole session (internal_error from tls1_enc, where
// EVP_CTRL_AEAD_TLS1_AAD rejects the length) on an AEAD record shorter than
// its explicit nonce plus tag, so one spoofed 14-byte datagram would end an
// established session. No peer sends such a record.
bool PlausibleDtls(const uint8_t* p, size_t n, size_t min_protected) {
  if (n < 13) return false;
  size_t off = 0;
  while (off < n) {
    if (n - off < 13) return false;
    uint8_t type = p[off];
    if (type < 20 || type > 25) return false;
    if (p[off + 1] != 0xFE) return false;
    size_t len = (static_cast<size_t>(p[off + 11]) << 8) | p[off + 12];
    bool protected_record = p[off + 3] != 0 || p[off + 4] != 0;
    if (protected_record && len < min_protected) return false;
    off += 13 + len;
    if (off > n) return false;
  }
  return true;
}

// The shortest record the suite can produce or accept: explicit nonce plus
// tag for AEAD suites (GCM and CCM: 8 + 16, CCM_8: 8 + 8, ChaCha20-Poly1305:
// 0 + 16); for CBC suites IV + MAC + padding byte in whole blocks. Before a
// suite is known, 24 (no peer sends a protected record before then).
size_t MinProtectedRecord(const SSL* ssl) {
  constexpr size_t kUnknown = 24;
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  if (c == nullptr) c = SSL_get_pending_cipher(ssl);
  if (c == nullptr) return kUnknown;
  if (SSL_CIPHER_is_aead(c) != 1) {
    // CBC (MAC-then-encrypt): explicit IV, then MAC and at least the padding
    // length byte in whole blocks; shorter is a fatal decode_error in
    // dtls1_process_record ("length too short").
    const EVP_CIPHER* cipher = EVP_get_cipherbynid(SSL_CIPHER_get_cipher_nid(c));
    const EVP_MD* md = EVP_get_digestbynid(SSL_CIPHER_get_digest_nid(c));
    if (cipher == nullptr || md == nullptr) return 0;
    size_t bs = static_cast<size_t>(EVP_CIPHER_get_block_size(cipher));
    size_t mac = static_cast<size_t>(EVP_MD_get_size(md));
    if (bs <= 1) return mac;
    return bs + (mac + 1 + bs - 1) / bs * bs;
  }
  switch (SSL_CIPHER_get_cipher_nid(c)) {
    case NID_chacha20_poly1305:
      return 16;
    case NID_aes_128_ccm:
    case NID_aes_256_ccm: {
      const char* name = SSL_CIPHER_get_name(c);
      return std::strstr(name, "CCM8") != nullptr ? 16 : 24;
    }
    default:
      return 24;
  }
}

bool IsUint8Array(Napi::Value v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

// One Uint8Array (or Buffer) the caller vouched for: a single Node-API call,
// which still fails safely (false) for anything else.
bool OneBytes(napi_env env, napi_value v, const uint8_t** data, size_t* length) {
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, length, &p, nullptr, nullptr) != napi_ok || type != napi_uint8_array) return false;
  *data = static_cast<const uint8_t*>(p);
  return true;
}

// The bytes of a Uint8Array (or Buffer) argument of unknown type in two
// N-API calls (IsUint8Array + As<Uint8Array>() takes three).
bool BytesOf(napi_env env, napi_value v, const uint8_t** data, size_t* length) {
  bool typed = false;
  return napi_is_typedarray(env, v, &typed) == napi_ok && typed && OneBytes(env, v, data, length);
}

// What a caller that did not say (kArgKnown) passes, probed: one Uint8Array, an array, or neither.
uint32_t ProbeArgKinds(Napi::Value in, Napi::Value out) {
  uint32_t kinds = kArgKnown;
  if (!in.IsEmpty()) {
    if (IsUint8Array(in)) kinds |= kArgInOne;
    else if (in.IsArray()) kinds |= kArgInArray;
  }
  if (!out.IsEmpty()) {
    if (IsUint8Array(out)) kinds |= kArgOutOne;
    else if (out.IsArray()) kinds |= kArgOutArray;
  }
  return kinds;
}

Napi::Error InvalidState(Napi::Env env, const char* message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_DTLS_INVALID_STATE"));
  return e;
}

}  // namespace

class SessionHandle::JobLock {
 public:
  // Main thread only: job_in_flight_ is written there.
  explicit JobLock(SessionHandle* s) {
    if (s->job_in_flight_) lock_ = std::unique_lock<std::mutex>(s->job_mu_);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

Napi::Function SessionHandle::Init(Napi::Env env) {
  return DefineClass(env, "SessionHandle",
                     {
                         InstanceMethod("step", &SessionHandle::Step),
                         InstanceMethod("stepId", &SessionHandle::StepId),
                         InstanceMethod("stepAsync", &SessionHandle::StepAsync),
                         InstanceMethod("destroy", &SessionHandle::DestroyJs),
                         InstanceMethod("setFingerprints", &SessionHandle::SetFingerprints),
                         InstanceMethod("setKeylog", &SessionHandle::SetKeylog),
                         InstanceMethod("info", &SessionHandle::Info),
                         InstanceMethod("peerCertificateDer", &SessionHandle::PeerCertificateDer),
                         InstanceMethod("keepSession", &SessionHandle::KeepSession),
                         InstanceMethod("getSession", &SessionHandle::GetSession),
                         InstanceMethod("exportKeyingMaterial", &SessionHandle::ExportKeyingMaterial),
                         InstanceMethod("stats", &SessionHandle::Stats),
                         InstanceMethod("timeline", &SessionHandle::Timeline),
                     });
}

void SessionHandle::InstallContextCallbacks(SSL_CTX* ctx) {
  SSL_CTX_set_cookie_generate_cb(ctx, GenerateCookie);
  SSL_CTX_set_cookie_verify_cb(ctx, VerifyCookie);
}

SessionHandle::SessionHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SessionHandle>(info), created_(std::chrono::steady_clock::now()) {
  Napi::Env env = info.Env();
  addon_ = DtlsAddon::From(env);
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "SessionHandle expects (context, options)");
  }
  Napi::Object ctx_obj = info[0].As<Napi::Object>();
  if (!ctx_obj.InstanceOf(addon_->context_ctor.Value())) {
    throw Napi::TypeError::New(env, "SessionHandle expects a ContextHandle");
  }
  ctx_ = ContextHandle::Unwrap(ctx_obj)->state();
  Napi::Object o = info[1].As<Napi::Object>();

  is_server_ = o.Get("server").ToBoolean();
  reject_unauthorized_ = !o.Has("rejectUnauthorized") || o.Get("rejectUnauthorized").ToBoolean();
  request_cert_ = o.Get("requestCert").ToBoolean();
  cookie_exchange_ = is_server_ && o.Get("cookieExchange").ToBoolean();
  if (o.Get("cookiePeer").IsString()) cookie_peer_ = o.Get("cookiePeer").As<Napi::String>().Utf8Value();
  Napi::Value listen_cookie = o.Get("listenCookie");
  if (is_server_ && IsUint8Array(listen_cookie)) {
    Napi::Uint8Array u = listen_cookie.As<Napi::Uint8Array>();
    listen_cookie_.assign(u.Data(), u.Data() + u.ByteLength());
    listen_pending_ = !listen_cookie_.empty();
  }
  Napi::Value psk_key = o.Get("pskKey");
  if (!is_server_ && o.Get("pskIdentity").IsString() && IsUint8Array(psk_key)) {
    psk_client_ = true;
    psk_identity_ = o.Get("pskIdentity").As<Napi::String>().Utf8Value();
    Napi::Uint8Array u = psk_key.As<Napi::Uint8Array>();
    psk_key_.assign(u.Data(), u.Data() + u.ByteLength());
  }
  if (is_server_ && o.Get("pskCallback").IsFunction()) {
    psk_callback_ = Napi::Persistent(o.Get("pskCallback").As<Napi::Function>());
  }
  long mtu = o.Get("mtu").IsNumber() ? o.Get("mtu").As<Napi::Number>().Int64Value() : 1200;
  bio_state_.mtu = mtu;

  Napi::Value sched = o.Get("schedule");
  if (sched.IsArray()) {
    Napi::Array a = sched.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      double ms = a.Get(i).ToNumber().DoubleValue();
      if (!(ms >= 1)) ms = 1;
      if (ms > 60000) ms = 60000;
      schedule_us_.push_back(static_cast<unsigned int>(ms * 1000));
    }
  }
  if (schedule_us_.empty()) {
    unsigned int t = 100000;
    for (int i = 0; i < 16; i++) {
      schedule_us_.push_back(t);
      t = t * 2 > 4000000 ? 4000000 : t * 2;
    }
  }

  ClearErrorOnReturn guard;
  ssl_.reset(SSL_new(ctx_->ctx.get()));
  if (!ssl_) ThrowDtlsError(env, "SSL_new failed");
  SSL* ssl = ssl_.get();
  SSL_set_app_data(ssl, this);

  bio_state_.out = nullptr;  // set per step: OpenSSL writes only during steps
  bio_state_.datagrams_out = &datagrams_out_;
  bio_state_.bytes_out = &bytes_out_;
  if (o.Get("peerAddress").IsString()) {
    std::string addr = o.Get("peerAddress").As<Napi::String>().Utf8Value();
    int port = o.Get("peerPort").IsNumber() ? o.Get("peerPort").As<Napi::Number>().Int32Value() : 0;
    sockaddr_in v4{};
    sockaddr_in6 v6{};
    if (inet_pton(AF_INET, addr.c_str(), &v4.sin_addr) == 1) {
      v4.sin_family = AF_INET;
      v4.sin_port = htons(static_cast<uint16_t>(port));
      std::memcpy(&bio_state_.peer, &v4, sizeof(v4));
      bio_state_.peer_len = sizeof(v4);
    } else if (inet_pton(AF_INET6, addr.c_str(), &v6.sin6_addr) == 1) {
      v6.sin6_family = AF_INET6;
      v6.sin6_port = htons(static_cast<uint16_t>(port));
      std::memcpy(&bio_state_.peer, &v6, sizeof(v6));
      bio_state_.peer_len = sizeof(v6);
    }
  }
  BIO* bio = NewDatagramBio(&bio_state_);
  if (bio == nullptr) ThrowDtlsError(env, "could not create the datagram BIO");
  SSL_set_bio(ssl, bio, bio);  // one reference, owned by the SSL

  SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(ssl, mtu) <= 0 || DTLS_set_link_mtu(ssl, mtu) != 1) {
    ThrowDtlsError(env, "mtu " + std::to_string(mtu) + " is below the DTLS minimum");
  }
  if (cookie_exchange_) SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
  if (psk_client_) SSL_set_psk_client_callback(ssl, PskClientCallback);
  if (!psk_callback_.IsEmpty()) {
    SSL_set_psk_server_callback(ssl, PskServerCallback);
    if (o.Get("pskIdentityHint").IsString()) {
      std::string hint = o.Get("pskIdentityHint").As<Napi::String>().Utf8Value();
      if (SSL_use_psk_identity_hint(ssl, hint.c_str()) != 1) ThrowDtlsError(env, "invalid pskIdentityHint");
    }
  }
  DTLS_set_timer_cb(ssl, TimerCallback);
  SSL_set_msg_callback(ssl, MsgCallback);
  SSL_set_info_callback(ssl, InfoCallback);
  if (is_server_) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }

  Napi::Value fps = o.Get("fingerprints");
  if (fps.IsArray()) {
    fingerprints_ = ParseFingerprints(env, fps);
    has_fingerprints_ = true;
  }
  ApplyVerifyMode();

  if (!is_server_ && o.Get("servername").IsString()) {
    std::string name = o.Get("servername").As<Napi::String>().Utf8Value();
    servername_ = name;
    unsigned char tmp[16];
    bool is_ip = inet_pton(AF_INET, name.c_str(), tmp) == 1 || inet_pton(AF_INET6, name.c_str(), tmp) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) ThrowDtlsError(env, "invalid servername");
    if (reject_unauthorized_ && !has_fingerprints_) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                     : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      if (ok != 1) ThrowDtlsError(env, "invalid servername");
    }
  }

  Napi::Value sess = o.Get("session");
  if (!is_server_ && IsUint8Array(sess)) {
    Napi::Uint8Array u = sess.As<Napi::Uint8Array>();
    const unsigned char* p = u.Data();
    SslSessionPtr s(d2i_SSL_SESSION(nullptr, &p, static_cast<long>(u.ByteLength())));
    if (!s) ThrowDtlsError(env, "could not decode the session to resume");
    // Resuming skips the Certificate message and so every peer check: offer
    // the session only if its peer would pass this session's policy now.
    if (SSL_set_session(ssl, s.get()) != 1) ThrowDtlsError(env, "could not set the session to resume");
    if (!SessionAcceptable(s.get())) {
      SSL_set_session(ssl, nullptr);
      ClearQueue();
    }
  }
  ApplyResumptionPolicy();
  offered_session_ = !is_server_ && SSL_get0_session(ssl) != nullptr;
  keylog_ = o.Get("keylog").ToBoolean();
  if (keylog_) EnableContextKeylog();

  timeline_.reserve(16);
  addon_->Register(this);
  slot_ = addon_->AddSlot(this, &slot_generation_);
  ctx_->live_sessions++;
  registered_ = true;
  external_bytes_ = kSessionExternalBytes;
  Napi::MemoryManagement::AdjustExternalMemory(env, external_bytes_);
}

SessionHandle::~SessionHandle() { Destroy(); }

void SessionHandle::Destroy() {
  if (destroyed_) return;
  {
    // A thread-pool job may be using the SSL: wait for it (a job that has
    // not started yet sees destroyed_ and does nothing).
    JobLock lock(this);
    destroyed_ = true;
    // May run from a finalizer: leave whatever else is queued alone.
    MarkPopErrorOnReturn mark;
    ssl_.reset();
  }
  if (!psk_callback_.IsEmpty()) psk_callback_.Reset();
  std::fill(psk_key_.begin(), psk_key_.end(), 0);
  if (registered_) {
    registered_ = false;
    ctx_->live_sessions--;
  }
  if (addon_ != nullptr) {
    addon_->Unregister(this);
    addon_->RemoveSlot(slot_);
    if (!addon_->tearing_down() && external_bytes_ != 0) {
      Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_bytes_);
    }
  }
  external_bytes_ = 0;
}

SessionHandle* SessionHandle::From(const SSL* ssl) {
  return static_cast<SessionHandle*>(SSL_get_app_data(ssl));
}

void SessionHandle::EnsureAlive(Napi::Env env) const {
  if (destroyed_ || !ssl_) throw InvalidState(env, "the DTLS session is closed");
}

void SessionHandle::ApplyVerifyMode() {
  int mode = SSL_VERIFY_PEER;
  if (is_server_) {
    if (request_cert_ || has_fingerprints_) {
      mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
      if (reject_unauthorized_ || has_fingerprints_) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else {
      mode = SSL_VERIFY_NONE;
    }
  }
  SSL_set_verify(ssl_.get(), mode, VerifyCallback);
}

// [{ algorithm: OpenSSL digest name, digest: Buffer }] as the TS layer builds it.
std::vector<SessionHandle::Fingerprint> SessionHandle::ParseFingerprints(Napi::Env env, Napi::Value value) {
  std::vector<Fingerprint> list;
  Napi::Array a = value.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value item = a.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "a fingerprint must be an object");
    Napi::Object f = item.As<Napi::Object>();
    std::string alg = f.Get("algorithm").ToString().Utf8Value();
    const EVP_MD* md = EVP_get_digestbyname(alg.c_str());
    if (md == nullptr) throw Napi::TypeError::New(env, "unknown fingerprint algorithm '" + alg + "'");
    Napi::Value d = f.Get("digest");
    if (!IsUint8Array(d)) throw Napi::TypeError::New(env, "fingerprint digest must be a Buffer");
    Napi::Uint8Array u = d.As<Napi::Uint8Array>();
    list.push_back({md, std::vector<uint8_t>(u.Data(), u.Data() + u.ByteLength())});
  }
  return list;
}

bool SessionHandle::MatchesFingerprints(X509* cert) const {
  if (cert == nullptr) return false;
  for (const Fingerprint& f : fingerprints_) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(cert, f.md, md, &md_len) == 1 && md_len == f.digest.size() &&
        CRYPTO_memcmp(md, f.digest.data(), md_len) == 0) {
      return true;
    }
  }
  return false;
}

// Would the peer recorded in `sess` (set on this SSL) pass this session's
// verification now?
bool SessionHandle::SessionAcceptable(SSL_SESSION* sess) const {
  X509* peer = SSL_SESSION_get0_peer(sess);
  if (has_fingerprints_) return MatchesFingerprints(peer);
  if (!reject_unauthorized_) return true;
  // SSL_set_session copied the session's verify result into the SSL.
  if (peer == nullptr || SSL_get_verify_result(ssl_.get()) != X509_V_OK) return false;
  if (!servername_.empty()) {
    unsigned char tmp[16];
    bool is_ip = inet_pton(AF_INET, servername_.c_str(), tmp) == 1 || inet_pton(AF_INET6, servername_.c_str(), tmp) == 1;
    int ok = is_ip ? X509_check_ip_asc(peer, servername_.c_str(), 0)
                   : X509_check_host(peer, servername_.c_str(), servername_.size(), 0, nullptr);
    if (ok != 1) return false;
  }
  // Verified once, maybe against another trust store: check the leaf against
  // this context's store. A leaf that needs intermediates cannot be rechecked
  // (sessions keep only the leaf): then no resumption, a full handshake.
  X509_STORE* store = SSL_CTX_get_cert_store(ctx_->ctx.get());
  X509_STORE_CTX* vctx = X509_STORE_CTX_new();
  if (vctx == nullptr || store == nullptr) {
    X509_STORE_CTX_free(vctx);
    return false;
  }
  bool ok = X509_STORE_CTX_init(vctx, store, peer, nullptr) == 1 && X509_verify_cert(vctx) == 1;
  X509_STORE_CTX_free(vctx);
  return ok;
}

// A server resumes only sessions made under the same verification policy:
// the session id context (which OpenSSL compares for cached sessions and
// tickets alike) is derived from requestCert/rejectUnauthorized and the
// expected fingerprints, so a ticket from a connection with other (or no)
// fingerprint checks gets a full handshake.
void SessionHandle::ApplyResumptionPolicy() {
  if (!is_server_) return;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  bool ok = md != nullptr && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1;
  const unsigned char tag[] = {'d', 't', 'l', 's', static_cast<unsigned char>(request_cert_),
                               static_cast<unsigned char>(reject_unauthorized_),
                               static_cast<unsigned char>(has_fingerprints_)};
  ok = ok && EVP_DigestUpdate(md, tag, sizeof(tag)) == 1;
  for (const Fingerprint& f : fingerprints_) {
    const char* name = EVP_MD_get0_name(f.md);
    ok = ok && EVP_DigestUpdate(md, name, std::strlen(name)) == 1 &&
         EVP_DigestUpdate(md, f.digest.data(), f.digest.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(md, out, &out_len) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) {
    // Cannot bind the policy: refuse resumption outright.
    SSL_set_options(ssl_.get(), SSL_OP_NO_TICKET);
    out_len = 0;
  }
  unsigned int n = out_len > SSL_MAX_SID_CTX_LENGTH ? SSL_MAX_SID_CTX_LENGTH : out_len;
  if (n > 0) SSL_set_session_id_context(ssl_.get(), out, n);
}

void SessionHandle::Record(uint8_t kind, uint8_t dir, uint16_t type, uint32_t len, uint32_t seq, uint32_t a,
                           uint32_t b) {
  double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - created_).count();
  TimelineEntry e{t, kind, dir, type, len, seq, a, b};
  timeline_total_++;
  if (timeline_.size() < kTimelineCapacity) {
    timeline_.push_back(e);
  } else {
    timeline_[timeline_next_] = e;
    timeline_wrapped_ = true;
  }
  timeline_next_ = (timeline_next_ + 1) % kTimelineCapacity;
}

// What the message callback cannot say: how a handshake message was cut into
// fragments (it reports whole messages), and which records of a later epoch
// arrived. Only runs while the handshake does; `p` is one whole datagram.
void SessionHandle::NoteRecords(const uint8_t* p, size_t n, uint8_t dir) {
  size_t off = 0;
  while (off + 13 <= n) {
    uint8_t type = p[off];
    unsigned epoch = (static_cast<unsigned>(p[off + 3]) << 8) | p[off + 4];
    size_t len = (static_cast<size_t>(p[off + 11]) << 8) | p[off + 12];
    size_t body = off + 13;
    if (body + len > n) return;
    if (epoch != 0) {
      if (dir == 0) Record(kTlRecord, 0, type, static_cast<uint32_t>(len), epoch);
    } else if (type == SSL3_RT_HANDSHAKE) {
      size_t f = body;
      while (f + 12 <= body + len) {
        const uint8_t* h = p + f;
        uint32_t msg_len = static_cast<uint32_t>(h[1]) << 16 | static_cast<uint32_t>(h[2]) << 8 | h[3];
        uint32_t seq = static_cast<uint32_t>(h[4]) << 8 | h[5];
        uint32_t frag_off = static_cast<uint32_t>(h[6]) << 16 | static_cast<uint32_t>(h[7]) << 8 | h[8];
        uint32_t frag_len = static_cast<uint32_t>(h[9]) << 16 | static_cast<uint32_t>(h[10]) << 8 | h[11];
        Record(kTlFragment, dir, h[0], frag_len, seq, frag_off, msg_len);
        f += 12 + frag_len;
      }
    }
    off = body + len;
  }
}

// ---- OpenSSL callbacks ------------------------------------------------------

void SessionHandle::InfoCallback(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0) return;
  SessionHandle* s = From(ssl);
  if (s == nullptr) return;
  PendingAlert a;
  a.sent = (where & SSL_CB_WRITE) != 0;
  a.level = (ret >> 8) & 0xff;
  a.code = ret & 0xff;
  a.verify_result = SSL_get_verify_result(ssl);
  a.last_sent = s->last_sent_;
  a.last_received = s->last_received_;
  // What OpenSSL does not queue but a diagnosis needs: how far negotiation got.
  a.version = SSL_get_version(ssl);
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  if (c == nullptr) c = SSL_get_pending_cipher(ssl);
  if (c != nullptr) a.cipher = SSL_CIPHER_get_name(c);
  a.ems = s->hello_ems_;
  a.etm = s->hello_etm_;
  a.client_auth = s->certificate_requested_;
  if (a.sent) {
    // The cause is on the queue already: copy it without taking it away.
    a.errors = SnapshotErrors();
  } else if (a.level == SSL3_AL_FATAL) {
    // OpenSSL pushes the "alert X" entry right after this callback returns;
    // it is attached once the SSL call has returned (AttachQueue). A received
    // warning pushes nothing: what the call queues afterwards is not its cause.
    a.awaiting_queue = true;
  }
  s->Record(kTlAlert, a.sent ? 1 : 0, static_cast<uint16_t>(a.code), static_cast<uint32_t>(a.level), 0);
  s->alerts_.push_back(std::move(a));
}

void SessionHandle::MsgCallback(int write_p, int version, int content_type, const void* buf,
                                size_t len, SSL* ssl, void* arg) {
  SessionHandle* s = From(ssl);
  if (s == nullptr) return;
  const uint8_t* p = static_cast<const uint8_t*>(buf);
  if (content_type == SSL3_RT_HEADER) {
    // Every record header OpenSSL reads, before it decides what to do with it.
    if (!write_p && !s->connected_ && len >= 13 && (p[3] != 0 || p[4] != 0)) s->undecrypted_records_++;
    return;
  }
  if (content_type == SSL3_RT_HANDSHAKE && len >= 1 && !s->in_listen_) {
    int type = p[0];
    uint32_t seq = len >= 6 ? (static_cast<uint32_t>(p[4]) << 8 | p[5]) : 0;
    uint32_t body = len >= 4 ? (static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3]) : 0;
    if (type == SSL3_MT_CERTIFICATE_REQUEST) s->certificate_requested_ = true;
    if (type == SSL3_MT_SERVER_HELLO) s->ReadServerHelloExtensions(p, len);
    if (write_p) {
      uint32_t key = static_cast<uint32_t>(type) << 16 | seq;
      bool again = false;
      for (uint32_t k : s->sent_messages_) {
        if (k == key) {
          again = true;
          break;
        }
      }
      if (again) {
        s->step_retransmitted_ = true;
      } else if (s->sent_messages_.size() < 64) {
        s->sent_messages_.push_back(key);
      }
      s->last_sent_ = type;
      s->Record(kTlMessage, 1, static_cast<uint16_t>(type), body, seq, again ? 1 : 0);
    } else {
      s->last_received_ = type;
      // A Finished decrypted: the later-epoch records so far were usable.
      if (type == SSL3_MT_FINISHED) s->undecrypted_records_ = 0;
      s->Record(kTlMessage, 0, static_cast<uint16_t>(type), body, seq);
    }
  } else if (content_type == SSL3_RT_CHANGE_CIPHER_SPEC) {
    if (write_p) {
      s->last_sent_ = 256;
    } else {
      s->last_received_ = 256;
    }
    s->Record(kTlCcs, write_p ? 1 : 0, 256, static_cast<uint32_t>(len), 0);
  }
}

// Which of the extensions that decide how records and keys are made the
// ServerHello carried (RFC 7627 extended master secret, RFC 7366
// encrypt-then-MAC). OpenSSL does not report them until the handshake ends.
// `msg` is the whole DTLS handshake message: a 12-byte header, then the body.
void SessionHandle::ReadServerHelloExtensions(const uint8_t* msg, size_t len) {
  size_t off = 12 + 2 + 32;  // header, server_version, random
  if (len < off + 1) return;
  off += 1 + msg[off];       // session_id
  off += 2 + 1;              // cipher_suite, compression_method
  hello_ems_ = 0;
  hello_etm_ = 0;
  if (len < off + 2) return;
  size_t end = off + 2 + ((static_cast<size_t>(msg[off]) << 8) | msg[off + 1]);
  if (end > len) return;
  off += 2;
  while (off + 4 <= end) {
    unsigned type = (static_cast<unsigned>(msg[off]) << 8) | msg[off + 1];
    size_t ext_len = (static_cast<size_t>(msg[off + 2]) << 8) | msg[off + 3];
    if (type == 0x0017) hello_ems_ = 1;
    if (type == 0x0016) hello_etm_ = 1;
    off += 4 + ext_len;
  }
}

int SessionHandle::VerifyCallback(int preverify_ok, X509_STORE_CTX* store) {
  SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  SessionHandle* s = ssl != nullptr ? From(ssl) : nullptr;
  if (s == nullptr) return preverify_ok;
  MarkPopErrorOnReturn mark;
  if (s->has_fingerprints_) {
    if (!s->fingerprint_checked_) {
      s->fingerprint_checked_ = true;
      s->fingerprint_ok_ = s->MatchesFingerprints(X509_STORE_CTX_get0_cert(store));
    }
    if (!s->fingerprint_ok_) {
      // Never a bare 0: name the reason so OpenSSL sends handshake_failure
      // and the verify result says "application verification failure" (50).
      s->fingerprint_mismatch_ = true;
      X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
      return 0;
    }
    if (!s->ctx_->explicit_ca) {
      X509_STORE_CTX_set_error(store, X509_V_OK);
      return 1;
    }
    return preverify_ok;
  }
  if (!s->reject_unauthorized_) return 1;
  return preverify_ok;
}

unsigned int SessionHandle::TimerCallback(SSL* ssl, unsigned int previous_us) {
  SessionHandle* s = From(ssl);
  if (s == nullptr || s->schedule_us_.empty()) return previous_us == 0 ? 1000000 : previous_us * 2;
  if (previous_us == 0) {
    s->schedule_index_ = 0;
  } else {
    // Called by DTLSv1_handle_timeout right before a flight is resent.
    s->step_timer_retransmits_++;
    s->Record(kTlRetransmit, 1, 0, 0, 0);
    if (s->schedule_index_ + 1 < s->schedule_us_.size()) s->schedule_index_++;
  }
  return s->schedule_us_[s->schedule_index_];
}

void SessionHandle::KeylogCallback(const SSL* ssl, const char* line) {
  SessionHandle* s = From(ssl);
  if (s == nullptr || !s->keylog_ || line == nullptr) return;
  s->keylog_lines_.emplace_back(line);
}

bool SessionHandle::ComputeCookie(unsigned char* out, unsigned int* len) const {
  unsigned int n = 0;
  const unsigned char* peer = reinterpret_cast<const unsigned char*>(cookie_peer_.data());
  if (HMAC(EVP_sha256(), ctx_->cookie_secret, sizeof(ctx_->cookie_secret), peer, cookie_peer_.size(), out, &n) ==
      nullptr) {
    return false;
  }
  *len = n;
  return true;
}

int SessionHandle::GenerateCookie(SSL* ssl, unsigned char* cookie, unsigned int* len) {
  SessionHandle* s = From(ssl);
  if (s == nullptr) return 0;
  MarkPopErrorOnReturn mark;
  return s->ComputeCookie(cookie, len) ? 1 : 0;
}

int SessionHandle::VerifyCookie(SSL* ssl, const unsigned char* cookie, unsigned int len) {
  SessionHandle* s = From(ssl);
  if (s == nullptr) return 0;
  MarkPopErrorOnReturn mark;
  if (!s->listen_cookie_.empty()) {
    return len == s->listen_cookie_.size() && CRYPTO_memcmp(s->listen_cookie_.data(), cookie, len) == 0 ? 1 : 0;
  }
  unsigned char expected[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!s->ComputeCookie(expected, &n)) return 0;
  return n == len && CRYPTO_memcmp(expected, cookie, n) == 0 ? 1 : 0;
}

unsigned int SessionHandle::PskClientCallback(SSL* ssl, const char* hint, char* identity,
                                             unsigned int max_identity_len, unsigned char* psk,
                                             unsigned int max_psk_len) {
  SessionHandle* s = From(ssl);
  if (s == nullptr || !s->psk_client_) return 0;
  // The identity goes out NUL-terminated; the key is raw bytes.
  if (s->psk_identity_.size() + 1 > max_identity_len || s->psk_key_.size() > max_psk_len) return 0;
  std::memcpy(identity, s->psk_identity_.c_str(), s->psk_identity_.size() + 1);
  std::memcpy(psk, s->psk_key_.data(), s->psk_key_.size());
  return static_cast<unsigned int>(s->psk_key_.size());
}

// Runs the server's pskCallback (identity → key or null) in JS, inside the
// step that is processing the ClientKeyExchange. Returning 0 makes OpenSSL
// send unknown_psk_identity.
unsigned int SessionHandle::PskServerCallback(SSL* ssl, const char* identity, unsigned char* psk,
                                             unsigned int max_psk_len) {
  SessionHandle* s = From(ssl);
  if (s == nullptr || s->psk_callback_.IsEmpty() || identity == nullptr) return 0;
  MarkPopErrorOnReturn mark;
  Napi::Env env = s->Env();
  Napi::HandleScope scope(env);
  try {
    Napi::Value r = s->psk_callback_.Call({Napi::String::New(env, identity)});
    if (!IsUint8Array(r)) return 0;
    Napi::Uint8Array u = r.As<Napi::Uint8Array>();
    size_t n = u.ByteLength();
    if (n == 0 || n > max_psk_len) return 0;
    std::memcpy(psk, u.Data(), n);
    return static_cast<unsigned int>(n);
  } catch (const Napi::Error&) {
    // The TS wrapper catches and reports what the user's callback threw.
    return 0;
  }
}

// ---- the step ---------------------------------------------------------------

void SessionHandle::AttachQueue(const ErrorList& errors) {
  for (PendingAlert& a : alerts_) {
    if (a.awaiting_queue) {
      a.errors = errors;
      a.awaiting_queue = false;
    }
  }
}

void SessionHandle::Fail(int ssl_error, ErrorList errors) {
  AttachQueue(errors);
  if (failed_) return;
  failed_ = true;
  step_failed_ = true;
  failure_ssl_error_ = ssl_error;
  // Retransmissions exhausted: OpenSSL may hit this inside any call (a timer
  // under 15 ms counts as expired at once), not only in HandleTimer.
  for (const ErrorEntry& e : errors) {
    if (e.lib == ERR_LIB_SSL && e.reason_code == SSL_R_READ_TIMEOUT_EXPIRED) {
      timed_out_ = true;
      // The timer callback of this last expiry counted a retransmission that
      // OpenSSL then did not make: it gave up instead (dtls1_check_timeout_num).
      if (step_timer_retransmits_ > 0) step_timer_retransmits_--;
      size_t last = (timeline_next_ + kTimelineCapacity - 1) % kTimelineCapacity;
      if (!timeline_.empty() && last < timeline_.size() && timeline_[last].kind == kTlRetransmit) {
        timeline_next_ = last;  // the failed-state row below takes its slot
        timeline_total_--;
        if (!timeline_wrapped_) timeline_.pop_back();
      }
    }
  }
  failure_errors_ = std::move(errors);
  Record(kTlState, 0, kStFailed, 0, 0);
}

// After an SSL call that did not fail: whatever is queued belongs to a
// received alert (if any) or is noise from a path OpenSSL recovered from.
void SessionHandle::AfterCall() {
  ErrorList errors = DrainErrors();
  AttachQueue(errors);
  queue_clean_ = true;
}

void SessionHandle::AfterCallQueueEmpty() {
  AttachQueue({});
  queue_clean_ = true;
}

// Before an OpenSSL call on the hot path: the queue must hold nothing stale.
// It is known to be empty after the step's guard cleared it and after every
// drain (AfterCall), so only otherwise is it looked at: each look fetches the
// thread's error state, ~130 instructions, several per record.
void SessionHandle::BeforeCall() {
  if (!queue_clean_) ClearQueue();
  queue_clean_ = false;
}

bool SessionHandle::DriveHandshake() {
  SSL* ssl = ssl_.get();
  if (!started_) {
    started_ = true;
    Record(kTlState, 0, kStConnecting, 0, 0);
  }
  BeforeCall();
  int r = SSL_do_handshake(ssl);
  int e = SSL_get_error(ssl, r);
  if (r == 1) {
    AfterCall();
    if (!connected_ && has_fingerprints_ && SSL_session_reused(ssl) == 1) {
      // Belt and braces: the policy above should have prevented this.
      X509Ptr peer(SSL_get1_peer_certificate(ssl));
      if (!MatchesFingerprints(peer.get())) {
        fingerprint_mismatch_ = true;
        ClearQueue();
        SSL_shutdown(ssl);
        ClearQueue();
        Fail(SSL_ERROR_SSL, {});
        return false;
      }
    }
    if (!connected_) {
      connected_ = true;
      step_connected_ = true;
      min_protected_ = MinProtectedRecord(ssl);
      uint32_t negotiated = (SSL_get_extms_support(ssl) == 1 ? 1u : 0u) | (hello_etm_ == 1 ? 2u : 0u) |
                            (SSL_session_reused(ssl) == 1 ? 4u : 0u);
      Record(kTlNegotiated, 0, 0, 0, 0, negotiated);
      Record(kTlState, 0, kStConnected, 0, 0);
    }
    return true;
  }
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    AfterCall();
    return true;
  }
  Fail(e, DrainErrors());
  return false;
}

// The first datagram of a server created by a stateless front end that has
// verified the ClientHello's cookie: DTLSv1_listen checks it again (against
// exactly that cookie), sets the sequence numbers the HelloVerifyRequest
// exchange implies, and buffers the ClientHello for SSL_do_handshake.
bool SessionHandle::Listen() {
  listen_pending_ = false;
  if (!started_) {
    started_ = true;
    Record(kTlState, 0, kStConnecting, 0, 0);
  }
  BIO_ADDR* client = BIO_ADDR_new();
  ClearQueue();
  // DTLSv1_listen reports the ClientHello to the message callback, and so
  // does SSL_do_handshake when it processes it: record it once.
  in_listen_ = true;
  int r = client != nullptr ? DTLSv1_listen(ssl_.get(), client) : -1;
  in_listen_ = false;
  BIO_ADDR_free(client);
  if (r == 1) {
    AfterCall();
    return true;
  }
  Fail(SSL_ERROR_SSL, DrainErrors());
  return false;
}

void SessionHandle::ReadAll(bool settled) {
  SSL* ssl = ssl_.get();
  for (int i = 0; i < kMaxRecordsPerDatagram; i++) {
    // Decrypt straight into the step arena; only what a record holds is kept.
    uint8_t* dst = arena_->Reserve(kMaxPlaintext);
    BeforeCall();
    int n = SSL_read(ssl, dst, kMaxPlaintext);
    if (n > 0) {
      arena_->Commit(Arena::kMessage, static_cast<size_t>(n));
      messages_in_++;
      // The common case, one record per datagram: once the datagram is consumed and OpenSSL holds
      // nothing more (no rest of the datagram, no buffered record), another SSL_read could only say
      // WANT_READ. Not in the step that completed the handshake: records of the new epoch that came
      // early wait in queues SSL_has_pending() does not see, and come out one per SSL_read.
      if (settled && !bio_state_.in_pending && SSL_has_pending(ssl) == 0) {
        AfterCall();
        return;
      }
      continue;
    }
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      AfterCallQueueEmpty();
      return;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      AfterCall();
      peer_closed_ = true;
      if (!closed_) {
        // Answer the peer's close_notify with ours.
        ClearQueue();
        SSL_shutdown(ssl);
        AfterCall();
        closed_ = true;
        Record(kTlState, 0, kStClosed, 0, 0);
      }
      return;
    }
    Fail(e, DrainErrors());
    return;
  }
}

void SessionHandle::Feed(const uint8_t* data, size_t len) {
  // The suite is fixed once connected (no renegotiation): look its minimum up once, not per datagram.
  if (failed_ || closed_ || !ssl_ ||
      !PlausibleDtls(data, len, connected_ ? min_protected_ : MinProtectedRecord(ssl_.get()))) {
    dropped_++;
    return;
  }
  if (!is_server_ && !started_) {
    // A client that has not started has nothing to say to anyone.
    dropped_++;
    return;
  }
  if (!is_server_ && !connected_ && !offered_session_ && !SentFinished()) {
    // In a full handshake the server sends no NewSessionTicket, ChangeCipherSpec or epoch-1 record before
    // it has our Finished, whatever the network reorders: such a datagram is another association's final
    // flight — a retransmission to the previous owner of our (reused) port. DTLS 1.2 cannot authenticate
    // its epoch-0 NewSessionTicket, and OpenSSL would take it as ours and then reject the real Finished
    // (decrypt_error, "digest check failed"). Dropped and counted instead.
    for (size_t off = 0; off + 13 <= len; off += 13 + ((static_cast<size_t>(data[off + 11]) << 8) | data[off + 12])) {
      bool later_epoch = data[off + 3] != 0 || data[off + 4] != 0;
      if (data[off] == 20 || later_epoch || (data[off] == 22 && off + 13 < len && data[off + 13] == 4)) {
        dropped_++;
        return;
      }
    }
  }
  datagrams_in_++;
  bytes_in_ += len;
  bio_state_.in_data = data;
  bio_state_.in_len = len;
  bio_state_.in_pending = true;
  if (!connected_) NoteRecords(data, len, 0);
  bool ok = true;
  bool settled = connected_;
  if (listen_pending_) ok = Listen();
  if (ok && !connected_) ok = DriveHandshake();
  // Keep reading after the handshake: application data that followed the
  // peer's Finished, retransmitted flights (our final flight is resent when
  // the peer repeats its own), alerts and close_notify.
  if (ok && connected_ && !failed_ && !closed_) ReadAll(settled);
  bio_state_.in_pending = false;
  bio_state_.in_data = nullptr;
  bio_state_.in_len = 0;
}

// Whether our Finished has gone out (sent_messages_ holds type << 16 | seq of each message sent).
bool SessionHandle::SentFinished() const {
  for (uint32_t k : sent_messages_) {
    if ((k >> 16) == SSL3_MT_FINISHED) return true;
  }
  return false;
}

void SessionHandle::WritePlaintext(const uint8_t* data, size_t len) {
  if (failed_ || closed_ || !connected_) {
    dropped_++;
    return;
  }
  SSL* ssl = ssl_.get();
  BeforeCall();
  int n = SSL_write(ssl, data, static_cast<int>(len));
  if (n > 0) {
    messages_out_++;
    AfterCall();
    return;
  }
  int e = SSL_get_error(ssl, n);
  Fail(e, DrainErrors());
}

void SessionHandle::HandleTimer() {
  if (!started_ || connected_ || failed_ || closed_) return;
  Record(kTlTimer, 0, 0, 0, 0);
  ClearQueue();
  int r = DTLSv1_handle_timeout(ssl_.get());
  if (r < 0) {
    timed_out_ = true;
    Fail(SSL_ERROR_SSL, DrainErrors());
    return;
  }
  AfterCall();
}

void SessionHandle::Shutdown() {
  if (closed_ || failed_) return;
  if (connected_) {
    ClearQueue();
    SSL_shutdown(ssl_.get());
    AfterCall();
  }
  closed_ = true;
  Record(kTlState, 1, kStClosed, 0, 0);
}

Napi::Value SessionHandle::Step(const Napi::CallbackInfo& info) {
  uint32_t ops = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  return RunStep(info.Env(), info[0], info[1], ops);
}

Napi::Value SessionHandle::RunStep(Napi::Env env, Napi::Value in, Napi::Value out, uint32_t ops) {
  EnsureAlive(env);
  if (in_step_) throw InvalidState(env, "step is not re-entrant");
  // The env's step arena and output pools belong to one step at a time: JS
  // that runs inside a step (a pskCallback) may not step another session.
  bool* env_stepping = addon_->stepping_flag();
  if (*env_stepping) throw InvalidState(env, "a DTLS session cannot be driven from inside another session's pskCallback");
  in_step_ = true;
  *env_stepping = true;
  struct Reset {
    bool* flag;
    bool* env_flag;
    ~Reset() {
      *flag = false;
      *env_flag = false;
    }
  } reset{&in_step_, env_stepping};

  BeginStep(&addon_->step_arena());
  struct Detach {
    SessionHandle* s;
    ~Detach() {
      s->bio_state_.out = nullptr;
      s->arena_->Clear();
      s->arena_ = nullptr;
    }
  } detach{this};
  // ClearErrorOnReturn, knowing when the queue is already empty (BeforeCall).
  struct QueueGuard {
    SessionHandle* s;
    explicit QueueGuard(SessionHandle* session) : s(session) {
      ClearQueue();
      s->queue_clean_ = true;
    }
    ~QueueGuard() {
      if (!s->queue_clean_) ClearQueue();
    }
  } guard{this};

  StartOps(ops);

  if ((ops & kArgKnown) == 0) ops |= ProbeArgKinds(in, out);
  // One Uint8Array, an array of them, or nothing, each way.
  const uint8_t* data = nullptr;
  size_t length = 0;
  if ((ops & kArgInOne) != 0) {
    if (OneBytes(env, in, &data, &length)) Feed(data, length);
    else dropped_++;
  } else if ((ops & kArgInArray) != 0) {
    FeedArray(env, in);
  }
  if ((ops & kArgOutOne) != 0) {
    if (OneBytes(env, out, &data, &length)) WriteRecord(data, length);
  } else if ((ops & kArgOutArray) != 0) {
    WriteArray(env, out);
  }
  EndOps(ops);
  return BuildResult(env);
}

namespace {
// Calls f(data, length) for each element of an array argument that is a
// Uint8Array; returns how many elements were not.
template <typename F>
uint32_t ForEachBytes(Napi::Env env, Napi::Value list, F&& f) {
  Napi::Array a = list.As<Napi::Array>();
  uint32_t n = a.Length();
  uint32_t others = 0;
  const uint8_t* data = nullptr;
  size_t length = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (BytesOf(env, a.Get(i), &data, &length)) f(data, length);
    else others++;
  }
  return others;
}
}  // namespace

void SessionHandle::FeedArray(Napi::Env env, Napi::Value in) {
  dropped_ += ForEachBytes(env, in, [this](const uint8_t* p, size_t n) { Feed(p, n); });
}

// Each element one record (JS validated them all before the step).
void SessionHandle::WriteArray(Napi::Env env, Napi::Value out) {
  ForEachBytes(env, out, [this](const uint8_t* p, size_t n) { WriteRecord(p, n); });
}

// One record of 1..16384 bytes; anything else is not a record and is skipped.
void SessionHandle::WriteRecord(const uint8_t* data, size_t length) {
  if (length > 0 && length <= static_cast<size_t>(kMaxPlaintext)) WritePlaintext(data, length);
}

// The hot path: the module-level step(id, inbound, outbound, ops). A method
// call on the handle costs an ObjectWrap unwrap (a private-symbol property
// lookup, ~800 instructions, two per record); the id (slot and generation,
// from stepId()) is looked up in the env's table instead. A module function
// is also a constant call target, which V8 calls on its fast API path.
Napi::Function SessionHandle::InitStep(Napi::Env env) { return Napi::Function::New<&SessionHandle::StepById>(env, "step"); }

Napi::Value SessionHandle::StepById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DtlsAddon* addon = DtlsAddon::From(env);
  int64_t id = -1;
  if (info.Length() > 0) napi_get_value_int64(env, info[0], &id);
  SessionHandle* s = nullptr;
  if (addon != nullptr && id >= 0) {
    s = addon->SlotSession(static_cast<uint32_t>(id & 0xFFFFFFFF), static_cast<uint32_t>(id >> 32));
  }
  if (s == nullptr) throw InvalidState(env, "the native session is destroyed");
  uint32_t ops = 0;
  if (info.Length() > 3 && napi_get_value_uint32(env, info[3], &ops) != napi_ok) ops = 0;
  return s->RunStep(env, info[1], info[2], ops);
}

// stepId(): this session's id for step(id, ...), valid until destroy().
Napi::Value SessionHandle::StepId(const Napi::CallbackInfo& info) {
  EnsureAlive(info.Env());
  return Napi::Number::New(info.Env(), static_cast<double>(slot_generation_) * 4294967296.0 + static_cast<double>(slot_));
}

void SessionHandle::BeginStep(Arena* arena) {
  queue_clean_ = false;  // a worker thread's queue too: the first call clears it
  arena_ = arena;
  arena_->Clear();
  bio_state_.out = arena_;
  alerts_.clear();
  keylog_lines_.clear();
  step_connected_ = false;
  step_failed_ = false;
  step_retransmitted_ = false;
  step_timer_retransmits_ = 0;
}

void SessionHandle::StartOps(uint32_t ops) {
  if ((ops & kOpStart) != 0 && !started_ && !failed_ && !closed_) DriveHandshake();
  if ((ops & kOpTimer) != 0) HandleTimer();
}

void SessionHandle::EndOps(uint32_t ops) {
  if ((ops & kOpShutdown) != 0) Shutdown();
  // Flights resent: each timer expiry resends one; a flight resent because
  // the peer repeated its own (our final flight) counts once.
  retransmits_ += step_timer_retransmits_;
  if (step_retransmitted_ && step_timer_retransmits_ == 0) retransmits_++;
  // The timeline notes our own handshake records (fragments, epochs).
  if (started_ && (!connected_ || step_connected_)) {
    for (const Arena::Item& it : arena_->items()) {
      if ((it.kind & 1) == Arena::kDatagram) NoteRecords(arena_->ItemData(it), it.length, 1);
    }
  }
}

// ---- handshake steps on the thread pool --------------------------------------

// One step run by a libuv worker: the inbound datagrams (copied here, in
// arrival order) and the ops, on the worker thread's own OpenSSL error queue;
// the output goes to the job's own arena. Completion, on the main thread,
// hands it to JS exactly as a synchronous step does (the env's step buffers,
// the same rare object), then calls `done`. The AsyncWorker holds the
// session's JS object, so it cannot be collected while the job exists.
class SessionHandle::StepJob : public Napi::AsyncWorker {
 public:
  StepJob(SessionHandle* s, const Napi::Object& self, const Napi::Function& done,
          std::vector<std::vector<uint8_t>> inbound, uint32_t ops)
      : Napi::AsyncWorker(self, done, "openssl-dtls.handshake"), s_(s), inbound_(std::move(inbound)), ops_(ops) {}

  void Execute() override {
    std::lock_guard<std::mutex> lock(s_->job_mu_);
    std::shared_lock<std::shared_mutex> keylog_reader(s_->ctx_->keylog_mu);
    if (s_->destroyed_ || !s_->ssl_) return;  // destroyed while queued
    ran_ = true;
    s_->BeginStep(&arena_);
    {
      ClearErrorOnReturn guard;  // this worker thread's queue
      s_->StartOps(ops_);
      for (const std::vector<uint8_t>& d : inbound_) s_->Feed(d.data(), d.size());
      s_->EndOps(ops_);
    }
    s_->bio_state_.out = nullptr;
    s_->arena_ = nullptr;
  }

  void OnOK() override {
    Napi::Env env = Env();
    s_->job_in_flight_ = false;
    s_->in_step_ = false;
    // Closed or destroyed during the job: nobody is waiting for its output.
    if (!ran_ || s_->destroyed_ || !s_->ssl_) return;
    Arena& shared = s_->addon_->step_arena();
    shared.Clear();
    for (const Arena::Item& it : arena_.items()) {
      shared.Append(static_cast<Arena::Kind>(it.kind), arena_.data() + it.offset, it.length);
    }
    s_->arena_ = &shared;
    Napi::Value rare;
    {
      ClearErrorOnReturn guard;  // BuildResult reads the retransmission timer
      rare = s_->BuildResult(env);
    }
    s_->arena_ = nullptr;
    // JS copies the output out of the shared buffers first thing in `done`.
    Callback().Call(Receiver().Value(), {rare});
    shared.Clear();
  }

 private:
  SessionHandle* s_;
  std::vector<std::vector<uint8_t>> inbound_;
  uint32_t ops_;
  Arena arena_;  // no external block: heap only, freed with the job
  bool ran_ = false;
};

// stepAsync(datagrams: Uint8Array[], ops: number, done: (rare) => void):
// queues one step on the thread pool. One job per session at a time (the
// caller queues what arrives meanwhile); no plaintext (records stay
// synchronous); not for sessions whose pskCallback must run in JS.
Napi::Value SessionHandle::StepAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureAlive(env);
  if (in_step_) throw InvalidState(env, "a step is already in flight on this session");
  if (!psk_callback_.IsEmpty()) throw InvalidState(env, "a session with a pskCallback steps on the main thread");
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsNumber() || !info[2].IsFunction()) {
    throw Napi::TypeError::New(env, "stepAsync(datagrams, ops, done)");
  }
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::vector<uint8_t>> inbound;
  inbound.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!IsUint8Array(v)) {
      dropped_++;
      continue;
    }
    Napi::Uint8Array u = v.As<Napi::Uint8Array>();
    inbound.emplace_back(u.Data(), u.Data() + u.ByteLength());
  }
  uint32_t ops = info[1].As<Napi::Number>().Uint32Value();
  StepJob* job = new StepJob(this, info.This().As<Napi::Object>(), info[2].As<Napi::Function>(), std::move(inbound), ops);
  in_step_ = true;
  job_in_flight_ = true;
  job->Queue();
  return env.Undefined();
}

// What a step returns. The common case crosses back with no allocation: the
// output bytes are in the env's step buffer (stepData) and the env's meta
// array (stepMeta, Int32Array) holds
//   [0] flags  [1] retransmission timeout in ms (-1: none)
//   [2] number of items described below, or -1 when they are in `items`
//   [3] 1 when the bytes are in `buf` rather than in stepData
//   [4 + 3i ..] kind (0 datagram, 1 message), offset, length of item i.
// JS copies everything out before it runs any callback. Only rare things —
// alerts, keylog lines, a failure, or a step too large for the shared
// buffers — come back in an object; otherwise the result is undefined.
Napi::Value SessionHandle::BuildResult(Napi::Env env) {
  int32_t* meta = addon_->step_meta();
  size_t meta_len = addon_->step_meta_length();
  Napi::Object rare;
  auto rare_object = [&]() -> Napi::Object {
    if (rare.IsEmpty()) rare = Napi::Object::New(env);
    return rare;
  };

  uint32_t flags = 0;
  if (step_connected_) flags |= kFlagConnected;
  if (step_failed_) flags |= kFlagFailed;
  if (peer_closed_) flags |= kFlagPeerClosed;
  if (timed_out_) flags |= kFlagTimedOut;
  if (fingerprint_mismatch_) flags |= kFlagFingerprint;

  double timeout = -1;
  if (started_ && !connected_ && !failed_ && !closed_) {
    timeval tv{};
    if (DTLSv1_get_timeout(ssl_.get(), &tv) == 1) {
      timeout = std::ceil(static_cast<double>(tv.tv_sec) * 1000.0 + static_cast<double>(tv.tv_usec) / 1000.0);
    }
  }

  const std::vector<Arena::Item>& items = arena_->items();
  size_t n = items.size();
  if (meta == nullptr || meta_len < 4) throw InvalidState(env, "the environment is shutting down");
  meta[0] = static_cast<int32_t>(flags);
  meta[1] = static_cast<int32_t>(timeout);
  meta[3] = 0;
  if (4 + 3 * n <= meta_len && !arena_->overflowed()) {
    // Each item is in its kind's output pool (kind | kPooled, the offset in
    // the pool): written there during the step (a main-thread step's
    // datagrams) or copied there now; one that does not fit stays in the step block.
    meta[2] = static_cast<int32_t>(n);
    for (size_t i = 0; i < n; i++) {
      const Arena::Item& it = items[i];
      uint32_t kind = it.kind;
      size_t at = it.offset;  // Alloc changes it only when the item fits
      if ((kind & Arena::kPooled) == 0) {
        uint8_t* dst = addon_->pool(kind).Alloc(it.length, &at);
        if (dst != nullptr) {
          std::memcpy(dst, arena_->data() + it.offset, it.length);
          kind |= Arena::kPooled;
        }
      }
      meta[4 + 3 * i] = static_cast<int32_t>(kind);
      meta[5 + 3 * i] = static_cast<int32_t>(at);
      meta[6 + 3 * i] = static_cast<int32_t>(it.length);
    }
  } else if (4 + 3 * n <= meta_len) {
    meta[2] = static_cast<int32_t>(n);
    for (size_t i = 0; i < n; i++) {
      meta[4 + 3 * i] = static_cast<int32_t>(items[i].kind);
      meta[5 + 3 * i] = static_cast<int32_t>(items[i].offset);
      meta[6 + 3 * i] = static_cast<int32_t>(items[i].length);
    }
  } else {
    meta[2] = -1;
    Napi::Array list = Napi::Array::New(env, n * 3);
    uint32_t k = 0;
    for (const Arena::Item& it : items) {
      list.Set(k++, Napi::Number::New(env, it.kind));
      list.Set(k++, Napi::Number::New(env, it.offset));
      list.Set(k++, Napi::Number::New(env, it.length));
    }
    rare_object().Set("items", list);
  }
  if (n > 0 && arena_->overflowed()) {
    meta[3] = 1;
    rare_object().Set("buf", Napi::Buffer<uint8_t>::Copy(env, arena_->data(), arena_->size()));
  }

  if (!alerts_.empty()) {
    Napi::Array list = Napi::Array::New(env, alerts_.size());
    for (size_t i = 0; i < alerts_.size(); i++) {
      const PendingAlert& a = alerts_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("sent", Napi::Boolean::New(env, a.sent));
      o.Set("level", Napi::Number::New(env, a.level));
      o.Set("code", Napi::Number::New(env, a.code));
      o.Set("errors", ErrorListToJs(env, a.errors));
      o.Set("verifyResult", Napi::Number::New(env, static_cast<double>(a.verify_result)));
      o.Set("verifyMessage", Napi::String::New(env, X509_verify_cert_error_string(a.verify_result)));
      o.Set("lastSent", Napi::Number::New(env, a.last_sent));
      o.Set("lastReceived", Napi::Number::New(env, a.last_received));
      o.Set("version", Napi::String::New(env, a.version));
      if (!a.cipher.empty()) o.Set("cipher", Napi::String::New(env, a.cipher));
      o.Set("ems", Napi::Number::New(env, a.ems));
      o.Set("etm", Napi::Number::New(env, a.etm));
      o.Set("clientAuth", Napi::Boolean::New(env, a.client_auth));
      list.Set(static_cast<uint32_t>(i), o);
    }
    rare_object().Set("alerts", list);
    alerts_.clear();
  }
  if (!keylog_lines_.empty()) {
    Napi::Array list = Napi::Array::New(env, keylog_lines_.size());
    for (size_t i = 0; i < keylog_lines_.size(); i++) {
      list.Set(static_cast<uint32_t>(i), Napi::String::New(env, keylog_lines_[i]));
    }
    rare_object().Set("keylog", list);
    keylog_lines_.clear();
  }
  if (step_failed_) {
    Napi::Object err = Napi::Object::New(env);
    long vr = SSL_get_verify_result(ssl_.get());
    err.Set("sslError", Napi::Number::New(env, failure_ssl_error_));
    err.Set("errors", ErrorListToJs(env, failure_errors_));
    err.Set("verifyResult", Napi::Number::New(env, static_cast<double>(vr)));
    err.Set("verifyMessage", Napi::String::New(env, X509_verify_cert_error_string(vr)));
    err.Set("lastSent", Napi::Number::New(env, last_sent_));
    err.Set("lastReceived", Napi::Number::New(env, last_received_));
    err.Set("undecryptedRecords", Napi::Number::New(env, static_cast<double>(undecrypted_records_)));
    rare_object().Set("error", err);
  }
  if (rare.IsEmpty()) return env.Undefined();
  return rare;
}

// ---- other methods ----------------------------------------------------------

Napi::Value SessionHandle::DestroyJs(const Napi::CallbackInfo& info) {
  if (in_step_ && !job_in_flight_) throw InvalidState(info.Env(), "cannot destroy a session inside its own step");
  Destroy();
  return info.Env().Undefined();
}

Napi::Value SessionHandle::SetFingerprints(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  Napi::Env env = info.Env();
  EnsureAlive(env);
  ClearErrorOnReturn guard;
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "setFingerprints expects an array");
  std::vector<Fingerprint> list = ParseFingerprints(env, info[0]);
  fingerprints_ = std::move(list);
  has_fingerprints_ = true;
  fingerprint_checked_ = false;
  ApplyVerifyMode();
  ApplyResumptionPolicy();
  if (!is_server_ && !started_) {
    SSL_SESSION* offered = SSL_get_session(ssl_.get());
    if (offered != nullptr && !SessionAcceptable(offered)) {
      SSL_set_session(ssl_.get(), nullptr);
    }
  }
  return env.Undefined();
}

Napi::Value SessionHandle::SetKeylog(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  keylog_ = info.Length() > 0 && info[0].ToBoolean();
  if (keylog_) EnableContextKeylog();
  return info.Env().Undefined();
}

// Main thread. Once installed the callback stays (as node:tls does): sessions
// that do not want lines are filtered in KeylogCallback.
void SessionHandle::EnableContextKeylog() {
  ContextState* c = ctx_.get();
  if (c == nullptr || c->keylog_installed) return;
  std::unique_lock<std::shared_mutex> exclusive(c->keylog_mu);  // waits for running thread-pool steps
  SSL_CTX_set_keylog_callback(c->ctx.get(), KeylogCallback);
  c->keylog_installed = true;
}

// What the handshake negotiated, as a flat array (layout: NativeSessionInfoRow
// in src/binding.ts): indexed stores cost a fraction of the named-property
// sets of an object built through N-API (each creates its key string).
Napi::Value SessionHandle::Info(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  Napi::Env env = info.Env();
  EnsureAlive(env);
  ClearErrorOnReturn guard;
  SSL* ssl = ssl_.get();
  Napi::Array row = Napi::Array::New(env, 12);
  Napi::Value undefined = env.Undefined();
  row.Set(0u, Napi::String::New(env, SSL_get_version(ssl)));
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  if (c != nullptr) {
    const char* std_name = SSL_CIPHER_standard_name(c);
    row.Set(1u, Napi::String::New(env, SSL_CIPHER_get_name(c)));
    row.Set(2u, Napi::String::New(env, std_name != nullptr ? std_name : SSL_CIPHER_get_name(c)));
    row.Set(3u, Napi::String::New(env, SSL_CIPHER_get_version(c)));
  } else {
    row.Set(1u, undefined);
    row.Set(2u, undefined);
    row.Set(3u, undefined);
  }
  row.Set(4u, Napi::Boolean::New(env, SSL_session_reused(ssl) == 1));
  row.Set(5u, Napi::Boolean::New(env, SSL_get_extms_support(ssl) == 1));
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr && alpn_len > 0) {
    row.Set(6u, Napi::String::New(env, reinterpret_cast<const char*>(alpn), alpn_len));
  } else {
    row.Set(6u, undefined);
  }
  // Whether there is a peer certificate; its DER comes from peerCertificateDer() when someone asks.
  peer_cert_.reset(SSL_get1_peer_certificate(ssl));
  row.Set(7u, Napi::Boolean::New(env, static_cast<bool>(peer_cert_)));
  long vr = SSL_get_verify_result(ssl);
  row.Set(8u, Napi::Number::New(env, static_cast<double>(vr)));
  row.Set(9u, Napi::String::New(env, X509_verify_cert_error_string(vr)));
  row.Set(10u, Napi::Number::New(env, connected_ ? static_cast<double>(DTLS_get_data_mtu(ssl)) : 0));
  // DTLS-SRTP: the profile both sides agreed on (RFC 5764 use_srtp), if any.
  const SRTP_PROTECTION_PROFILE* srtp = SSL_get_selected_srtp_profile(ssl);
  if (srtp != nullptr && srtp->name != nullptr) {
    row.Set(11u, Napi::String::New(env, srtp->name));
  } else {
    row.Set(11u, undefined);
  }
  return row;
}

Napi::Value SessionHandle::KeepSession(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  if (!destroyed_ && ssl_) {
    SslSessionPtr sess(SSL_get1_session(ssl_.get()));
    if (sess && SSL_SESSION_is_resumable(sess.get()) == 1) final_session_ = std::move(sess);
  }
  return info.Env().Undefined();
}

Napi::Value SessionHandle::PeerCertificateDer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!peer_cert_) return env.Undefined();
  ClearErrorOnReturn guard;
  int n = i2d_X509(peer_cert_.get(), nullptr);
  if (n <= 0) ThrowDtlsError(env, "could not encode the peer certificate");
  Napi::Buffer<uint8_t> der = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(n));
  unsigned char* p = der.Data();
  if (i2d_X509(peer_cert_.get(), &p) != n) ThrowDtlsError(env, "could not encode the peer certificate");
  return der;
}

// The live session's, or after destroy() the one keepSession() kept: encoded
// only when asked for (a session holds the peer certificate, and encoding it
// at every close cost more than the rest of closing).
Napi::Value SessionHandle::GetSession(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  Napi::Env env = info.Env();
  ClearErrorOnReturn guard;
  SslSessionPtr sess(destroyed_ || !ssl_ ? nullptr : SSL_get1_session(ssl_.get()));
  if (sess) {
    if (SSL_SESSION_is_resumable(sess.get()) != 1) return env.Undefined();
  } else if (final_session_) {
    // Resumability as it was when kept: SSL_free() without a close_notify
    // marks the shared session not resumable, which its encoding never was.
    SSL_SESSION_up_ref(final_session_.get());
    sess.reset(final_session_.get());
  } else {
    return env.Undefined();
  }
  int n = i2d_SSL_SESSION(sess.get(), nullptr);
  if (n <= 0) return env.Undefined();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(n));
  unsigned char* p = out.Data();
  i2d_SSL_SESSION(sess.get(), &p);
  return out;
}

Napi::Value SessionHandle::ExportKeyingMaterial(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  Napi::Env env = info.Env();
  EnsureAlive(env);
  if (!connected_) throw InvalidState(env, "keying material is available once the handshake is done");
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "exportKeyingMaterial(length, label[, context])");
  }
  size_t length = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  std::string label = info[1].As<Napi::String>().Utf8Value();
  bool use_context = info.Length() > 2 && IsUint8Array(info[2]);
  const unsigned char* context = nullptr;
  size_t context_len = 0;
  if (use_context) {
    Napi::Uint8Array u = info[2].As<Napi::Uint8Array>();
    context = u.Data();
    context_len = u.ByteLength();
  }
  ClearErrorOnReturn guard;
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, length);
  if (SSL_export_keying_material(ssl_.get(), out.Data(), length, label.data(), label.size(), context, context_len,
                                 use_context ? 1 : 0) != 1) {
    ThrowDtlsError(env, "SSL_export_keying_material failed");
  }
  return out;
}

Napi::Value SessionHandle::Stats(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("datagramsIn", Napi::Number::New(env, static_cast<double>(datagrams_in_)));
  o.Set("datagramsOut", Napi::Number::New(env, static_cast<double>(datagrams_out_)));
  o.Set("bytesIn", Napi::Number::New(env, static_cast<double>(bytes_in_)));
  o.Set("bytesOut", Napi::Number::New(env, static_cast<double>(bytes_out_)));
  o.Set("retransmits", Napi::Number::New(env, static_cast<double>(retransmits_)));
  o.Set("dropped", Napi::Number::New(env, static_cast<double>(dropped_)));
  o.Set("messagesIn", Napi::Number::New(env, static_cast<double>(messages_in_)));
  o.Set("messagesOut", Napi::Number::New(env, static_cast<double>(messages_out_)));
  o.Set("undecryptedRecords", Napi::Number::New(env, static_cast<double>(undecrypted_records_)));
  return o;
}

Napi::Value SessionHandle::Timeline(const Napi::CallbackInfo& info) {
  JobLock lock(this);
  Napi::Env env = info.Env();
  // timeline(since): only the events numbered `since` and later (that are still in the ring).
  uint64_t since = info.Length() > 0 && info[0].IsNumber() ? static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()) : 0;
  size_t n = timeline_.size();
  uint64_t first = timeline_total_ - n;  // number of the oldest event kept
  size_t skip = since > first ? static_cast<size_t>(std::min<uint64_t>(since - first, n)) : 0;
  Napi::Array out = Napi::Array::New(env, n - skip);
  size_t start = timeline_wrapped_ ? timeline_next_ : 0;
  for (size_t i = skip; i < n; i++) {
    const TimelineEntry& e = timeline_[(start + i) % n];
    Napi::Array row = Napi::Array::New(env, 9);
    row.Set(0u, Napi::Number::New(env, e.t));
    row.Set(1u, Napi::Number::New(env, e.kind));
    row.Set(2u, Napi::Number::New(env, e.dir));
    row.Set(3u, Napi::Number::New(env, e.type));
    row.Set(4u, Napi::Number::New(env, e.len));
    row.Set(5u, Napi::Number::New(env, e.seq));
    row.Set(6u, Napi::Number::New(env, e.a));
    row.Set(7u, Napi::Number::New(env, e.b));
    row.Set(8u, Napi::Number::New(env, static_cast<double>(first + i)));
    out.Set(static_cast<uint32_t>(i - skip), row);
  }
  return out;
}

}  // namespace dtls
