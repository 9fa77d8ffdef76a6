# Shared by the macro benchmarks: sourced, not run.
#   BENCH_DIR        where captures, ClickHouse data and logs go (default /tmp/telemetry-bench)
#   BENCH_CH_HTTP    HTTP port of the private ClickHouse (default 28123), BENCH_CH_TCP (28900)
#   RUNS             repetitions; the median is reported (default 5)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/telemetry-bench}
BENCH_CH_HTTP=${BENCH_CH_HTTP:-28123}
BENCH_CH_TCP=${BENCH_CH_TCP:-28900}
RUNS=${RUNS:-5}
host_dir="$root/artifacts/bench-host"
host_dll="$host_dir/telemetry.dll"
hook_dll="$root/artifacts/gcreport/GcReport.dll"
mkdir -p "$BENCH_DIR"

# A Release build of the service of its own, so a concurrent ./telemetry build does not swap
# the binaries under a running benchmark; and the GC-report startup hook.
build_host() {
  echo "bench: building the service (Release) into $host_dir" >&2
  # As ./telemetry builds it (ReadyToRun), so the figures are those of the command users run.
  TELEMETRY_BUILD_DIR="$host_dir" "$root/telemetry" build >"$BENCH_DIR/build.log" 2>&1 \
    || { cat "$BENCH_DIR/build.log" >&2; exit 1; }
  dotnet build "$root/benchmarks/macro/GcReport/GcReport.csproj" -c Release -o "$root/artifacts/gcreport" -nologo -v q >>"$BENCH_DIR/build.log" 2>&1 \
    || { cat "$BENCH_DIR/build.log" >&2; exit 1; }
}

ch() { curl -fsS "http://127.0.0.1:$BENCH_CH_HTTP/" --data-binary "$1"; }

# Stops the private ClickHouse this script started, if any, and waits (up to 30 s) until it has
# exited, so that the next script finds the port free instead of a server still shutting down.
stop_clickhouse() {
  [[ -n "${ch_pid:-}" ]] || return 0
  kill "$ch_pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do kill -0 "$ch_pid" 2>/dev/null || return 0; sleep 0.1; done
}

# Starts the private ClickHouse unless one already answers on the port; stops it on exit if started here.
start_clickhouse() {
  if curl -fsS "http://127.0.0.1:$BENCH_CH_HTTP/ping" >/dev/null 2>&1; then return; fi
  ch_pid=$("$root/deploy/clickhouse/run-local.sh" "$BENCH_DIR/clickhouse" "$BENCH_CH_HTTP" "$BENCH_CH_TCP")
  trap stop_clickhouse EXIT
  echo "bench: ClickHouse $(ch 'SELECT version()') on 127.0.0.1:$BENCH_CH_HTTP (pid $ch_pid)" >&2
}

# The PID of the process listening on the private ClickHouse's HTTP port (the server, whoever
# started it). Kept apart from ch_pid, which start_clickhouse's exit trap stops.
clickhouse_server_pid() {
  local pid
  pid=$(ss -ltnpH "sport = :$BENCH_CH_HTTP" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
  [[ -n "$pid" ]] || { echo "bench: no process listens on $BENCH_CH_HTTP" >&2; exit 1; }
  echo "$pid"
}

# CPU time (user + sys) a process has used, in clock ticks (getconf CLK_TCK a second); 0 once it has exited.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Writes a capture with ./telemetry generate unless it already exists: generate_capture FILE ARGS…
generate_capture() {
  local file=$1; shift
  if [[ ! -s "$file" ]]; then
    dotnet "$host_dll" generate --out "$file" "$@"
  fi
}

# Runs a command under /usr/bin/time -v (and the GC hook for .NET) and prints
#   wall_s user_s sys_s max_rss_kb gc_allocated_bytes
# on fd 3; the command's own output goes to $BENCH_DIR/last.out / last.err.
measured() {
  local tfile="$BENCH_DIR/time.txt" gfile="$BENCH_DIR/gc.txt"
  rm -f "$tfile" "$gfile"
  GC_REPORT_FILE="$gfile" DOTNET_STARTUP_HOOKS="$hook_dll" /usr/bin/time -v -o "$tfile" "$@" >"$BENCH_DIR/last.out" 2>"$BENCH_DIR/last.err" || true
  local wall user sys rss alloc
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tfile")
  user=$(awk -F': ' '/User time/ {print $2}' "$tfile")
  sys=$(awk -F': ' '/System time/ {print $2}' "$tfile")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tfile")
  alloc=$( { sed -n 's/.*allocated_bytes=\([0-9]*\).*/\1/p' "$gfile" 2>/dev/null || true; } | tail -1)
  echo "$wall $user $sys $rss ${alloc:-NA}"
}

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "NA"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# What serve.sh and serve-phases.sh run, so the two measure the same thing: sets the defaults
# PACKETS (20 M), SENSORS (8), PORT and HTTP, then serve_args (`telemetry serve` into the database
# bench_serve, one TCP listener naming sensors by remote endpoint) and stream_args (`telemetry
# stream`: SENSORS sensors, each its own realistic capture, PACKETS in all).
sensor_bench_setup() {
  PACKETS=${PACKETS:-20000000}
  SENSORS=${SENSORS:-8}
  PORT=${BENCH_SENSOR_PORT:-25140}
  HTTP=${BENCH_HTTP_PORT:-29464}
  serve_args=(serve --ClickHouse:Url="http://127.0.0.1:$BENCH_CH_HTTP" --ClickHouse:Database=bench_serve
    --Ingest:Listeners:0:Address=127.0.0.1 --Ingest:Listeners:0:Port="$PORT" --Ingest:Listeners:0:Naming=RemoteEndpoint
    --Http:Urls="http://127.0.0.1:$HTTP")
  stream_args=(stream --sensors "$SENSORS" --port "$PORT" --packets "$PACKETS" --darknet 198.18.0.0/16 --sources 50000
    --rate 1000000 --start 2026-11-20T00:00:00Z --seed 11)
}

# Waits (up to 30 s) until the service answers on $HTTP.
wait_until_live() {
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$HTTP/health/live" >/dev/null 2>&1 && return; sleep 0.1; done
}
