// Deterministic randomness and time for the fuzz harness, so that one input always takes the same path
// (libFuzzer needs that, and a crash must replay from its file) and so that a recorded handshake replays
// exactly: each session draws from its own stream, reset for every input, so a session that sees the same
// datagrams makes the same randoms, key shares, signatures and Finished messages.
//
//  - Randomness: a RAND_METHOD (OpenSSL 3.0 still routes RAND_bytes_ex / RAND_priv_bytes_ex, and so key
//    generation, nonces and ClientHello randoms, through a legacy method when one is set).
//  - Time: DTLS retransmission timers read gettimeofday(); this definition interposes the C library's for
//    libssl, giving a virtual clock that moves only when the harness fires a timer. Certificate validity
//    uses time(), which is left alone (the fixtures are valid now).
#define OPENSSL_SUPPRESS_DEPRECATED  // RAND_METHOD is deprecated in 3.0 but is the one hook that reaches all draws
#include "determinism.h"

#include <openssl/rand.h>

#include <sys/time.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dtls {
namespace fuzz {

namespace {

uint64_t g_default_stream = 0x6f70656e73736c21ULL;
uint64_t* g_stream = &g_default_stream;

bool g_virtual_time = false;
int64_t g_clock_base_us = 0;
int64_t g_clock_offset_us = 0;

uint64_t SplitMix64(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int RandBytes(unsigned char* buf, int num) {
  if (num < 0) return 0;
  int i = 0;
  while (i < num) {
    uint64_t v = SplitMix64(g_stream);
    int n = num - i < 8 ? num - i : 8;
    std::memcpy(buf + i, &v, static_cast<size_t>(n));
    i += n;
  }
  return 1;
}

int RandStatus() { return 1; }

const RAND_METHOD kRandMethod = {
    nullptr,    // seed
    RandBytes,  // bytes
    nullptr,    // cleanup
    nullptr,    // add
    RandBytes,  // pseudorand
    RandStatus, // status
};

int64_t RealMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

}  // namespace

void InstallDeterminism() {
  if (RAND_set_rand_method(&kRandMethod) != 1) {
    std::fprintf(stderr, "fuzz: RAND_set_rand_method failed\n");
    std::abort();
  }
  g_clock_base_us = RealMicros();
  g_clock_offset_us = 0;
  g_virtual_time = true;
  // Prove both hooks took: two draws from a known stream, and a clock that stands still.
  uint64_t probe = 42;
  UseStream(&probe);
  unsigned char a[16];
  RAND_bytes(a, sizeof(a));
  uint64_t probe2 = 42;
  UseStream(&probe2);
  unsigned char b[16];
  RAND_priv_bytes(b, sizeof(b));
  UseStream(nullptr);
  timeval t1{}, t2{};
  gettimeofday(&t1, nullptr);
  gettimeofday(&t2, nullptr);
  if (std::memcmp(a, b, sizeof(a)) != 0 || t1.tv_sec != t2.tv_sec || t1.tv_usec != t2.tv_usec) {
    std::fprintf(stderr, "fuzz: the deterministic RAND method or the virtual clock is not in effect\n");
    std::abort();
  }
}

void UseStream(uint64_t* stream) { g_stream = stream != nullptr ? stream : &g_default_stream; }

void ResetClock() { g_clock_offset_us = 0; }

void AdvanceClock(int64_t micros) {
  if (micros > 0) g_clock_offset_us += micros;
}

int64_t ClockMicros() { return g_clock_base_us + g_clock_offset_us; }

}  // namespace fuzz
}  // namespace dtls

extern "C" int gettimeofday(struct timeval* __restrict tv, void* __restrict) noexcept {
  int64_t us = dtls::fuzz::g_virtual_time ? dtls::fuzz::ClockMicros() : dtls::fuzz::RealMicros();
  tv->tv_sec = static_cast<time_t>(us / 1000000);
  tv->tv_usec = static_cast<suseconds_t>(us % 1000000);
  return 0;
}
