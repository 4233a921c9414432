// SessionHandle: one SSL over a datagram BIO. Everything crosses the N-API
// boundary in one batched step: inbound datagrams, plaintexts to send, a
// timer tick, a close — and back come outbound datagrams, decrypted
// messages, alerts (with their OpenSSL error queue), state and the next
// retransmission deadline. Native never calls into JS during a step.
#pragma once

#include <napi.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "context_handle.h"
#include "datagram_bio.h"
#include "openssl_error.h"
#include "openssl_ptr.h"

namespace dtls {

class DtlsAddon;

class SessionHandle : public Napi::ObjectWrap<SessionHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  // The module-level step(id, inbound, outbound, ops) (see StepById).
  static Napi::Function InitStep(Napi::Env env);
  static void InstallContextCallbacks(SSL_CTX* ctx);
  void EnableContextKeylog();

  explicit SessionHandle(const Napi::CallbackInfo& info);
  ~SessionHandle() override;

  // Idempotent; frees the SSL. Safe from finalizers and env cleanup.
  void Destroy();

 private:
  struct PendingAlert {
    bool sent = false;
    bool awaiting_queue = false;
    int level = 0;
    int code = 0;
    long verify_result = 0;
    int last_sent = -1;
    int last_received = -1;
    std::string version;   // SSL_get_version at the time of the alert
    std::string cipher;    // current or pending suite, if chosen yet
    int ems = -1;          // from the ServerHello: 1, 0, or -1 (not seen yet)
    int etm = -1;
    bool client_auth = false;
    ErrorList errors;
  };
  struct Fingerprint {
    const EVP_MD* md;
    std::vector<uint8_t> digest;
  };
  struct TimelineEntry {
    double t;       // ms since the session was created
    uint8_t kind;   // see kTl* below
    uint8_t dir;    // 0 in, 1 out
    uint16_t type;  // handshake type / alert code / state
    uint32_t len;   // message length / alert level
    uint32_t seq;   // handshake message_seq
    uint32_t a;     // fragment: offset; message: 1 when resent; negotiated: EMS | ETM << 1 | resumed << 2
    uint32_t b;     // fragment: length of the whole message
  };

  // A handshake step on the libuv thread pool (DESIGN §6), see StepAsync.
  class StepJob;
  // Holds job_mu_ while a job is in flight, so main-thread readers and
  // Destroy() never touch the SSL or the session's state at the same time.
  class JobLock;

