#!/usr/bin/env bash
# libFuzzer over the native DTLS session (native/fuzz/): builds the targets with clang (ASan + UBSan +
# libFuzzer, linked against the system libssl), generates the seed corpus, and runs each target.
#
#   scripts/fuzz.sh [seconds per target (default 60)] [target ...]     (npm run fuzz [-- 600 connected])
#
# Targets (native/fuzz/harness.h): server_new server_hello client_hello client_finished connected.
# Fails on any crash, sanitizer report, leak, timeout (-timeout, 25 s per input), out-of-memory or harness
# invariant violation; the input that did it is kept in .tmp/fuzz/artifacts/ and the command to replay it
# is printed. The working corpus persists in .tmp/fuzz/corpus/<target> (longer local runs build on it).
#
# Environment: DTLS_FUZZ_JOBS=<n> runs n target processes at once (default 1); DTLS_FUZZ_FLAGS adds
# libFuzzer flags; DTLS_FUZZ_COVERAGE=1 then reports the corpora's line coverage of native/ (needs llvm).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
out="$root/.tmp/fuzz"
START=$(date +%s)

say() { echo "fuzz: $*"; }
die() { echo "fuzz: $*" >&2; exit 1; }

secs="${1:-60}"
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || die "seconds per target must be a positive integer, not '$secs'"
shift || true
all=(server_new server_hello client_hello client_finished connected)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || die "unknown target '$t' (targets: ${all[*]})"
done

CXX="${CXX_FUZZ:-clang++}"
command -v "$CXX" >/dev/null || die "$CXX is needed (apt-get install clang libclang-rt-14-dev)"
fuzzer_rt="$("$CXX" -print-file-name=libclang_rt.fuzzer-x86_64.a)"
[ -f "$fuzzer_rt" ] || fuzzer_rt="$("$CXX" --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-x86_64.a"
[ -f "$fuzzer_rt" ] || die "the libFuzzer runtime is missing (apt-get install libclang-rt-14-dev)"
[ -f /usr/include/openssl/ssl.h ] || die "OpenSSL headers are missing (apt-get install libssl-dev)"
nodeapi="$(node -p "require('node-addon-api').include_dir")"
nodeinc="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$nodeinc/node_api.h" ] || nodeinc="${npm_config_nodedir:-/usr}/include/node"
[ -f "$nodeinc/node_api.h" ] || die "node_api.h not found (node headers: $nodeinc)"
ossl="$(sed -n 's/^# *define OPENSSL_FULL_VERSION_STR "\(.*\)"/\1/p' /usr/include/openssl/opensslv.h)"
[ "${ossl%%.*}" = 3 ] || die "the system OpenSSL headers are $ossl, not 3.x (node's is $(node -p process.versions.openssl))"

# ---- build ------------------------------------------------------------------------------------------
say "building the targets with $("$CXX" --version | sed -n 1p), against libssl $ossl (node has $(node -p process.versions.openssl))"
gen="$out/gen"
obj="$out/obj"
bin="$out/bin"
rm -rf "$gen" "$obj"
mkdir -p "$gen" "$obj" "$bin" "$out/artifacts"
node native/fuzz/transplant.js "$gen" | sed 's/^/fuzz: /'

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cov="-fsanitize=fuzzer-no-link"
base=(-std=c++17 -g -O1 -fexceptions -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
      -I"$gen" -Inative -Inative/fuzz -I"$nodeapi" -idirafter "$nodeinc"
      -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
      -DDTLS_FUZZ_FIXTURES_DIR="\"$root/test/fixtures\"")
