#!/usr/bin/env python
"""Write bench/results/summary.md from the results of the benchmarks.

Reads every bench/results/<name>.json that a benchmark wrote (benchlab's
write_result) and lists, per benchmark, its conditions and each ratio beside
its goal. A benchmark named on the command line whose result is missing (it
failed, or did not run) is listed as such.

    python bench/summary.py [--expect reject_path,postscreen,...] [--times FILE]
"""

from __future__ import annotations

import argparse
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def cell(text):
    """Text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict(row):
    if row.get("goal") is None:
        return "-"
    return "met" if row.get("met") else "**not met**"


def goal_text(row):
    if row.get("goal") is None:
        return "-"
    return "%s %s" % (">=" if row.get("higher_is_better", True) else "<=", row["goal"])


def render(results, expected, times):
    lines = ["# Benchmark results", "",
             "Written by `make bench` (bench/summary.py) from bench/results/*.json. Ratios are taken",
             "in the same run as their peer; the conditions say what they depend on.", ""]
    if times:
        lines += ["| benchmark | seconds | result |", "|---|---|---|"]
        lines += ["| %s | %s | %s |" % (cell(name), seconds, cell(status)) for name, seconds, status in times]
        lines.append("")
    for name in expected:
        if name not in results:
            lines += ["## %s" % name, "", "No result: the benchmark failed or did not run (see its output).", ""]
    for name, payload in results.items():
        lines += ["## %s" % cell(payload.get("title", name)), "", cell(payload.get("conditions_text", "")), "",
                  "| ratio | value | goal | |", "|---|---|---|---|"]
        for row in payload.get("ratios", []):
            name_text = row["name"] + (" (%s)" % row["note"] if row.get("note") else "")
            lines.append("| %s | %s | %s | %s |" % (cell(name_text), row.get("value"), goal_text(row), verdict(row)))
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--expect", default="", help="benchmarks that should have a result, comma-separated")
    parser.add_argument("--times", default="", help="a file of 'name seconds status' lines")
    args = parser.parse_args()
    expected = [name for name in args.expect.split(",") if name]
    order = {name: index for index, name in enumerate(expected)}
    results = {}
    paths = sorted(glob.glob(os.path.join(RESULTS, "*.json")),
                   key=lambda path: (order.get(os.path.basename(path)[:-5], len(order)), path))
    for path in paths:
        name = os.path.basename(path)[:-5]
        if expected and name not in order:
            continue
        with open(path, encoding="utf-8") as handle:
            results[name] = json.load(handle)
    times = []
    if args.times and os.path.exists(args.times):
        with open(args.times, encoding="utf-8") as handle:
            times = [line.split(None, 2) for line in handle if line.strip()]
    os.makedirs(RESULTS, exist_ok=True)
    text = render(results, expected, times)
    with open(os.path.join(RESULTS, "summary.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
