// Per-environment addon state (Napi::Addon instance data): constructors, the
// injected DtlsError factory, the live-session registry used by the env
// cleanup hook, and the cached default trust store.
#pragma once

#include <napi.h>
#include <openssl/x509.h>

#include <unordered_set>
#include <vector>

#include "datagram_bio.h"

namespace dtls {

class SessionHandle;

class DtlsAddon : public Napi::Addon<DtlsAddon> {
 public:
  DtlsAddon(Napi::Env env, Napi::Object exports);
  ~DtlsAddon();

  static DtlsAddon* From(Napi::Env env) { return env.GetInstanceData<DtlsAddon>(); }

  Napi::FunctionReference context_ctor;
  Napi::FunctionReference session_ctor;
  Napi::FunctionReference error_factory;

  // Scratch space for one step's output (datagrams and plaintexts). Steps run
  // one at a time on this env's thread and copy their output into a single JS
  // Buffer before returning, so one arena serves every session of the env.
  Arena& step_arena() { return step_arena_; }
  // The step's item table, flags and timer, in an Int32Array JS reads
  // directly (layout in session_handle.cc).
  int32_t* step_meta() { return step_meta_; }
  size_t step_meta_length() const { return step_meta_length_; }

  // Sessions by slot for the module-level step(id, ...): a number looked up
  // here costs far less than the ObjectWrap unwrap of a method call. A slot
  // is released when its session is destroyed; the generation tells a stale
  // id from the slot's next session.
  uint32_t AddSlot(SessionHandle* s, uint32_t* generation);
  void RemoveSlot(uint32_t slot);
  SessionHandle* SlotSession(uint32_t slot, uint32_t generation) const {
    return slot < slots_.size() && slots_[slot].generation == generation ? slots_[slot].session : nullptr;
  }

  // The output pool of each Arena::Kind (see OutputPool), set by JS with setOutputPool(kind, ArrayBuffer).
  OutputPool& pool(uint32_t kind) { return pools_[kind & 1]; }

  void Register(SessionHandle* s) { sessions_.insert(s); }
  void Unregister(SessionHandle* s) { sessions_.erase(s); }
  size_t live_sessions() const { return sessions_.size(); }
  bool tearing_down() const { return tearing_down_; }
  // Set while a synchronous step runs (the step arena and pools are in use).
  bool* stepping_flag() { return &stepping_; }

  // Node's bundled root certificates as one shared store, parsed once per
  // environment from tls.rootCertificates (passed in by the TS layer).
  X509_STORE* DefaultRoots(Napi::Env env, Napi::Value pems);

 private:
  Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);
  Napi::Value GenerateCertificate(const Napi::CallbackInfo& info);
  Napi::Value LiveSessions(const Napi::CallbackInfo& info);
  Napi::Value ErrorQueueSnapshot(const Napi::CallbackInfo& info);
  Napi::Value SetOutputPool(const Napi::CallbackInfo& info);
  void Cleanup();
  static void RunCleanupHook(DtlsAddon* self);

  Napi::Env::CleanupHook<void (*)(DtlsAddon*), DtlsAddon> cleanup_hook_;
  napi_env env_ = nullptr;
  bool hook_ran_ = false;

  std::unordered_set<SessionHandle*> sessions_;
  struct Slot {
    SessionHandle* session = nullptr;
    uint32_t generation = 0;
  };
  std::vector<Slot> slots_;
  OutputPool pools_[2];
  Napi::Reference<Napi::ArrayBuffer> pool_refs_[2];  // keep the pools' blocks alive
  std::vector<uint32_t> free_slots_;
  Arena step_arena_;
  Napi::Reference<Napi::ArrayBuffer> step_data_ref_;
  Napi::Reference<Napi::Int32Array> step_meta_ref_;
  int32_t* step_meta_ = nullptr;
  size_t step_meta_length_ = 0;
  X509_STORE* default_roots_ = nullptr;
  bool tearing_down_ = false;
  bool stepping_ = false;
};

}  // namespace dtls
