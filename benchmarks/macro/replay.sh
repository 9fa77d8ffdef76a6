#!/usr/bin/env bash
# Macro benchmark (1): `telemetry replay` of a 20-million-packet realistic-mix capture into a
# private ClickHouse, end to end (read, decode, aggregate, flush every window, inserts done).
#   benchmarks/macro/replay.sh            # RUNS=5 PACKETS=20000000 by default
# Each run uses a fresh database; prints one line per run and the medians.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PACKETS=${PACKETS:-20000000}
build_host
start_clickhouse
capture="$BENCH_DIR/replay-$PACKETS.pcap"
generate_capture "$capture" --packets "$PACKETS" --darknet 198.18.0.0/16 --sources 50000 --rate 1000000 \
  --start 2026-11-20T00:00:00Z --seed 1
ls -l "$capture" >&2
out="$BENCH_DIR/replay-results.txt"; : >"$out"
for run in $(seq 1 "$RUNS"); do
  ch 'DROP DATABASE IF EXISTS bench' >/dev/null
  sync; sleep 1
  read -r wall user sys rss alloc < <(measured env DOTNET_gcServer="${DOTNET_gcServer:-0}" dotnet "$host_dll" replay --sensor bench "$capture" \
    --ClickHouse:Url="http://127.0.0.1:$BENCH_CH_HTTP" --ClickHouse:Database=bench)
  pps=$(sed -n 's/.*(\([0-9]*\) packets\/s).*/\1/p' "$BENCH_DIR/last.out")
  seen=$(ch 'SELECT sum(packets_seen) FROM bench.ingest_health_1m')
  [[ "$seen" == "$PACKETS" ]] || { echo "run $run: ClickHouse holds $seen packets, not $PACKETS" >&2; cat "$BENCH_DIR/last.out" "$BENCH_DIR/last.err" >&2; exit 1; }
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u+s}')
  echo "run $run: $pps packets/s (replay summary), wall ${wall}s, cpu ${cpu}s (user $user sys $sys), max_rss ${rss} kB, gc_allocated $alloc B" | tee -a "$out" >&2
  echo "$pps $wall $cpu $rss $alloc" >>"$BENCH_DIR/replay-raw.txt.$$"
done
for col in 1 2 3 4 5; do
  printf '%s ' "$(cut -d' ' -f"$col" "$BENCH_DIR/replay-raw.txt.$$" | grep -v NA | median)"
done | awk '{printf "replay median of '"$RUNS"': %s packets/s, wall %s s, cpu %s s, max_rss %s kB, gc_allocated %s B\n", $1, $2, $3, $4, $5}' | tee -a "$out"
rm -f "$BENCH_DIR/replay-raw.txt.$$"
