#include "harness.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "context_handle.h"
#include "datagram_bio.h"
#include "determinism.h"
#include "openssl_error.h"
#include "openssl_ptr.h"
#include "session_handle.h"  // transplanted: no ObjectWrap, FuzzDriver is a friend

// The N-API-free items of native/context_handle.cc (kDefaultCiphers, kSessionIdContext, AlpnSelect,
// PassphraseCallback, ClearPemEof, ContextState's destructor), transplanted by transplant.js. The contexts
// below are configured with them the way ContextHandle::Configure does.
#include "context_handle.cc"

// libFuzzer reads these as extra coverage features: Debian's libssl is not instrumented, so this is how the
// fuzzer sees OpenSSL's state machine (states reached, messages and alerts seen, error reasons raised).
// In the seed generator (no libFuzzer) they are just counters.
extern "C" {
__attribute__((section("__libfuzzer_extra_counters"), used)) uint8_t g_dtls_fuzz_counters[1 << 14];
}

namespace dtls {

// What the N-API constructor initialises before its body: the creation time (timeline timestamps).
SessionHandle::SessionHandle() : created_(std::chrono::steady_clock::now()) {}

// SessionHandle::Destroy without the env bookkeeping (registry, external memory).
void SessionHandle::Destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  {
    MarkPopErrorOnReturn mark;
    ssl_.reset();
  }
  if (registered_) {
    registered_ = false;
    ctx_->live_sessions--;
  }
}

namespace fuzz {

namespace {

// The step ops and limits of SessionHandle::Step (native/session_handle.cc, src/binding.ts OP_*).
constexpr uint32_t kOpStart = 1;
constexpr uint32_t kOpTimer = 2;
constexpr uint32_t kOpShutdown = 4;
constexpr size_t kMaxPlaintext = 16384;
// The env's step block (native/addon.cc kStepDataBytes): a step that outgrows it moves to the heap.
constexpr size_t kStepDataBytes = 256 * 1024;

constexpr uint64_t kClientStream = 0x636c69656e740001ULL;
constexpr uint64_t kServerStream = 0x7365727665720002ULL;
constexpr const char* kCookiePeer = "127.0.0.1|5000";

std::string g_fixtures_dir;
bool g_verbose = false;
uint8_t* g_step_block = nullptr;
Arena* g_arena = nullptr;

struct Fixture {
  std::string cert;  // PEM (chain allowed)
  std::string key;
  Bytes sha256;      // of the leaf's DER
};
std::map<std::string, Fixture> g_fixtures;
std::map<int, std::shared_ptr<ContextState>> g_contexts;

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "fuzz harness: %s\n", what.c_str());
  ERR_print_errors_fp(stderr);
  std::abort();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fatal("cannot read " + path + " (set DTLS_FUZZ_FIXTURES to the test/fixtures directory)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Fixture& LoadFixture(const std::string& name) {
  auto it = g_fixtures.find(name);
  if (it != g_fixtures.end()) return it->second;
  Fixture f;
  f.cert = ReadFile(g_fixtures_dir + "/" + name + "-cert.pem");
  f.key = ReadFile(g_fixtures_dir + "/" + name + "-key.pem");
  BioPtr bio(BIO_new_mem_buf(f.cert.data(), static_cast<int>(f.cert.size())));
  X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) Fatal("cannot parse " + name + "-cert.pem");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(leaf.get(), EVP_sha256(), md, &n) != 1) Fatal("X509_digest");
  f.sha256.assign(md, md + n);
  ERR_clear_error();
  return g_fixtures.emplace(name, std::move(f)).first->second;
}

// OpenSSL 3.0's DTLS 1.2 finds no shared cipher for an Ed25519 server certificate (a documented limit,
// test/session.handshake.test.ts): Ed25519 is used where it works, as the client's certificate.
const char* ServerCertName(const Config& cfg) { return cfg.certs == 1 ? "rsa2048" : "ec"; }
const char* ClientCertName(const Config& cfg) { return cfg.certs == 2 ? "ed25519" : "client"; }

