// generateCertificate(): a self-signed certificate and key made by OpenSSL on
// the libuv thread pool (RSA key generation takes long enough to matter).
#pragma once

#include <napi.h>

namespace dtls {

// (keyType: 'ecdsa-p256'|'rsa-2048'|'ed25519', commonName: string, days: number)
// → Promise<{ cert: string, key: string }>
Napi::Value StartGenerateCertificate(const Napi::CallbackInfo& info);

}  // namespace dtls
