#!/usr/bin/env bash
# What ClickHouse 18.16 spends on the rows of one replay, by insert format and settings: takes
# the target_port_1m rows a replay wrote (runs replay.sh once if the bench database is empty),
# cuts them into the service's 100,000-row inserts in RowBinary and in Native, and sends them
# again into a fresh copy of the table, ROUNDS times each way, alternating. Prints the server's
# CPU (user + sys, from /proc/PID/stat) and the wall time of each pass; also one pass into a
# Null-engine table (parsing only) per format.
#   benchmarks/macro/chinsert.sh            # ROUNDS=3
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${ROUNDS:-3}
start_clickhouse
rows=$(ch 'SELECT count() FROM bench.target_port_1m' 2>/dev/null || echo 0)
if ((rows == 0)); then
  RUNS=1 "$root/benchmarks/macro/replay.sh" >&2
  start_clickhouse
  rows=$(ch 'SELECT count() FROM bench.target_port_1m')
fi
server_pid=$(clickhouse_server_pid)
hz=$(getconf CLK_TCK)
chunks="$BENCH_DIR/chinsert"; rm -rf "$chunks"; mkdir -p "$chunks"
n=$(((rows + 99999) / 100000))
for ((i = 0; i < n; i++)); do
  for fmt in RowBinary Native; do
    ch "SELECT * FROM bench.target_port_1m ORDER BY dst_ip, window_start LIMIT $((i * 100000)), 100000
        SETTINGS max_block_size = 100000 FORMAT $fmt" >"$chunks/$i.$fmt"
  done
done
echo "chinsert: $rows rows in $n inserts of 100,000, $(du -sh "$chunks" | cut -f1) on disk, server pid $server_pid"

# pass ENGINE FORMAT SETTINGS: one pass over every chunk into a fresh table bench.chinsert
pass() {
  local engine=$1 fmt=$2 settings=$3
  ch 'DROP TABLE IF EXISTS bench.chinsert' >/dev/null
  if [[ "$engine" == table ]]; then
    ch 'CREATE TABLE bench.chinsert AS bench.target_port_1m' >/dev/null
  else
    ch 'CREATE TABLE bench.chinsert AS bench.target_port_1m ENGINE = Null' >/dev/null
  fi
  sync; sleep 2
  local c0 s e c1
  c0=$(cpu_ticks "$server_pid"); s=$(date +%s.%N)
  for ((i = 0; i < n; i++)); do
    curl -fsS "http://127.0.0.1:$BENCH_CH_HTTP/?query=INSERT%20INTO%20bench.chinsert%20FORMAT%20$fmt$settings" \
      --data-binary "@$chunks/$i.$fmt"
  done
  e=$(date +%s.%N); c1=$(cpu_ticks "$server_pid")
  awk -v e="$e" -v s="$s" -v c=$((c1 - c0)) -v hz="$hz" -v label="$engine $fmt ${settings:-(defaults)}" \
    'BEGIN {printf "%-70s wall %6.2f s, server cpu %6.2f s\n", label, e - s, c / hz}'
}

nosquash='&min_insert_block_size_rows=0&min_insert_block_size_bytes=0'
for fmt in RowBinary Native; do pass null "$fmt" ''; done
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  pass table RowBinary ''
  pass table Native ''
  pass table Native "$nosquash"
  pass table RowBinary "$nosquash"
done
ch 'DROP TABLE IF EXISTS bench.chinsert' >/dev/null
rm -rf "$chunks"
