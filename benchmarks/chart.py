#!/usr/bin/env python3
"""Draw the results of `shmemaphore-bench --json` as one SVG file.

    python3 benchmarks/chart.py benchmarks/results/bench.jsonl -o benchmarks/results/bench.svg

Python 3 standard library only: the SVG is written by hand.  One panel per
workload: W1 shows the median round-trip latency in microseconds (shorter is
better), W2 and W3 the throughput in GB/s (longer is better).  Each bar is
the median of the repetitions; the whisker spans their min-max; on W1 a
red tick marks the p99 latency (an arrow at the edge when it lies beyond
the axis, which is scaled to the medians).  Bars of one implementation are grouped by CPU
placement (same: both processes on one CPU, split: on two).  The
single-process memcpy baseline is left out of W1 (nanoseconds; it would not
show) and drawn as a dashed line on W2/W3, as is raw.
"""

import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

WIDTH = 980
LABEL_WIDTH = 150
PLOT_LEFT = LABEL_WIDTH + 20
PLOT_RIGHT = WIDTH - 90
BAR_HEIGHT = 14
BAR_GAP = 3
GROUP_GAP = 10
PANEL_GAP = 36
TITLE_HEIGHT = 44
AXIS_HEIGHT = 34

PLACEMENT_COLORS = {"same": "#4e79a7", "split": "#f28e2b", "none": "#59a14f", "one": "#76716f"}
BASELINES = {"raw", "raw-timed", "raw-zc", "uds", "pipe", "memcpy", "iceoryx2-python"}


def load(path):
    rows = []
    source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with source:
        for line in source:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def nice_ceiling(value):
    """A round axis maximum at or above value."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def fmt(value):
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def panel(workload, rows, top):
    """SVG elements of one workload's panel and its height."""
    latency = workload == "W1"
    ok = [r for r in rows if r.get("status") == "ok"]
    references = {}
    if not latency:
        for r in ok:
            if r["impl"] in ("memcpy", "raw") and r["impl"] not in references:
                references[r["impl"]] = r["gbps"]
    bars = [r for r in ok if not (r["impl"] == "memcpy" and latency)]
    impls = []
    for r in bars:
        if r["impl"] not in impls:
            impls.append(r["impl"])
    placements = []
    for r in bars:
        if r["cpus"] not in placements:
            placements.append(r["cpus"])

    def value(r):
        return r["median_us"] if latency else r["gbps"]

    def whisker(r):
        return (r["median_us_min"], r["median_us_max"]) if latency else (r["gbps_min"], r["gbps_max"])

    # The axis fits the medians' ranges; a p99 beyond it is drawn at the edge
    # with its value (one noisy p99 must not squeeze every bar).
    maximum = 0.0
    for r in bars:
        maximum = max(maximum, whisker(r)[1], value(r))
    maximum = max([maximum] + list(references.values()))
    axis_max = nice_ceiling(maximum * 1.02)

    def x(v):
        return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * v / axis_max

    out = []
    if latency:
        title = "W1 ping: round-trip latency, µs (median; whisker min-max of repetitions; tick p99) - shorter is better"
    else:
        size = next((r.get("payload_bytes") for r in ok), 0)
        title = f"{workload}: {size:,} bytes per transfer, GB/s (median; whisker min-max) - longer is better"
    out.append(f'<text x="10" y="{top + 18}" class="title">{escape(title)}</text>')
    legend_x = PLOT_LEFT
    for placement in placements:
        label = {"same": "both on one CPU", "split": "on two CPUs", "none": "not pinned", "one": "one process"}[placement]
        out.append(f'<rect x="{legend_x}" y="{top + 27}" width="10" height="10" fill="{PLACEMENT_COLORS[placement]}"/>')
        out.append(f'<text x="{legend_x + 14}" y="{top + 36}" class="small">{escape(placement)}: {escape(label)}</text>')
        legend_x += 190
    y = top + TITLE_HEIGHT
    plot_top = y
    for impl in impls:
        group = [r for r in bars if r["impl"] == impl]
        group.sort(key=lambda r: placements.index(r["cpus"]))
        group_height = len(group) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
        weight = "label" if impl not in BASELINES else "label baseline"
        out.append(f'<text x="{LABEL_WIDTH}" y="{y + group_height / 2 + 4}" class="{weight}" text-anchor="end">{escape(impl)}</text>')
        for r in group:
            v = value(r)
            low, high = whisker(r)
            color = PLACEMENT_COLORS.get(r["cpus"], "#999")
            opacity = "0.55" if impl in BASELINES else "1"
            out.append(
                f'<rect x="{PLOT_LEFT}" y="{y}" width="{max(0.5, x(v) - PLOT_LEFT):.1f}" height="{BAR_HEIGHT}" '
                f'fill="{color}" fill-opacity="{opacity}"><title>{escape(impl)} {escape(r["cpus"])}: {fmt(v)}</title></rect>'
            )
            middle = y + BAR_HEIGHT / 2
            out.append(f'<line x1="{x(low):.1f}" y1="{middle}" x2="{x(high):.1f}" y2="{middle}" class="whisker"/>')
            for end in (low, high):
                out.append(f'<line x1="{x(end):.1f}" y1="{middle - 4}" x2="{x(end):.1f}" y2="{middle + 4}" class="whisker"/>')
            label = fmt(v)
            label_x = x(max(v, high))
            if latency:
                p99 = r["p99_us"]
                if p99 <= axis_max:
                    out.append(f'<line x1="{x(p99):.1f}" y1="{y}" x2="{x(p99):.1f}" y2="{y + BAR_HEIGHT}" class="p99"/>')
                    label_x = max(label_x, x(p99))
                else:  # off the axis: an arrow at the edge
                    edge = x(axis_max)
                    out.append(f'<path d="M{edge - 6:.1f},{y + 2} L{edge:.1f},{y + BAR_HEIGHT / 2} L{edge - 6:.1f},{y + BAR_HEIGHT - 2} Z" class="p99mark"/>')
                label += f" (p99 {fmt(p99)})"
            out.append(f'<text x="{label_x + 5:.1f}" y="{y + BAR_HEIGHT - 3}" class="small">{label}</text>')
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP - BAR_GAP
    plot_bottom = y
    for name, reference in references.items():
        rx = x(reference)
        out.append(f'<line x1="{rx:.1f}" y1="{plot_top - 4}" x2="{rx:.1f}" y2="{plot_bottom}" class="reference"/>')
        out.append(f'<text x="{rx + 3:.1f}" y="{plot_bottom + 10}" class="small">{escape(name)} {fmt(reference)}</text>')
    # Axis with five ticks.
    out.append(f'<line x1="{PLOT_LEFT}" y1="{plot_bottom + 14}" x2="{PLOT_RIGHT}" y2="{plot_bottom + 14}" class="axis"/>')
    for i in range(6):
        tick = axis_max * i / 5
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{plot_top - 4}" x2="{tx:.1f}" y2="{plot_bottom + 14}" class="grid"/>')
        out.append(f'<text x="{tx:.1f}" y="{plot_bottom + 28}" class="small" text-anchor="middle">{fmt(tick)}</text>')
    unit = "µs" if latency else "GB/s"
    out.append(f'<text x="{PLOT_RIGHT + 28}" y="{plot_bottom + 28}" class="small">{unit}</text>')
    return out, plot_bottom + AXIS_HEIGHT - top


