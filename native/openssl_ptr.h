// unique_ptr aliases for every OpenSSL object the addon owns. OpenSSL objects
// live only in these: ownership is visible in the types and nothing leaks on
// an early return or a C++ exception.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace dtls {

template <typename T, void (*Free)(T*)>
struct FunctionDeleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};

template <typename T, void (*Free)(T*)>
using OsslPtr = std::unique_ptr<T, FunctionDeleter<T, Free>>;

inline void FreeBio(BIO* b) { BIO_free_all(b); }

using SslCtxPtr = OsslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = OsslPtr<SSL, SSL_free>;
using SslSessionPtr = OsslPtr<SSL_SESSION, SSL_SESSION_free>;
using BioPtr = OsslPtr<BIO, FreeBio>;
using X509Ptr = OsslPtr<X509, X509_free>;
using X509StorePtr = OsslPtr<X509_STORE, X509_STORE_free>;
using EvpPkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;
using BignumPtr = OsslPtr<BIGNUM, BN_free>;
using EvpMdCtxPtr = OsslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;

}  // namespace dtls
