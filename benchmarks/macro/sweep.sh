#!/usr/bin/env bash
# Throughput against distinct keys per window and against cores (issue 3): the engine load
# mode (benchmarks/Telemetry.Benchmarks `engine`: PipeReader, framing, decode, shards, flusher,
# into a sink that only counts rows) over SYN captures whose windows hold from ~8 k to ~11 M
# distinct target keys, pinned to 1 core (1 shard) and to 2 cores (2 shards).
#   benchmarks/macro/sweep.sh             # RUNS=5, 4 points, 1 and 2 cores
#   RUNS=1 PREFIXES="23 16" benchmarks/macro/sweep.sh
# Knobs (environment):
#   PREFIXES  darknet prefix lengths, one point each (default "23 19 16 12"). The SYN mix draws
#             the destination uniformly from the darknet and the port from 15 scan ports, class
#             always tcp_syn, so a window has up to 15 × 2^(32-len) target keys; with PACKETS
#             draws it holds about M·(1 − e^(−PACKETS/M)) of those M. Measured, not assumed:
#             /23 → 7,680, /19 → 122,880, /16 → 983,040, /12 → ≈ 11.3 M.
#   PACKETS   packets per file, all in one 1-minute window (default 20,000,000)
#   FILES     files per run, one window (minute) each, read one after another in one process;
#             the last one is the steady state: its window's tables come from the pool that
#             the first window's flush refilled (default 3)
#   SOURCES   scanning sources (default 1000: 15,000 source keys per window at every point)
#   CORES     core counts (default "1 2"); N cores = taskset -c 0..N-1 and N shards
#   SVG       where the plot goes (default benchmarks/sweep.svg; the CSV is copied next to it)
#   KEEP_CAPTURES=1 keeps each point's captures in BENCH_DIR (PACKETS × 70 bytes each)
# Writes $BENCH_DIR/sweep.csv (one row per point and core count: medians over RUNS) and
# $BENCH_DIR/sweep-runs.csv (every run), then plots with plot_sweep.py.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PREFIXES=${PREFIXES:-"23 19 16 12"}
PACKETS=${PACKETS:-20000000}
FILES=${FILES:-3}
SOURCES=${SOURCES:-1000}
CORES=${CORES:-"1 2"}
SVG=${SVG:-$root/benchmarks/sweep.svg}
KEEP_CAPTURES=${KEEP_CAPTURES:-0}
bench_dir="$root/artifacts/bench-benchmarks"
bench_dll="$bench_dir/Telemetry.Benchmarks.dll"
# Capture time of one file: 30 s, so every file stays inside its own minute.
rate=$(((PACKETS + 29) / 30))
csv="$BENCH_DIR/sweep.csv"
runs_csv="$BENCH_DIR/sweep-runs.csv"

for cores in $CORES; do
  ((cores <= $(nproc))) || { echo "sweep: $cores cores asked, $(nproc) present" >&2; exit 1; }
done

load_before=$(cut -d' ' -f1 /proc/loadavg)
commit=$(git -C "$root" rev-parse --short HEAD)
git -C "$root" diff --quiet HEAD -- src benchmarks/Telemetry.Benchmarks || commit+=" + uncommitted changes"
build_host
echo "sweep: building the benchmarks (Release) into $bench_dir" >&2
dotnet build "$root/benchmarks/Telemetry.Benchmarks/Telemetry.Benchmarks.csproj" -c Release -o "$bench_dir" -nologo -v q \
  >>"$BENCH_DIR/build.log" 2>&1 || { cat "$BENCH_DIR/build.log" >&2; exit 1; }

