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

# Each run replays the capture through ours and then through pmacctd, checks both against
# tshark's totals and appends a line to $work/runs.txt; RUNS runs (default 5) alternate the two
# tools, and the medians come last. (The body is not indented: it holds a here-document.)
runs_file="$work/runs.txt"; : >"$runs_file"
one_run() {
say "--- run $1 of $RUNS ---"
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
# pmacctd 1.7.7 loses and double-counts packets unless run with care (read off its source:
# plugin_hooks.c, print_plugin.c, signals.c; confirmed with its debug log on 1 M packets):
# - The core copies each packet's primitives (328 bytes on this build: 6243 per 2,048,000-byte
#   buffer) into a shared-memory ring of plugin_pipe_size bytes and never waits for the plugin.
#   The print plugin is slower than the core, and when the ring wraps over buffers it has not
#   read it jumps to the newest one: everything in between is lost, logged as "Missing data"
#   only from the 4th time on (or with debug). That was the 10 M run's loss: 3.3 GB of
#   primitives through a 2 GB ring. So the ring holds the whole capture and never wraps.
# - A SIGINT to the core after EOF commits the last, partial buffer a second time under a new
#   sequence number; the plugin misses that number and re-reads the last full buffer: 6243
#   packets counted twice (seen on 1 M packets). Without pcap_savefile_wait the core sends the
#   plugin SIGINT 2 s after EOF, and whatever it has not read by then is lost. So the core is
#   left waiting (pcap_savefile_wait) and only the plugin gets SIGINT, once drained: it writes
#   its cache and exits, and the core then exits by itself.
# - Drained = the plugin has received the partial buffer the core commits at EOF and sleeps in
#   poll(). debug + debug_internal_msg log every buffer released and received (~1 600 lines for
#   10 M packets; nothing per packet for pmacctd) and every missing-data event.
# - The plugin must be polling before the core sends data: a wake-up queued while it is still
#   zeroing its cache can later make it take a not-yet-written slot for lost data and re-read
#   the last buffer. Zeroing is slow and erratic here (7.6 GB of cache took 20 s in one run,
#   2.5 min in another; the 3.4 GB ring 14-35 s), so no fixed pcap_savefile_delay fits: so the core reads the capture through a FIFO that
#   gets the 24-byte pcap header at once (pcap_open_offline needs it before the plugin is
#   started) and the packets only once the plugin has sat idle in poll() for 1 s and the core
#   blocks reading the FIFO. The feed's start is the start of the time.
# - Cache: print_cache_entries buckets plus a scratch area of 10 entries per bucket (~368 B per
#   entry, all zeroed at start). CONFIG-KEYS' sizing, a prime above keys/7.7
#   (PMACCT_KEYS_PER_BUCKET), gives room for 1.4x the key count, so it never fills ("Finished
#   cache entries" would write a partial file). keys/3 (10.8 GB instead of 6.2 GB on the 10 M
#   capture) was no faster: plugin CPU 112 s against 102 s, because the chains are long
#   whatever the bucket count: the cache hash (cache_crc32 is djb2, h*33+byte, over the
#   primitives) gives adjacent address bytes weights 33 and 1, so the 5.66 M keys fall on
#   ~244 k hash values (~23 per chain), and perf puts 91% of the plugin's time in memcmp.
#   print_refresh_time far beyond the run so the cache is written once, at exit.
# Time: from the start of the feed to drained, plus the plugin's final write; start-up
# (allocation, zeroing, delay) and idle waiting are excluded. The feeding `tail` is not counted.
PMACCT_BUFFER=${PMACCT_BUFFER:-2048000}
PMACCT_KEYS_PER_BUCKET=${PMACCT_KEYS_PER_BUCKET:-7.7}
base=$(python3 -c "
n=int($keys/$PMACCT_KEYS_PER_BUCKET)+1
p=lambda n: n>1 and all(n%i for i in range(2,int(n**0.5)+1))
while not p(n): n+=1
print(n)")
# Ring: one buffer per 6 095 packets (336 B each, above the 328 measured) plus 4 spare.
pipe=$(( (PACKETS / (PMACCT_BUFFER / 336) + 4) * PMACCT_BUFFER ))
fifo="$work/capture.fifo"
rm -f "$work/pmacct.csv" "$work/pmacctd.log" "$fifo"
mkfifo "$fifo"
cat >"$work/pmacctd.conf" <<CONF
daemonize: false
pcap_savefile: $fifo
pcap_savefile_delay: 1
pcap_savefile_wait: true
aggregate: dst_host, dst_port, proto
plugins: print
print_output: csv
print_output_file: $work/pmacct.csv
print_num_protos: true
print_refresh_time: 86400
print_cache_entries: $base
plugin_pipe_size: $pipe
plugin_buffer_size: $PMACCT_BUFFER
debug: true
debug_internal_msg: true
logfile: $work/pmacctd.log
CONF
now() { date +%s.%N; }
state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
peak_pss=0; peak_rss=0
sample_memory() { # PSS counts the shared ring once; RSS would count it in both processes
  local m r
  m=$(( $(pss "$core") + $(pss "$plugin") )); if (( m > peak_pss )); then peak_pss=$m; fi
  r=$(( $(awk '{print $24 * 4}' "/proc/$core/stat" 2>/dev/null || echo 0) + $(awk '{print $24 * 4}' "/proc/$plugin/stat" 2>/dev/null || echo 0) ))
  if (( r > peak_rss )); then peak_rss=$r; fi
}
# fd 7 holds the FIFO open read-write, so pmacctd's open() does not block and EOF comes only
# when the feeder closes it; pmacctd itself must not inherit it (7>&-), or EOF never comes.
exec 7<>"$fifo"
head -c 24 "$capture" >&7
/usr/bin/time -v -o "$work/pmacct.time" pmacctd -f "$work/pmacctd.conf" >"$work/pmacctd.out" 2>&1 7>&- &
time_pid=$!
core=""; plugin=""; feeder=""
trap 'for p in $feeder $plugin $core; do kill "$p" 2>/dev/null || true; done; stop_clickhouse' EXIT
for _ in $(seq 100); do core=$(pgrep -P "$time_pid" pmacctd || true); [[ -n "$core" ]] && break; sleep 0.1; done
[[ -n "$core" ]] || { echo "pmacctd did not start" >&2; cat "$work/pmacctd.out" >&2; exit 1; }
# The core zeroes the ring before it forks the plugin.
for _ in $(seq 3000); do plugin=$(pgrep -P "$core" | head -1 || true); [[ -n "$plugin" ]] && break; sleep 0.1; done
[[ -n "$plugin" ]] || { echo "pmacctd's plugin did not start" >&2; exit 1; }
# Ready: the plugin asleep (poll) with no CPU used for 10 samples, the core in read(2) (x86-64
# syscall 0) on the FIFO.
idle=0; last_pt=$(cpu_ticks "$plugin"); i=0
while (( idle < 10 )); do
  sleep 0.1; i=$((i + 1))
  kill -0 "$core" 2>/dev/null || { echo "pmacctd exited during start-up; see $work/pmacctd.log" >&2; exit 1; }
  pt=$(cpu_ticks "$plugin")
  if [[ "$(state "$plugin")" == S && "$pt" == "$last_pt" && "$(cut -d' ' -f1 "/proc/$core/syscall" 2>/dev/null)" == 0 ]]; then
    idle=$((idle + 1)); else idle=0; fi
  last_pt=$pt
  if (( i % 10 == 0 )); then sample_memory; fi
done
start=$(now); start_core=$(cpu_ticks "$core"); start_plugin=$(cpu_ticks "$plugin")
tail -c +25 "$capture" >&7 &
feeder=$!
exec 7>&-
drained=""; i=0; last_move=$start
while kill -0 "$core" 2>/dev/null; do
  sleep 0.1; i=$((i + 1)); t=$(now)
  pt=$(cpu_ticks "$plugin"); ps_=$(state "$plugin")
  if (( i % 5 == 0 )); then sample_memory; fi
  if grep -q "finished reading PCAP" "$work/pmacctd.log"; then
    released=$(grep -c "buffer released" "$work/pmacctd.log" || true)
    received=$(grep -c "buffer received" "$work/pmacctd.log" || true)
    # Drained: the final, partial buffer received and the plugin back asleep with no CPU used.
    if (( received > released )) && [[ "$ps_" == S && "$pt" == "$last_pt" ]]; then
      drained=$t; drained_core=$(cpu_ticks "$core"); drained_plugin=$pt; break
    fi
    # Idle for 10 s short of the last buffer: data was lost; stop and let the check say so.
    if awk -v t="$t" -v m="$last_move" 'BEGIN{exit !(t - m > 10)}'; then
      drained=$last_move; drained_core=$(cpu_ticks "$core"); drained_plugin=$pt; break
    fi
  fi
  if [[ "$pt" != "$last_pt" ]]; then last_move=$t; fi
  last_pt=$pt
done
[[ -n "$drained" ]] || { echo "pmacctd exited before draining; see $work/pmacctd.log" >&2; exit 1; }
sigint_at=$(now)
kill -INT "$plugin"
# Exited = zombie or gone (the core reaps it only after its own 2 s shutdown sleep); the write
# ended when the file was last modified.
while [[ "$(state "$plugin")" != [ZX] ]]; do sleep 0.05; done
written=$(stat -c %.9Y "$work/pmacct.csv")
wait "$time_pid" || true   # the core follows within ~2 s (its own shutdown sleep)
wait "$feeder" || true
rm -f "$fifo"
p_secs=$(awk -v s="$start" -v d="$drained" -v i="$sigint_at" -v w="$written" 'BEGIN{printf "%.2f", (d - s) + (w - i)}')
hz=$(getconf CLK_TCK)
p_cpu_core=$(awk -v a="$start_core" -v b="$drained_core" -v hz="$hz" 'BEGIN{printf "%.1f", (b - a) / hz}')
p_cpu_plugin=$(awk -v a="$start_plugin" -v b="$drained_plugin" -v hz="$hz" 'BEGIN{printf "%.1f", (b - a) / hz}')
p_cpu=$(awk -v a="$p_cpu_core" -v b="$p_cpu_plugin" 'BEGIN{printf "%.1f", a + b}')
p_user=$(awk -F': ' '/User time/ {print $2}' "$work/pmacct.time"); p_sys=$(awk -F': ' '/System time/ {print $2}' "$work/pmacct.time")
grep -v '^DST_IP' "$work/pmacct.csv" | awk -F, '{print $1, $2, $3, $4}' | LC_ALL=C sort >"$work/pmacct.keys" || true
# pmacct.keys for the realistic mix also holds ICMP/other keys; compare the TCP/UDP ones.
awk '$3 == 6 || $3 == 17' "$work/pmacct.keys" | LC_ALL=C sort >"$work/pmacct.tcpudp.keys"
say "pmacctd: ${p_secs}s processing (feed start to drained, plus the final write $(awk -v i="$sigint_at" -v w="$written" 'BEGIN{printf "%.2f", w - i}')s; start-up excluded) cpu ${p_cpu}s in that window before the write (core ${p_cpu_core}s, plugin ${p_cpu_plugin}s; $(awk -v u="$p_user" -v s="$p_sys" 'BEGIN{print u+s}')s in all, incl. zeroing ring and cache) peak_pss(core+plugin, sampled) ${peak_pss}kB (peak_rss sum ${peak_rss}kB counts the shared ring twice) cache_entries $base pipe $pipe"
# The run is usable only if the plugin received every buffer exactly once (those released +
# the final partial one) and logged no loss or early purge.
released=$(grep -c "buffer released" "$work/pmacctd.log" || true)
received=$(grep -c "buffer received" "$work/pmacctd.log" || true)
lossy=$(grep -ciE "missing data|finished cache entries|pending entries will be lost" "$work/pmacctd.log" || true)
say "pmacctd log: buffers released $released + 1 at EOF, received $received, loss/purge warnings $lossy"
# ("Failed during write" is the core's last wake-up to the plugin that already exited.)
grep -iE "missing data|finished cache|error|warn" "$work/pmacctd.log" | grep -v "Failed during write" | head -5 | sed 's/^/pmacctd log: /' | tee -a "$report" || true
pm_log_ok=$([[ "$received" == $((released + 1)) && "$lossy" == 0 ]] && echo yes || echo no)

# --- checks and ratios -----------------------------------------------------------------------
check() { # name file -> sets check_ok
  local diff; diff=$(LC_ALL=C comm -3 <(LC_ALL=C sort -S 1G "$work/tshark.keys") "$2" | wc -l)
  check_ok=$([[ $diff == 0 ]] && echo yes || echo no)
  say "check $1: $(wc -l <"$2") keys, $(awk '{s+=$4} END{print s+0}' "$2") packets; lines differing from tshark: $diff $([[ $check_ok == yes ]] && echo OK || echo MISMATCH)"
}
check telemetry "$work/ours.keys"; ours_ok=$check_ok
check pmacctd "$work/pmacct.tcpudp.keys"; pm_ok=$check_ok
[[ "$pm_log_ok" == yes ]] || pm_ok=no
awk -v n="$PACKETS" -v o="$o_secs" -v p="$p_secs" -v t="$t_wall" -v ook="$ours_ok" -v pok="$pm_ok" 'BEGIN{
  tel = (ook == "yes") ? sprintf("%.0f", n/o) : "INVALID (totals differ from tshark)"
  pm = (pok == "yes") ? sprintf("%.0f", n/p) : "INVALID (totals or log check failed; not quoted)"
  printf "packets/s: telemetry %s, pmacctd %s, tshark %.0f\n", tel, pm, n/t
  if (ook != "yes") { print "ratios: none (telemetry INVALID)"; exit }
  if (pok == "yes") printf "telemetry / pmacctd = %.2fx, ", p/o; else printf "telemetry / pmacctd = INVALID, "
  printf "telemetry / tshark = %.1fx\n", t/o }' | tee -a "$report"
echo "$o_secs $p_secs $o_rss $peak_pss $ours_ok $pm_ok" >>"$runs_file"
}

for run in $(seq "$RUNS"); do one_run "$run"; done
# Medians over the runs whose totals checked out (a run with a failed check is listed, not counted).
awk -v n="$PACKETS" -v runs="$RUNS" '
  function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  $5 == "yes" { o[++no] = n / $1; r[no] = $3 }
  $6 == "yes" { p[++np] = n / $2; m[np] = $4 }
  $5 == "yes" && $6 == "yes" { q[++nq] = $2 / $1 }
  END {
    if (no == 0) { print "medians: none (no telemetry run checked out)"; exit }
    printf "medians over %d runs: telemetry %.0f packets/s (%d valid), max_rss %.0f kB", runs, med(o, no), no, med(r, no)
    if (np > 0) printf "; pmacctd %.0f packets/s (%d valid), peak_pss %.0f kB; ratio of medians %.2fx; memory %.1fx less",
      med(p, np), np, med(m, np), med(o, no) / med(p, np), med(m, np) / med(r, no)
    if (nq > 0) printf "; median of the per-run ratios (%d runs valid for both) %.2fx", nq, med(q, nq)
    printf "\n" }' "$runs_file" | tee -a "$report"