bool ClientHasCert(const Config& cfg) { return cfg.mutual || cfg.fingerprints; }

// ContextHandle::Configure for the options a config names (same calls, same order).
std::shared_ptr<ContextState> MakeContext(bool server, const Config& cfg) {
  ClearErrorOnReturn guard;
  auto st = std::make_shared<ContextState>();
  st->ctx.reset(SSL_CTX_new(DTLS_method()));
  SSL_CTX* ctx = st->ctx.get();
  if (ctx == nullptr) Fatal("SSL_CTX_new");
  // Configure draws the cookie secret with RAND_bytes; here it is fixed so cookies replay across runs.
  for (size_t i = 0; i < sizeof(st->cookie_secret); i++) st->cookie_secret[i] = static_cast<uint8_t>(0xA5 ^ (i * 29));

  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  int min_version = cfg.legacy ? DTLS1_VERSION : DTLS1_2_VERSION;
  int max_version = cfg.legacy && !server ? DTLS1_VERSION : 0;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) Fatal("min version");
  if (SSL_CTX_set_max_proto_version(ctx, max_version) != 1) Fatal("max version");
  // Configure keeps AEAD suites plus suites named one by one (the tests' DTLS 1.0 set-up names CBC ones).
  std::string ciphers = kDefaultCiphers;
  if (cfg.legacy) ciphers += ":ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0";
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) Fatal("cipher list " + ciphers);

  const char* name = server ? ServerCertName(cfg) : (ClientHasCert(cfg) ? ClientCertName(cfg) : nullptr);
  if (name != nullptr) {
    const Fixture& f = LoadFixture(name);
    BioPtr bio(BIO_new_mem_buf(f.cert.data(), static_cast<int>(f.cert.size())));
    X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) Fatal(std::string("certificate ") + name);
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
      X509Ptr extra(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!extra) break;
      if (SSL_CTX_add0_chain_cert(ctx, extra.get()) != 1) Fatal("chain certificate");
      (void)extra.release();
    }
    ClearPemEof();
    BioPtr kbio(BIO_new_mem_buf(f.key.data(), static_cast<int>(f.key.size())));
    EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(kbio.get(), nullptr, PassphraseCallback, nullptr));
    if (!pkey || X509_check_private_key(leaf.get(), pkey.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      Fatal(std::string("private key ") + name);
    }
  }
  if (cfg.alpn) {
    static const uint8_t kAlpn[] = {6, 'w', 'e', 'b', 'r', 't', 'c', 8, 'c', '-', 'w', 'e', 'b', 'r', 't', 'c'};
    st->alpn.assign(kAlpn, kAlpn + sizeof(kAlpn));
    if (SSL_CTX_set_alpn_protos(ctx, st->alpn.data(), static_cast<unsigned int>(st->alpn.size())) != 0) Fatal("alpn");
    SSL_CTX_set_alpn_select_cb(ctx, AlpnSelect, st.get());
  }
  SessionHandle::InstallContextCallbacks(ctx);
  return st;
}

std::shared_ptr<ContextState> Context(bool server, const Config& cfg) {
  int cert = server ? (cfg.certs == 1 ? 1 : 0) : (ClientHasCert(cfg) ? (cfg.certs == 2 ? 2 : 1) : 0);
  int key = (server ? 1 : 0) | cert << 1 | (cfg.legacy ? 16 : 0) | (cfg.alpn ? 32 : 0);
  auto it = g_contexts.find(key);
  if (it != g_contexts.end()) {
    // One context serves every input, as one SecureContext serves many sessions; its session cache is
    // emptied so no input sees sessions an earlier one left (a replay must not depend on history).
    SSL_CTX* ctx = it->second->ctx.get();
    SSL_CTX_flush_sessions(ctx, static_cast<long>(std::time(nullptr)) + 100L * 365 * 86400);
    if (SSL_CTX_sess_number(ctx) != 0) Fatal("the session cache did not empty");
    return it->second;
  }
  uint64_t stream = 0x636f6e7465787400ULL + static_cast<uint64_t>(key);
  UseStream(&stream);  // ticket keys: the same in every run
  auto ctx = MakeContext(server, cfg);
  UseStream(nullptr);
  g_contexts.emplace(key, ctx);
  return ctx;
}

