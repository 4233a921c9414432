#include "context_handle.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <set>
#include <vector>

#include "addon.h"
#include "openssl_error.h"
#include "session_handle.h"

namespace dtls {

namespace {

// Default suites: ECDHE key exchange with AEAD record protection only.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// With a pre-shared key configured, PSK suites come first: ECDHE-PSK (forward
// secrecy) then PSK-only AEAD suites. CCM_8 (CoAP's mandatory suite) only
// when named, like every short-tag suite.
constexpr const char* kPskCiphers =
    "ECDHE-PSK-CHACHA20-POLY1305:PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:"
    "PSK-CHACHA20-POLY1305:PSK-AES128-CCM:PSK-AES256-CCM";

constexpr const unsigned char kSessionIdContext[] = "openssl-dtls";

// Bytes of a string or a Uint8Array option (TS has already validated types).
bool OptionBytes(Napi::Object o, const char* name, std::string* out) {
  Napi::Value v = o.Get(name);
  if (v.IsString()) {
    *out = v.As<Napi::String>().Utf8Value();
    return true;
  }
  if (v.IsTypedArray()) {
    Napi::Uint8Array u = v.As<Napi::Uint8Array>();
    out->assign(reinterpret_cast<const char*>(u.Data()), u.ByteLength());
    return true;
  }
  return false;
}

int PassphraseCallback(char* buf, int size, int rwflag, void* u) {
  const std::string* pass = static_cast<const std::string*>(u);
  if (pass == nullptr || size <= 0) return 0;
  size_t n = pass->size() < static_cast<size_t>(size) ? pass->size() : static_cast<size_t>(size);
  std::memcpy(buf, pass->data(), n);
  return static_cast<int>(n);
}

// PEM parsing ends with a "no start line" entry once the input is exhausted;
// that is not an error.
void ClearPemEof() {
  unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) ERR_clear_error();
}

int AlpnSelect(SSL* ssl, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  const ContextState* st = static_cast<const ContextState*>(arg);
  if (st == nullptr || st->alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
  // Our preference order wins (as node:tls does).
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  int r = SSL_select_next_proto(&selected, &selected_len, st->alpn.data(),
                                static_cast<unsigned int>(st->alpn.size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  *outlen = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

std::vector<std::string> SplitCipherTokens(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ':' || c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

ContextState::~ContextState() = default;

Napi::Function ContextHandle::Init(Napi::Env env) {
  return DefineClass(env, "ContextHandle",
                     {InstanceMethod("ciphers", &ContextHandle::Ciphers),
                      InstanceMethod("liveSessions", &ContextHandle::LiveSessions),
                      InstanceMethod("checkKey", &ContextHandle::CheckKey)});
}

ContextHandle::ContextHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ContextHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "ContextHandle expects an options object");
  }
  Configure(env, info[0].As<Napi::Object>());
}

void ContextHandle::Configure(Napi::Env env, Napi::Object o) {
  ClearErrorOnReturn guard;
  state_ = std::make_shared<ContextState>();
  state_->ctx.reset(SSL_CTX_new(DTLS_method()));
  SSL_CTX* ctx = state_->ctx.get();
  if (ctx == nullptr) ThrowDtlsError(env, "SSL_CTX_new failed");

  if (RAND_bytes(state_->cookie_secret, sizeof(state_->cookie_secret)) != 1) {
    ThrowDtlsError(env, "could not draw a cookie secret");
  }

  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (o.Has("extendedMasterSecret") && !o.Get("extendedMasterSecret").ToBoolean()) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_EXTENDED_MASTER_SECRET);
  }
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  // No internal session cache (as node:tls): with tickets OpenSSL caches
  // nothing anyway, but whenever tickets are off it would keep up to 20,480
  // sessions per context, a server's memory growing with every client ever
  // seen. Resumption works through session tickets, which cost no memory.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);

  // Versions (numbers: DTLS1_VERSION / DTLS1_2_VERSION; 0 = library default).
  int min_version = o.Get("minVersion").IsNumber() ? o.Get("minVersion").As<Napi::Number>().Int32Value() : DTLS1_2_VERSION;
  int max_version = o.Get("maxVersion").IsNumber() ? o.Get("maxVersion").As<Napi::Number>().Int32Value() : 0;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) ThrowDtlsError(env, "invalid minVersion");
  if (SSL_CTX_set_max_proto_version(ctx, max_version) != 1) ThrowDtlsError(env, "invalid maxVersion");

