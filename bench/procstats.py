"""What the benchmark reads off the machine: load, and the CPU and memory of a process tree."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def tree_rss_mb(root: int) -> tuple[float, int]:
    """Sum of RSS of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total_kb, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    count += 1
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return total_kb / 1024, count


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds (user + system) of the processes under `root`, by command (the
    processes of one command summed)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                argv = [b"?"]
            name = argv[2].decode() if len(argv) > 2 and argv[1] == b"-m" else \
                Path(argv[0].decode()).name
            out[name] = out.get(name, 0.0) + (int(stats[pid][11]) + int(stats[pid][12])) / tick
        todo.extend(children.get(pid, []))
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two `tree_cpu` readings."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def rss_by_process(root: int) -> dict[str, float]:
    """RSS in MB of each process under `root`, named like tree_cpu names them."""
    out: dict[str, float] = {}
    for name, pid in tree_pids(root).items():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    return out


def tree_pids(root: int) -> dict[str, int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out: dict[str, int] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = argv[2].decode() if len(argv) > 2 and argv[1] == b"-m" else \
            Path(argv[0].decode()).name
        out[name] = pid
        todo.extend(children.get(pid, []))
    return out


def machine() -> dict[str, Any]:
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "mem_gb": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform()}
