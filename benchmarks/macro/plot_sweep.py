#!/usr/bin/env python3
"""Plots the CSV that sweep.sh writes as an SVG, with the standard library only.

    benchmarks/macro/plot_sweep.py SWEEP.csv OUT.svg [SUBTITLE]

x: distinct target keys per window (log scale); y: packets/s. One colour per core count:
a solid line through the median of the last file of each run (steady state) with a bar
from the slowest to the fastest run, and a dashed line through the median of the first
file (cold: tables and pools still growing).
"""
import csv
import math
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 760, 470
LEFT, RIGHT, TOP, BOTTOM = 78, 190, 58, 62
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def si(value):
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            text = f"{value / limit:.3g}"
            return text + suffix
    return f"{value:.3g}"


def nice_step(span, count):
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: plot_sweep.py SWEEP.csv OUT.svg [SUBTITLE]")
    rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
    if not rows:
        sys.exit(f"{sys.argv[1]}: no rows")
    title = "Engine throughput against distinct keys per window"
    subtitle = sys.argv[3] if len(sys.argv) > 3 else ""

    series = {}
    for row in rows:
        series.setdefault(int(row["cores"]), []).append(row)
    for points in series.values():
        points.sort(key=lambda r: int(r["target_keys"]))

    keys = [int(r["target_keys"]) for r in rows]
    x_lo = math.log10(min(keys)) - 0.25
    x_hi = math.log10(max(keys)) + 0.25
    y_top = max(float(r[c]) for r in rows for c in ("max_pps", "median_pps", "median_cold_pps"))
    y_step = nice_step(y_top, 6)
    y_hi = math.ceil(y_top * 1.05 / y_step) * y_step

    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(k):
        return LEFT + (math.log10(k) - x_lo) / (x_hi - x_lo) * plot_w

    def py(v):
        return TOP + plot_h - v / y_hi * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT + plot_w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="{LEFT + plot_w / 2}" y="38" text-anchor="middle" font-size="10" fill="#444">{escape(subtitle)}</text>',
    ]
    # Grid, ticks and tick labels.
    for decade in range(math.floor(x_lo), math.ceil(x_hi)):
        for m in range(1, 10):
            value = m * 10 ** decade
            if not x_lo <= math.log10(value) <= x_hi:
                continue
            x = px(value)
            if m == 1:
                out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#ccc"/>')
                out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{si(value)}</text>')
            else:
                out.append(f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h - 5}" stroke="#888"/>')
    steps = int(round(y_hi / y_step))
    for i in range(steps + 1):
        v = i * y_step
        y = py(v)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{si(v) if v else "0"}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
               'distinct target keys per 1-minute window (log scale)</text>')
    out.append(f'<text transform="translate(20 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">packets/s</text>')

    # Series.
    legend_y = TOP + 10
    for index, cores in enumerate(sorted(series)):
        colour = COLOURS[index % len(COLOURS)]
        points = series[cores]
        steady = " ".join(f"{px(int(r['target_keys'])):.1f},{py(float(r['median_pps'])):.1f}" for r in points)
        cold = " ".join(f"{px(int(r['target_keys'])):.1f},{py(float(r['median_cold_pps'])):.1f}" for r in points)
        out.append(f'<polyline points="{cold}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 4" opacity="0.7"/>')
        out.append(f'<polyline points="{steady}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for r in points:
            x = px(int(r["target_keys"]))
            lo, hi, mid = py(float(r["min_pps"])), py(float(r["max_pps"])), py(float(r["median_pps"]))
            out.append(f'<line x1="{x:.1f}" y1="{lo:.1f}" x2="{x:.1f}" y2="{hi:.1f}" stroke="{colour}" stroke-width="1.5"/>')
            out.append(f'<circle cx="{x:.1f}" cy="{mid:.1f}" r="4" fill="{colour}"/>')
            out.append(f'<text x="{x + 6:.1f}" y="{mid - 7:.1f}" fill="{colour}" font-size="10">{si(float(r["median_pps"]))}</text>')
        shards = points[0]["shards"]
        label = f"{cores} core{'s' if cores != 1 else ''}, {shards} shard{'s' if shards != '1' else ''}"
        lx = LEFT + plot_w + 14
        out.append(f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 26}" y2="{legend_y}" stroke="{colour}" stroke-width="2.5"/>')
        out.append(f'<circle cx="{lx + 13}" cy="{legend_y}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{lx + 32}" y="{legend_y + 4}">{escape(label)}</text>')
        out.append(f'<line x1="{lx}" y1="{legend_y + 20}" x2="{lx + 26}" y2="{legend_y + 20}" stroke="{colour}" '
                   'stroke-width="1.5" stroke-dasharray="5 4" opacity="0.7"/>')
        out.append(f'<text x="{lx + 32}" y="{legend_y + 24}">{escape("1st file (cold)")}</text>')
        legend_y += 48
    first = rows[0]
    notes = [
        f"{int(first['packets']) / 1e6:g} M SYN packets per file,",
        f"{first['files']} files (minutes) per run;",
        "solid: last file (steady), median",
        f"of {len(first['runs_pps'].split(';'))} run(s), bar min to max;",
        "dashed: 1st file (cold).",
        f"source keys per window: {si(int(first['source_keys']))}.",
    ]
    for i, note in enumerate(notes):
        out.append(f'<text x="{LEFT + plot_w + 14}" y="{legend_y + 10 + i * 15}" font-size="10" fill="#444">{escape(note)}</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