uint64_t Mix(std::initializer_list<uint64_t> values) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint64_t v : values) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void Hit(uint64_t h) {
  uint8_t& c = g_dtls_fuzz_counters[h % sizeof(g_dtls_fuzz_counters)];
  if (c != 255) c++;
}

// Records of one datagram: their content types; false if it is not a sequence of whole records.
bool Records(const Bytes& d, std::vector<uint8_t>* types) {
  size_t off = 0;
  while (off < d.size()) {
    if (d.size() - off < 13) return false;
    size_t len = (static_cast<size_t>(d[off + 11]) << 8) | d[off + 12];
    if (off + 13 + len > d.size()) return false;
    types->push_back(d[off]);
    off += 13 + len;
  }
  return true;
}

}  // namespace

Config Config::FromByte(uint8_t b) {
  Config c;
  c.cookie_exchange = (b & 1) != 0;
  c.mutual = (b & 2) != 0;
  c.small_mtu = (b & 4) != 0;
  c.fingerprints = (b & 8) != 0;
  c.certs = (b >> 4) & 3;
  c.legacy = (b & 64) != 0;
  c.alpn = (b & 128) != 0;
  return c;
}

void Initialize() {
  static bool done = false;
  if (done) return;
  done = true;
  const char* dir = std::getenv("DTLS_FUZZ_FIXTURES");
#ifdef DTLS_FUZZ_FIXTURES_DIR
  if (dir == nullptr) dir = DTLS_FUZZ_FIXTURES_DIR;
#endif
  if (dir == nullptr) Fatal("DTLS_FUZZ_FIXTURES is not set");
  g_fixtures_dir = dir;
  const char* verbose = std::getenv("DTLS_FUZZ_VERBOSE");
  g_verbose = verbose != nullptr && verbose[0] == '1';
  OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
  InstallDeterminism();
  g_step_block = static_cast<uint8_t*>(std::malloc(kStepDataBytes));
  g_arena = new Arena();
  g_arena->AttachExternal(g_step_block, kStepDataBytes);
  // Everything one-off happens here, not in the first input (LeakSanitizer compares inputs).
  for (const char* n : {"ec", "ed25519", "rsa2048", "client"}) LoadFixture(n);
  DatagramBioMethod();
}

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "fuzz harness: invariant violated: %s\n", what);
  std::fflush(stderr);
  __builtin_trap();
}

// ---- one session ------------------------------------------------------------------------------------