# Our native sources build with the addon's OpenSSL API settings (binding.gyp); determinism.cc needs the
# one deprecated hook (RAND_METHOD).
addon_api=(-DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED)
compile() { # compile <object> <source> <extra flags...>
  local o="$1" s="$2"
  shift 2
  # shellcheck disable=SC2086
  "$CXX" "${base[@]}" $san $cov "$@" -c "$s" -o "$obj/$o" 2>>"$out/build.log" ||
    { cat "$out/build.log" >&2; die "compiling $s failed (log: $out/build.log)"; }
}
: >"$out/build.log"
compile datagram_bio.o native/datagram_bio.cc "${addon_api[@]}" &
# (constants only the N-API part uses are left unused by the transplant)
compile session_handle.o "$gen/session_handle.cc" "${addon_api[@]}" -Wno-unused-const-variable &
compile openssl_error.o "$gen/openssl_error.cc" "${addon_api[@]}" &
compile harness.o native/fuzz/harness.cc "${addon_api[@]}" &
compile determinism.o native/fuzz/determinism.cc &
wait_all() { local rc=0; for p in $(jobs -p); do wait "$p" || rc=1; done; return $rc; }
wait_all || die "compilation failed (log: $out/build.log)"
objs=("$obj"/datagram_bio.o "$obj"/session_handle.o "$obj"/openssl_error.o "$obj"/harness.o "$obj"/determinism.o)
libs=(-lssl -lcrypto)
for t in "${targets[@]}"; do
  # shellcheck disable=SC2086
  "$CXX" "${base[@]}" $san -fsanitize=fuzzer -DDTLS_FUZZ_TARGET="$t" native/fuzz/dtls_fuzzer.cc "${objs[@]}" "${libs[@]}" \
    -o "$bin/fuzz_$t" 2>>"$out/build.log" || { cat "$out/build.log" >&2; die "linking fuzz_$t failed"; } &
done
# shellcheck disable=SC2086
"$CXX" "${base[@]}" $san native/fuzz/seedgen.cc "${objs[@]}" "${libs[@]}" -o "$bin/seedgen" 2>>"$out/build.log" &
wait_all || { cat "$out/build.log" >&2; die "linking failed (log: $out/build.log)"; }
if grep -q 'warning:' "$out/build.log"; then
  grep 'warning:' "$out/build.log" >&2
  die "the fuzz build has warnings (log: $out/build.log)"
fi
BUILT=$(date +%s)
say "built ${#targets[@]} target(s) and seedgen in $(( BUILT - START )) s"

# ---- seeds ------------------------------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:handle_abort=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
seeds="$out/seeds"
rm -rf "$seeds"
"$bin/seedgen" "$seeds" | sed 's/^/fuzz: /' || die "seedgen failed (see above)"
if [ ! -f lib/index.js ]; then
  say "building TypeScript for the capture (lib/ is missing)"
  npm run --silent build:ts >/dev/null
