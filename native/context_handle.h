// ContextHandle: one SSL_CTX (DTLS_method), configured once and shared by
// many sessions. The SSL_CTX lives in a ContextState held by shared_ptr, so a
// session keeps its context alive after the JS ContextHandle is collected.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "openssl_ptr.h"

namespace dtls {

struct ContextState {
  SslCtxPtr ctx;
  bool explicit_ca = false;          // the user gave `ca`
  std::vector<uint8_t> alpn;         // wire format, our preference order
  uint8_t cookie_secret[32] = {0};   // HMAC key for session-level cookies
  size_t live_sessions = 0;          // sessions on this context not yet destroyed
  // The keylog callback is installed on the SSL_CTX only once a session on it
  // wants keylog lines: with a callback installed, OpenSSL formats every
  // secret as hex (~80 sprintf calls per line, ~80 k instructions per
  // handshake) whether or not anyone reads it. Installed on the main thread
  // under the exclusive lock; thread-pool steps (which read the pointer inside
  // OpenSSL) hold the shared lock while they run.
  std::shared_mutex keylog_mu;
  bool keylog_installed = false;     // main thread only
  ~ContextState();
};

class ContextHandle : public Napi::ObjectWrap<ContextHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ContextHandle(const Napi::CallbackInfo& info);

  const std::shared_ptr<ContextState>& state() const { return state_; }

 private:
  Napi::Value Ciphers(const Napi::CallbackInfo& info);
  Napi::Value LiveSessions(const Napi::CallbackInfo& info);
  // Key self-test: signs the given bytes with the private key this SSL_CTX
  // holds (the in-memory key every handshake uses, not a fresh parse of the
  // PEM) and verifies the signature with the certificate's public key.
  Napi::Value CheckKey(const Napi::CallbackInfo& info);
  void Configure(Napi::Env env, Napi::Object options);

  std::shared_ptr<ContextState> state_;
};

}  // namespace dtls
