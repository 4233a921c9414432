#!/bin/sh
# Builds the C ceiling (bench/native/dtls_ceiling.c) against the system
# OpenSSL (Debian's libssl-dev; installs it when missing and we are root).
# Output: bench/native/build/dtls_ceiling. Prints the OpenSSL version used.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
if [ ! -f /usr/include/openssl/ssl.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench/native: installing libssl-dev" >&2
    apt-get install -y libssl-dev >&2 || { apt-get update >&2 && apt-get install -y libssl-dev >&2; }
  else
    echo "bench/native: OpenSSL headers missing: install libssl-dev" >&2
    exit 1
  fi
fi
mkdir -p "$out"
src="$here/dtls_ceiling.c"
bin="$out/dtls_ceiling"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$0" -nt "$bin" ]; then
  ${CC:-cc} -O2 -g -Wall -Wextra -std=c11 -o "$bin" "$src" -lssl -lcrypto
fi
# The same program as a Node-API module on node's own OpenSSL (in_node.c): compiled against node's
# headers (the ones the addon uses), linked against nothing; OpenSSL's symbols resolve to node's.
node_include="$(node -p "require('path').resolve(process.execPath, '..', '..', 'include', 'node')")"
mod="$out/in_node.node"
if [ ! -f "$mod" ] || [ "$src" -nt "$mod" ] || [ "$here/in_node.c" -nt "$mod" ] || [ "$0" -nt "$mod" ]; then
  if [ -f "$node_include/node_api.h" ] && [ -f "$node_include/openssl/ssl.h" ]; then
    ${CC:-cc} -O2 -g -Wall -Wextra -std=c11 -shared -fPIC -Dmain=ceiling_main -I"$node_include" \
      -o "$mod" "$src" "$here/in_node.c"
  else
    echo "bench/native: node's headers not found in $node_include: no in-node ceiling" >&2
  fi
fi
echo "$bin"
