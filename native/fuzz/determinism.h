// Deterministic randomness and a virtual clock for the fuzz harness (see determinism.cc).
#pragma once

#include <cstdint>

namespace dtls {
namespace fuzz {

// Installs the RAND_METHOD and the virtual clock; aborts if either is not in effect.
void InstallDeterminism();
// Every OpenSSL random draw until the next call comes from *stream (a 64-bit state the caller owns);
// nullptr selects the process's default stream.
void UseStream(uint64_t* stream);
// The virtual clock: real time at start-up plus an offset that only AdvanceClock moves.
void ResetClock();
void AdvanceClock(int64_t micros);
int64_t ClockMicros();

}  // namespace fuzz
}  // namespace dtls
