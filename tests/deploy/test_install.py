"""A lean install (issue 14, item 10): `make run` installs the runtime and the whatsmeow
extra only, `make test` adds the `dev` extra, each once (a stamp per set of extras, redone
when pyproject.toml changes); and the product imports nothing that the runtime install
leaves out. The Makefile is asked what it would do (`make -n`) in a copy of the project."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PRODUCT = ("kernel", "services", "gateway", "launcher")
RUNTIME_INSTALL = "'.[whatsmeow]'"
DEV_INSTALL = "'.[dev,whatsmeow]'"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    return tmp_path


def plan(project: Path, target: str) -> str:
    """The commands `make <target>` would run here, run none of them."""
    done = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=project,
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "MAKEFLAGS": ""})
    assert done.returncode == 0, done.stderr
    return done.stdout


def installed(project: Path, *stamps: str) -> None:
    """A venv as the Makefile leaves it: python, the stamps and the generated code."""
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").touch()
    (project / "switchboard").mkdir()
    for stamp in (*stamps, "switchboard/.generated"):
        (project / stamp).touch()


def test_run_on_a_fresh_clone_installs_the_runtime_and_whatsmeow_only(project: Path) -> None:
    commands = plan(project, "run")
    assert "-m venv .venv" in commands and RUNTIME_INSTALL in commands
    assert "[dev" not in commands and "pytest" not in commands
    assert commands.rstrip().endswith(".venv/bin/switchboard up")


def test_test_adds_the_dev_extra_after_the_runtime(project: Path) -> None:
    commands = plan(project, "test")
    assert commands.index(RUNTIME_INSTALL) < commands.index(DEV_INSTALL)
    assert "pytest" in commands and "ruff check" in commands


def test_each_set_of_extras_is_installed_once(project: Path) -> None:
    installed(project, ".venv/.installed")
    assert "pip install" not in plan(project, "run")
    assert plan(project, "test").count("pip install") == 1
    (project / ".venv" / ".installed-dev").touch()
    assert "pip install" not in plan(project, "test")


def test_a_changed_pyproject_installs_again(project: Path) -> None:
    installed(project, ".venv/.installed", ".venv/.installed-dev")
    os.utime(project / "pyproject.toml", (9_999_999_999, 9_999_999_999))
    assert RUNTIME_INSTALL in plan(project, "run") and DEV_INSTALL in plan(project, "test")


def test_the_runtime_dependencies_hold_no_development_tool() -> None:
    runtime = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependencies"]}
    dev = {canonicalize_name(Requirement(r).name)
           for r in PYPROJECT["optional-dependencies"]["dev"]}
    assert {"pytest", "ruff", "mypy", "hypothesis"} <= dev and not runtime & dev


def closure(requirements: list[str]) -> set[str]:
    """The distributions installing these requirements brings in (as installed here)."""
    found: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        dist = metadata.distribution(name)
        wanted = [Requirement(r) for r in dist.requires or []]
        todo += [r for r in wanted if not r.marker or any(
            r.marker.evaluate({"extra": e}) for e in ("", *req.extras))]
    return found


def imported(package: str) -> set[str]:
    """The top-level modules a package's code imports, lazily or not."""
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_the_product_imports_only_what_the_runtime_install_brings() -> None:
    runtime = closure([*PYPROJECT["dependencies"],
                       *PYPROJECT["optional-dependencies"]["whatsmeow"]])
    providers = metadata.packages_distributions()
    own = {*PRODUCT, "switchboard"}
    outside = {}
    for module in set().union(*(imported(p) for p in PRODUCT)):
        if module in sys.stdlib_module_names or module in own:
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & runtime:
            outside[module] = sorted(dists)
    assert not outside, outside
