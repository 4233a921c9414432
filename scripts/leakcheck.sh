#!/usr/bin/env bash
# LeakSanitizer over create / handshake / destroy cycles in node with the addon (scripts/leakcheck-workload.js:
# 200 handshakes with close, cookies, resumption, failing and aborted handshakes, sessions dropped to GC,
# generateCertificate on the thread pool, diagnostics, workers exiting with sessions open).
#
#   scripts/leakcheck.sh [scale]        (npm run leakcheck [-- 2]; scale multiplies the workload's counts)
#
# Uses the ASan build of scripts/sanitize.sh (built if missing) with leak detection on. Node itself does
# not free everything at exit, so every leak LeakSanitizer reports is sorted: a leak is the addon's when
# a frame of its allocation stack is in the addon (openssl_dtls.node, native/). Fails on any leak of the
# addon's, on any other sanitizer report, and if the workload fails. Known non-leaks are suppressed by
# scripts/lsan.supp (each with its reason). Reports: .tmp/leakcheck/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
out="$root/.tmp/leakcheck"
START=$(date +%s)
say() { echo "leakcheck: $*"; }
die() { echo "leakcheck: $*" >&2; exit 1; }

scale="${1:-1}"
bash scripts/sanitize.sh --build-only | sed 's/^sanitize: /leakcheck: /'
[ -f lib/index.js ] || npm run --silent build:ts >/dev/null
addon_dir="$root/.tmp/sanitize/addon"
libasan="$(g++ -print-file-name=libasan.so)"
libubsan="$(g++ -print-file-name=libubsan.so)"

rm -rf "$out"
mkdir -p "$out"
# fast_unwind_on_malloc: node keeps frame pointers through its OpenSSL, so allocation stacks reach the
# addon's frames without the (ten times slower) DWARF unwinder. exitcode=0: the verdict is ours, below.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=86:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0:fast_unwind_on_malloc=1:malloc_context_size=40:log_path=$out/asan"
export LSAN_OPTIONS="exitcode=0:report_objects=0:print_suppressions=1:suppressions=$root/scripts/lsan.supp"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$out/ubsan"
export OPENSSL_DTLS_PREBUILD="$addon_dir"
export DTLS_SANITIZER=1

say "running the workload (scale $scale) under LeakSanitizer"
set +e
LD_PRELOAD="$libasan:$libubsan" node --expose-gc scripts/leakcheck-workload.js "$scale" </dev/null 2>&1 | tee "$out/workload.log"
rc=${PIPESTATUS[0]}
set -e
grep -q '^leakcheck workload: complete' "$out/workload.log" || die "the workload did not complete (exit $rc)"
[ "$rc" = 0 ] || die "the workload exited with $rc"

node - "$out" <<'EOF'
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[2];
const files = fs.readdirSync(dir).filter((f) => /^(asan|ubsan)\.\d+$/.test(f));
let ours = [];
let theirs = 0;
let theirsBytes = 0;
let other = [];
let suppressed = [];
let sawLsan = false;
for (const f of files) {
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  if (/ERROR: LeakSanitizer/.test(text)) sawLsan = true;
  if (/ERROR: AddressSanitizer|runtime error:/.test(text)) other.push(f);
  const used = text.split('Suppressions used:')[1];
  if (used) for (const m of used.matchAll(/^\s*(\d+)\s+(\d+)\s+(\S+)\s*$/gm)) suppressed.push(`${m[3]}: ${m[1]} leak(s), ${m[2]} bytes`);
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/).slice(1)) {
    const head = block.split('\n')[0];
    const frames = block.split('\n').filter((l) => /^\s+#\d+ /.test(l));
    const bytes = Number((head.match(/of (\d+) byte/) || [, 0])[1]);
    if (frames.some((l) => /openssl_dtls\.node|\.\.\/native\//.test(l))) {
      ours.push(`${head}\n${frames.join('\n')}`);
    } else {
      theirs++;
      theirsBytes += bytes;
    }
  }
}
console.log(`leakcheck: LeakSanitizer ${sawLsan ? 'reported leaks at exit' : 'reported no leak at exit'}: ` +
  `${ours.length} from the addon, ${theirs} from node itself (${theirsBytes} bytes; not the addon's: no addon frame)`);
for (const s of suppressed) console.log(`leakcheck: suppressed (scripts/lsan.supp): ${s}`);
if (!sawLsan && suppressed.length === 0) {
  // A clean LeakSanitizer prints nothing: the thread-pool suppressions (keygen phase) are the sign it ran.
  console.error('leakcheck: no sign that LeakSanitizer ran (no report and no suppression used)');
  process.exit(1);
}
if (other.length > 0) {
  for (const f of other) console.error(fs.readFileSync(path.join(dir, f), 'utf8'));
  console.error(`leakcheck: sanitizer reports other than leaks in ${other.join(', ')}`);
  process.exit(1);
}
if (ours.length > 0) {
  console.error(ours.join('\n\n'));
  console.error(`leakcheck: ${ours.length} leak(s) attributable to the addon (above)`);
  process.exit(1);
}
EOF
say "zero leaks attributable to the addon, in $(( $(date +%s) - START )) s"
