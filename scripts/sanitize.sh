#!/usr/bin/env bash
# The whole test suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of the addon.
#
#   scripts/sanitize.sh [run-tests filters and node flags]     (npm run test:sanitize [-- filters])
#   scripts/sanitize.sh --build-only                           (just the build; scripts/leakcheck.sh uses it)
#
# 1. Builds the addon with gcc's -fsanitize=address,undefined into .tmp/sanitize/addon/build/Release (a copy
#    of binding.gyp and native/; build/Release, which `npm test` uses, is left alone).
# 2. Runs scripts/run-tests.js with OPENSSL_DTLS_PREBUILD pointing there: node-gyp-build, the one loader in
#    src/binding.ts, honours <PACKAGE_NAME>_PREBUILD, so every test process (workers and spawned node
#    children included) loads the sanitized binary. The sanitizer runtimes are preloaded (node itself is not
#    instrumented; ASan must come first in the library order). DTLS_SANITIZER=1 tells the few tests that
#    bound process rss to skip that one bound: ASan's quarantine and shadow memory make rss meaningless.
# 3. Fails if any test fails or any sanitizer report appears. Reports go to .tmp/sanitize/logs/ (one file
#    per process) and are printed at the end.
#
# Leak detection is off here (node does not free everything at exit); scripts/leakcheck.sh does leaks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
out="$root/.tmp/sanitize"
logs="$out/logs"
START=$(date +%s)

say() { echo "sanitize: $*"; }
die() { echo "sanitize: $*" >&2; exit 1; }

command -v g++ >/dev/null || die "g++ is needed (apt-get install g++)"
libasan="$(g++ -print-file-name=libasan.so)"
libubsan="$(g++ -print-file-name=libubsan.so)"
[ -e "$libasan" ] || die "gcc's libasan.so is missing (apt-get install libasan8, or libgcc-12-dev)"
[ -e "$libubsan" ] || die "gcc's libubsan.so is missing (apt-get install libubsan1, or libgcc-12-dev)"

# node-gyp: on PATH under npm run, else the one npm ships.
if command -v node-gyp >/dev/null; then
  gyp=(node-gyp)
elif [ -n "${npm_config_node_gyp:-}" ] && [ -f "${npm_config_node_gyp}" ]; then
  gyp=(node "$npm_config_node_gyp")
else
  gyp_js="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp_js" ] || die "node-gyp not found (looked on PATH and at $gyp_js)"
  gyp=(node "$gyp_js")
fi
# Headers of the node that runs the tests (as .ci/run does), when they are installed next to it.
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/common.gypi" ]; then
  export npm_config_nodedir="$node_prefix"
fi

# The build is reused while binding.gyp, native/ and the flags are unchanged (leakcheck.sh shares it).
san="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
addon="$out/addon/build/Release/openssl_dtls.node"
stamp="$( (echo "$san"; node --version; cat binding.gyp native/*.cc native/*.h) | sha256sum | cut -d' ' -f1)"
if [ -f "$addon" ] && [ "$(cat "$out/addon/stamp" 2>/dev/null)" = "$stamp" ]; then
  say "reusing the ASan + UBSan build in ${out#"$root"/}/addon (sources unchanged)"
else
  say "building the addon with ASan + UBSan into ${out#"$root"/}/addon"
  rm -rf "$out/addon"
  mkdir -p "$out/addon"
  cp binding.gyp "$out/addon/"
  cp -r native "$out/addon/"
  rm -rf "$out/addon/native/fuzz"
  (
    cd "$out/addon"
    CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined,float-cast-overflow" \
      "${gyp[@]}" rebuild --release --jobs="$(nproc)" >"$out/build.log" 2>&1
  ) || { tail -n 40 "$out/build.log" >&2; die "the sanitized build failed (log: $out/build.log)"; }
  [ -f "$addon" ] || die "no $addon after the build"
  ldd "$addon" | grep -q libasan || die "$addon does not link libasan: the sanitizer flags were not applied"
  echo "$stamp" >"$out/addon/stamp"
  say "built $(du -h "$addon" | cut -f1) $addon"
fi
mkdir -p "$logs"
if [ "${1:-}" = "--build-only" ]; then exit 0; fi

say "building TypeScript (lib/, dist-test/)"
npm run --silent build:ts >"$out/tsc.log" 2>&1 || { cat "$out/tsc.log" >&2; die "npm run build:ts failed"; }

rm -f "$logs"/*
# detect_leaks=0: node's own allocations at exit are not ours (leakcheck.sh filters leaks to the addon).
# halt_on_error / -fno-sanitize-recover: the first report ends that process (its test fails, and the log
# file stays). handle_segv=0 and allow_user_segv_handler=1: V8 and node own SIGSEGV (WebAssembly trap
# handler); ASan's handler would report their expected faults as crashes.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$logs/ubsan"
export OPENSSL_DTLS_PREBUILD="$out/addon"
export DTLS_SANITIZER=1

# Prove the loader picks the sanitized binary before spending minutes on the suite.
loaded="$(LD_PRELOAD="$libasan:$libubsan" node -e "
  require('./lib/index.js');
  const so = require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\n')
    .map((l) => l.split(/\s+/)[5]).filter((p) => p && p.endsWith('openssl_dtls.node'));
  console.log([...new Set(so)].join(' '));
")"
[ "$loaded" = "$addon" ] || die "the tests would load '$loaded', not $addon"
say "loader check: lib/index.js loads $loaded"

SUITE_START=$(date +%s)
say "running the test suite under ASan + UBSan"
set +e
LD_PRELOAD="$libasan:$libubsan" node scripts/run-tests.js "$@" </dev/null 2>&1 | tee "$out/suite.log"
suite_rc=${PIPESTATUS[0]}
set -e
SUITE_END=$(date +%s)

reports=()
for f in "$logs"/*; do
  [ -f "$f" ] || continue
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined)' "$f"; then
    reports+=("$f")
  fi
done
# A report that escaped log_path (a process that reset its environment) still lands in the output.
stray=$(grep -cE '^==[0-9]+==ERROR: AddressSanitizer|: runtime error: ' "$out/suite.log" || true)

summary=$(grep -E '^ℹ (tests|pass|fail|skipped|cancelled) ' "$out/suite.log" | tr '\n' ' ' || true)
say "suite: exit $suite_rc; $summary; $(( SUITE_END - SUITE_START )) s under sanitizers, $(( SUITE_END - START )) s in all"
if [ "${#reports[@]}" -gt 0 ] || [ "$stray" -gt 0 ]; then
  for f in "${reports[@]}"; do
    echo "----- $f" >&2
    cat "$f" >&2
  done
  die "${#reports[@]} sanitizer report file(s) and $stray report line(s) in the output: see above"
fi
[ "$suite_rc" = 0 ] || die "the test suite failed under the sanitizers (exit $suite_rc; log: $out/suite.log)"
say "zero sanitizer reports"
