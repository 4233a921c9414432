// Seed corpus from the harness's own real handshakes: for each target and a spread of configs, the
// datagrams the peer really sends to the session under test from the target's starting state on, in the
// input format (harness.h). Because randomness and time are deterministic per session, these replay
// exactly: fed to the fuzz target they take its session through the rest of the handshake and beyond, so
// mutations start from deep states. The seed generator checks that they do, and fails if not.
//
//   seedgen <out-dir>      writes <out-dir>/<target>/<config>-<variant>, prints a summary
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "determinism.h"
#include "harness.h"

using dtls::fuzz::Bytes;
using dtls::fuzz::FuzzDriver;
using dtls::fuzz::Pair;
using dtls::fuzz::Target;

namespace {

enum Variant {
  kPlain,      // each delivery as the peer made it (one batch per flight)
  kSplit,      // every datagram in its own step
  kTimer,      // a retransmission timer fired after the first delivery
  kDuplicate,  // every delivery twice
  kTalk,       // after the handshake: the target sends, the peer answers, then closes
  kBurst,      // after the handshake: 70 records in one step, 10 records packed into one datagram, and
               // the target sending 1 MB in one step (its output leaves the env's block)
  kTimeout,    // after the first delivery, the timer fires until the retransmissions run out
  kVariants,
};
const char* const kVariantNames[] = {"plain", "split", "timer", "dup", "talk", "burst", "timeout"};

void AppendDelivery(Bytes* input, const std::vector<Bytes>& dgrams, bool split) {
  for (size_t i = 0; i < dgrams.size(); i++) {
    bool last = i + 1 == dgrams.size();
    uint8_t op = split || last ? dtls::fuzz::kChunkDatagram : dtls::fuzz::kChunkBatch;
    dtls::fuzz::AppendChunk(input, op, dgrams[i].data(), dgrams[i].size());
  }
}

// Runs the scenario on, recording what reaches the target. Returns the input; *complete says whether the
// handshake finished and the recording ends with the peer's close_notify.
Bytes Record(Target t, uint8_t config, Variant v, bool* complete) {
  *complete = false;
  dtls::fuzz::ResetClock();
  dtls::fuzz::Scenario sc = dtls::fuzz::Prepare(t, config);
  Bytes input{config};
  if (!sc.ready) return input;
  Pair& p = *sc.pair;
  FuzzDriver* target = sc.target;
  FuzzDriver* peer = target == &p.client() ? &p.server() : &p.client();
  if (t == Target::kServerNew) p.Begin();
  int deliveries = 0;
  int peer_records = 0;
  // The rest of the handshake.
  while (p.Next()) {
    if (p.last_receiver() != target) continue;
    AppendDelivery(&input, p.last_delivery(), v == kSplit);
    if (v == kDuplicate) AppendDelivery(&input, p.last_delivery(), v == kSplit);
    if (v == kTimer && deliveries == 0) dtls::fuzz::AppendChunk(&input, dtls::fuzz::kChunkTimer, nullptr, 0);
    if (v == kTimeout && deliveries == 0) {
      // OpenSSL gives up after 12 retransmissions of a flight (DTLSv1_handle_timeout < 0): the session
      // fails with timedOut; the input ends there.
      for (int i = 0; i < 14; i++) dtls::fuzz::AppendChunk(&input, dtls::fuzz::kChunkTimer, nullptr, 0);
      return input;
    }
    deliveries++;
  }
  if (!target->connected() || !peer->connected()) return input;
  // After it: application data both ways, then the peer's close_notify (at most kMaxPeerRecordsInSeeds).
  const std::string messages[] = {"hello over DTLS", std::string(1000, 'x')};
  for (const std::string& m : messages) {
    peer->Step({}, {Bytes(m.begin(), m.end())}, 0);
    peer_records++;
    AppendDelivery(&input, peer->sent(), v == kSplit);
  }
  if (v == kBurst) {
    std::vector<Bytes> burst;
    for (int i = 0; i < 70; i++) {
      peer->Step({}, {Bytes(100 + i, static_cast<uint8_t>(i))}, 0);
      burst.insert(burst.end(), peer->sent().begin(), peer->sent().end());
      peer_records++;
    }
    AppendDelivery(&input, burst, false);
    Bytes packed;
    for (int i = 0; i < 10; i++) {
      peer->Step({}, {Bytes(20 + i, static_cast<uint8_t>(0x80 + i))}, 0);
      for (const Bytes& d : peer->sent()) packed.insert(packed.end(), d.begin(), d.end());
      peer_records++;
    }
    dtls::fuzz::AppendChunk(&input, dtls::fuzz::kChunkDatagram, packed.data(), packed.size());
    // The target sends 64 records of 16000 bytes in one step: 1 MB of output, past the env's block.
    const uint8_t burst_out[] = {63, 16000 >> 8, 16000 & 0xff, 'b', 'u', 'r', 's', 't'};
    dtls::fuzz::AppendChunk(&input, dtls::fuzz::kChunkBurst, burst_out, sizeof(burst_out));
    Bytes big(16000);
    for (size_t i = 0; i < big.size(); i++) big[i] = burst_out[3 + i % 5];
    target->Step({}, std::vector<Bytes>(64, big), 0);
  }
  if (v == kTalk) {
    const std::string m = "from the target";
    dtls::fuzz::AppendChunk(&input, dtls::fuzz::kChunkSend, reinterpret_cast<const uint8_t*>(m.data()), m.size());
    target->Step({}, {Bytes(m.begin(), m.end())}, 0);
    peer->Step(target->sent(), {}, 0);
  }
  peer->Close();  // close_notify
  peer_records++;
  AppendDelivery(&input, peer->sent(), false);
  if (v == kTalk) dtls::fuzz::AppendChunk(&input, dtls::fuzz::kChunkClose, nullptr, 0);
  *complete = true;
  if (peer_records > dtls::fuzz::kMaxPeerRecordsInSeeds) {
    std::fprintf(stderr, "seedgen: more peer records than kMaxPeerRecordsInSeeds\n");
    std::exit(1);
  }
  return input;
}

// Replays an input the way the fuzz target does and reports where the target session ended.
struct Outcome {
  bool connected;
  bool peer_closed;
};
Outcome Replay(Target t, const Bytes& input) {
  dtls::fuzz::ResetClock();
  dtls::fuzz::Scenario sc = dtls::fuzz::Prepare(t, input[0]);
  dtls::fuzz::RunChunks(*sc.target, input.data() + 1, input.size() - 1);
  return {sc.target->connected(), sc.target->peer_closed()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: seedgen <out-dir>\n");
    return 2;
  }
  dtls::fuzz::Initialize();
  std::string out = argv[1];
  mkdir(out.c_str(), 0755);
  // Configs: defaults, then each option alone (with cookies, as a server runs by default), then mixes.
  const uint8_t configs[] = {0x00, 0x01, 0x03, 0x05, 0x09, 0x11, 0x13, 0x23, 0x2b, 0x41, 0x51, 0x81, 0x0b, 0x8f, 0x07, 0x45, 0x1d};
  int failures = 0;
  for (Target t : dtls::fuzz::kTargets) {
    std::string dir = out + "/" + dtls::fuzz::TargetName(t);
    mkdir(dir.c_str(), 0755);
    int written = 0, replayed = 0, expected = 0;
    size_t bytes = 0;
    for (uint8_t c : configs) {
      for (int v = 0; v < kVariants; v++) {
        bool complete = false;
        Bytes input = Record(t, c, static_cast<Variant>(v), &complete);
        if (input.size() <= 1) continue;
        char name[64];
        std::snprintf(name, sizeof(name), "/cfg%02x-%s", c, kVariantNames[v]);
        std::ofstream f(dir + name, std::ios::binary);
        f.write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
        written++;
        bytes += input.size();
        // A recorded handshake that ended with the peer's close_notify must replay to the same end.
        if (!complete) continue;
        Outcome o = Replay(t, input);
        expected++;
        if (o.peer_closed) {
          replayed++;
        } else {
          std::fprintf(stderr, "seedgen: %s%s does not replay (connected %d)\n", dtls::fuzz::TargetName(t), name,
                       o.connected ? 1 : 0);
        }
      }
    }
    std::printf("seedgen: %-16s %3d seeds, %6zu bytes, %d/%d replay to the peer's close_notify\n",
                dtls::fuzz::TargetName(t), written, bytes, replayed, expected);
    if (replayed != expected) failures++;
  }
  return failures == 0 ? 0 : 1;
}
