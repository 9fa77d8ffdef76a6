#!/usr/bin/env bash
# Where the time of one run of macro benchmark (2) goes: starts `telemetry serve`, streams
# PACKETS packets from 8 sensors (as serve.sh does) and samples, every second until ClickHouse
# holds every packet, the CPU of the service, of ClickHouse and of the sender (percent of one
# core in that second), the packets ClickHouse has counted and the rows its tables hold.
#   benchmarks/macro/serve-phases.sh      # PACKETS=20000000 SENSORS=8
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sensor_bench_setup
build_host
start_clickhouse
clickhouse_pid=$(clickhouse_server_pid)
hz=$(getconf CLK_TCK)
ch 'DROP DATABASE IF EXISTS bench_serve' >/dev/null
dotnet "$host_dll" "${serve_args[@]}" >"$BENCH_DIR/serve-phases.out" 2>&1 &
serve_pid=$!
trap 'kill -TERM "$serve_pid" 2>/dev/null || true; stop_clickhouse' EXIT
wait_until_live
dotnet "$host_dll" "${stream_args[@]}" >"$BENCH_DIR/stream.out" 2>"$BENCH_DIR/stream.err" &
stream_pid=$!
expected=$((PACKETS / SENSORS * SENSORS))
echo "second service_cpu_percent clickhouse_cpu_percent sender_cpu_percent packets_in_clickhouse rows_in_clickhouse service_rss_mib"
last_r=$(cpu_ticks "$serve_pid"); last_c=$(cpu_ticks "$clickhouse_pid"); last_s=$(cpu_ticks "$stream_pid"); t=0
while ((t < 600)); do
  sleep 1; t=$((t + 1))
  r=$(cpu_ticks "$serve_pid"); c=$(cpu_ticks "$clickhouse_pid"); s=$(cpu_ticks "$stream_pid")
  # The sender exits when it has sent everything; its ticks then read 0.
  ((s == 0)) && s=$last_s
  seen=$(ch 'SELECT sum(packets_seen) FROM bench_serve.ingest_health_1m' 2>/dev/null || echo 0)
  rows=$(ch "SELECT sum(rows) FROM system.parts WHERE database = 'bench_serve' AND active AND table != 'ingest_health_1m'" 2>/dev/null || echo 0)
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$serve_pid/status" 2>/dev/null || echo 0)
  echo "$t $(((r - last_r) * 100 / hz)) $(((c - last_c) * 100 / hz)) $(((s - last_s) * 100 / hz)) ${seen:-0} ${rows:-0} $rss"
  last_r=$r; last_c=$c; last_s=$s
  [[ "$seen" == "$expected" ]] && break
done
grep '^stream:' "$BENCH_DIR/stream.err" "$BENCH_DIR/stream.out" | sed 's/^[^:]*://'
