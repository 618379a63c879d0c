"""Turns bench/run's results.tsv into the Markdown tables of BENCHMARKS.md:
medians per size, latency and tool, ratios against the bare client of the
same run, the nightly re-sync against the full sync, and the issue's
targets with what was measured.

    python3 bench/summarize.py results.tsv
"""

import collections
import math
import statistics
import sys

MIB = 1024


def load(path):
    """Runs grouped by (size, latency, tool)."""
    groups = collections.defaultdict(list)
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            key = (int(row["size"]), int(row["latency_ms"]), row["tool"])
            groups[key].append(row)
    return groups


def median(rows, field):
    return statistics.median(float(r[field]) for r in rows)


def summary(rows):
    return {
        "wall": median(rows, "wall_s"),
        "walls": [float(r["wall_s"]) for r in rows],
        "rss": median(rows, "rss_kib") / MIB,
        "calls": median(rows, "api_calls"),
        "bytes": median(rows, "bytes"),
        "n": len(rows),
    }


def full_table(groups):
    print("| contacts | latency | tool | wall (median) | runs | peak RSS | API calls "
          "| data read | wall / bare | script / sfsync |")
    print("|---:|---:|---|---:|---|---:|---:|---:|---:|---:|")
    for (size, latency, tool) in sorted(groups, key=order):
        if tool not in ("sfsync", "sfsync-p4", "sfsync-p8", "script", "bare"):
            continue
        s = summary(groups[(size, latency, tool)])
        bare = groups.get((size, latency, "bare"))
        vs_bare = s["wall"] / summary(bare)["wall"] if bare else math.nan
        script_ratio = ""
        if tool.startswith("sfsync") and (size, latency, "script") in groups:
            script = summary(groups[(size, latency, "script")])["wall"]
            script_ratio = f"{script / s['wall']:.1f}x"
        runs = ", ".join(f"{w:.2f}" for w in s["walls"])
        print(f"| {size:,} | {latency} ms | {tool} | {s['wall']:.2f} s | {runs} "
              f"| {s['rss']:.0f} MiB | {s['calls']:.0f} | {s['bytes'] / 1e6:.0f} MB "
              f"| {vs_bare:.2f} | {script_ratio} |")


def order(key):
    size, latency, tool = key
    tools = ["sfsync", "sfsync-p4", "sfsync-p8", "script", "bare", "sfsync-first",
             "sfsync-nightly"]
    return (size, latency, tools.index(tool) if tool in tools else 99)


def nightly_table(groups):
    print()
    print("| contacts | run | wall (median) | runs | peak RSS | API calls | data read "
          "| wall / full | data / full |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|")
    for size in sorted({k[0] for k in groups}):
        full = groups.get((size, 0, "sfsync"))
        nightly = groups.get((size, 0, "sfsync-nightly"))
        if not full or not nightly:
            continue
        f, n = summary(full), summary(nightly)
        for name, s in (("full sync", f), ("nightly re-sync", n)):
            runs = ", ".join(f"{w:.2f}" for w in s["walls"])
            print(f"| {size:,} | {name} | {s['wall']:.2f} s | {runs} | {s['rss']:.0f} MiB "
                  f"| {s['calls']:.0f} | {s['bytes'] / 1e6:.1f} MB "
                  f"| {s['wall'] / f['wall']:.1%} | {s['bytes'] / f['bytes']:.1%} |")


def verdict(ok):
    return "met" if ok else "**not met**"


def targets(groups):
    print()
    print("| target | measured | status |")
    print("|---|---|---|")
    sizes = sorted({k[0] for k in groups})
    for size in sizes:
        get = lambda latency, tool: groups.get((size, latency, tool))
        sf0, bare0, script0 = get(0, "sfsync"), get(0, "bare"), get(0, "script")
        if sf0 and bare0:
            r = summary(sf0)["wall"] / summary(bare0)["wall"]
            print(f"| {size:,}: full sync at 0 ms at most 1.3x the bare fetch | {r:.2f}x "
                  f"| {verdict(r <= 1.3)} |")
        if sf0 and script0:
            r = summary(script0)["wall"] / summary(sf0)["wall"]
            print(f"| {size:,}: at least 5x faster than the simple-salesforce script "
                  f"| {r:.1f}x | {verdict(r >= 5)} |")
        sf100, bare100 = get(100, "sfsync"), get(100, "bare")
        if sf100 and bare100:
            r = summary(bare100)["wall"] / summary(sf100)["wall"]
            print(f"| {size:,}: at 100 ms at least 3x faster than reading the pages "
                  f"one after another (bare) | {r:.2f}x | {verdict(r >= 3)} |")
        for ranges in (4, 8):
            wider = get(100, f"sfsync-p{ranges}")
            if wider and bare100:
                r = summary(bare100)["wall"] / summary(wider)["wall"]
                calls = summary(wider)["calls"]
                print(f"| {size:,}: the same with `parallel = {ranges}` ({calls:.0f} API calls) "
                      f"| {r:.2f}x | {verdict(r >= 3)} |")
        if sf0:
            calls = summary(sf0)["calls"]
            limit = math.ceil(size / 2000) + 10
            print(f"| {size:,}: API calls of a full REST read at most {limit} "
                  f"| {calls:.0f} | {verdict(calls <= limit)} |")
        nightly = get(0, "sfsync-nightly")
        if sf0 and nightly:
            f, n = summary(sf0), summary(nightly)
            w, b = n["wall"] / f["wall"], n["bytes"] / f["bytes"]
            print(f"| {size:,}: nightly re-sync (1% changed, 0.1% deleted) at most 10% "
                  f"of the full sync's wall time and data | {w:.1%} of the time, "
                  f"{b:.1%} of the data | {verdict(w <= 0.1 and b <= 0.1)} |")
    rss = {s: max(summary(groups[(s, lat, "sfsync")])["rss"]
                  for lat in (0, 100) if (s, lat, "sfsync") in groups)
           for s in sizes if (s, 0, "sfsync") in groups}
    if 1000000 in rss:
        big = rss[1000000]
        print(f"| peak RSS at 1M at most 64 MiB | {big:.0f} MiB | {verdict(big <= 64)} |")
        if 100000 in rss:
            grow = big / rss[100000] - 1
            print(f"| peak RSS at 1M within 10% of 100k ({rss[100000]:.0f} MiB) "
                  f"| {grow:+.0%} | {verdict(grow <= 0.1)} |")
    else:
        for s, v in rss.items():
            print(f"| peak RSS at most 64 MiB (1M not run; {s:,} shown) | {v:.0f} MiB "
                  f"| not measured at 1M |")


def main():
    groups = load(sys.argv[1])
    full_table(groups)
    nightly_table(groups)
    targets(groups)


if __name__ == "__main__":
    main()
