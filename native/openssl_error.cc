#include "openssl_error.h"

#include <openssl/err.h>

#include "addon.h"

namespace dtls {

ErrorList DrainErrors() {
  ErrorList out;
  for (;;) {
    const char* file = nullptr;
    const char* func = nullptr;
    const char* data = nullptr;
    int line = 0;
    int flags = 0;
    unsigned long code = ERR_get_error_all(&file, &line, &func, &data, &flags);
    if (code == 0) break;
    ErrorEntry e;
    e.code = code;
    e.lib = ERR_GET_LIB(code);
    e.reason_code = ERR_GET_REASON(code);
    e.line = line;
    const char* ls = ERR_lib_error_string(code);
    const char* rs = ERR_reason_error_string(code);
    e.library = ls != nullptr ? ls : "unknown library";
    e.reason = rs != nullptr ? rs : ("reason(" + std::to_string(e.reason_code) + ")");
    if (func != nullptr) e.function = func;
    if (file != nullptr) e.file = file;
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && data[0] != '\0') {
      e.data = data;
      e.has_data = true;
    }
    out.push_back(std::move(e));
  }
  return out;
}

void ReraiseErrors(const ErrorList& errors) {
  for (const ErrorEntry& e : errors) {
    ERR_new();
    ERR_set_debug(e.file.empty() ? nullptr : e.file.c_str(), e.line,
                  e.function.empty() ? nullptr : e.function.c_str());
    if (e.has_data) {
      ERR_set_error(e.lib, e.reason_code, "%s", e.data.c_str());
    } else {
      ERR_set_error(e.lib, e.reason_code, nullptr);
    }
  }
}

ErrorList SnapshotErrors() {
  ErrorList list = DrainErrors();
  ReraiseErrors(list);
  return list;
}

Napi::Array ErrorListToJs(Napi::Env env, const ErrorList& errors) {
  Napi::Array arr = Napi::Array::New(env, errors.size());
  for (size_t i = 0; i < errors.size(); i++) {
    const ErrorEntry& e = errors[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", Napi::Number::New(env, static_cast<double>(e.code)));
    o.Set("library", Napi::String::New(env, e.library));
    o.Set("reason", Napi::String::New(env, e.reason));
    o.Set("reasonCode", Napi::Number::New(env, e.reason_code));
    o.Set("function", Napi::String::New(env, e.function));
    o.Set("file", Napi::String::New(env, e.file));
    o.Set("line", Napi::Number::New(env, e.line));
    if (e.has_data) o.Set("data", Napi::String::New(env, e.data));
    arr.Set(static_cast<uint32_t>(i), o);
  }
  return arr;
}

ClearErrorOnReturn::ClearErrorOnReturn() { ClearQueue(); }
ClearErrorOnReturn::~ClearErrorOnReturn() { ClearQueue(); }

MarkPopErrorOnReturn::MarkPopErrorOnReturn() { ERR_set_mark(); }
MarkPopErrorOnReturn::~MarkPopErrorOnReturn() { ERR_pop_to_mark(); }

Napi::Error MakeDtlsError(Napi::Env env, const std::string& message,
                          const ErrorList& errors) {
  DtlsAddon* addon = DtlsAddon::From(env);
  Napi::Array list = ErrorListToJs(env, errors);
  if (addon != nullptr && !addon->error_factory.IsEmpty()) {
    Napi::Value v = addon->error_factory.Call(
        {Napi::String::New(env, message), list});
    if (v.IsObject()) return Napi::Error(env, v);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("opensslErrors", list);
  return err;
}

void ThrowDtlsError(Napi::Env env, const std::string& message) {
  ErrorList errors = DrainErrors();
  throw MakeDtlsError(env, message, errors);
}

}  // namespace dtls