// SessionHandle's constructor, with the options the TypeScript layer passes for this config.
FuzzDriver::FuzzDriver(const Config& cfg, bool server) : server_(server), stream_(server ? kServerStream : kClientStream) {
  ctx_ = Context(server, cfg);
  UseStream(&stream_);
  s_.reset(new SessionHandle());
  SessionHandle& s = *s_;
  s.ctx_ = ctx_;
  s.is_server_ = server;
  // TypeScript passes rejectUnauthorized true by default; these configs trust by fingerprint or not at all.
  s.reject_unauthorized_ = cfg.fingerprints;
  s.request_cert_ = server && cfg.mutual;
  s.cookie_exchange_ = server && cfg.cookie_exchange;
  s.cookie_peer_ = kCookiePeer;
  long mtu = cfg.small_mtu ? 300 : 1200;
  s.bio_state_.mtu = mtu;
  unsigned int t = 100000;  // the default schedule (src/session.ts retransmitSchedule, the constructor's fallback)
  for (int i = 0; i < 16; i++) {
    s.schedule_us_.push_back(t);
    t = t * 2 > 4000000 ? 4000000 : t * 2;
  }

  ClearErrorOnReturn guard;
  s.ssl_.reset(SSL_new(ctx_->ctx.get()));
  if (!s.ssl_) Fatal("SSL_new");
  SSL* ssl = s.ssl_.get();
  SSL_set_app_data(ssl, &s);
  s.bio_state_.out = nullptr;
  s.bio_state_.datagrams_out = &s.datagrams_out_;
  s.bio_state_.bytes_out = &s.bytes_out_;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(5000);
  inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
  std::memcpy(&s.bio_state_.peer, &v4, sizeof(v4));
  s.bio_state_.peer_len = sizeof(v4);
  BIO* bio = NewDatagramBio(&s.bio_state_);
  if (bio == nullptr) Fatal("NewDatagramBio");
  SSL_set_bio(ssl, bio, bio);
  SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(ssl, mtu) <= 0 || DTLS_set_link_mtu(ssl, mtu) != 1) Fatal("mtu");
  if (s.cookie_exchange_) SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
  DTLS_set_timer_cb(ssl, SessionHandle::TimerCallback);
  SSL_set_msg_callback(ssl, SessionHandle::MsgCallback);
  SSL_set_info_callback(ssl, SessionHandle::InfoCallback);
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  if (cfg.fingerprints) {
    const Fixture& peer = LoadFixture(server ? ClientCertName(cfg) : ServerCertName(cfg));
    s.fingerprints_.push_back({EVP_sha256(), peer.sha256});
    s.has_fingerprints_ = true;
  }
  s.ApplyVerifyMode();
  if (!server) {
    s.servername_ = ServerCertName(cfg) + std::string(".test");  // the certificates' CN and SAN
    if (SSL_set_tlsext_host_name(ssl, s.servername_.c_str()) != 1) Fatal("servername");
  }
  s.ApplyResumptionPolicy();
  s.keylog_ = true;
  s.EnableContextKeylog();  // as a session created with keylog does: OpenSSL then formats every secret
  s.timeline_.reserve(16);
  ctx_->live_sessions++;
  s.registered_ = true;
  UseStream(nullptr);
}

FuzzDriver::~FuzzDriver() {
  UseStream(&stream_);
  s_.reset();
  UseStream(nullptr);
}

bool FuzzDriver::connected() const { return s_->connected_; }
bool FuzzDriver::failed() const { return s_->failed_; }
bool FuzzDriver::closed() const { return s_->closed_; }
bool FuzzDriver::peer_closed() const { return s_->peer_closed_; }

void FuzzDriver::Start() { Step({}, {}, kOpStart); }
void FuzzDriver::Close() { Step({}, {}, kOpShutdown); }

void FuzzDriver::FireTimer() {
  SessionHandle& s = *s_;
  timeval tv{};
  if (s.ssl_ && s.started_ && !s.connected_ && !s.failed_ && !s.closed_ && DTLSv1_get_timeout(s.ssl_.get(), &tv) == 1) {
    AdvanceClock(static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec + 1000);
  }
  Step({}, {}, kOpTimer);
}

