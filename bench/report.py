#!/usr/bin/env python3
"""Turns bench.py's results (JSON lines) into the Markdown tables of BENCHMARKS.md, the target
checks, the A/B and A/C ratios, and a chart (chart.png, when matplotlib is installed).

Usage: report.py RESULTS.jsonl [--out DIR]
"""
import argparse
import json
import os

NAMES = {"A": "A ds-subgraph (defaults)", "B": "B one request per dossier",
         "C": "C Hive Gateway + Mesh", "D": "D no layer (DS mock direct)"}
WORKLOADS = {"single": "1: single", "batch": "2: 20 per query", "entities": "3: _entities ×50",
             "paced": "1 paced"}


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def table(rows):
    out = ["| System | Workload | req/s (ok) | p50 ms | p95 ms | p99 ms | lookups / upstream req "
           "| upstream reqs | upstream 429 | failed / responses | peak RSS MB "
           "| CPU ms / 1k lookups | load 1m |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        causes = ", ".join(f"{k} {v}" for k, v in r["failure_causes"].items())
        out.append(
            f"| {NAMES[r['system']]} | {WORKLOADS[r['workload']]} | {fmt(r['ok_rps'])} "
            f"| {fmt(r['p50_ms'])} | {fmt(r['p95_ms'])} | {fmt(r['p99_ms'])} "
            f"| {fmt(r['lookups_per_upstream_request'])} | {fmt(r['upstream_requests'])} "
            f"| {fmt(r['upstream_429'])} | {fmt(r['failed'])} / {fmt(r['responses'])}"
            f"{f' ({causes})' if causes else ''} "
            f"| {fmt(r['peak_rss_kb'] / 1024 if r['peak_rss_kb'] else None)} "
            f"| {fmt(cpu_per_k(r))} | {fmt(r.get('loadavg_1m'))} |")
    return "\n".join(out)


def cpu_per_k(r):
    """CPU the system under test spent per 1,000 dossiers it served: what it costs to run."""
    if r.get("sut_cpu_secs") is None or not r["lookups_served"]:
        return None
    return r["sut_cpu_secs"] * 1000 * 1000 / r["lookups_served"]


def find(results, pass_name, system, workload):
    for r in results:
        if (r["pass"], r["system"], r["workload"]) == (pass_name, system, workload):
            return r
    return None


def ratio(a, b, key):
    if not a or not b or not b.get(key):
        return None
    return a[key] / b[key]


def targets(results):
    lines = []

    def check(label, ok, got):
        lines.append(f"- {'✅' if ok else '❌'} {label}: {got}")

    a1 = find(results, "limited", "A", "single")
    if a1:
        lpr = a1["lookups_per_upstream_request"]
        check("limited, A, workload 1: ≥ 20 lookups per upstream request",
              lpr is not None and lpr >= 20, fmt(lpr))
        check("limited, A, workload 1: 0 upstream 429", a1["upstream_429"] == 0,
              fmt(a1["upstream_429"]))
        check("limited, A, workload 1: 0 failed responses", a1["failed"] == 0,
              f"{fmt(a1['failed'])} of {fmt(a1['responses'])}")
    b1 = find(results, "limited", "B", "single")
    if b1:
        lines.append(f"- beside it, B: {fmt(b1['failed'])} failed of {fmt(b1['responses'])}, "
                     f"{fmt(b1['upstream_429'])} upstream 429")
    a1u = find(results, "unlimited", "A", "single")
    if a1u:
        bound = a1u["mock_latency_ms"] + 5
        check(f"unlimited, A, workload 1: p99 ≤ {bound} ms (mock latency + 5 ms)",
              a1u["p99_ms"] is not None and a1u["p99_ms"] <= bound, f"{fmt(a1u['p99_ms'])} ms")
    ap, dp = find(results, "unlimited", "A", "paced"), find(results, "unlimited", "D", "paced")
    if ap and dp and ap["p99_ms"] is not None and dp["p99_ms"] is not None:
        added = ap["p99_ms"] - dp["p99_ms"]
        check(f"unlimited, A, workload 1 paced at {fmt(ap['offered_rate'], 0)}/s: p99 added to "
              f"the DS mock's own p99 ≤ 5 ms", added <= 5,
              f"{fmt(ap['p99_ms'])} ms vs {fmt(dp['p99_ms'])} ms direct: {added:+.1f} ms")
    for w in ("single", "batch"):
        a, c = find(results, "unlimited", "A", w), find(results, "unlimited", "C", w)
        x = ratio(a, c, "ok_rps")
        if a and c:
            check(f"unlimited, workload {WORKLOADS[w]}: A ≥ 5× C in throughput",
                  x is not None and x >= 5, f"{fmt(x, 2)}×")
    peak = max((r["peak_rss_kb"] for r in results if r["system"] == "A" and r["peak_rss_kb"]),
               default=None)
    if peak is not None:
        check("A's peak RSS ≤ 50 MB (all runs)", peak <= 50 * 1024, f"{fmt(peak / 1024)} MB")
    return "\n".join(lines)


def ratios(results):
    lines = ["| Pass | Workload | A/B req/s | A/B p99 | A/C req/s | A/C p99 |",
             "|---|---|--:|--:|--:|--:|"]
    for p in ("limited", "unlimited"):
        for w in WORKLOADS:
            a = find(results, p, "A", w)
            if not a:
                continue
            b, c = find(results, p, "B", w), find(results, p, "C", w)
            lines.append(f"| {p} | {WORKLOADS[w]} | {fmt(ratio(a, b, 'ok_rps'), 2)} "
                         f"| {fmt(ratio(a, b, 'p99_ms'), 2)} | {fmt(ratio(a, c, 'ok_rps'), 2)} "
                         f"| {fmt(ratio(a, c, 'p99_ms'), 2)} |")
    return "\n".join(lines)


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(no chart: `pip install matplotlib` to draw one)"
    runs = [r for r in results if r["pass"] == "unlimited"] or results
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in runs)]
    systems = [s for s in NAMES if any(r["system"] == s for r in runs)]
    colors = {"A": "#2b6cb0", "B": "#c05621", "C": "#6b46c1", "D": "#718096"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(len(systems), 1)
    for i, s in enumerate(systems):
        xs = [j + i * width for j in range(len(workloads))]
        rps = [(find(runs, runs[0]["pass"], s, w) or {}).get("ok_rps") or 0 for w in workloads]
        p99 = [(find(runs, runs[0]["pass"], s, w) or {}).get("p99_ms") or 0 for w in workloads]
        axes[0].bar(xs, rps, width, label=NAMES[s], color=colors[s])
        axes[1].bar(xs, p99, width, label=NAMES[s], color=colors[s])
    axes[1].set_yscale("log")
    for ax, title in ((axes[0], "Throughput (successful requests/s, higher is better)"),
                      (axes[1], "p99 latency (ms, log scale, lower is better)")):
        ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(workloads))])
        ax.set_xticklabels([WORKLOADS[w] for w in workloads])
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    lat = runs[0]["mock_latency_ms"]
    axes[1].axhline(lat + 5, color="grey", ls="--", lw=1, label=f"mock latency + 5 ms")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"ds-subgraph benchmark, DS mock at {lat} ms, {runs[0]['concurrency']} clients, "
                 f"no DS rate limit", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return f"![throughput and p99 per system]({os.path.basename(path)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out", default=".")
    opts = ap.parse_args()
    with open(opts.results) as f:
        results = [json.loads(line) for line in f if line.strip()]
    parts = []
    for p, title in (("limited", "With DS's rate limit (400 requests/min per token)"),
                     ("unlimited", "Without the rate limit")):
        rows = [r for r in results if r["pass"] == p]
        if rows:
            parts.append(f"### {title}\n\n{table(rows)}")
    parts.append(f"### Ratios\n\n{ratios(results)}")
    parts.append(f"### Targets\n\n{targets(results)}")
    parts.append(chart(results, os.path.join(opts.out, "chart.png")))
    report = "\n\n".join(parts) + "\n"
    with open(os.path.join(opts.out, "report.md"), "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