echo "prefix,target_keys,port_keys,source_keys,cores,shards,packets,files,median_pps,min_pps,max_pps,median_cold_pps,median_alloc_b_per_packet,median_peak_mib,runs_pps" >"$csv"
echo "prefix,target_keys,cores,run,steady_pps,cold_pps,alloc_b_per_packet,peak_rss_kb,wall_s,cpu_s,rows_flushed" >"$runs_csv"
sweep_start=$SECONDS
for len in $PREFIXES; do
  captures=()
  for ((i = 0; i < FILES; i++)); do
    file="$BENCH_DIR/sweep-syn-$len-$PACKETS-$SOURCES-$i.pcap"
    generate_capture "$file" --packets "$PACKETS" --darknet "10.0.0.0/$len" --sources "$SOURCES" --rate "$rate" \
      --start "$(printf '2026-11-20T12:%02d:00Z' "$i")" --seed 1 --mix syn
    captures+=("$file")
  done

  # The files differ only in their minute, so every window holds the first file's keys.
  dotnet "$bench_dll" keys "${captures[0]}" >"$BENCH_DIR/keys.out"
  read -r targets ports sources < <(sed -n 's/^window=.* targets=\([0-9]*\) ports=\([0-9]*\) sources=\([0-9]*\) early=False late=False$/\1 \2 \3/p' "$BENCH_DIR/keys.out") || true
  [[ -n "${targets:-}" && $(grep -c '^window=' "$BENCH_DIR/keys.out") == 1 ]] \
    || { echo "sweep: /$len is not one whole window:" >&2; cat "$BENCH_DIR/keys.out" >&2; exit 1; }
  rows_expected=$((FILES * (targets + ports + sources)))
  echo "sweep: /$len: $targets target, $ports port, $sources source keys per window" >&2
  cat "${captures[@]}" >/dev/null # into the page cache, so no run reads the disk

  raw="$BENCH_DIR/sweep-raw.txt"; : >"$raw"
  for run in $(seq 1 "$RUNS"); do
    for cores in $CORES; do
      read -r wall user sys rss _ < <(measured taskset -c "0-$((cores - 1))" env DOTNET_gcServer="${DOTNET_gcServer:-0}" \
        dotnet "$bench_dll" engine "$cores" "${captures[@]}")
      mapfile -t pps < <(sed -n 's/.*: \([0-9]*\) packets in .* = \([0-9]*\) packets\/s, \([0-9.]*\) B allocated per packet;.*$/\1 \2 \3/p' "$BENCH_DIR/last.out")
      rows=$(sed -n 's/^shards [0-9]*: \([0-9]*\) rows flushed.*/\1/p' "$BENCH_DIR/last.out")
      if ((${#pps[@]} != FILES)) || [[ "${pps[0]%% *}" != "$PACKETS" || "$rows" != "$rows_expected" ]]; then
        echo "sweep: /$len, $cores cores, run $run: expected $FILES files of $PACKETS packets and $rows_expected rows:" >&2
        cat "$BENCH_DIR/last.out" "$BENCH_DIR/last.err" >&2
        exit 1
      fi
      read -r _ cold _ <<<"${pps[0]}"
      read -r _ steady alloc <<<"${pps[FILES - 1]}"
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
      echo "$cores $steady $cold $alloc $rss" >>"$raw"
      echo "$len,$targets,$cores,$run,$steady,$cold,$alloc,$rss,$wall,$cpu,$rows" >>"$runs_csv"
      echo "sweep: /$len ($targets keys), $cores cores, run $run: steady $steady packets/s, 1st file $cold, $alloc B/packet, peak RSS $((rss / 1024)) MiB, wall ${wall}s" >&2
    done
  done

  for cores in $CORES; do
    col() { awk -v c="$cores" -v k="$1" '$1 == c {print $k}' "$raw"; }
    whole() { awk '{printf "%.0f\n", $1}'; }
    runs=$(col 2 | paste -sd';')
    echo "$len,$targets,$ports,$sources,$cores,$cores,$PACKETS,$FILES,$(col 2 | median | whole),$(col 2 | sort -g | head -1),$(col 2 | sort -g | tail -1),$(col 3 | median | whole),$(col 4 | median),$(($(col 5 | median | whole) / 1024)),$runs" >>"$csv"
  done
  if [[ "$KEEP_CAPTURES" != 1 ]]; then rm -f "${captures[@]}"; fi
done

echo "sweep: done in $((SECONDS - sweep_start)) s" >&2
cat "$csv"
[[ "$csv" -ef "${SVG%.svg}.csv" ]] || cp "$csv" "${SVG%.svg}.csv"
python3 "$root/benchmarks/macro/plot_sweep.py" "$csv" "$SVG" \
  "$(date -u +%F), $commit, $(nproc) CPUs, load average $load_before at start, $(cut -d' ' -f1 /proc/loadavg) at end"
echo "sweep: plot in $SVG, data in ${SVG%.svg}.csv" >&2
