// libFuzzer entry point: one binary per target, chosen at build time (-DDTLS_FUZZ_TARGET=<name>, see
// harness.h Target and scripts/fuzz.sh). The input format is described at the top of harness.h.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "harness.h"

#ifndef DTLS_FUZZ_TARGET
#error "build with -DDTLS_FUZZ_TARGET=<server_new|server_hello|client_hello|client_finished|connected>"
#endif
#define DTLS_FUZZ_STR2(x) #x
#define DTLS_FUZZ_STR(x) DTLS_FUZZ_STR2(x)

namespace {
dtls::fuzz::Target g_target;
}

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (!dtls::fuzz::ParseTarget(DTLS_FUZZ_STR(DTLS_FUZZ_TARGET), &g_target)) {
    std::fprintf(stderr, "unknown fuzz target %s\n", DTLS_FUZZ_STR(DTLS_FUZZ_TARGET));
    std::abort();
  }
  dtls::fuzz::Initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dtls::fuzz::RunInput(g_target, data, size);
  return 0;
}