// SessionHandle::Step and the OpenSSL half of BuildResult.
void FuzzDriver::Step(const std::vector<Bytes>& inbound, const std::vector<Bytes>& plaintexts, uint32_t ops) {
  SessionHandle& s = *s_;
  sent_.clear();
  delivered_.clear();
  step_failed_ = false;
  if (s.destroyed_ || !s.ssl_ || s.in_step_) return;  // Step would throw ERR_DTLS_INVALID_STATE
  UseStream(&stream_);
  int state_before = SSL_get_state(s.ssl_.get());
  size_t timeline_before = s.timeline_next_;
  bool connected_before = s.connected_;
  s.in_step_ = true;
  s.arena_ = g_arena;
  s.arena_->Clear();
  s.bio_state_.out = s.arena_;
  s.alerts_.clear();
  s.keylog_lines_.clear();
  s.step_connected_ = false;
  s.step_failed_ = false;
  s.step_retransmitted_ = false;
  s.step_timer_retransmits_ = 0;
  {
    ClearErrorOnReturn guard;
    if ((ops & kOpStart) != 0 && !s.started_ && !s.failed_ && !s.closed_) s.DriveHandshake();
    if ((ops & kOpTimer) != 0) s.HandleTimer();
    for (const Bytes& d : inbound) s.Feed(d.data(), d.size());
    for (const Bytes& p : plaintexts) {
      if (p.empty() || p.size() > kMaxPlaintext) continue;
      s.WritePlaintext(p.data(), p.size());
    }
    if ((ops & kOpShutdown) != 0) s.Shutdown();
    s.retransmits_ += s.step_timer_retransmits_;
    if (s.step_retransmitted_ && s.step_timer_retransmits_ == 0) s.retransmits_++;

    if (s.started_ && !s.connected_ && !s.failed_ && !s.closed_) {
      timeval tv{};
      if (DTLSv1_get_timeout(s.ssl_.get(), &tv) == 1) Hit(Mix({9, tv.tv_sec == 0 && tv.tv_usec == 0 ? 0u : 1u}));
    }
    for (const auto& a : s.alerts_) (void)X509_verify_cert_error_string(a.verify_result);
    if (s.step_failed_) (void)X509_verify_cert_error_string(SSL_get_verify_result(s.ssl_.get()));
    const uint8_t* base = s.arena_->data();
    for (const Arena::Item& it : s.arena_->items()) {
      Bytes b(base + it.offset, base + it.offset + it.length);
      if (it.kind == Arena::kDatagram) {
        CheckDatagram(b, !connected_before);
        sent_.push_back(std::move(b));
      } else {
        delivered_.push_back(std::move(b));
      }
    }
  }
  step_failed_ = s.step_failed_;
  if (g_verbose) Describe(inbound, plaintexts, ops, state_before);
  Observe(state_before, timeline_before);
  s.alerts_.clear();
  s.keylog_lines_.clear();
  s.bio_state_.out = nullptr;
  s.arena_->Clear();
  s.arena_ = nullptr;
  s.in_step_ = false;
  UseStream(nullptr);
}

// OpenSSL 3.0 fails a DTLS connection on a record whose encrypt-then-MAC check fails (a CBC suite:
// dtls1_process_record sends bad_record_mac, or decode_error for a record shorter than the MAC) where RFC 6347
// 4.1.2.7 says to drop it: anyone who can spoof the peer's address can end such a session with one
// datagram. openssl/openssl#24972 (open), #25389. AEAD suites (the defaults) drop such records. Known and
// reported, so not a harness violation; everything else that fails a connected session still is.
bool FuzzDriver::FailedOnForgeableEtmRecord() const {
  const SessionHandle& s = *s_;
  if (!s.ssl_ || s.failure_errors_.empty()) return false;
  const SSL_CIPHER* c = SSL_get_current_cipher(s.ssl_.get());
  if (c == nullptr || SSL_CIPHER_is_aead(c) == 1) return false;
  const ErrorEntry& e = s.failure_errors_.back();
  return e.lib == ERR_LIB_SSL && e.function == "dtls1_process_record" &&
         (e.reason_code == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC || e.reason_code == SSL_R_LENGTH_TOO_SHORT);
}

