"""The official AsyncAPI JSON schemas, from the npm package @asyncapi/specs, fetched once
with `npm pack` into var/cache (git-ignored): third-party files are not committed."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

PACKAGE = "@asyncapi/specs"
VERSION = "6.11.1"  # ships schemas/3.0.0.json, a draft-07 schema with its definitions
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / f"asyncapi-specs-{VERSION}"


def asyncapi_schema(spec: str = "3.0.0") -> dict[str, Any]:
    target = CACHE / f"{spec}.json"
    if not target.exists():
        _fetch(spec, target)
    schema: dict[str, Any] = json.loads(target.read_text())
    return schema


def _fetch(spec: str, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is needed to fetch {PACKAGE}@{VERSION} (the AsyncAPI schema)")
    CACHE.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination",
                             str(CACHE)], capture_output=True, text=True, timeout=180)
    assert packed.returncode == 0, packed.stderr
    tarball = CACHE / packed.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/schemas/{spec}.json")
        assert member is not None
        target.write_bytes(member.read())
