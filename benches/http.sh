#!/usr/bin/env bash
# HTTP requests/s and p99 latency through an http proxy (frps's vhost) versus straight to the
# backend: wrk against a local nginx, both from Debian's packages. Prints both and the ratio.
# A benchmark, not a test: nothing here gates CI.
#
# Usage: benches/http.sh [seconds] [connections]
#   benches/http.sh 10 64
#   FRPC_COMMON="transport.tls.enable = false" benches/http.sh 10 64
#   PROFILE=/tmp/http.perf benches/http.sh 10 64   # also perf-record our frps and frpc meanwhile
#   FRPS2=/path/to/go/frps FRPC2=/path/to/go/frpc benches/http.sh 6 64   # a second pair beside ours
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
. benches/lib.sh

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
fi
build_ours
cleanup_extra() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; }
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
${FRPC_COMMON:-}

[[proxies]]
name = "web"
type = "http"
localIP = "127.0.0.1"
localPort = $web_port
customDomains = ["bench.test"]
TOML
# wrk's --latency output: "Requests/sec: N" and the "99%" percentile line.
run() { wrk -t2 -c"$conns" -d"${secs}s" --latency -H 'Host: bench.test' "$1" ; }
rps() { awk '/Requests\/sec/ {print $2}'; }
p99() { awk '$1 == "99%" {print $2}'; }
direct_out=$(run "http://127.0.0.1:$web_port/")
direct=$(rps <<<"$direct_out")
printf '%-16s %9s req/s  p99 %s  (%s connections, %ss)\n' "direct to nginx" "$direct" "$(p99 <<<"$direct_out")" "$conns" "$secs"

while read -r name frps frpc; do
  start_pair "$frps" "$frpc"
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.test' "http://127.0.0.1:$vhost_port/")" = 200 ] && break
    sleep 0.1
  done
  perf_pid=
  if [ -n "${PROFILE:-}" ] && [ "$name" = ours ]; then
    perf record -F 499 -g -o "$PROFILE" -p "$frps_pid,$frpc_pid" -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  before=$(cpu_secs "$frps_pid" "$frpc_pid")
  out=$(run "http://127.0.0.1:$vhost_port/")
  after=$(cpu_secs "$frps_pid" "$frpc_pid")
  [ -z "$perf_pid" ] || wait "$perf_pid"
  tunnel=$(rps <<<"$out")
  printf '%-16s %9s req/s  p99 %s  ratio %.2f  CPU %.1f s (frps + frpc)  peak RSS frps %s KiB, frpc %s KiB\n' \
    "$name" "$tunnel" "$(p99 <<<"$out")" "$(python3 -c "print($tunnel / $direct)")" \
    "$(python3 -c "print($after - $before)")" "$(hwm_kib "$frps_pid")" "$(hwm_kib "$frpc_pid")"
  stop_pair
done < <(pairs)