// DTLS_FUZZ_VERBOSE=1: one line per step, and the OpenSSL errors of alerts and failures (to read a crash).
void FuzzDriver::Describe(const std::vector<Bytes>& inbound, const std::vector<Bytes>& plaintexts, uint32_t ops,
                          int state_before) const {
  const SessionHandle& s = *s_;
  std::string in;
  for (const Bytes& d : inbound) {
    std::vector<uint8_t> types;
    char buf[48];
    std::snprintf(buf, sizeof(buf), " %zuB%s", d.size(), Records(d, &types) ? "" : "(not records)");
    in += buf;
    for (uint8_t t : types) in += " " + std::to_string(t);
    in += ";";
  }
  std::fprintf(stderr, "[%s] ops=%u in=[%s] out=%zu sent/delivered plaintexts=%zu/%zu state %d -> %d %s%s%s%s%s\n",
               server_ ? "server" : "client", ops, in.c_str(), sent_.size(), plaintexts.size(), delivered_.size(),
               state_before, s.ssl_ ? SSL_get_state(s.ssl_.get()) : -1,
               s.ssl_ ? SSL_state_string_long(s.ssl_.get()) : "(freed)", s.connected_ ? " connected" : "",
               s.failed_ ? " FAILED" : "", s.closed_ ? " closed" : "", s.peer_closed_ ? " peer-closed" : "");
  auto show = [](const char* what, const ErrorList& errors) {
    for (const ErrorEntry& e : errors) {
      std::fprintf(stderr, "    %s: %s: %s (%s, %s:%d)\n", what, e.library.c_str(), e.reason.c_str(), e.function.c_str(),
                   e.file.c_str(), e.line);
    }
  };
  for (const auto& a : s.alerts_) {
    std::fprintf(stderr, "  alert %s level %d code %d\n", a.sent ? "sent" : "received", a.level, a.code);
    show("alert", a.errors);
  }
  if (s.step_failed_) {
    std::fprintf(stderr, "  failure: ssl error %d\n", s.failure_ssl_error_);
    show("error", s.failure_errors_);
  }
}

// DESIGN §3: no handshake datagram may exceed the MTU (datagram_bio.cc splits packed records to keep it).
void FuzzDriver::CheckDatagram(const Bytes& d, bool in_handshake) const {
  long mtu = s_->bio_state_.mtu;
  if (static_cast<long>(d.size()) <= mtu) return;
  std::vector<uint8_t> types;
  if (!Records(d, &types)) Violation("the session sent a datagram that is not whole DTLS records");
  if (types.size() > 1) Violation("the session sent several records in one datagram larger than the MTU");
  if (in_handshake && types[0] == SSL3_RT_HANDSHAKE) Violation("the session sent a handshake datagram larger than the MTU");
}

void FuzzDriver::Observe(int state_before, size_t timeline_before) {
  SessionHandle& s = *s_;
  int state = s.ssl_ ? SSL_get_state(s.ssl_.get()) : -1;
  uint64_t role = server_ ? 1 : 0;
  Hit(Mix({1, role, static_cast<uint64_t>(state_before), static_cast<uint64_t>(state)}));
  // The timeline is a ring of 256 (kTimelineCapacity): the entries this step added.
  for (size_t i = timeline_before, n = 0; i != s.timeline_next_ && i < s.timeline_.size() && n < 256; i = (i + 1) % 256, n++) {
    const auto& e = s.timeline_[i];
    Hit(Mix({2, role, e.kind, e.dir, e.type, static_cast<uint64_t>(state_before)}));
  }
  for (const auto& a : s.alerts_) {
    Hit(Mix({3, role, a.sent ? 1u : 0u, static_cast<uint64_t>(a.level), static_cast<uint64_t>(a.code)}));
    for (const ErrorEntry& e : a.errors) Hit(Mix({4, static_cast<uint64_t>(e.lib), static_cast<uint64_t>(e.reason_code), static_cast<uint64_t>(e.line)}));
  }
  if (s.step_failed_) {
    Hit(Mix({5, role, static_cast<uint64_t>(s.failure_ssl_error_)}));
    for (const ErrorEntry& e : s.failure_errors_) {
      Hit(Mix({6, role, static_cast<uint64_t>(e.lib), static_cast<uint64_t>(e.reason_code), static_cast<uint64_t>(e.line),
               static_cast<uint64_t>(state_before)}));
    }
  }
  Hit(Mix({7, role, s.connected_ ? 1u : 0u, s.failed_ ? 1u : 0u, s.closed_ ? 1u : 0u, s.peer_closed_ ? 1u : 0u,
           s.timed_out_ ? 1u : 0u, s.fingerprint_mismatch_ ? 1u : 0u}));
  Hit(Mix({8, role, sent_.size() < 8 ? sent_.size() : 8, delivered_.size() < 8 ? delivered_.size() : 8,
           static_cast<uint64_t>(s.last_sent_ + 1), static_cast<uint64_t>(s.last_received_ + 1)}));
}

