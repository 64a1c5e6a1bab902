"""One PNG per run beside its JSON: for each load, the latency distribution (CDF per
concurrency level, stack solid, baseline dashed) and the accepted requests in each second
of each level; Accepted -> Sent against the accept round trip; rebuild rates against
their raw baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

LOADS = (("single", "Messaging API single sends"), ("instance", "Instance API sends"),
         ("bulk", "bulk sends x200 (requests)"))


def _cdf(ax: Axes, values: list[float], label: str, style: str, color: str) -> None:
    if not values:
        return
    ordered = sorted(values)
    n = len(ordered)
    ax.plot(ordered, [(i + 1) / n for i in range(n)], style, color=color, label=label)


def _latency(ax: Axes, title: str, levels: list[dict[str, Any]]) -> None:
    for i, x in enumerate(levels):
        color = f"C{i}"
        c = x["stack"]["concurrency"]
        _cdf(ax, x["stack"].get("_latencies_ms", []), f"stack c={c}", "-", color)
        _cdf(ax, x["baseline"].get("_latencies_ms", []), f"baseline c={c}", "--", color)
    ax.set(xscale="log", xlabel="latency ms (log)", ylabel="fraction of requests",
           title=f"{title}: latency CDF")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _throughput(ax: Axes, title: str, levels: list[dict[str, Any]]) -> None:
    for i, x in enumerate(levels):
        color = f"C{i}"
        for side, style in (("stack", "-o"), ("baseline", "--")):
            counts = x[side].get("accepted_per_second", [])
            ax.plot(range(1, len(counts) + 1), counts, style, color=color, markersize=3,
                    label=f"{side} c={x[side]['concurrency']}")
    ax.set_yscale("symlog", linthresh=1)  # seconds with nothing accepted stay visible
    ax.set(xlabel="second of the level", ylabel="accepted in that second (symlog)",
           title=f"{title}: throughput over time")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _sent(ax: Axes, a: dict[str, Any]) -> None:
    _cdf(ax, a.get("_latencies_ms", []), "accepted -> Sent (SSE)", "-", "C0")
    _cdf(ax, a.get("_accept_ms", []), "accept round trip (baseline)", "--", "C1")
    ax.set(xscale="log", xlabel="ms (log)", ylabel="fraction of messages",
           title=f"Accepted -> Sent at {a['achieved_rate']}/s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _rebuild(ax: Axes, rebuild: dict[str, Any]) -> None:
    labels, ours, inserts, consumes = [], [], [], []
    for view, r in rebuild.items():
        for backend, b in r["backends"].items():
            labels.append(f"{view}\n{backend}")
            ours.append(b["events_per_s"])
            inserts.append(b["raw_insert_rows_per_s"])
            consumes.append(r["consume_per_s"])
    xs = range(len(labels))
    width = 0.27
    ax.bar([x - width for x in xs], ours, width, label="rebuild events/s")
    ax.bar(list(xs), inserts, width, label="raw SQLAlchemy insert rows/s")
    ax.bar([x + width for x in xs], consumes, width, label="raw JetStream consume msgs/s")
    ax.axhline(50_000, color="red", linestyle=":", label="target 50,000/s")
    ax.set(yscale="log", xticks=list(xs), ylabel="per second (log)",
           title="projection rebuild vs raw baselines")
    ax.set_xticklabels(labels, fontsize=8)
    ax.legend(fontsize=7)


def write_chart(path: Path, results: dict[str, Any]) -> Path | None:
    loads = [(key, title) for key, title in LOADS if results.get(key)]
    panels = len(loads) * 2 + (1 if "accepted_to_sent" in results else 0) + \
        (1 if results.get("rebuild") else 0)
    if not panels:
        return None
    rows = (panels + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(14, 4.5 * rows), squeeze=False)
    cells = iter(axes.flat)
    for key, title in loads:
        _latency(next(cells), title, results[key])
        _throughput(next(cells), title, results[key])
    if "accepted_to_sent" in results:
        _sent(next(cells), results["accepted_to_sent"])
    if results.get("rebuild"):
        _rebuild(next(cells), results["rebuild"])
    for ax in cells:
        ax.set_visible(False)
    fig.suptitle(f"Switchboard bench {results['date']}  load {results['loadavg_start']} -> "
                 f"{results.get('loadavg_end')}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