fi
node native/fuzz/capture-seeds.js "$seeds" | sed 's/^/fuzz: /' || die "capturing seeds from real sessions failed"
if [ -d native/fuzz/corpus ]; then
  for t in "${targets[@]}"; do
    if [ -d "native/fuzz/corpus/$t" ]; then cp native/fuzz/corpus/"$t"/* "$seeds/$t/" 2>/dev/null || true; fi
  done
fi

# ---- run --------------------------------------------------------------------------------------------
jobs_at_once="${DTLS_FUZZ_JOBS:-1}"
run_one() { # run_one <target>: writes $out/logs/<target>.log, returns libFuzzer's exit code
  local t="$1"
  mkdir -p "$out/corpus/$t" "$out/logs"
  rm -f "$out/artifacts/$t-"*
  # shellcheck disable=SC2086
  "$bin/fuzz_$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" ${DTLS_FUZZ_FLAGS:-} "$out/corpus/$t" "$seeds/$t" \
    >"$out/logs/$t.log" 2>&1
}
failed=()
RUN_START=$(date +%s)
say "running ${#targets[@]} target(s), $secs s each, $jobs_at_once at a time"
declare -A rcs
batch=()
run_batch() {
  local -A pids=()
  for t in "${batch[@]}"; do
    run_one "$t" &
    pids[$t]=$!
  done
  for t in "${batch[@]}"; do
    wait "${pids[$t]}" && rcs[$t]=0 || rcs[$t]=$?
  done
  batch=()
}
for t in "${targets[@]}"; do
  batch+=("$t")
  [ "${#batch[@]}" -ge "$jobs_at_once" ] && run_batch
done
[ "${#batch[@]}" -gt 0 ] && run_batch
for t in "${targets[@]}"; do
  rc="${rcs[$t]}"
  log="$out/logs/$t.log"
  inited=$(grep -m1 -E '#[0-9]+\s+INITED' "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  final=$(grep -E '#[0-9]+\s+DONE' "$log" | tail -n1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' || true)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  rate=$(grep -oE 'stat::average_exec_per_sec:\s+[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  say "$(printf '%-16s exit %-3s %9s execs %6s exec/s   seeds: %-20s end: %s' "$t" "$rc" "${execs:-?}" "${rate:-?}" "${inited:-?}" "${final:-?}")"
  artifacts=()
  for a in "$out/artifacts/$t-"*; do [ -e "$a" ] && artifacts+=("$a"); done
  if [ "$rc" != 0 ] || [ "${#artifacts[@]}" -gt 0 ]; then
    failed+=("$t")
    echo "----- $log (last 60 lines)" >&2
    tail -n 60 "$log" >&2
    for a in "${artifacts[@]}"; do
      echo "fuzz: reproduce with: DTLS_FUZZ_VERBOSE=1 $bin/fuzz_$t $a" >&2
    done
  fi
done
END=$(date +%s)
say "fuzzing took $(( END - RUN_START )) s, $(( END - START )) s in all"
[ "${#failed[@]}" = 0 ] || die "target(s) failed: ${failed[*]} (logs: $out/logs/, inputs: $out/artifacts/)"
say "no crash, leak, timeout or invariant violation"

# ---- coverage (DTLS_FUZZ_COVERAGE=1) ----------------------------------------------------------------
# Line and branch coverage of our native code by each target's corpus (seeds + what this run found):
# the same sources built with clang's source-based coverage instead of the sanitizers, every corpus
# input run once.
[ "${DTLS_FUZZ_COVERAGE:-0}" = 1 ] || exit 0
command -v llvm-profdata >/dev/null && command -v llvm-cov >/dev/null || die "coverage needs llvm-profdata and llvm-cov (apt-get install llvm)"
cov_dir="$out/coverage"
rm -rf "$cov_dir"
mkdir -p "$cov_dir/obj"
cov_flags=(-fprofile-instr-generate -fcoverage-mapping)
for src in native/datagram_bio.cc "$gen/session_handle.cc" "$gen/openssl_error.cc" native/fuzz/harness.cc native/fuzz/determinism.cc; do
  extra=("${addon_api[@]}")
  [ "$src" = native/fuzz/determinism.cc ] && extra=()
  "$CXX" "${base[@]}" "${cov_flags[@]}" -Wno-unused-const-variable "${extra[@]}" -c "$src" -o "$cov_dir/obj/$(basename "$src" .cc).o"
done
profiles=()
for t in "${targets[@]}"; do
  "$CXX" "${base[@]}" "${cov_flags[@]}" -fsanitize=fuzzer -DDTLS_FUZZ_TARGET="$t" native/fuzz/dtls_fuzzer.cc "$cov_dir"/obj/*.o \
    "${libs[@]}" -o "$cov_dir/cov_$t"
  LLVM_PROFILE_FILE="$cov_dir/$t.profraw" "$cov_dir/cov_$t" -runs=0 "$out/corpus/$t" "$seeds/$t" >"$cov_dir/$t.log" 2>&1 ||
    { tail -n 20 "$cov_dir/$t.log" >&2; die "the coverage run of $t failed"; }
  profiles+=("$cov_dir/$t.profraw")
done
llvm-profdata merge -sparse "${profiles[@]}" -o "$cov_dir/all.profdata"
objects=()
for t in "${targets[@]}"; do objects+=(-object "$cov_dir/cov_$t"); done
say "coverage of the native sources by the corpora of: ${targets[*]}"
llvm-cov report "${objects[@]:1}" -instr-profile="$cov_dir/all.profdata" \
  native/datagram_bio.cc "$gen/session_handle.cc" "$gen/openssl_error.cc" native/session_handle.cc native/openssl_error.cc | sed "s|$gen/|gen/|"
llvm-cov show "${objects[@]:1}" -instr-profile="$cov_dir/all.profdata" -format=html -output-dir="$cov_dir/html" \
  native/datagram_bio.cc "$gen/session_handle.cc" "$gen/openssl_error.cc" native/session_handle.cc native/openssl_error.cc
say "line-by-line: $cov_dir/html/index.html"
