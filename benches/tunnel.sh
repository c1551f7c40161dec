#!/usr/bin/env bash
# Throughput through a tcp proxy versus direct loopback, measured with iperf3.
# Prints both figures and their ratio. A benchmark, not a test: nothing here gates CI.
#
# Usage: benches/tunnel.sh [seconds] [extra frpc proxy TOML line...]
#   benches/tunnel.sh 10
#   benches/tunnel.sh 10 'transport.useEncryption = true'
#   FRPC_COMMON="transport.tls.enable = false" benches/tunnel.sh 10
#   FRPS_EXTRA="transport.tcpMux = false" FRPC_COMMON="transport.tcpMux = false" benches/tunnel.sh 10
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true

if ! command -v iperf3 >/dev/null; then
  echo "installing iperf3 (Debian package)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3) >/dev/null
fi
cargo build --release --locked --bin frps --bin frpc >&2

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
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
target/release/frps -c "$work/frps.toml" >"$work/frps.log" 2>&1 & pids+=($!)
sleep 0.3
target/release/frpc -c "$work/frpc.toml" >"$work/frpc.log" 2>&1 & pids+=($!)
frpc_pid=$!
for _ in $(seq 100); do grep -q "start proxy success" "$work/frpc.log" && break; sleep 0.1; done

gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
direct=$(iperf3 -c 127.0.0.1 -p "$iperf_port" -t "$secs" -J | gbps)
tunnel=$(iperf3 -c 127.0.0.1 -p "$remote_port" -t "$secs" -J | gbps)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$frpc_pid/status")
ratio=$(python3 -c "print('%.2f' % ($tunnel / $direct))")
echo "direct loopback: ${direct} Gbit/s"
echo "through frp:     ${tunnel} Gbit/s  (frpc peak RSS ${rss_kb} KiB)"
echo "ratio:           ${ratio}"
