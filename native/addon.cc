#include "addon.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>

#include <vector>

#include "certificate.h"
#include "context_handle.h"
#include "datagram_bio.h"
#include "openssl_error.h"
#include "session_handle.h"

namespace dtls {

namespace {
constexpr size_t kStepDataBytes = 256 * 1024;
constexpr size_t kStepMetaEntries = 4 + 3 * 4096;
}  // namespace

DtlsAddon::DtlsAddon(Napi::Env env, Napi::Object exports) {
  unsigned long runtime = OpenSSL_version_num();
  if (runtime < 0x30000000UL) {
    throw Napi::Error::New(
        env, std::string("openssl-dtls needs OpenSSL 3.0 or later inside Node.js; this runtime has ") +
                 OpenSSL_version(OPENSSL_VERSION));
  }
  if (DatagramBioMethod() == nullptr) {
    throw Napi::Error::New(env, "openssl-dtls: could not create the datagram BIO method");
  }
  // Shared per-env step buffers: a step writes its output here and JS copies
  // it out into Buffers of its own before anything else runs.
  Napi::ArrayBuffer step_data = Napi::ArrayBuffer::New(env, kStepDataBytes);
  step_data_ref_ = Napi::Persistent(step_data);
  step_arena_.AttachExternal(static_cast<uint8_t*>(step_data.Data()), step_data.ByteLength());
  // Main-thread steps write datagrams straight into the datagram pool (a thread-pool job's arena has none).
  step_arena_.SetDatagramPool(&pools_[Arena::kDatagram]);
  Napi::ArrayBuffer meta_block = Napi::ArrayBuffer::New(env, kStepMetaEntries * sizeof(int32_t));
  Napi::Int32Array step_meta = Napi::Int32Array::New(env, kStepMetaEntries, meta_block, 0);
  step_meta_ref_ = Napi::Persistent(step_meta);
  step_meta_ = static_cast<int32_t*>(meta_block.Data());
  step_meta_length_ = kStepMetaEntries;

  Napi::Function ctx = ContextHandle::Init(env);
  Napi::Function sess = SessionHandle::Init(env);
  Napi::Function step = SessionHandle::InitStep(env);
  context_ctor = Napi::Persistent(ctx);
  session_ctor = Napi::Persistent(sess);

  DefineAddon(exports,
              {
                  InstanceMethod("setErrorFactory", &DtlsAddon::SetErrorFactory),
                  InstanceMethod("generateCertificate", &DtlsAddon::GenerateCertificate),
                  InstanceMethod("liveSessions", &DtlsAddon::LiveSessions),
                  InstanceMethod("errorQueueSnapshot", &DtlsAddon::ErrorQueueSnapshot),
                  InstanceMethod("setOutputPool", &DtlsAddon::SetOutputPool),
                  InstanceValue("stepData", step_data),
                  InstanceValue("stepMeta", step_meta),
                  InstanceValue("ContextHandle", ctx),
                  InstanceValue("SessionHandle", sess),
                  InstanceValue("step", step),
                  InstanceValue("opensslVersion", Napi::String::New(env, OpenSSL_version(OPENSSL_VERSION))),
                  InstanceValue("opensslVersionNumber", Napi::Number::New(env, static_cast<double>(runtime))),
                  InstanceValue("headerVersion", Napi::String::New(env, OPENSSL_VERSION_TEXT)),
              });

  // Runs before the environment's finalizers (worker exit, process exit):
  // frees every SSL still alive so nothing outlives the env.
  cleanup_hook_ = env.AddCleanupHook(&DtlsAddon::RunCleanupHook, this);
  env_ = env;
}

void DtlsAddon::RunCleanupHook(DtlsAddon* self) {
  self->hook_ran_ = true;
  self->Cleanup();
}

DtlsAddon::~DtlsAddon() {
  if (!hook_ran_ && !cleanup_hook_.IsEmpty()) cleanup_hook_.Remove(env_);
  Cleanup();
}

void DtlsAddon::Cleanup() {
  tearing_down_ = true;
  // Destroy() unregisters; iterate over a copy.
  std::vector<SessionHandle*> live(sessions_.begin(), sessions_.end());
  for (SessionHandle* s : live) s->Destroy();
  sessions_.clear();
  // The JS-visible step block and output pools die with the env.
  step_arena_.AttachExternal(nullptr, 0);
  for (OutputPool& p : pools_) p = OutputPool{};
  step_meta_ = nullptr;
  step_meta_length_ = 0;
  if (default_roots_ != nullptr) {
    X509_STORE_free(default_roots_);
    default_roots_ = nullptr;
  }
}

X509_STORE* DtlsAddon::DefaultRoots(Napi::Env env, Napi::Value pems) {
  if (default_roots_ != nullptr) return default_roots_;
  if (!pems.IsArray()) return nullptr;
  ClearErrorOnReturn guard;
  X509StorePtr store(X509_STORE_new());
  if (!store) ThrowDtlsError(env, "could not allocate the default trust store");
  Napi::Array arr = pems.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) continue;
    std::string pem = v.As<Napi::String>().Utf8Value();
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) continue;
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) X509_STORE_add_cert(store.get(), cert.get());
  }
  default_roots_ = store.release();
  return default_roots_;
}

uint32_t DtlsAddon::AddSlot(SessionHandle* s, uint32_t* generation) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[slot].session = s;
  *generation = slots_[slot].generation;
  return slot;
}

void DtlsAddon::RemoveSlot(uint32_t slot) {
  if (slot >= slots_.size() || slots_[slot].session == nullptr) return;
  slots_[slot].session = nullptr;
  slots_[slot].generation++;
  free_slots_.push_back(slot);
}

Napi::Value DtlsAddon::SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorFactory expects a function");
  }
  error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value DtlsAddon::GenerateCertificate(const Napi::CallbackInfo& info) {
  return StartGenerateCertificate(info);
}

// Diagnostics and tests: this thread's queue as it is, without consuming it.
Napi::Value DtlsAddon::ErrorQueueSnapshot(const Napi::CallbackInfo& info) {
  return ErrorListToJs(info.Env(), SnapshotErrors());
}

// setOutputPool(kind, pool: ArrayBuffer): later steps write their items of
// that kind (0 datagrams, 1 messages) into `pool` from offset 0 on.
Napi::Value DtlsAddon::SetOutputPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArrayBuffer()) {
    throw Napi::TypeError::New(env, "setOutputPool(kind, arrayBuffer)");
  }
  uint32_t kind = info[0].As<Napi::Number>().Uint32Value();
  if (kind >= 2) throw Napi::RangeError::New(env, "setOutputPool: kind is 0 or 1");
  if (tearing_down_) return env.Undefined();
  Napi::ArrayBuffer ab = info[1].As<Napi::ArrayBuffer>();
  pool_refs_[kind] = Napi::Persistent(ab);
  pools_[kind] = OutputPool{static_cast<uint8_t*>(ab.Data()), ab.ByteLength(), 0};
  return env.Undefined();
}

Napi::Value DtlsAddon::LiveSessions(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sessions_.size()));
}

}  // namespace dtls

using DtlsAddonClass = dtls::DtlsAddon;
NODE_API_ADDON(DtlsAddonClass)
