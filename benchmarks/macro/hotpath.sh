#!/usr/bin/env bash
# Macro benchmark (3): the hot path alone on one core — BenchmarkDotNet's HotPathBenchmarks
# (framing; framing + decode + classify; all of that + aggregation) over 1 M packets of the
# simulator's mix in memory, pinned to CPU 0 (--affinity 1). BenchmarkDotNet runs each
# benchmark for many iterations and reports their median; this prints it as packets/s.
#   benchmarks/macro/hotpath.sh
#   FILTER='*AggregationBenchmarks*' BDN_ARGS='--iterationCount 7 --warmupCount 2' benchmarks/macro/hotpath.sh
# FILTER picks other suites (FramingBenchmarks, AggregationBenchmarks, RowBinaryBenchmarks) the same way.
set -euo pipefail
FILTER=${FILTER:-'*HotPath*'}
BDN_ARGS=${BDN_ARGS:-}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root/benchmarks/Telemetry.Benchmarks"
# shellcheck disable=SC2086 # BDN_ARGS is a list of options
dotnet run -c Release -- --filter "$FILTER" --affinity 1 --exporters csv $BDN_ARGS
csv=$(ls -t BenchmarkDotNet.Artifacts/results/*-report.csv | head -1)
# Median is per packet (OperationsPerInvoke); convert to packets/s.
python3 - "$csv" <<'PY'
import csv, sys
def ns(text):
    value, unit = text.replace(',', '').split()
    return float(value) * {'ns': 1, 'μs': 1e3, 'us': 1e3, 'ms': 1e6, 's': 1e9}[unit]
rows = list(csv.DictReader(open(sys.argv[1], encoding='utf-8')))
params = [c for c in (rows[0].keys() if rows else []) if c in ('Targets', 'Sources', 'Format')]
for row in rows:
    median = ns(row['Median'])
    label = row['Method'] + ''.join(f" {p}={row[p]}" for p in params)
    print(f"{sys.argv[1].split('/')[-1].split('-report')[0].split('.')[-1]} {label}: median {median:.2f} ns/packet = {1e9 / median / 1e6:.1f} M packets/s; allocated {row.get('Allocated', 'NA')} per packet")
PY