  // Cipher suites. Whatever the string expands to, RSA key exchange, CBC and
  // unauthenticated suites stay out unless the user named them one by one.
  std::string ciphers;
  if (OptionBytes(o, "ciphers", &ciphers)) {
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
      ThrowDtlsError(env, "no cipher suite matches '" + ciphers + "'");
    }
    std::set<std::string> named;
    for (const std::string& t : SplitCipherTokens(ciphers)) named.insert(t);
    std::string kept;
    STACK_OF(SSL_CIPHER)* sk = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
      const SSL_CIPHER* c = sk_SSL_CIPHER_value(sk, i);
      std::string name = SSL_CIPHER_get_name(c);
      // CCM_8's 64-bit tag is below what a default should accept.
      int kx = SSL_CIPHER_get_kx_nid(c);
      bool safe = SSL_CIPHER_is_aead(c) == 1 && kx != NID_kx_rsa && kx != NID_kx_rsa_psk &&
                  SSL_CIPHER_get_auth_nid(c) != NID_auth_null && name.find("CCM8") == std::string::npos;
      if (safe || named.count(name) != 0) {
        if (!kept.empty()) kept.push_back(':');
        kept += name;
      }
    }
    if (kept.empty()) {
      ERR_clear_error();
      throw MakeDtlsError(env,
                          "'" + ciphers +
                              "' leaves no cipher suite: RSA key exchange, CBC and unauthenticated "
                              "suites are only enabled when named one by one (e.g. 'AES128-SHA')",
                          {});
    }
    if (SSL_CTX_set_cipher_list(ctx, kept.c_str()) != 1) ThrowDtlsError(env, "could not set the cipher list");
  } else {
    std::string defaults = kDefaultCiphers;
    if (o.Get("psk").ToBoolean()) defaults = std::string(kPskCiphers) + ":" + defaults;
    if (SSL_CTX_set_cipher_list(ctx, defaults.c_str()) != 1) ThrowDtlsError(env, "could not set the default cipher list");
  }

  std::string groups;
  if (OptionBytes(o, "groups", &groups) && SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1) {
    ThrowDtlsError(env, "unsupported groups '" + groups + "'");
  }
  std::string sigalgs;
  if (OptionBytes(o, "sigalgs", &sigalgs) && SSL_CTX_set1_sigalgs_list(ctx, sigalgs.c_str()) != 1) {
    ThrowDtlsError(env, "unsupported sigalgs '" + sigalgs + "'");
  }

  // Certificate chain and key: a mismatch is an error now, not at handshake.
  std::string passphrase;
  bool has_pass = OptionBytes(o, "passphrase", &passphrase);
  std::string cert_pem;
  X509Ptr leaf_cert;
  if (OptionBytes(o, "cert", &cert_pem)) {
    BioPtr bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
    if (!bio) ThrowDtlsError(env, "out of memory");
    X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf) ThrowDtlsError(env, "could not read the certificate (cert)");
    if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) ThrowDtlsError(env, "could not use the certificate");
    leaf_cert = std::move(leaf);
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
      X509Ptr extra(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!extra) break;
      if (SSL_CTX_add0_chain_cert(ctx, extra.get()) != 1) ThrowDtlsError(env, "could not add a chain certificate");
      (void)extra.release();  // owned by the SSL_CTX now
    }
    ClearPemEof();
    if (ERR_peek_error() != 0) ThrowDtlsError(env, "could not read the certificate chain (cert)");
  }
  std::string key_pem;
  if (OptionBytes(o, "key", &key_pem)) {
    BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    if (!bio) ThrowDtlsError(env, "out of memory");
    // A callback always: OpenSSL must never prompt on the terminal.
    EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback,
                                            has_pass ? &passphrase : nullptr));
    if (!pkey) ThrowDtlsError(env, "could not read the private key (key)");
    // Checked against the leaf first: OpenSSL files keys by type, so a key of
    // another type would otherwise land in another slot and the context check
    // would only say "no certificate assigned".
    if (leaf_cert && X509_check_private_key(leaf_cert.get(), pkey.get()) != 1) {
      ThrowDtlsError(env, "the private key does not match the certificate");
    }
    if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1) ThrowDtlsError(env, "could not use the private key");
    if (leaf_cert && SSL_CTX_check_private_key(ctx) != 1) {
      ThrowDtlsError(env, "the private key does not match the certificate");
    }
  }

  // Trust store: the user's `ca`, or Node's bundled roots when asked for.
  Napi::Value ca = o.Get("ca");
  if (ca.IsArray()) {
    Napi::Array arr = ca.As<Napi::Array>();
    X509StorePtr store(X509_STORE_new());
    if (!store) ThrowDtlsError(env, "out of memory");
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      std::string pem;
      if (v.IsString()) {
        pem = v.As<Napi::String>().Utf8Value();
      } else if (v.IsTypedArray()) {
        Napi::Uint8Array u = v.As<Napi::Uint8Array>();
        pem.assign(reinterpret_cast<const char*>(u.Data()), u.ByteLength());
      } else {
        continue;
      }
      BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
      if (!bio) ThrowDtlsError(env, "out of memory");
      int count = 0;
      for (;;) {
        X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!c) break;
        if (X509_STORE_add_cert(store.get(), c.get()) != 1) {
          unsigned long e = ERR_peek_last_error();
          // The same certificate twice is harmless.
          if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) ThrowDtlsError(env, "could not add a CA certificate");
          ERR_clear_error();
        }
        count++;
      }
      if (count == 0) ThrowDtlsError(env, "could not read a CA certificate (ca[" + std::to_string(i) + "])");
      ClearPemEof();
    }
    SSL_CTX_set_cert_store(ctx, store.release());
    state_->explicit_ca = true;
  } else if (o.Get("defaultRoots").IsArray()) {
    X509_STORE* roots = DtlsAddon::From(env)->DefaultRoots(env, o.Get("defaultRoots"));
    if (roots != nullptr) SSL_CTX_set1_cert_store(ctx, roots);
  }

  Napi::Value alpn = o.Get("alpn");
  if (alpn.IsTypedArray()) {
    Napi::Uint8Array u = alpn.As<Napi::Uint8Array>();
    state_->alpn.assign(u.Data(), u.Data() + u.ByteLength());
    // Client side: offer the list (note: 0 means success here).
    if (SSL_CTX_set_alpn_protos(ctx, state_->alpn.data(), static_cast<unsigned int>(state_->alpn.size())) != 0) {
      ThrowDtlsError(env, "invalid ALPN protocol list");
    }
    SSL_CTX_set_alpn_select_cb(ctx, AlpnSelect, state_.get());
  }

  // DTLS-SRTP (RFC 5764): OpenSSL profile names, our preference order (a
  // server picks by its own order). Note: 0 means success here.
  std::string srtp_profiles;
  if (OptionBytes(o, "srtpProfiles", &srtp_profiles) && SSL_CTX_set_tlsext_use_srtp(ctx, srtp_profiles.c_str()) != 0) {
    ThrowDtlsError(env, "unsupported SRTP profiles '" + srtp_profiles + "'");
  }

  SessionHandle::InstallContextCallbacks(ctx);
}

