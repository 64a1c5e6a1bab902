"""`python -m bench [all|sends|idle|rebuild]`: the benchmarks, each beside a baseline from the
same run.

    python -m bench                       # everything at full size (= make bench)
    python -m bench sends --duration 2    # only the sends phase, 2 s per measurement
    python -m bench idle                  # only cold start and idle memory (~15 s)
    python -m bench rebuild --events 100000 --backends sqlite --views history

Writes bench/results/<UTC timestamp>.json (git-ignored) and a .png chart beside it, and
prints a table. Traffic goes to 127.0.0.1 only."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.charts import write_chart
from bench.procstats import loadavg, machine
from bench.rebuild import run_rebuild
from bench.report import TARGETS, print_table, write_json
from bench.sends import run_idle, run_sends, say

HERE = Path(__file__).resolve().parent


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("phase", nargs="?", default="all",
                        choices=("all", "sends", "idle", "rebuild"))
    parser.add_argument("--duration", type=float,
                        default=float(os.environ.get("BENCH_DURATION", "6")),
                        help="seconds per send measurement (default 6, or $BENCH_DURATION)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events each rebuilt view is replayed from (default 1,000,000)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="stores to rebuild on, comma-separated")
    parser.add_argument("--views", default="history,quota",
                        help="views to rebuild, comma-separated")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = arguments(argv)
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": machine(), "loadavg_start": loadavg(),
                               "targets": TARGETS, "phase": args.phase,
                               "duration_per_level_s": args.duration}
    say(f"machine {results['machine']}  loadavg {results['loadavg_start']}")
    failed = False
    try:
        if args.phase in ("all", "sends"):
            run_sends(results, args.duration)
        if args.phase == "idle":
            run_idle(results)
        if args.phase in ("all", "rebuild"):
            results["rebuild_events"] = args.events
            results["rebuild"] = asyncio.run(run_rebuild(
                args.events, args.views.split(","), args.backends.split(","), say))
    except Exception:  # keep what was measured; the JSON says the run is incomplete
        failed = True
        results["error"] = traceback.format_exc()
        traceback.print_exc()
    results["loadavg_end"] = loadavg()
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stem = out / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_json(stem.with_suffix(".json"), results)
    chart = write_chart(stem.with_suffix(".png"), results)
    print_table(results)
    say(f"results: {stem.with_suffix('.json')}" + (f"  chart: {chart}" if chart else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
