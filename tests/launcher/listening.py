"""Which TCP ports a set of processes listens on, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

LISTEN = "0A"


def listening_ports(pids: list[int]) -> set[int]:
    inodes = {_socket_inode(pid, fd) for pid in pids for fd in _fds(pid)} - {None}
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _fds(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return []


def _socket_inode(pid: int, fd: str) -> str | None:
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    return target[len("socket:["):-1] if target.startswith("socket:[") else None
