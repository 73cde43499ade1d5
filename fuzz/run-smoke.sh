#!/usr/bin/env bash
# Fuzz smoke run: build every cargo-fuzz target once (stable toolchain, no sanitizer), then run
# each for N seconds (first argument, default 20) on a scratch corpus seeded from the committed
# seeds. Fails on any crash, panic, leak of a harness invariant or timeout; the reproducer is left
# under fuzz/artifacts/<target>/. Committed seeds are never written to.
#   fuzz/run-smoke.sh [seconds] [target ...]
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-20}"
shift || true
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [seconds] [target ...]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

# Plain stable rustc: cargo-fuzz's sanitizer-free build needs no nightly features.
toolchain=(+stable)
if ! rustup run stable rustc --version >/dev/null 2>&1; then
  toolchain=()
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

echo "== cargo fuzz build (${#targets[@]} targets, --sanitizer none)"
cargo "${toolchain[@]}" fuzz build --sanitizer none

failed=()
for target in "${targets[@]}"; do
  corpus="corpus/smoke/$target"
  artifacts="artifacts/$target/"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp seeds/"$target"/* "$corpus"/
  echo "== fuzz $target for ${seconds}s"
  # -timeout: one input taking over 10 s is a finding; -rss_limit_mb: so is a blow-up in memory.
  if ! cargo "${toolchain[@]}" fuzz run "$target" --sanitizer none "$corpus" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 2>"corpus/smoke/$target.log"; then
    echo "!! $target failed; last lines of corpus/smoke/$target.log:" >&2
    tail -n 40 "corpus/smoke/$target.log" >&2
    failed+=("$target")
    continue
  fi
  grep -E '^(stat::number_of_executed_units|Done [0-9]+ runs)' "corpus/smoke/$target.log" || true
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "!! fuzz smoke failed: ${failed[*]} (reproducers under fuzz/artifacts/)" >&2
  exit 1
fi
echo "== fuzz smoke: ${#targets[@]} targets, ${seconds}s each, no crash"
