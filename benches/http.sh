#!/usr/bin/env bash
# HTTP requests/s and p99 latency through an http proxy (frps's vhost) versus straight to the
# backend: wrk against a local nginx, both from Debian's packages. Prints both and the ratio.
# A benchmark, not a test: nothing here gates CI.
#
# Usage: benches/http.sh [seconds] [connections]
#   benches/http.sh 10 64
#   FRPC_COMMON="transport.tls.enable = false" benches/http.sh 10 64
#   PROFILE=/tmp/http.perf benches/http.sh 10 64   # also perf-record frps and frpc meanwhile
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
fi
cargo build --release --locked --bin frps --bin frpc >&2

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web_port=$(port); bind_port=$(port); vhost_port=$(port)

mkdir -p "$work/www"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/www/index.html"
cat > "$work/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path $work;
  proxy_temp_path $work;
  fastcgi_temp_path $work;
  uwsgi_temp_path $work;
  scgi_temp_path $work;
  server { listen 127.0.0.1:$web_port; root $work/www; }
}
CONF
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work"

cat > "$work/frps.toml" <<TOML
bindAddr = "127.0.0.1"
bindPort = $bind_port
vhostHTTPPort = $vhost_port
auth.token = "bench"
log.level = "warn"
TOML
cat > "$work/frpc.toml" <<TOML
serverAddr = "127.0.0.1"
serverPort = $bind_port
auth.token = "bench"
log.level = "warn"
${FRPC_COMMON:-}

[[proxies]]
name = "web"
type = "http"
localIP = "127.0.0.1"
localPort = $web_port
customDomains = ["bench.test"]
TOML
target/release/frps -c "$work/frps.toml" >"$work/frps.log" 2>&1 & pids+=($!)
frps_pid=$!
sleep 0.3
target/release/frpc -c "$work/frpc.toml" >"$work/frpc.log" 2>&1 & pids+=($!)
frpc_pid=$!
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.test' "http://127.0.0.1:$vhost_port/")" = 200 ] && break
  sleep 0.1
done

# wrk's --latency output: "Requests/sec: N" and the "99%" percentile line.
run() { wrk -t2 -c"$conns" -d"${secs}s" --latency -H 'Host: bench.test' "$1" ; }
rps() { awk '/Requests\/sec/ {print $2}'; }
p99() { awk '$1 == "99%" {print $2}'; }
direct_out=$(run "http://127.0.0.1:$web_port/")
if [ -n "${PROFILE:-}" ]; then
  perf record -F 499 -g -o "$PROFILE" -p "$frps_pid,$frpc_pid" -- sleep "$secs" >/dev/null 2>&1 &
  perf_pid=$!
fi
tunnel_out=$(run "http://127.0.0.1:$vhost_port/")
[ -z "${perf_pid:-}" ] || wait "$perf_pid"
direct=$(rps <<<"$direct_out"); tunnel=$(rps <<<"$tunnel_out")
ratio=$(python3 -c "print('%.2f' % ($tunnel / $direct))")
echo "direct to nginx:  ${direct} req/s  p99 $(p99 <<<"$direct_out")"
echo "through frp http: ${tunnel} req/s  p99 $(p99 <<<"$tunnel_out")  (frps peak RSS $(awk '/VmHWM/ {print $2}' "/proc/$frps_pid/status") KiB, frpc $(awk '/VmHWM/ {print $2}' "/proc/$frpc_pid/status") KiB)"
echo "ratio:            ${ratio}   ($conns connections, ${secs}s)"