// ---- two sessions -----------------------------------------------------------------------------------

Pair::Pair(const Config& cfg) : client_(new FuzzDriver(cfg, false)), server_(new FuzzDriver(cfg, true)) {}

void Pair::Begin() {
  client_->Start();
  pending_ = client_->sent();
  to_server_ = true;
}

bool Pair::Next() {
  if (pending_.empty()) return false;
  FuzzDriver* to = to_server_ ? server_.get() : client_.get();
  last_ = std::move(pending_);
  to->Step(last_, {}, 0);
  last_to_ = to;
  pending_ = to->sent();
  to_server_ = !to_server_;
  return true;
}

bool Pair::RunUntil(const std::function<bool()>& stop) {
  for (int i = 0; i < 32; i++) {
    if (!Next()) return false;
    if (stop()) return true;
  }
  return false;
}

bool SentServerHello(const FuzzDriver& d) {
  for (const Bytes& b : d.sent()) {
    if (b.size() >= 26 && b[0] == SSL3_RT_HANDSHAKE && b[13] == SSL3_MT_SERVER_HELLO) return true;
  }
  return false;
}

bool SentCcs(const FuzzDriver& d) {
  for (const Bytes& b : d.sent()) {
    std::vector<uint8_t> types;
    if (!Records(b, &types)) continue;
    for (uint8_t t : types) {
      if (t == SSL3_RT_CHANGE_CIPHER_SPEC) return true;
    }
  }
  return false;
}

void AppendChunk(Bytes* input, uint8_t op, const uint8_t* data, size_t size) {
  if (size > 0xffff) size = 0xffff;
  input->push_back(op);
  input->push_back(static_cast<uint8_t>(size >> 8));
  input->push_back(static_cast<uint8_t>(size));
  input->insert(input->end(), data, data + size);
}

void RunChunks(FuzzDriver& target, const uint8_t* data, size_t size) {
  std::vector<Bytes> batch;
  auto flush = [&]() {
    if (batch.empty()) return;
    bool was_open = target.connected() && !target.failed() && !target.closed();
    target.Step(batch, {}, 0);
    batch.clear();
    // Datagrams alone, to a connected session: whatever they are, the session must not fail (DTLS drops
    // what does not authenticate; an authentic fatal alert is not something the seeds contain).
    if (was_open && target.step_failed() && !target.FailedOnForgeableEtmRecord()) {
      Violation("datagrams made a connected session fail");
    }
  };
  size_t off = 0;
  while (off < size) {
    uint8_t op = data[off] & 7;
    size_t len = 0;
    if (size - off >= 3) len = (static_cast<size_t>(data[off + 1]) << 8) | data[off + 2];
    size_t start = off + 3 < size ? off + 3 : size;
    if (len > size - start) len = size - start;
    Bytes chunk(data + start, data + start + len);
    off = start + len;
    switch (op) {
      case kChunkBatch:
        batch.push_back(std::move(chunk));
        break;
      case kChunkSend:
        flush();
        target.Step({}, {chunk}, 0);
        break;
      case kChunkTimer:
        flush();
        target.FireTimer();
        break;
      case kChunkClose:
        flush();
        target.Close();
        break;
      case kChunkBurst: {
        flush();
        if (chunk.size() < 4) break;
        size_t count = chunk[0] % 64 + 1;
        size_t bytes = ((static_cast<size_t>(chunk[1]) << 8) | chunk[2]) % (kMaxPlaintext + 1);
        Bytes one(bytes);
        for (size_t i = 0; i < bytes; i++) one[i] = chunk[3 + i % (chunk.size() - 3)];
        target.Step({}, std::vector<Bytes>(count, one), 0);
        break;
      }
      default:
        batch.push_back(std::move(chunk));
        flush();
        break;
    }
  }
  flush();
}