def render(rows, subtitle):
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    body = []
    top = 40
    for workload in sorted(workloads):
        elements, height = panel(workload, [r for r in rows if r["workload"] == workload], top)
        body += elements
        top += height + PANEL_GAP
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed:
        names = ", ".join(f'{r["workload"]} {r["cpus"]} {r["impl"]}' for r in failed)
        body.append(f'<text x="10" y="{top}" class="small">failed: {escape(names)}</text>')
        top += 20
    height = top
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        "<style>"
        ".title{font-size:13px;font-weight:bold;fill:#222}"
        ".label{font-size:12px;fill:#222}"
        ".baseline{fill:#666;font-style:italic}"
        ".small{font-size:10px;fill:#444}"
        ".whisker{stroke:#222;stroke-width:1}"
        ".p99{stroke:#c00;stroke-width:2}"
        ".p99mark{fill:#c00}"
        ".reference{stroke:#555;stroke-width:1;stroke-dasharray:4 3}"
        ".axis{stroke:#888;stroke-width:1}"
        ".grid{stroke:#e4e4e4;stroke-width:1}"
        "</style>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="10" y="22" class="title" style="font-size:15px">libshmemaphore benchmark{escape(subtitle)}</text>',
    ]
    return "\n".join(head + body + ["</svg>"]) + "\n"


def main():
    parser = argparse.ArgumentParser(description="SVG chart of `shmemaphore-bench --json` results")
    parser.add_argument("results", help="JSON lines file, or - for standard input")
    parser.add_argument("-o", "--output", default="-", help="SVG file to write (default: standard output)")
    parser.add_argument("--subtitle", default="", help="text after the title")
    parser.add_argument("--machine", help="machine.json of benchmarks/report.py: its facts become the subtitle")
    arguments = parser.parse_args()
    rows = load(arguments.results)
    if not rows:
        sys.exit("chart.py: no result rows in " + arguments.results)
    subtitle = arguments.subtitle
    if arguments.machine:
        with open(arguments.machine, encoding="utf-8") as handle:
            info = json.load(handle)
        facts = [f"{info.get('nproc', '?')} CPUs", info.get("cpu_model", "?"), f"Linux {info.get('kernel', '?')}", info.get("date", "")]
        if info.get("quick"):
            facts.append("--quick")
        subtitle = ", ".join(fact for fact in facts if fact) + (f"; {subtitle}" if subtitle else "")
    subtitle = f" - {subtitle}" if subtitle else ""
    svg = render(rows, subtitle)
    if arguments.output == "-":
        sys.stdout.write(svg)
    else:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            handle.write(svg)


if __name__ == "__main__":
    main()
