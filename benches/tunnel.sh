#!/usr/bin/env bash
# Throughput through a tcp proxy versus direct loopback, measured with iperf3, and the CPU time
# frps + frpc spend per GB carried. Median of ROUNDS (default 3) runs of SECONDS each. Prints
# direct loopback and each pair side by side. A benchmark, not a test: nothing here gates CI.
#
# Usage: benches/tunnel.sh [seconds] [extra frpc proxy TOML line...]
#   benches/tunnel.sh 6
#   benches/tunnel.sh 10 'transport.useEncryption = true'
#   FRPC_COMMON="transport.tls.enable = false" benches/tunnel.sh 10
#   FRPS_EXTRA="transport.tcpMux = false" FRPC_COMMON="transport.tcpMux = false" benches/tunnel.sh 10
#   FRPS2=/path/to/go/frps FRPC2=/path/to/go/frpc benches/tunnel.sh 6   # a second pair beside ours
#   PROFILE=/tmp/tunnel.perf benches/tunnel.sh 6   # also perf-record our pair's last round
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
shift || true
rounds=${ROUNDS:-3}
. benches/lib.sh

if ! command -v iperf3 >/dev/null; then
  echo "installing iperf3 (Debian package)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3) >/dev/null
fi
build_ours

iperf_port=$(port); bind_port=$(port); remote_port=$(port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 & pids+=($!)
cat > "$work/frps.toml" <<TOML
bindAddr = "127.0.0.1"
bindPort = $bind_port
auth.token = "bench"
${FRPS_EXTRA:-}
TOML
{
  printf 'serverAddr = "127.0.0.1"\nserverPort = %s\nauth.token = "bench"\n%s\n\n' "$bind_port" "${FRPC_COMMON:-}"
  printf '[[proxies]]\nname = "iperf"\ntype = "tcp"\nlocalIP = "127.0.0.1"\nlocalPort = %s\nremotePort = %s\n' "$iperf_port" "$remote_port"
  for line in "$@"; do printf '%s\n' "$line"; done
} > "$work/frpc.toml"

# One iperf3 run to PORT; prints "Gbit/s bytes".
iperf() {
  iperf3 -c 127.0.0.1 -p "$1" -t "$secs" -J |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["end"]["sum_received"]; print("%.2f %d" % (r["bits_per_second"]/1e9, r["bytes"]))'
}
median() { python3 -c 'import statistics,sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

runs=()
for _ in $(seq "$rounds"); do read -r g _ < <(iperf "$iperf_port"); runs+=("$g"); done
direct=$(median "${runs[@]}")
printf '%-16s %6s Gbit/s  (median of %s x %ss)\n' "direct loopback" "$direct" "$rounds" "$secs"

while read -r name frps frpc; do
  start_pair "$frps" "$frpc"
  iperf "$remote_port" >/dev/null # warm-up: the first work connections, the allocator's pools
  runs=(); per_gb=(); perf_pid=
  for r in $(seq "$rounds"); do
    if [ -n "${PROFILE:-}" ] && [ "$name" = ours ] && [ "$r" = "$rounds" ]; then
      perf record -F 499 -g -o "$PROFILE" -p "$frps_pid,$frpc_pid" -- sleep "$secs" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    before=$(cpu_secs "$frps_pid" "$frpc_pid")
    read -r g bytes < <(iperf "$remote_port")
    after=$(cpu_secs "$frps_pid" "$frpc_pid")
    runs+=("$g")
    per_gb+=("$(python3 -c "print(($after - $before) / ($bytes / 1e9))")")
  done
  [ -z "$perf_pid" ] || wait "$perf_pid"
  printf '%-16s %6s Gbit/s  %.2f CPU s per GB (frps + frpc)  ratio %.2f  peak RSS frps %s KiB, frpc %s KiB\n' \
    "$name" "$(median "${runs[@]}")" "$(median "${per_gb[@]}")" \
    "$(python3 -c "print($(median "${runs[@]}") / $direct)")" "$(hwm_kib "$frps_pid")" "$(hwm_kib "$frpc_pid")"
  stop_pair
done < <(pairs)
