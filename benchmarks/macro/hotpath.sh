#!/usr/bin/env bash
# Macro benchmark (3): the hot path alone on one core — BenchmarkDotNet's HotPathBenchmarks
# (framing; framing + decode + classify; all of that + aggregation) over 1 M packets of the
# simulator's mix in memory, pinned to CPU 0 (--affinity 1). BenchmarkDotNet runs each
# benchmark for many iterations and reports their median; this prints it as packets/s.
#   benchmarks/macro/hotpath.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root/benchmarks/Telemetry.Benchmarks"
dotnet run -c Release -- --filter '*HotPath*' --affinity 1 --exporters csv
csv=$(ls -t BenchmarkDotNet.Artifacts/results/*HotPathBenchmarks-report.csv | head -1)
# Median is per packet (OperationsPerInvoke); convert to packets/s.
python3 - "$csv" <<'PY'
import csv, sys
def ns(text):
    value, unit = text.replace(',', '').split()
    return float(value) * {'ns': 1, 'μs': 1e3, 'us': 1e3, 'ms': 1e6, 's': 1e9}[unit]
for row in csv.DictReader(open(sys.argv[1], encoding='utf-8')):
    median = ns(row['Median'])
    print(f"hotpath {row['Method']}: median {median:.2f} ns/packet = {1e9 / median / 1e6:.1f} M packets/s; allocated {row.get('Allocated', 'NA')} per packet")
PY
