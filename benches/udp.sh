#!/usr/bin/env bash
# UDP throughput through a udp proxy versus direct loopback, with a small python sender and
# receiver (no extra tools). The sender blasts fixed-size datagrams for N seconds (unpaced, or
# RATE datagrams/s); the receiver, standing in for the local service, counts what arrives.
# Prints datagrams sent/received, loss and the received rate for both paths, and their ratio.
# A benchmark, not a test: nothing here gates CI. Unpaced, loss through the tunnel is expected:
# the received rate is what frp carries.
#
# Usage: benches/udp.sh [seconds] [datagram bytes] [extra frpc proxy TOML line...]
#   benches/udp.sh 10
#   benches/udp.sh 10 1400 'transport.useEncryption = true'
#   RATE=20000 benches/udp.sh 10 512
#   FRPS_EXTRA="transport.tcpMux = false" FRPC_COMMON="transport.tcpMux = false" benches/udp.sh 10
#   FRP_BIN_DIR=target/debug benches/udp.sh 3      # use already built binaries, no release build
#   FRPS2=/path/to/go/frps FRPC2=/path/to/go/frpc benches/udp.sh 6 1200   # a second pair beside ours
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
size=${2:-1400}
shift 2 || shift $# || true

. benches/lib.sh
build_ours

# The local service: counts datagrams starting with "B" until 2 s of silence after the first,
# then prints {"datagrams", "bytes", "seconds"}; echoes anything else (warm-up probes).
cat > "$work/recv.py" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
n = b = 0
first = last = None
while True:
    try:
        d, peer = s.recvfrom(65536)
    except socket.timeout:
        break
    if not d.startswith(b"B"):
        s.sendto(d, peer)
        continue
    now = time.monotonic()
    if first is None:
        first = now
        s.settimeout(2)
    last = now
    n += 1
    b += len(d)
print(json.dumps({"datagrams": n, "bytes": b, "seconds": (last - first) if first else 0}))
PY

# Blast datagrams of SIZE bytes at HOST:PORT for SECS seconds; prints how many were sent.
cat > "$work/send.py" <<'PY'
import os, socket, sys, time
port, secs, size = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rate = float(os.environ.get("RATE") or 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
payload = b"B" + os.urandom(max(size, 1) - 1)
n = 0
start = time.monotonic()
end = start + secs
while time.monotonic() < end:
    for _ in range(64):
        try:
            s.send(payload)
            n += 1
        except OSError:
            pass
    if rate:
        ahead = start + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
print(n)
PY

# Wait until a probe through PORT comes back (the tunnel carries datagrams both ways).
cat > "$work/warm.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    s.sendto(b"warm", ("127.0.0.1", int(sys.argv[1])))
    try:
        if s.recv(16) == b"warm":
            sys.exit(0)
    except OSError:
        pass
sys.exit("the udp tunnel did not come up")
PY

udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
local_port=$(udp_port); bind_port=$(port); remote_port=$(udp_port)

cat > "$work/frps.toml" <<TOML
bindAddr = "127.0.0.1"
bindPort = $bind_port
auth.token = "bench"
${FRPS_EXTRA:-}
TOML
{
  printf 'serverAddr = "127.0.0.1"\nserverPort = %s\nauth.token = "bench"\n%s\n\n' "$bind_port" "${FRPC_COMMON:-}"
  printf '[[proxies]]\nname = "udpbench"\ntype = "udp"\nlocalIP = "127.0.0.1"\nlocalPort = %s\nremotePort = %s\n' "$local_port" "$remote_port"
  for line in "$@"; do printf '%s\n' "$line"; done
} > "$work/frpc.toml"
# One measurement: receiver on the local port, sender at TARGET; prints "sent received loss% Mbit/s".
measure() {
  local target=$1
  python3 "$work/recv.py" "$local_port" > "$work/recv.json" & local recv=$!
  python3 "$work/warm.py" "$target"
  local sent
  sent=$(python3 "$work/send.py" "$target" "$secs" "$size")
  wait "$recv"
  python3 - "$sent" "$work/recv.json" <<'PY'
import json, sys
sent = int(sys.argv[1])
r = json.load(open(sys.argv[2]))
loss = 100.0 * (sent - r["datagrams"]) / sent if sent else 0.0
mbps = r["bytes"] * 8 / r["seconds"] / 1e6 if r["seconds"] else 0.0
print(sent, r["datagrams"], "%.1f" % loss, "%.1f" % mbps)
PY
}

read -r d_sent d_recv d_loss d_mbps < <(measure "$local_port")
echo "udp, ${size}-byte datagrams, ${secs} s, offered: ${RATE:-unpaced}${RATE:+ datagrams/s}"
printf '%-16s sent %8s, received %8s (loss %5s%%), %7s Mbit/s\n' "direct loopback" "$d_sent" "$d_recv" "$d_loss" "$d_mbps"
while read -r name frps frpc; do
  start_pair "$frps" "$frpc"
  before=$(cpu_secs "$frps_pid" "$frpc_pid")
  read -r t_sent t_recv t_loss t_mbps < <(measure "$remote_port")
  after=$(cpu_secs "$frps_pid" "$frpc_pid")
  printf '%-16s sent %8s, received %8s (loss %5s%%), %7s Mbit/s  ratio %.2f  CPU %.1f s  peak RSS frps %s KiB, frpc %s KiB\n' \
    "$name" "$t_sent" "$t_recv" "$t_loss" "$t_mbps" "$(python3 -c "print($t_mbps / $d_mbps if $d_mbps else 0)")" \
    "$(python3 -c "print($after - $before)")" "$(hwm_kib "$frps_pid")" "$(hwm_kib "$frpc_pid")"
  stop_pair
done < <(pairs)
