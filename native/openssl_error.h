// OpenSSL error-queue discipline (DESIGN §3): every entry point that calls
// OpenSSL on a session's behalf clears the thread's queue first, reads
// SSL_get_error immediately, and drains what the call left, oldest first.
#pragma once

#include <napi.h>
#include <openssl/err.h>

#include <string>
#include <vector>

namespace dtls {

struct ErrorEntry {
  unsigned long code = 0;
  int lib = 0;
  int reason_code = 0;
  int line = 0;
  std::string library;
  std::string reason;
  std::string function;
  std::string file;
  std::string data;
  bool has_data = false;
};

using ErrorList = std::vector<ErrorEntry>;

// Pops every entry off this thread's queue, oldest first.
ErrorList DrainErrors();
// Pushes entries back in the same order (used to look inside the queue from
// an OpenSSL callback without taking the entries away from OpenSSL).
void ReraiseErrors(const ErrorList& errors);
// Non-destructive copy of the queue: drain, then re-raise.
ErrorList SnapshotErrors();

Napi::Array ErrorListToJs(Napi::Env env, const ErrorList& errors);

// Empties this thread's queue. ERR_clear_error walks and frees every slot, so
// it runs only when something is queued (ERR_peek_error is a cheap look).
inline void ClearQueue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// Clears the queue on entry and on every return path.
class ClearErrorOnReturn {
 public:
  ClearErrorOnReturn();
  ~ClearErrorOnReturn();
  ClearErrorOnReturn(const ClearErrorOnReturn&) = delete;
  ClearErrorOnReturn& operator=(const ClearErrorOnReturn&) = delete;
};

// Sets a mark on entry and pops back to it on return: for re-entrant paths
// and OpenSSL callbacks that must not disturb what is already queued.
class MarkPopErrorOnReturn {
 public:
  MarkPopErrorOnReturn();
  ~MarkPopErrorOnReturn();
  MarkPopErrorOnReturn(const MarkPopErrorOnReturn&) = delete;
  MarkPopErrorOnReturn& operator=(const MarkPopErrorOnReturn&) = delete;
};

// Builds the injected JS DtlsError (instanceof works) from a message and the
// drained queue; falls back to a plain Error before the class is injected.
Napi::Error MakeDtlsError(Napi::Env env, const std::string& message,
                          const ErrorList& errors);
// Drains the queue and throws a DtlsError as a C++ exception.
[[noreturn]] void ThrowDtlsError(Napi::Env env, const std::string& message);

}  // namespace dtls
