#!/usr/bin/env bash
# The comparison: one capture through `telemetry replay` (into the private ClickHouse), through
# pmacctd (Debian's pmacct: pcap_savefile, aggregate dst_host,dst_port,proto, print plugin)
# and through tshark (fields | sort | uniq -c), in the same run. Each tool's per-key packet
# totals (dst address, dst port, proto) are compared with tshark's before its time is quoted.
#   benchmarks/macro/compare.sh                      # 10 M SYN probes, /13 darknet (~5.6 M keys)
#   PACKETS=2000000 MIX=realistic DARKNET=198.18.0.0/16 benchmarks/macro/compare.sh
# Realistic mix: only TCP and UDP packets that are not fragments have a port that all three
# tools define the same way, so the key check is on those; ICMP, fragments and IPv6 are left out.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PACKETS=${PACKETS:-10000000}
MIX=${MIX:-syn}
DARKNET=${DARKNET:-198.16.0.0/13}
PMACCT_DELAY=${PMACCT_DELAY:-10}
command -v pmacctd >/dev/null || { echo "apt-get install -y pmacct" >&2; exit 1; }
command -v tshark >/dev/null || { echo "apt-get install -y tshark" >&2; exit 1; }
build_host
start_clickhouse
name="compare-$MIX-$PACKETS"
capture="$BENCH_DIR/$name.pcap"
work="$BENCH_DIR/$name"; mkdir -p "$work"
generate_capture "$capture" --packets "$PACKETS" --mix "$MIX" --darknet "$DARKNET" --sources 50000 --rate 1000000 \
  --start 2026-11-20T00:00:00Z --seed 3
report="$work/report.txt"; : >"$report"
say() { echo "$*" | tee -a "$report"; }
say "capture: $capture ($PACKETS packets, mix $MIX, darknet $DARKNET, $(stat -c %s "$capture") bytes)"

# --- tshark: the reference totals -----------------------------------------------------------
if [[ "$MIX" == syn ]]; then
  tfilter="tcp"; fields="-e ip.dst -e tcp.dstport -e ip.proto"
else
  tfilter="ip && !(ip.flags.mf == 1 || ip.frag_offset > 0) && (tcp || udp)"; fields="-e ip.dst -e tcp.dstport -e udp.dstport -e ip.proto"
fi
# tshark takes minutes and ~1.5 kB of memory per packet; its keys and timing are kept and reused
# (delete $work/tshark.measure to run it again).
[[ -s "$work/tshark.measure" && -s "$work/tshark.keys" ]] || measured bash -c "tshark -n -r '$capture' -Y '$tfilter' -T fields -E separator=' ' $fields \
  | awk '{print \$1, \$2, \$NF}' | LC_ALL=C sort -S 1G | uniq -c | awk '{print \$2, \$3, \$4, \$1}' > '$work/tshark.keys'" >"$work/tshark.measure"
read -r t_wall t_user t_sys t_rss _ <"$work/tshark.measure"
say "tshark: wall ${t_wall}s cpu $(awk -v u="$t_user" -v s="$t_sys" 'BEGIN{print u+s}')s max_rss ${t_rss}kB keys $(wc -l <"$work/tshark.keys") packets $(awk '{s+=$4} END{print s}' "$work/tshark.keys")"
keys=$(wc -l <"$work/tshark.keys")

# --- ours ----------------------------------------------------------------------------------
ch 'DROP DATABASE IF EXISTS cmp' >/dev/null
read -r o_wall o_user o_sys o_rss o_alloc < <(measured dotnet "$host_dll" replay --sensor cmp "$capture" \
  --ClickHouse:Url="http://127.0.0.1:$BENCH_CH_HTTP" --ClickHouse:Database=cmp)
o_secs=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$BENCH_DIR/last.out")
cat "$BENCH_DIR/last.out" >>"$report"
ch "SELECT replaceRegexpOne(IPv6NumToString(dst_ip), '^::ffff:', ''), dst_port, proto, sum(packets) FROM cmp.target_port_1m
    WHERE proto IN (6, 17) AND class != 'fragment' AND substring(dst_ip, 1, 12) = unhex('00000000000000000000FFFF')
    GROUP BY dst_ip, dst_port, proto FORMAT TSV" | tr '\t' ' ' | LC_ALL=C sort >"$work/ours.keys"
say "telemetry replay: ${o_secs}s in the replay summary (wall ${o_wall}s incl. start-up) cpu $(awk -v u="$o_user" -v s="$o_sys" 'BEGIN{print u+s}')s max_rss ${o_rss}kB gc_allocated ${o_alloc}B"

