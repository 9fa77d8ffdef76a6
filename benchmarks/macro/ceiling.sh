#!/usr/bin/env bash
# The most a run could reach end to end if the service cost nothing: ClickHouse alone taking the
# rollup rows that run wrote. The rows of a database a macro benchmark left behind (replay.sh
# leaves `bench`, serve.sh `bench_serve`, compare.sh `cmp`) are read back in each table's
# sorting-key order, cut into inserts of MaxRowsPerInsert rows (RowBinary, as the sink sends
# them), and sent again into fresh copies of the tables, two inserts in flight (the sink's
# ConcurrentInserts), ROUNDS times with nothing else running. Prints each round's wall time
# and the server's CPU (user + sys from /proc/PID/stat) and, from the median wall time, the
# ceiling: PACKETS / wall.
#   benchmarks/macro/ceiling.sh bench 20000000          # after replay.sh
#   benchmarks/macro/ceiling.sh bench_serve 20000000    # after serve.sh
#   benchmarks/macro/ceiling.sh cmp 10000000            # after compare.sh
# A table read back holds at most the rows the service sent (background merges may have folded
# some together), so the ceiling can only come out higher than the true one, never lower.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
db=${1:?usage: ceiling.sh DATABASE PACKETS}
packets=${2:?usage: ceiling.sh DATABASE PACKETS}
ROUNDS=${ROUNDS:-5}
ROWS_PER_INSERT=${ROWS_PER_INSERT:-1000000}
IN_FLIGHT=${IN_FLIGHT:-2}
start_clickhouse
server_pid=$(clickhouse_server_pid)
hz=$(getconf CLK_TCK)
tables=(target_port_1m source_1m port_1m ingest_health_1m)
chunks="$BENCH_DIR/ceiling-$db"; rm -rf "$chunks"; mkdir -p "$chunks"

total=0
for t in "${tables[@]}"; do
  rows=$(ch "SELECT count() FROM $db.$t")
  ((rows > 0)) || { echo "ceiling: $db.$t is empty; run the benchmark that fills $db first" >&2; exit 1; }
  order=$(ch "SHOW CREATE TABLE $db.$t FORMAT TSVRaw" | sed -n 's/.*ORDER BY \(([^)]*)\|[a-z_]*\).*/\1/p' | head -1)
  [[ -n "$order" ]] || { echo "ceiling: no ORDER BY in $db.$t's definition" >&2; exit 1; }
  n=$(((rows + ROWS_PER_INSERT - 1) / ROWS_PER_INSERT))
  for ((i = 0; i < n; i++)); do
    ch "SELECT * FROM $db.$t ORDER BY $order LIMIT $((i * ROWS_PER_INSERT)), $ROWS_PER_INSERT
        SETTINGS max_block_size = 65536 FORMAT RowBinary" >"$chunks/$t.$(printf %04d "$i")"
  done
  echo "ceiling: $db.$t: $rows rows in $n inserts, sorted by $order" >&2
  total=$((total + rows))
done
echo "ceiling: $total rows for $packets packets, $(du -sh "$chunks" | cut -f1) of RowBinary, server pid $server_pid" >&2

results="$BENCH_DIR/ceiling-$db.txt"; : >"$results"
for round in $(seq 1 "$ROUNDS"); do
  ch 'DROP DATABASE IF EXISTS ceiling' >/dev/null
  ch 'CREATE DATABASE ceiling' >/dev/null
  for t in "${tables[@]}"; do ch "CREATE TABLE ceiling.$t AS $db.$t" >/dev/null; done
  sync; sleep 3
  c0=$(cpu_ticks "$server_pid"); s=$(date +%s.%N)
  # Inserts in table order, IN_FLIGHT at a time, as the sink sends a flushed window's rows.
  find "$chunks" -type f -printf '%f\n' | sort | xargs -P "$IN_FLIGHT" -I{} sh -c \
    't=${1%.*}; curl -fsS "http://127.0.0.1:'"$BENCH_CH_HTTP"'/?query=INSERT%20INTO%20ceiling.$t%20FORMAT%20RowBinary" --data-binary "@'"$chunks"'/$1"' _ {}
  e=$(date +%s.%N); c1=$(cpu_ticks "$server_pid")
  stored=$(ch 'SELECT count() FROM ceiling.target_port_1m')
  line=$(awk -v e="$e" -v s="$s" -v c=$((c1 - c0)) -v hz="$hz" -v p="$packets" -v r="$round" \
    'BEGIN {printf "round %d: wall %.2f s, server cpu %.2f s, ceiling %.0f packets/s", r, e - s, c / hz, p / (e - s)}')
  echo "$line, $stored target rows stored" | tee -a "$results" >&2
done
ch 'DROP DATABASE IF EXISTS ceiling' >/dev/null
rm -rf "$chunks"
sed -n 's/.*wall \([0-9.]*\) s, server cpu \([0-9.]*\) s.*/\1 \2/p' "$results" >"$results.raw"
wall=$(cut -d' ' -f1 "$results.raw" | median); cpu=$(cut -d' ' -f2 "$results.raw" | median)
rm -f "$results.raw"
awk -v w="$wall" -v c="$cpu" -v p="$packets" -v t="$total" -v r="$ROUNDS" -v db="$db" \
  'BEGIN {printf "ceiling of %s, median of %d: %d rows inserted in %.2f s wall, server cpu %.2f s (%.2f us a row): %.0f packets/s at most end to end\n", db, r, t, w, c, c * 1e6 / t, p / w}' \
  | tee -a "$results"
