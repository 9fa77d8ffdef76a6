#!/usr/bin/env bash
# Starts a private ClickHouse server (Debian's clickhouse-server) with its own data folder,
# listening on loopback only, and waits until it answers /ping.
#   run-local.sh DATA_DIR HTTP_PORT TCP_PORT
# Prints the server's PID. Stop it with: kill $(cat DATA_DIR/clickhouse.pid)
set -euo pipefail
dir=$(realpath -m "$1"); http_port=$2; tcp_port=$3
if ! command -v clickhouse-server >/dev/null 2>&1; then
  echo "clickhouse-server is not installed (apt-get install clickhouse-server)" >&2
  exit 1
fi
mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>8000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>50M</size><count>2</count></logger>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
# Debian's clickhouse-server links the system's jemalloc, which by default hands memory of
# allocations over 8 MiB (a column of an insert of a million rows) back to the kernel as soon as
# it is freed, and the rest within seconds, so every insert faults its blocks' pages in afresh.
# On this project's VMs a fresh page costs about 10 us, and that was half the server's CPU for
# inserts of a million rows (benchmarks/HISTORY.md). Freed pages are kept for a minute instead
# (CLICKHOUSE_MALLOC_CONF overrides; the same line for a system service is in
# deploy/clickhouse/jemalloc.conf).
export MALLOC_CONF=${CLICKHOUSE_MALLOC_CONF-oversize_threshold:0,dirty_decay_ms:60000,muzzy_decay_ms:60000}
nohup clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/clickhouse.pid" >"$dir/log/stdout.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1; then
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "clickhouse-server exited; see $dir/log" >&2
    tail -5 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 || true
    exit 1
  fi
  sleep 0.1
done
echo "clickhouse-server did not answer on port $http_port within 30 s" >&2
kill "$pid" 2>/dev/null || true
exit 1
