#!/usr/bin/env bash
# Memory per open connection and connection rate through a tcp proxy (frps + frpc, defaults:
# TLS and tcpMux). A benchmark, not a test: nothing here gates CI.
#
# It starts the pair with 100 tcp proxies (one echo proxy and 99 more to the same service) and
# reads their resident memory when idle. For each count (100, 1,000, 5,000 by default) it opens that many connections through the proxy
# (each checked with one echo round trip), reads frps's and frpc's resident memory, closes them,
# and reads it again 10 s later. Then it measures new connections per second (connect, one round
# trip, close; 16 at a time) straight to the echo server and through the proxy.
#
# Usage: benches/conns.sh [seconds for the rate] [counts...]
#   benches/conns.sh
#   benches/conns.sh 5 100 1000
#   FRPS2=/path/to/go/frps FRPC2=/path/to/go/frpc benches/conns.sh   # a second pair, side by side
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 5000)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

. benches/lib.sh
build_ours
# N free ports at once (held together while chosen, so they differ).
ports() { python3 -c 'import socket,sys; ss=[socket.socket() for _ in range(int(sys.argv[1]))]; [s.bind(("127.0.0.1",0)) for s in ss]; print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"; }

# The local service: an asyncio echo server (one process, any number of connections).
echo_port=$(port)
python3 - "$echo_port" <<'PY' & pids+=($!)
import asyncio, sys
async def echo(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    s = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await s.serve_forever()
asyncio.run(main())
PY

# run_pair NAME FRPS FRPC: start the pair, measure, stop it; prints one block of figures.
run_pair() {
  local name=$1 frps=$2 frpc=$3 bind remote extra
  bind=$(port)
  read -r remote extra < <(ports 100)
  printf 'bindAddr = "127.0.0.1"\nbindPort = %s\nauth.token = "bench"\n' "$bind" > "$work/frps.toml"
  {
    printf 'serverAddr = "127.0.0.1"\nserverPort = %s\nauth.token = "bench"\n\n[[proxies]]\nname = "echo"\ntype = "tcp"\nlocalIP = "127.0.0.1"\nlocalPort = %s\nremotePort = %s\n' \
      "$bind" "$echo_port" "$remote"
    local i=1
    for p in $extra; do
      printf '\n[[proxies]]\nname = "idle%s"\ntype = "tcp"\nlocalIP = "127.0.0.1"\nlocalPort = %s\nremotePort = %s\n' "$i" "$echo_port" "$p"
      i=$((i + 1))
    done
  } > "$work/frpc.toml"
  start_pair "$frps" "$frpc"
  for _ in $(seq 100); do [ "$(grep -c "start proxy success" "$work/frpc.log")" -ge 100 ] && break; sleep 0.1; done
  local s=$frps_pid c=$frpc_pid
  python3 - "$name" "$remote" "$echo_port" "$s" "$c" "$secs" "${counts[@]}" <<'PY'
import socket, sys, threading, time

name, remote, direct, spid, cpid, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6])
counts = [int(c) for c in sys.argv[7:]]

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def open_conns(n):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", remote))
        s.sendall(b"x")
        conns.append(s)
    for s in conns:
        s.settimeout(30)
        assert s.recv(1) == b"x"
    return conns

def rate(port):
    stop = time.time() + secs
    done = [0]
    def worker():
        while time.time() < stop:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"y")
            s.settimeout(10)
            s.recv(1)
            s.close()
            done[0] += 1
    ts = [threading.Thread(target=worker) for _ in range(16)]
    for t in ts: t.start()
    for t in ts: t.join()
    return done[0] / secs

time.sleep(2)
idle_s, idle_c = rss(spid), rss(cpid)
print(f"{name}: idle with 100 tcp proxies: frps {idle_s/1024:.1f} MiB, frpc {idle_c/1024:.1f} MiB, together {(idle_s+idle_c)/1024:.1f} MiB")
for n in counts:
    conns = open_conns(n)
    time.sleep(1)
    s_kb, c_kb = rss(spid), rss(cpid)
    print(f"{name}: {n:>5} open: frps {s_kb/1024:7.1f} MiB ({(s_kb-idle_s)/n:6.1f} KiB each), "
          f"frpc {c_kb/1024:7.1f} MiB ({(c_kb-idle_c)/n:6.1f} KiB each), together {(s_kb+c_kb)/1024:.1f} MiB")
    for s in conns:
        s.close()
    time.sleep(10)
    s_kb, c_kb = rss(spid), rss(cpid)
    print(f"{name}: {n:>5} closed 10 s: frps {s_kb/1024:7.1f} MiB, frpc {c_kb/1024:7.1f} MiB "
          f"({(s_kb+c_kb-idle_s-idle_c)/1024:+.1f} MiB over idle)")
print(f"{name}: new connections/s: direct {rate(direct):.0f}, through the proxy {rate(remote):.0f}")
PY
  stop_pair
}

while read -r name frps frpc; do run_pair "$name" "$frps" "$frpc"; done < <(pairs)