# --- pmacctd -------------------------------------------------------------------------------
# Cache: print_cache_entries sets the hash base; each bucket holds about 10 entries (CONFIG-KEYS)
# and costs ~3.3 kB up front, so a prime above keys/3 gives room for ~3x the key count;
# a 2 GB pipe in 2 MB buffers so the core never overruns the plugin; print_refresh_time far
# beyond the run so the cache is written once, at exit; pcap_savefile_wait keeps the daemon up
# after EOF so the plugin drains its queue; it is stopped with SIGINT once its CPU time stops
# growing, and writes its cache then.
base=$(python3 -c "
n=int($keys/3)+1
p=lambda n: n>1 and all(n%i for i in range(2,int(n**0.5)+1))
while not p(n): n+=1
print(n)")
rm -f "$work/pmacct.csv"
cat >"$work/pmacctd.conf" <<CONF
daemonize: false
pcap_savefile: $capture
pcap_savefile_delay: $PMACCT_DELAY
pcap_savefile_wait: true
aggregate: dst_host, dst_port, proto
plugins: print
print_output: csv
print_output_file: $work/pmacct.csv
print_num_protos: true
print_refresh_time: 86400
print_cache_entries: $base
plugin_pipe_size: 2048000000
plugin_buffer_size: 2048000
logfile: $work/pmacctd.log
CONF
rm -f "$work/pmacctd.log"
start=$(date +%s.%N)
/usr/bin/time -v -o "$work/pmacct.time" pmacctd -f "$work/pmacctd.conf" >"$work/pmacctd.out" 2>&1 &
time_pid=$!
sleep 1
core=$(pgrep -P "$time_pid" pmacctd | head -1)
trap 'kill "$core" 2>/dev/null || true; kill "${ch_pid:-}" 2>/dev/null || true' EXIT
peak_rss=0; last_cpu=-1; last_change=$(date +%s.%N)
# Poll every 0.2 s: total CPU ticks and RSS of the core and its plugin.
while true; do
  sleep 0.2
  pids="$core $(pgrep -P "$core" | tr '\n' ' ' || true)"
  cpu=0; rss=0
  for p in $pids; do
    [[ -r /proc/$p/stat ]] || continue
    read -r -a st < "/proc/$p/stat" || continue
    cpu=$((cpu + st[13] + st[14])); rss=$((rss + st[23] * 4))
  done
  if (( rss > peak_rss )); then peak_rss=$rss; fi
  now=$(date +%s.%N)
  if (( cpu != last_cpu )); then last_cpu=$cpu; last_change=$now; fi
  # Idle for 3 s after the delay: the file is read and the queue drained.
  if awk -v n="$now" -v c="$last_change" -v s="$start" -v d="$PMACCT_DELAY" 'BEGIN{exit !((n-s) > d+2 && (n-c) > 3)}'; then break; fi
done
drained=$last_change
kill -INT "$core"
wait "$time_pid" || true
done_at=$(date +%s.%N)
# Processing time: from the end of the start-up delay to when CPU stopped, plus the dump after SIGINT.
p_secs=$(awk -v s="$start" -v d="$PMACCT_DELAY" -v dr="$drained" -v e="$done_at" -v k="$(date +%s.%N)" 'BEGIN{printf "%.2f", (dr - s - d) + (e - dr - 3)}')
p_user=$(awk -F': ' '/User time/ {print $2}' "$work/pmacct.time"); p_sys=$(awk -F': ' '/System time/ {print $2}' "$work/pmacct.time")
grep -v '^DST_IP' "$work/pmacct.csv" | awk -F, '{print $1, $2, $3, $4}' | LC_ALL=C sort >"$work/pmacct.keys" || true
# pmacct.keys for the realistic mix also holds ICMP/other keys; compare the TCP/UDP ones.
awk '$3 == 6 || $3 == 17' "$work/pmacct.keys" | LC_ALL=C sort >"$work/pmacct.tcpudp.keys"
say "pmacctd: ~${p_secs}s processing (delay and idle wait excluded) cpu $(awk -v u="$p_user" -v s="$p_sys" 'BEGIN{print u+s}')s peak_rss(core+plugin, sampled) ${peak_rss}kB cache_entries $base"
grep -iE "missing data|finished cache|error|warn" "$work/pmacctd.log" | head -5 | sed 's/^/pmacctd log: /' | tee -a "$report" || true

# --- checks and ratios -----------------------------------------------------------------------
check() { # name file
  local diff; diff=$(LC_ALL=C comm -3 <(LC_ALL=C sort -S 1G "$work/tshark.keys") "$2" | wc -l)
  say "check $1: $(wc -l <"$2") keys, $(awk '{s+=$4} END{print s+0}' "$2") packets; lines differing from tshark: $diff $([[ $diff == 0 ]] && echo OK || echo MISMATCH)"
}
check telemetry "$work/ours.keys"
check pmacctd "$work/pmacct.tcpudp.keys"
awk -v n="$PACKETS" -v o="$o_secs" -v p="$p_secs" -v t="$t_wall" 'BEGIN{
  printf "packets/s: telemetry %.0f, pmacctd %.0f, tshark %.0f; telemetry / pmacctd = %.1fx, telemetry / tshark = %.1fx\n", n/o, n/p, n/t, p/o, t/o}' | tee -a "$report"
