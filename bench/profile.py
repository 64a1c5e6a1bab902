"""`python -m bench.profile`: cProfile every Python process of the stack under sends.

Starts the stack like `python -m bench`, with a sitecustomize.py on PYTHONPATH that runs
each `python -m launcher.single|gateway|services.*` process under cProfile (main thread,
where the asyncio loop runs) and dumps its stats at exit; drives sends for 10 s, stops the
stack, and prints each process's top functions by own time.

    python -m bench.profile                      # Messaging API single sends, c=32
    python -m bench.profile --api instance -c 8  # Instance API sends, c=8
    python -m bench.profile --api bulk -c 4      # bulk sends of 200 numbers, c=4"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import pstats
import sys
import tempfile
from pathlib import Path

from bench.load import bulk_body, closed_loop, instance_body, single_body
from bench.setup import STACK_SETTINGS, setup_instance, setup_user
from tests.support.stack import start_stack

SITECUSTOMIZE = '''
import atexit, cProfile, os
_argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")
if len(_argv) > 2 and _argv[1] == b"-m" and os.environ.get("BENCH_PROFILE_DIR"):
    _name = _argv[2].decode()
    if _name in ("gateway", "launcher.single") or _name.startswith("services."):
        _prof = cProfile.Profile()
        _prof.enable()
        def _dump():
            _prof.disable()
            _prof.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"], _name + ".prof"))
        atexit.register(_dump)
'''


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--api", choices=("messaging", "instance", "bulk"), default="messaging")
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="switchboard-profile-"))
    hook = var_dir / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = var_dir / "profiles"
    out.mkdir()
    os.environ["BENCH_PROFILE_DIR"] = str(out)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    stack = start_stack(var_dir / "stack", **STACK_SETTINGS)
    try:
        stack.wait_healthy()
        if args.api == "instance":
            path, body, headers = setup_instance(stack), instance_body, {}
        elif args.api == "bulk":
            path, body = "/api/messages/send-bulk-message", bulk_body
            headers, _ = setup_user(stack.url)
        else:
            path, body = "/api/messages/send-message", single_body
            headers, _ = setup_user(stack.url)
        r = asyncio.run(closed_loop(stack.url, path, body, headers, args.concurrency,
                                    args.duration))
        print(f"under cProfile: {r['per_s']}/s p50 {r['p50_ms']} p99 {r['p99_ms']} ms "
              f"errors {r['errors']}")
    finally:
        print(f"stack exit {stack.stop()}")
    for prof in sorted(out.glob("*.prof")):
        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        print(f"==== {prof.stem}: total {stats.total_tt:.1f} s (incl. idle waits)")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(15)
        print(buf.getvalue())
    print(f"profiles: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
