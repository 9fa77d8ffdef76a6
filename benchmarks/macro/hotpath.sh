#!/usr/bin/env bash
# Macro benchmark (3): the hot path alone on one core — BenchmarkDotNet's HotPathBenchmarks
# (framing; framing + decode + classify; all of that + aggregation) over 1 M packets of the
# simulator's mix in memory, pinned to CPU 0 (--affinity 1). BenchmarkDotNet runs each
# benchmark for many iterations and reports their median; this prints it as packets/s.
#   benchmarks/macro/hotpath.sh
#   RUNS=5 FILTER='*HotPath*FramingDecodeAggregate*' benchmarks/macro/hotpath.sh   # five runs, then the median of their medians
#   FILTER='*AggregationBenchmarks*' BDN_ARGS='--iterationCount 7 --warmupCount 2' benchmarks/macro/hotpath.sh
# FILTER picks other suites (FramingBenchmarks, AggregationBenchmarks, RowBinaryBenchmarks) the same way.
set -euo pipefail
FILTER=${FILTER:-'*HotPath*'}
BDN_ARGS=${BDN_ARGS:-}
RUNS=${RUNS:-1}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root/benchmarks/Telemetry.Benchmarks"
summary=$(mktemp); trap 'rm -f "$summary"' EXIT
for run in $(seq 1 "$RUNS"); do
# shellcheck disable=SC2086 # BDN_ARGS is a list of options
dotnet run -c Release -- --filter "$FILTER" --affinity 1 --exporters csv $BDN_ARGS
csv=$(ls -t BenchmarkDotNet.Artifacts/results/*-report.csv | head -1)
# Median is per packet (OperationsPerInvoke); convert to packets/s.
python3 - "$csv" "$run" <<'PY' | tee -a "$summary"
import csv, sys
def ns(text):
    value, unit = text.replace(',', '').split()
    return float(value) * {'ns': 1, 'μs': 1e3, 'us': 1e3, 'ms': 1e6, 's': 1e9}[unit]
rows = list(csv.DictReader(open(sys.argv[1], encoding='utf-8')))
params = [c for c in (rows[0].keys() if rows else []) if c in ('Targets', 'Sources', 'Format')]
for row in rows:
    median = ns(row['Median'])
    label = row['Method'] + ''.join(f" {p}={row[p]}" for p in params)
    print(f"run {sys.argv[2]}: {sys.argv[1].split('/')[-1].split('-report')[0].split('.')[-1]} {label}: median {median:.2f} ns/packet = {1e9 / median / 1e6:.1f} M packets/s; allocated {row.get('Allocated', 'NA')} per packet")
PY
done
if ((RUNS > 1)); then
  # Per benchmark: the median of the runs' medians.
  python3 - "$summary" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1], encoding='utf-8'):
    m = re.match(r'run \d+: (.*): median ([0-9.]+) ns/packet', line)
    if m:
        runs.setdefault(m.group(1), []).append(float(m.group(2)))
for label, values in runs.items():
    median = statistics.median(values)
    print(f"{label}: median of {len(values)} runs {median:.2f} ns/packet = {1e9 / median / 1e6:.1f} M packets/s (runs {', '.join(f'{v:.2f}' for v in values)})")
PY
fi