void CheckStillHealthy(FuzzDriver& target, FuzzDriver& peer) {
  if (!target.connected() || target.failed() || target.closed() || target.peer_closed()) return;
  if (!peer.connected() || peer.failed() || peer.closed() || peer.peer_closed()) return;
  // The peer's next records may be in the input already (the seeds carry them) and so count as replays:
  // send past them and deliver only the last.
  static const char kProbe[] = "health probe";
  for (int i = 0; i < kMaxPeerRecordsInSeeds; i++) peer.Step({}, {Bytes(kProbe, kProbe + 4)}, 0);
  peer.Step({}, {Bytes(kProbe, kProbe + sizeof(kProbe) - 1)}, 0);
  if (peer.sent().size() != 1) Violation("the peer did not send the probe as one datagram");
  std::vector<Bytes> probe = peer.sent();
  target.Step(probe, {}, 0);
  if (target.delivered().size() != 1 || target.delivered()[0] != Bytes(kProbe, kProbe + sizeof(kProbe) - 1)) {
    Violation("a connected session that is still open did not deliver a fresh record from its peer");
  }
}

const char* TargetName(Target t) {
  switch (t) {
    case Target::kServerNew:
      return "server_new";
    case Target::kServerHello:
      return "server_hello";
    case Target::kClientHello:
      return "client_hello";
    case Target::kClientFinished:
      return "client_finished";
    case Target::kConnected:
      return "connected";
  }
  return "?";
}

bool ParseTarget(const std::string& name, Target* t) {
  for (Target c : kTargets) {
    if (name == TargetName(c)) {
      *t = c;
      return true;
    }
  }
  return false;
}

Scenario Prepare(Target t, uint8_t config_byte) {
  Config cfg = Config::FromByte(config_byte);
  bool client_under_test = false;
  if (t == Target::kConnected) {
    client_under_test = cfg.cookie_exchange;
    cfg.cookie_exchange = false;
  }
  Scenario sc;
  sc.pair.reset(new Pair(cfg));
  Pair& p = *sc.pair;
  FuzzDriver& c = p.client();
  FuzzDriver& s = p.server();
  switch (t) {
    case Target::kServerNew:
      sc.target = &s;
      sc.ready = true;
      break;
    case Target::kServerHello:
      sc.target = &s;
      p.Begin();
      sc.ready = p.RunUntil([&] { return p.last_receiver() == &s && SentServerHello(s); });
      break;
    case Target::kClientHello:
      sc.target = &c;
      p.Begin();
      sc.ready = !c.sent().empty();
      break;
    case Target::kClientFinished:
      sc.target = &c;
      p.Begin();
      sc.ready = p.RunUntil([&] { return p.last_receiver() == &c && SentCcs(c); });
      break;
    case Target::kConnected:
      sc.target = client_under_test ? &c : &s;
      sc.peer = client_under_test ? &s : &c;
      p.Begin();
      sc.ready = p.RunUntil([&] { return c.connected() && s.connected(); });
      break;
  }
  return sc;
}

void RunInput(Target t, const uint8_t* data, size_t size) {
  if (size < 1) return;
  ResetClock();
  Scenario sc = Prepare(t, data[0]);
  RunChunks(*sc.target, data + 1, size - 1);
  if (t == Target::kConnected && sc.ready) CheckStillHealthy(*sc.target, *sc.peer);
}

}  // namespace fuzz
}  // namespace dtls
