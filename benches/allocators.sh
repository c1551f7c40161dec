#!/usr/bin/env bash
# The system allocator (glibc malloc + our trimmer) against mimalloc and jemalloc: builds each
# variant (cargo features `mimalloc`, `jemalloc`) into target/alloc/NAME/, then runs
# benches/conns.sh (memory with 1,000 open connections and after they close, connection rate)
# and benches/tunnel.sh (throughput, CPU per GB) on each. A benchmark: nothing here gates CI.
#
# Usage: benches/allocators.sh [counts for conns.sh...]
#   benches/allocators.sh            # 1000 connections
#   benches/allocators.sh 1000 5000
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000)
for variant in system mimalloc jemalloc; do
  features=()
  [ "$variant" = system ] || features=(--features "$variant")
  cargo build --release --locked --bin frps --bin frpc "${features[@]}" >&2
  mkdir -p "target/alloc/$variant"
  cp target/release/frps target/release/frpc "target/alloc/$variant/"
done
for variant in system mimalloc jemalloc; do
  echo "=== $variant"
  FRP_BIN_DIR="target/alloc/$variant" benches/conns.sh 4 "${counts[@]}" | sed "s/^ours/$variant/"
  FRP_BIN_DIR="target/alloc/$variant" ROUNDS=2 benches/tunnel.sh 5 | sed "s/^ours /$variant/"
done
