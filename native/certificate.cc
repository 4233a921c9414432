#include "certificate.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <string>

#include "openssl_error.h"
#include "openssl_ptr.h"

namespace dtls {

namespace {

using Asn1IntegerPtr = OsslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using X509ExtPtr = OsslPtr<X509_EXTENSION, X509_EXTENSION_free>;

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

bool AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

class GenerateCertificateWorker : public Napi::AsyncWorker {
 public:
  GenerateCertificateWorker(Napi::Env env, std::string key_type, std::string common_name, int days)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        key_type_(std::move(key_type)),
        common_name_(std::move(common_name)),
        days_(days) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Runs on a thread-pool thread: its own error queue, captured here.
  void Execute() override {
    ERR_clear_error();
    if (!Generate()) {
      errors_ = DrainErrors();
      SetError(message_.empty() ? "certificate generation failed" : message_);
    }
    ERR_clear_error();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("cert", Napi::String::New(env, cert_pem_));
    o.Set("key", Napi::String::New(env, key_pem_));
    deferred_.Resolve(o);
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(MakeDtlsError(Env(), e.Message(), errors_).Value());
  }

 private:
  bool Fail(const char* message) {
    message_ = message;
    return false;
  }

  bool Generate() {
    EvpPkeyPtr pkey;
    bool ed25519 = false;
    if (key_type_ == "ecdsa-p256") {
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    } else if (key_type_ == "rsa-2048") {
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    } else if (key_type_ == "ed25519") {
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      ed25519 = true;
    } else {
      return Fail("unknown key type");
    }
    if (!pkey) return Fail("key generation failed");

    X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return Fail("X509_new failed");

    // Random positive 128-bit serial: peers (Firefox) reject reused ones.
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1) return Fail("RAND_bytes failed");
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    BignumPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
    if (!bn) return Fail("BN_bin2bn failed");
    Asn1IntegerPtr asn1_serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    if (!asn1_serial || X509_set_serialNumber(cert.get(), asn1_serial.get()) != 1) return Fail("serial failed");

    // Valid from an hour ago (clock skew between peers) for `days` days.
    if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days_) * 86400L) == nullptr) {
      return Fail("validity failed");
    }
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name_.c_str()), -1, -1, 0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1) {
      return Fail("subject failed");
    }
    if (X509_set_pubkey(cert.get(), pkey.get()) != 1) return Fail("X509_set_pubkey failed");
    if (!AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
        !AddExtension(cert.get(), NID_subject_key_identifier, "hash")) {
      return Fail("extensions failed");
    }
    if (X509_sign(cert.get(), pkey.get(), ed25519 ? nullptr : EVP_sha256()) <= 0) return Fail("X509_sign failed");

    BioPtr cert_bio(BIO_new(BIO_s_mem()));
    BioPtr key_bio(BIO_new(BIO_s_mem()));
    if (!cert_bio || !key_bio) return Fail("out of memory");
    if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
        PEM_write_bio_PrivateKey(key_bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return Fail("PEM encoding failed");
    }
    cert_pem_ = BioToString(cert_bio.get());
    key_pem_ = BioToString(key_bio.get());
    return true;
  }

  Napi::Promise::Deferred deferred_;
  std::string key_type_;
  std::string common_name_;
  int days_;
  std::string message_;
  std::string cert_pem_;
  std::string key_pem_;
  ErrorList errors_;
};

}  // namespace

Napi::Value StartGenerateCertificate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "generateCertificate(keyType, commonName, days)");
  }
  auto* worker = new GenerateCertificateWorker(env, info[0].As<Napi::String>().Utf8Value(),
                                               info[1].As<Napi::String>().Utf8Value(),
                                               info[2].As<Napi::Number>().Int32Value());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace dtls
