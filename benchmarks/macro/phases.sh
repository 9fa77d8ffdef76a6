#!/usr/bin/env bash
# Where the time of one `replay` goes: runs the replay of macro benchmark (1) once and samples,
# every second, the CPU used by the service and by ClickHouse (percent of one core in that
# second, from /proc/PID/stat) and the service's RSS. Reading, decoding and aggregating show
# as the service busy; the final flush as ClickHouse busy.
#   benchmarks/macro/phases.sh            # PACKETS=20000000
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PACKETS=${PACKETS:-20000000}
build_host
start_clickhouse
capture="$BENCH_DIR/replay-$PACKETS.pcap"
generate_capture "$capture" --packets "$PACKETS" --darknet 198.18.0.0/16 --sources 50000 --rate 1000000 \
  --start 2026-11-20T00:00:00Z --seed 1
server_pid=$(clickhouse_server_pid)
ch 'DROP DATABASE IF EXISTS bench' >/dev/null
sync; sleep 1
dotnet "$host_dll" replay --sensor bench "$capture" --ClickHouse:Url="http://127.0.0.1:$BENCH_CH_HTTP" \
  --ClickHouse:Database=bench >"$BENCH_DIR/phases.out" 2>&1 &
replay_pid=$!
hz=$(getconf CLK_TCK)
last_r=0; last_c=$(cpu_ticks "$server_pid"); t=0
echo "second service_cpu_percent clickhouse_cpu_percent service_rss_mib"
while kill -0 "$replay_pid" 2>/dev/null; do
  sleep 1; t=$((t + 1))
  r=$(cpu_ticks "$replay_pid"); c=$(cpu_ticks "$server_pid")
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$replay_pid/status" 2>/dev/null || echo 0)
  ((r == 0)) && r=$last_r
  echo "$t $(((r - last_r) * 100 / hz)) $(((c - last_c) * 100 / hz)) ${rss:-0}"
  last_r=$r; last_c=$c
done
wait "$replay_pid" || true
grep '^replay:' "$BENCH_DIR/phases.out"
