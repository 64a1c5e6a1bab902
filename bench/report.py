"""The table printed at the end of a run, and the JSON result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.load import BULK_SIZE

TARGETS = {"cpu_ms_per_message": 4.0, "single_accepted_per_s": 500, "single_p99_ms": 100,
           "last_read_after_load_s": 2.0, "bulk_messages_per_s": 5_000,
           "bulk_read_per_s": 1_000, "sent_p99_ms": 100, "cold_start_s": 5.0,
           "idle_rss_mb": 400, "idle_cpu_percent": 2.0, "rebuild_events_per_s": 50_000}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}x" if b else "n/a"


def public(value: Any) -> Any:
    """`value` without the keys starting with `_` (raw samples kept for the charts)."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(public(results), indent=2))


def _levels(rows: list[tuple[str, ...]], label: str, found: list[dict[str, Any]]) -> None:
    t = TARGETS
    for x in found:
        s, b = x["stack"], x["baseline"]
        rows.append((f"{label} c={s['concurrency']} accepted/s", f"{s['per_s']}",
                     f"{b['per_s']}", ratio(s["per_s"], b["per_s"]),
                     f">= {t['single_accepted_per_s']}"))
        rows.append((f"{label} c={s['concurrency']} p50/p95/p99 ms",
                     f"{s['p50_ms']}/{s['p95_ms']}/{s['p99_ms']}",
                     f"{b['p50_ms']}/{b['p95_ms']}/{b['p99_ms']}",
                     ratio(s["p99_ms"], b["p99_ms"]), f"p99 <= {t['single_p99_ms']}"))


def _end_to_end(rows: list[tuple[str, ...]], x: dict[str, Any]) -> None:
    t, s, b = TARGETS, x["stack"], x["baseline"]
    c = s["concurrency"]
    rows.append((f"CPU ms per message, single c={c} to Read", f"{s['cpu_ms_per_message']}",
                  f"{b['cpu_ms_per_request']} (bare, per request)",
                  ratio(s["cpu_ms_per_message"], b["cpu_ms_per_request"]),
                  f"<= {t['cpu_ms_per_message']}"))
    rows.append((f"single c={c} to Read: accepted/s", f"{s['per_s']}", f"{b['per_s']}",
                 ratio(s["per_s"], b["per_s"]), f">= {t['single_accepted_per_s']}"))
    rows.append((f"single c={c} to Read: p99 ms", f"{s['p99_ms']}", f"{b['p99_ms']}",
                 ratio(s["p99_ms"], b["p99_ms"]), f"<= {t['single_p99_ms']}"))
    rows.append((f"single c={c}: last Read after load s",
                 f"{s['last_read_after_load_s']} ({s['read']}/{s['messages']})", "-", "-",
                 f"<= {t['last_read_after_load_s']}"))


def _bulk(rows: list[tuple[str, ...]], found: list[dict[str, Any]]) -> None:
    t = TARGETS
    for x in found:
        s, b = x["stack"], x["baseline"]
        c = s["concurrency"]
        rows.append((f"bulk x{BULK_SIZE} c={c} accepted msg/s", f"{s['messages_per_s']}",
                     f"{b['messages_per_s']}", ratio(s["per_s"], b["per_s"]),
                     f">= {t['bulk_messages_per_s']}"))
        if "read_per_s" in s:
            rows.append((f"bulk x{BULK_SIZE} c={c} Read msg/s (to the last)",
                         f"{s['read_per_s']} ({s['read']}/{s['messages']})", "-", "-",
                         f">= {t['bulk_read_per_s']}"))
            rows.append((f"bulk x{BULK_SIZE} c={c} CPU ms per message",
                         f"{s['cpu_ms_per_message']}",
                         f"{b['cpu_ms_per_request']} (bare, per request)", "-", "-"))


def _rebuild(rows: list[tuple[str, ...]], found: dict[str, Any]) -> None:
    for view, r in found.items():
        rows.append((f"rebuild {view}: raw JetStream publish/s", f"{r['publish_per_s']}",
                     "-", "-", "-"))
        for backend, b in r["backends"].items():
            rows.append((f"rebuild {view} on {backend} events/s", f"{b['events_per_s']}",
                         f"{b['raw_insert_rows_per_s']} ins / {r['consume_per_s']} cons",
                         f"{b['ratio_to_insert']}x / {b['ratio_to_consume']}x",
                         f">= {TARGETS['rebuild_events_per_s']}"))


def print_table(r: dict[str, Any]) -> None:
    t = TARGETS
    rows: list[tuple[str, ...]] = [("benchmark", "measured", "baseline", "ratio", "target")]
    if "end_to_end" in r:
        _end_to_end(rows, r["end_to_end"])
    _bulk(rows, r.get("bulk", []))
    _levels(rows, "single", r.get("single", []))
    _levels(rows, "instance", r.get("instance", []))
    if "accepted_to_sent" in r:
        a = r["accepted_to_sent"]
        rows.append((f"accepted->sent p50/p99 ms @{a['achieved_rate']}/s",
                     f"{a['sent_p50_ms']}/{a['sent_p99_ms']}",
                     f"{a['accept_p50_ms']}/{a['accept_p99_ms']} (accept RTT)",
                     ratio(a["sent_p99_ms"], a["accept_p99_ms"]), f"p99 <= {t['sent_p99_ms']}"))
    if "cold_start" in r:
        c = r["cold_start"]
        rows.append(("cold start to /health 200 s", f"{c['seconds']}", "-", "-",
                     f"<= {t['cold_start_s']}"))
        rows.append(("idle stack RSS MB", f"{c['idle_rss_mb']} ({c['processes']} procs)",
                     f"{c['baseline_rss_mb']} (bare uvicorn)",
                     ratio(c["idle_rss_mb"], c["baseline_rss_mb"]), f"<= {t['idle_rss_mb']}"))
        if "idle_cpu" in c:
            rows.append(("idle stack CPU % of one core",
                         f"{c['idle_cpu']['percent_of_one_core']}", "-", "-",
                         f"<= {t['idle_cpu_percent']}"))
    _rebuild(rows, r.get("rebuild", {}))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    print(f"loadavg start {r['loadavg_start']}  end {r.get('loadavg_end')}")
