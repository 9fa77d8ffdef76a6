#!/usr/bin/env bash
# Memory over a long run at a steady rate (issue 3: "memory flat over a 10-minute run"):
# `telemetry serve` into the private ClickHouse with its built-in simulated sensor streaming
# RATE packets/s of the darknet mix over loopback TCP, live timestamps, so one-minute windows
# open, fill, close and flush as they would from a telescope. Every 10 s it samples the
# service's resident memory (/proc/PID/status VmRSS) and its packet and key gauges from
# /metrics; at the end it checks that ClickHouse holds every packet the service counted.
#   benchmarks/macro/soak.sh                      # MINUTES=10 RATE=400000
# Writes $BENCH_DIR/soak.csv (seconds, rss_kb, packets_seen, open_keys, open_bytes) and prints
# the RSS range after the first two minutes (windows of the steady rate exist from then on).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MINUTES=${MINUTES:-10}
RATE=${RATE:-400000}
PORT=${BENCH_SENSOR_PORT:-25141}
HTTP=${BENCH_HTTP_PORT:-29465}
build_host
start_clickhouse
ch 'DROP DATABASE IF EXISTS bench_soak' >/dev/null
csv="$BENCH_DIR/soak.csv"
echo "seconds,rss_kb,packets_seen,open_keys,open_bytes" >"$csv"
rm -f "$BENCH_DIR/soak.gc" # the GC hook appends; one line per run
GC_REPORT_FILE="$BENCH_DIR/soak.gc" DOTNET_STARTUP_HOOKS="$hook_dll" dotnet "$host_dll" serve \
  --ClickHouse:Url="http://127.0.0.1:$BENCH_CH_HTTP" --ClickHouse:Database=bench_soak \
  --Ingest:Listeners:0:Address=127.0.0.1 --Ingest:Listeners:0:Port="$PORT" \
  --Simulator:Enabled=true --Simulator:PacketsPerSecond="$RATE" \
  --Http:Urls="http://127.0.0.1:$HTTP" >"$BENCH_DIR/soak.out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; stop_clickhouse' EXIT
wait_until_live
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $NF} END {printf "%.0f", s}' "$BENCH_DIR/soak.metrics"; }
start=$SECONDS
while ((SECONDS - start < MINUTES * 60)); do
  sleep 10
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  curl -fsS "http://127.0.0.1:$HTTP/metrics" >"$BENCH_DIR/soak.metrics"
  echo "$((SECONDS - start)),$rss,$(metric telemetry_packets_seen_total),$(metric telemetry_aggregation_keys),$(metric telemetry_aggregation_bytes)" | tee -a "$csv" >&2
done
kill -TERM "$pid"; wait "$pid" || true
seen=$(tail -1 "$csv" | cut -d, -f3)
stored=$(ch 'SELECT sum(packets_seen) FROM bench_soak.ingest_health_1m')
awk -F, -v r="$RATE" -v m="$MINUTES" 'NR > 1 && $1 > 120 {if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2; n++; s += $2}
  END {printf "soak: %d min at %d packets/s offered: RSS after 2 min from %.0f to %.0f MiB (mean %.0f MiB, %d samples)\n", m, r, min/1024, max/1024, s/n/1024, n}' "$csv"
last=$(tail -1 "$csv"); first=$(awk -F, 'NR == 2' "$csv")
awk -v a="$first" -v b="$last" 'BEGIN {split(a, x, ","); split(b, y, ","); printf "soak: service read %.0f packets/s on average\n", (y[3] - x[3]) / (y[1] - x[1])}'
echo "soak: ClickHouse holds $stored packets, the service counted at least $seen before shutdown $([[ "$stored" -ge "$seen" ]] && echo OK || echo MISSING)"
sed -n 's/.*allocated_bytes=\([0-9]*\).*/soak: GC allocated \1 bytes in total/p' "$BENCH_DIR/soak.gc" 2>/dev/null || true
