#!/usr/bin/env bash
# Macro benchmark (2): `telemetry serve` with 8 concurrent TCP sensors (`telemetry stream`)
# into the private ClickHouse. Each run starts a fresh service and database, streams PACKETS
# packets in total (realistic mix, each sensor its own capture), and waits until ClickHouse
# holds every packet (a sensor's windows are flushed when its connection ends).
#   benchmarks/macro/serve.sh             # RUNS=5 PACKETS=20000000 SENSORS=8
# Reports per run: the sender's packets/s (TCP backpressure: bounded by how fast the service
# reads), end-to-end packets/s (stream start to the last row in ClickHouse), and the service's
# CPU, peak RSS and GC allocations.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sensor_bench_setup
build_host
start_clickhouse
out="$BENCH_DIR/serve-results.txt"; : >"$out"
raw="$BENCH_DIR/serve-raw.$$"; : >"$raw"
for run in $(seq 1 "$RUNS"); do
  ch 'DROP DATABASE IF EXISTS bench_serve' >/dev/null
  rm -f "$BENCH_DIR/serve.time" "$BENCH_DIR/serve.gc"
  GC_REPORT_FILE="$BENCH_DIR/serve.gc" DOTNET_STARTUP_HOOKS="$hook_dll" /usr/bin/time -v -o "$BENCH_DIR/serve.time" \
    dotnet "$host_dll" "${serve_args[@]}" >"$BENCH_DIR/serve.out" 2>&1 &
  time_pid=$!
  wait_until_live
  t0=$(date +%s.%N)
  dotnet "$host_dll" "${stream_args[@]}" >"$BENCH_DIR/stream.out" 2>"$BENCH_DIR/stream.err"
  t_sent=$(date +%s.%N)
  expected=$(( PACKETS / SENSORS * SENSORS ))
  for _ in $(seq 1 6000); do
    seen=$(ch 'SELECT sum(packets_seen) FROM bench_serve.ingest_health_1m' 2>/dev/null || echo 0)
    [[ "$seen" == "$expected" ]] && break
    sleep 0.1
  done
  t_done=$(date +%s.%N)
  # SIGTERM, not SIGINT: a background job of a non-interactive shell starts with SIGINT ignored.
  kill -TERM "$(pgrep -P "$time_pid" dotnet)"; wait "$time_pid" || true
  [[ "$seen" == "$expected" ]] || { echo "run $run: ClickHouse holds $seen packets, not $expected" >&2; exit 1; }
  # The stream's own timing excludes generating its captures in memory; end to end starts when sending starts.
  gen=$(sed -n 's/.* in \([0-9.]*\) s; connecting.*/\1/p' "$BENCH_DIR/stream.err")
  send_pps=$(sed -n 's/.*: \([0-9]*\) packets\/s.*/\1/p' "$BENCH_DIR/stream.out")
  e2e=$(awk -v a="$t0" -v g="$gen" -v d="$t_done" -v n="$expected" 'BEGIN{printf "%.0f", n / (d - a - g)}')
  user=$(awk -F': ' '/User time/ {print $2}' "$BENCH_DIR/serve.time"); sys=$(awk -F': ' '/System time/ {print $2}' "$BENCH_DIR/serve.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$BENCH_DIR/serve.time")
  alloc=$( { sed -n 's/.*allocated_bytes=\([0-9]*\).*/\1/p' "$BENCH_DIR/serve.gc" 2>/dev/null || true; } | tail -1)
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u+s}')
  echo "run $run: stream sent ${send_pps} packets/s; end to end ${e2e} packets/s; serve cpu ${cpu}s (user $user sys $sys, whole process life), max_rss ${rss} kB, gc_allocated ${alloc:-NA} B" | tee -a "$out" >&2
  echo "$send_pps $e2e $cpu $rss ${alloc:-NA}" >>"$raw"
done
for col in 1 2 3 4 5; do printf '%s ' "$(cut -d' ' -f"$col" "$raw" | grep -v NA | median)"; done \
  | awk '{printf "serve (%s sensors) median of %s: sender %s packets/s, end to end %s packets/s, cpu %s s, max_rss %s kB, gc_allocated %s B\n", "'"$SENSORS"'", "'"$RUNS"'", $1, $2, $3, $4, $5}' | tee -a "$out"
rm -f "$raw"