  // JS methods
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value StepAsync(const Napi::CallbackInfo& info);
  Napi::Value StepId(const Napi::CallbackInfo& info);
  static Napi::Value StepById(const Napi::CallbackInfo& info);
  Napi::Value RunStep(Napi::Env env, Napi::Value in, Napi::Value out, uint32_t ops);
  Napi::Value DestroyJs(const Napi::CallbackInfo& info);
  Napi::Value SetFingerprints(const Napi::CallbackInfo& info);
  Napi::Value SetKeylog(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  // The peer certificate's DER, encoded on request (the encoding costs more
  // than the rest of what info() reports); works after destroy().
  Napi::Value PeerCertificateDer(const Napi::CallbackInfo& info);
  // Keeps the negotiated session (a reference) for getSession() after destroy().
  Napi::Value KeepSession(const Napi::CallbackInfo& info);
  Napi::Value GetSession(const Napi::CallbackInfo& info);
  Napi::Value ExportKeyingMaterial(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Timeline(const Napi::CallbackInfo& info);

  // OpenSSL callbacks (static; the session comes from SSL app data)
  static SessionHandle* From(const SSL* ssl);
  static void InfoCallback(const SSL* ssl, int where, int ret);
  static void MsgCallback(int write_p, int version, int content_type, const void* buf,
                          size_t len, SSL* ssl, void* arg);
  static int VerifyCallback(int preverify_ok, X509_STORE_CTX* store);
  static unsigned int TimerCallback(SSL* ssl, unsigned int previous_us);
  static void KeylogCallback(const SSL* ssl, const char* line);
  static int GenerateCookie(SSL* ssl, unsigned char* cookie, unsigned int* len);
  static int VerifyCookie(SSL* ssl, const unsigned char* cookie, unsigned int len);
  static unsigned int PskClientCallback(SSL* ssl, const char* hint, char* identity, unsigned int max_identity_len,
                                        unsigned char* psk, unsigned int max_psk_len);
  static unsigned int PskServerCallback(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_psk_len);

  // Step parts
  void BeginStep(Arena* arena);
  void StartOps(uint32_t ops);
  void EndOps(uint32_t ops);
  void Feed(const uint8_t* data, size_t len);
  // Array arguments of a step: each element one datagram / one record.
  void FeedArray(Napi::Env env, Napi::Value in);
  void WriteArray(Napi::Env env, Napi::Value out);
  void WriteRecord(const uint8_t* data, size_t length);
  bool Listen();
  bool DriveHandshake();
  // settled: connected before this datagram (not the step that completed the handshake).
  void ReadAll(bool settled);
  void WritePlaintext(const uint8_t* data, size_t len);
  void HandleTimer();
  void Shutdown();
  void Fail(int ssl_error, ErrorList errors);
  void AttachQueue(const ErrorList& errors);
  void AfterCall();
  // After a call that SSL_get_error() answered WANT_READ/WANT_WRITE: it looked
  // at the queue and found it empty, so there is nothing to drain.
  void AfterCallQueueEmpty();
  void BeforeCall();
  bool SentFinished() const;
  bool ComputeCookie(unsigned char* out, unsigned int* len) const;
  static std::vector<Fingerprint> ParseFingerprints(Napi::Env env, Napi::Value value);
  bool MatchesFingerprints(X509* cert) const;
  void ReadServerHelloExtensions(const uint8_t* msg, size_t len);
  bool SessionAcceptable(SSL_SESSION* sess) const;
  void ApplyResumptionPolicy();
  void ApplyVerifyMode();
  void Record(uint8_t kind, uint8_t dir, uint16_t type, uint32_t len, uint32_t seq, uint32_t a = 0, uint32_t b = 0);
  // Flight recorder: the handshake fragments (and later-epoch records) a datagram carries.
  void NoteRecords(const uint8_t* p, size_t n, uint8_t dir);
  Napi::Value BuildResult(Napi::Env env);
  void EnsureAlive(Napi::Env env) const;

  DtlsAddon* addon_ = nullptr;
  std::shared_ptr<ContextState> ctx_;
  SslPtr ssl_;
  DatagramBioState bio_state_;
  Arena* arena_ = nullptr;  // the env's step arena, set for the duration of a step
  bool is_server_ = false;
  bool destroyed_ = false;
  bool registered_ = false;  // counted in ctx_->live_sessions
  uint32_t slot_ = 0;        // in the env's session table (step(id, ...))
  uint32_t slot_generation_ = 0;
  bool in_step_ = false;
  // The thread's OpenSSL error queue is known to be empty (see BeforeCall).
  bool queue_clean_ = false;
  bool offered_session_ = false;
  // A StepJob is queued or running (main thread only writes it). The job
  // holds job_mu_ for its whole run on the worker thread.
  bool job_in_flight_ = false;
  std::mutex job_mu_;

  // state
  bool started_ = false;
  bool connected_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool peer_closed_ = false;
  bool timed_out_ = false;
  bool step_connected_ = false;
  bool step_failed_ = false;
  bool step_retransmitted_ = false;
  uint64_t step_timer_retransmits_ = 0;
  int failure_ssl_error_ = 0;
  ErrorList failure_errors_;

  // verification
  bool reject_unauthorized_ = true;
  bool request_cert_ = false;
  bool has_fingerprints_ = false;
  bool fingerprint_checked_ = false;
  bool fingerprint_ok_ = false;
  bool fingerprint_mismatch_ = false;
  std::vector<Fingerprint> fingerprints_;

  // cookies
  std::string servername_;

  bool cookie_exchange_ = false;
  std::string cookie_peer_;
  // A server whose first ClientHello carries a cookie the caller (a stateless
  // front end) has verified: that datagram goes through DTLSv1_listen, which
  // sets the handshake sequence numbers a HelloVerifyRequest exchange implies,
  // and VerifyCookie accepts exactly this cookie.
  bool listen_pending_ = false;
  size_t min_protected_ = 24;  // MinProtectedRecord of the negotiated suite, set when connected
  std::vector<uint8_t> listen_cookie_;

  // PSK: a client's identity and key; a server's JS callback (identity → key)
  bool psk_client_ = false;
  std::string psk_identity_;
  std::vector<uint8_t> psk_key_;
  Napi::FunctionReference psk_callback_;

  // retransmission schedule (µs); index into it for the current flight
  std::vector<unsigned int> schedule_us_;
  size_t schedule_index_ = 0;

  // diagnostics
  bool keylog_ = false;
  std::vector<std::string> keylog_lines_;
  std::vector<PendingAlert> alerts_;
  int last_sent_ = -1;
  int last_received_ = -1;
  bool certificate_requested_ = false;  // a CertificateRequest went by
  int hello_ems_ = -1;  // extended_master_secret in the ServerHello (-1: none seen yet)
  int hello_etm_ = -1;  // encrypt_then_mac in the ServerHello
  std::vector<uint32_t> sent_messages_;  // (type << 16 | seq) sent so far
  std::vector<TimelineEntry> timeline_;
  X509Ptr peer_cert_;  // taken by info() once connected, encoded only if asked for
  SslSessionPtr final_session_;  // keepSession(): what getSession() returns after destroy()
  size_t timeline_next_ = 0;
  bool timeline_wrapped_ = false;
  uint64_t timeline_total_ = 0;  // events ever recorded (timeline(since) counts from here)
  // Records of a later epoch that arrived during the handshake since we last
  // received a Finished: OpenSSL drops records it cannot decrypt without a
  // word, so a handshake that stalls while these keep coming points to a
  // key or transcript mismatch rather than to packet loss.
  uint64_t undecrypted_records_ = 0;
  bool in_listen_ = false;  // inside DTLSv1_listen (see Listen)
  std::chrono::steady_clock::time_point created_;

  // stats
  uint64_t datagrams_in_ = 0;
  uint64_t datagrams_out_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  uint64_t retransmits_ = 0;
  uint64_t dropped_ = 0;
  uint64_t messages_in_ = 0;
  uint64_t messages_out_ = 0;
  int64_t external_bytes_ = 0;
};

}  // namespace dtls