Napi::Value ContextHandle::LiveSessions(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(state_->live_sessions));
}

Napi::Value ContextHandle::Ciphers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STACK_OF(SSL_CIPHER)* sk = SSL_CTX_get_ciphers(state_->ctx.get());
  int n = sk_SSL_CIPHER_num(sk);
  Napi::Array arr = Napi::Array::New(env, n < 0 ? 0 : n);
  for (int i = 0; i < n; i++) {
    arr.Set(static_cast<uint32_t>(i), Napi::String::New(env, SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i))));
  }
  return arr;
}

Napi::Value ContextHandle::CheckKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn guard;
  Napi::Object out = Napi::Object::New(env);
  auto result = [&](bool ok, const char* detail) {
    out.Set("ok", Napi::Boolean::New(env, ok));
    out.Set("detail", Napi::String::New(env, detail));
    out.Set("errors", ErrorListToJs(env, DrainErrors()));
    return out;
  };
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "checkKey expects a Uint8Array");
  Napi::Uint8Array nonce = info[0].As<Napi::Uint8Array>();
  SSL_CTX* ctx = state_->ctx.get();
  EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx);
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (key == nullptr || cert == nullptr) return result(false, "no certificate and key on this context");
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub == nullptr) return result(false, "the certificate's public key cannot be read");
  out.Set("keyType", Napi::String::New(env, EVP_PKEY_get0_type_name(key) != nullptr ? EVP_PKEY_get0_type_name(key) : "?"));
  // Ed25519/Ed448 sign the message itself; every other key type signs a SHA-256 digest.
  int id = EVP_PKEY_get_base_id(key);
  const EVP_MD* md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
  EvpMdCtxPtr sctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  if (!sctx || EVP_DigestSignInit(sctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(sctx.get(), nullptr, &sig_len, nonce.Data(), nonce.ByteLength()) != 1) {
    return result(false, "signing with the private key failed");
  }
  std::vector<unsigned char> sig(sig_len);
  if (EVP_DigestSign(sctx.get(), sig.data(), &sig_len, nonce.Data(), nonce.ByteLength()) != 1) {
    return result(false, "signing with the private key failed");
  }
  EvpMdCtxPtr vctx(EVP_MD_CTX_new());
  if (!vctx || EVP_DigestVerifyInit(vctx.get(), nullptr, md, nullptr, pub) != 1) {
    return result(false, "the certificate's public key cannot verify");
  }
  if (EVP_DigestVerify(vctx.get(), sig.data(), sig_len, nonce.Data(), nonce.ByteLength()) != 1) {
    return result(false, "a signature made with the private key does not verify with the certificate's public key");
  }
  return result(true, "a signature made with the private key verifies with the certificate's public key");
}

}  // namespace dtls
