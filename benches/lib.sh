# Shared by the benches (sourced, not run): a scratch directory cleaned up on exit, ports,
# starting and stopping one frps + frpc pair, CPU time of processes, and the list of pairs to
# measure: ours (target/release, or FRP_BIN_DIR), then FRPS2/FRPC2 when both are set.

work=$(mktemp -d)
pids=()
cleanup_extra() { :; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  cleanup_extra
  rm -rf "$work"
}
trap cleanup EXIT

# A free port now (benches are not tests: nothing runs beside them to race for it).
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Build ours unless FRP_BIN_DIR names binaries already built.
build_ours() {
  bin=${FRP_BIN_DIR:-target/release}
  [ -n "${FRP_BIN_DIR:-}" ] || cargo build --release --locked --bin frps --bin frpc >&2
}

# One line per pair to measure: NAME FRPS FRPC.
pairs() {
  echo "ours $bin/frps $bin/frpc"
  if [ -n "${FRPS2:-}" ] && [ -n "${FRPC2:-}" ]; then echo "other $FRPS2 $FRPC2"; fi
}

# start_pair FRPS FRPC: run them on $work/frps.toml and $work/frpc.toml; sets frps_pid and
# frpc_pid; waits (up to 10 s) until frpc logs that its proxies started (Go frpc and ours
# both say "start proxy success").
start_pair() {
  "$1" -c "$work/frps.toml" >"$work/frps.log" 2>&1 &
  frps_pid=$!
  pids+=("$frps_pid")
  sleep 0.3
  "$2" -c "$work/frpc.toml" >"$work/frpc.log" 2>&1 &
  frpc_pid=$!
  pids+=("$frpc_pid")
  for _ in $(seq 100); do grep -q "start proxy success" "$work/frpc.log" && return; sleep 0.1; done
  echo "frpc did not start its proxies:" >&2
  tail -5 "$work/frps.log" "$work/frpc.log" >&2
  return 1
}

stop_pair() {
  kill "$frpc_pid" "$frps_pid" 2>/dev/null || true
  wait "$frpc_pid" "$frps_pid" 2>/dev/null || true
}

# cpu_secs PID...: user + system CPU seconds the processes have used so far.
cpu_secs() {
  python3 - "$@" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pid in sys.argv[1:]:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
print("%.2f" % (total / tick))
PY
}

# rss_kib PID: resident memory now; hwm_kib PID: its peak.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
