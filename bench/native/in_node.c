/*
 * The C ceiling (dtls_ceiling.c, compiled with main renamed) as a Node-API
 * module: the same program, run inside node against the OpenSSL that node
 * carries (the library's own), instead of Debian's libssl. Node's build of
 * OpenSSL 3.0.19 differs from Debian's (its handshakes run ~8 % faster here),
 * so this is the ceiling for exactly the code the library calls.
 *
 *   node bench/native/in-node.js CERT.pem KEY.pem handshakes|records N
 */
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>

int ceiling_main(int argc, char **argv);

static napi_value Run(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc != 4) {
    napi_throw_type_error(env, NULL, "run(cert, key, mode, n)");
    return NULL;
  }
  char buf[4][4096];
  char *argv[5] = {"ceiling", buf[0], buf[1], buf[2], buf[3]};
  for (size_t i = 0; i < 4; i++) {
    size_t len = 0;
    if (napi_get_value_string_utf8(env, args[i], buf[i], sizeof(buf[i]), &len) != napi_ok) {
      napi_throw_type_error(env, NULL, "run(cert, key, mode, n): strings");
      return NULL;
    }
  }
  int rc = ceiling_main(5, argv);
  fflush(stdout);
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "run", NAPI_AUTO_LENGTH, Run, NULL, &fn);
  napi_set_named_property(env, exports, "run", fn);
  return exports;
}
