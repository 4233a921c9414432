// The fuzz harness: real SessionHandle logic (transplanted from native/session_handle.cc, see
// transplant.js) driven without N-API, on contexts configured as ContextHandle configures them, with
// deterministic randomness and time (determinism.h).
//
// Input format (every target): one config byte, then chunks.
//   config  bit 0 cookie exchange on the server (connected target: the session under test is the client)
//           bit 1 mutual: the server requests a certificate and the client has one
//           bit 2 mtu 300 instead of 1200 (certificates and flights are fragmented)
//           bit 3 both sides verify the peer's SHA-256 fingerprint (WebRTC); else rejectUnauthorized: false
//           bits 4-5 certificates: 1 RSA-2048 server; 2 Ed25519 client; else ECDSA P-256 both
//           bit 6 DTLS 1.0 with CBC suites allowed (the client offers DTLS 1.0 only)
//           bit 7 ALPN on both sides
//   chunk   op (1 byte), length (2 bytes, big-endian), that many bytes (a short last chunk takes the rest)
//           op & 7 = 1: a datagram, batched with the following datagram chunks into one step
//                    2: a plaintext to send; 3: fire the retransmission timer; 4: close (shutdown);
//                    5: a burst: bytes = count, size (2 bytes), pattern: count % 64 + 1 plaintexts of
//                       `size` bytes (the pattern repeated) sent in one step (the step's output can
//                       outgrow the env's 256 KB block: Arena's heap paths);
//                    0, 6, 7: a datagram, stepped on its own (with any batched before it)
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dtls {

struct ContextState;
class SessionHandle;

namespace fuzz {

using Bytes = std::vector<uint8_t>;

struct Config {
  bool cookie_exchange = false;
  bool mutual = false;
  bool small_mtu = false;
  bool fingerprints = false;
  int certs = 0;  // 1: RSA-2048 server, 2: Ed25519 client, else ECDSA P-256
  bool legacy = false;
  bool alpn = false;

  static Config FromByte(uint8_t b);
};

enum Op : uint8_t { kChunkDatagram = 0, kChunkBatch = 1, kChunkSend = 2, kChunkTimer = 3, kChunkClose = 4, kChunkBurst = 5 };

// Process set-up: deterministic RAND and clock, fixtures read, OpenSSL initialised. Idempotent.
void Initialize();

// One session, as SessionHandle's constructor and step drive it.
class FuzzDriver {
 public:
  FuzzDriver(const Config& cfg, bool server);
  ~FuzzDriver();
  FuzzDriver(const FuzzDriver&) = delete;
  FuzzDriver& operator=(const FuzzDriver&) = delete;

  // SessionHandle::Step: start (if asked), timer, inbound datagrams, plaintexts, shutdown, in that order.
  void Step(const std::vector<Bytes>& inbound, const std::vector<Bytes>& plaintexts, uint32_t ops);
  void Start();
  void Close();  // a step with the shutdown op (close_notify when connected)
  // Moves the virtual clock past the armed retransmission deadline (if any), then steps with the timer op.
  void FireTimer();

  const std::vector<Bytes>& sent() const { return sent_; }          // datagrams of the last step
  const std::vector<Bytes>& delivered() const { return delivered_; }  // plaintexts of the last step
  bool connected() const;
  bool failed() const;
  bool closed() const;
  bool peer_closed() const;
  bool step_failed() const { return step_failed_; }
  // The session failed on a forged CBC record, as OpenSSL 3.0 does (see harness.cc).
  bool FailedOnForgeableEtmRecord() const;

 private:
  void Observe(int state_before, size_t timeline_before);
  void CheckDatagram(const Bytes& d, bool in_handshake) const;
  void Describe(const std::vector<Bytes>& inbound, const std::vector<Bytes>& plaintexts, uint32_t ops,
                int state_before) const;

  std::unique_ptr<SessionHandle> s_;
  std::shared_ptr<ContextState> ctx_;
  bool server_;
  uint64_t stream_;
  std::vector<Bytes> sent_;
  std::vector<Bytes> delivered_;
  bool step_failed_ = false;
};

// A client and a server on the same config, handshaking in process: each delivery hands one side
// everything the other sent in its last step, as one step.
class Pair {
 public:
  explicit Pair(const Config& cfg);
  FuzzDriver& client() { return *client_; }
  FuzzDriver& server() { return *server_; }
  // Starts the client. Then Next() makes one delivery; false when nothing is in flight.
  void Begin();
  bool Next();
  // The side that received the last delivery, and what it was given.
  FuzzDriver* last_receiver() const { return last_to_; }
  const std::vector<Bytes>& last_delivery() const { return last_; }
  // Deliveries until `stop` is true after one (true), or nothing moves / 32 deliveries (false).
  bool RunUntil(const std::function<bool()>& stop);

 private:
  std::unique_ptr<FuzzDriver> client_;
  std::unique_ptr<FuzzDriver> server_;
  std::vector<Bytes> pending_;
  bool to_server_ = true;
  FuzzDriver* last_to_ = nullptr;
  std::vector<Bytes> last_;
};

// What the fuzz targets and the seed generator share.
bool SentServerHello(const FuzzDriver& d);   // the last step sent a ServerHello (flight 2 started)
bool SentCcs(const FuzzDriver& d);           // the last step sent a ChangeCipherSpec
// Runs one input's chunks against `target`.
void RunChunks(FuzzDriver& target, const uint8_t* data, size_t size);
// Appends one chunk in the input format.
void AppendChunk(Bytes* input, uint8_t op, const uint8_t* data, size_t size);
// Records a peer may have sent in the connected seeds; the health probe is sent after this many more.
constexpr int kMaxPeerRecordsInSeeds = 96;
// Connected target oracle: a session that is still open must take a fresh record from its peer.
void CheckStillHealthy(FuzzDriver& target, FuzzDriver& peer);

// The fuzz targets: which session is fed the input, and how far a real handshake took it first.
enum class Target {
  kServerNew,       // a fresh server (cookie exchange per config): the input is everything a client sends
  kServerHello,     // a server that took the real ClientHello(s) and sent its flight: awaiting the client's
  kClientHello,     // a client that sent its ClientHello: awaiting HelloVerifyRequest / the server's flight
  kClientFinished,  // mid-handshake: a client that took the real server flight and sent its Finished
  kConnected,       // a connected session (config bit 0: the client, else the server; cookies off)
};
constexpr Target kTargets[] = {Target::kServerNew, Target::kServerHello, Target::kClientHello, Target::kClientFinished,
                               Target::kConnected};
const char* TargetName(Target t);
bool ParseTarget(const std::string& name, Target* t);

struct Scenario {
  std::unique_ptr<Pair> pair;
  FuzzDriver* target = nullptr;
  FuzzDriver* peer = nullptr;
  bool ready = false;  // the real handshake reached the target's starting state
};
// Builds the target's starting state for a config byte (deterministic: same byte, same state).
Scenario Prepare(Target t, uint8_t config_byte);
// One fuzz input: the config byte, then chunks (see the top of this file).
void RunInput(Target t, const uint8_t* data, size_t size);

[[noreturn]] void Violation(const char* what);

}  // namespace fuzz
}  // namespace dtls
