"""The docs hold no dead ends (issue 14, item 9): every relative link in README.md and
docs/*.md reaches a file of the repository (and its #anchor a heading there), every
section a doc names by title ("docs/x.md, "Title"") exists, no doc points outside the
repository, and every REST path the docs name is one the gateway serves: in its OpenAPI
document, with the method the doc gives it, or one of the few routes listed here that the
document leaves out."""

from __future__ import annotations

import inspect
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
V1 = "/api/v1/whatsapp"
# Served by the gateway but left out of its OpenAPI document (FastAPI's own pages).
OUTSIDE_OPENAPI = {"/openapi.json": {"get"}, "/docs": {"get"}, "/redoc": {"get"}}
# Named as the base of a group of routes, not as a route.
BASES = {"/api", "/api/", V1, "/api/admin/", "/api/admin/*", "/api/*"}

FENCE = re.compile(r"^ *```.*?^ *```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NAMED = re.compile(r"(docs/[\w-]+\.md),? \"([^\"]+)\"")
OUTSIDE = re.compile(r"(?<![\w.])(?:/work/|/home/|/tmp/|shared/seeds|shared/DESIGN)")
API_PATH = re.compile(
    r"(?:\b(GET|POST|PUT|PATCH|DELETE) )?[`\"']?\$?\w*(/api(?![\w.])[^\s`\"'),;?]*)")
TOPS = ("kernel", "services", "gateway", "launcher", "tests", "bench", "deploy", "proto", "docs")
REPO_PATH = re.compile(rf"(?<![\w/.-])((?:{'|'.join(TOPS)})/[\w./-]*[\w/])")
METHOD_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[^\s`\"'),;?]*)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in FENCE.sub("", doc.read_text()).splitlines()
            if line.startswith("#")]


def prose(doc: Path) -> str:
    return FENCE.sub("", doc.read_text())


@cache
def openapi_paths() -> dict[str, set[str]]:
    # The gateway's default settings, of the type create_app takes (wherever it lives).
    settings = getattr(app, inspect.signature(app.create_app).parameters["settings"].annotation)
    document: dict[str, Any] = app.create_app(settings()).openapi()
    return {path: set(ops) for path, ops in document["paths"].items()} | OUTSIDE_OPENAPI


def is_value(segment: str) -> bool:
    """A doc's segment that stands for a parameter: `{id}`, `$QUEUE_ID`, `msg_...`, `2`."""
    return segment.startswith(("{", "$")) or bool(re.search(r"[\d.…]", segment))


def served(path: str, method: str | None) -> bool:
    wanted = re.sub(r"(?<!\.)\.$", "", path).split("/")  # a sentence's full stop
    for route, methods in openapi_paths().items():
        parts = route.split("/")
        if len(parts) == len(wanted) and all(
                p == w or (p.startswith("{") and is_value(w)) for p, w in zip(parts, wanted,
                                                                              strict=True)):
            return method is None or method.lower() in methods
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_relative_link_reaches_a_file_and_its_anchor(doc: Path) -> None:
    for target in LINK.findall(prose(doc)):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        reached = (doc.parent / file).resolve() if file else doc
        assert reached.is_file() and reached.is_relative_to(ROOT), (doc.name, target)
        if anchor:
            assert anchor in {slug(h) for h in headings(reached)}, (doc.name, target)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_section_named_by_title_exists(doc: Path) -> None:
    for file, title in NAMED.findall(doc.read_text()):
        titles = headings(ROOT / file)
        assert any(h == title or h.startswith(f"{title} (") for h in titles), (file, title)


def ignored(path: str) -> bool:
    """Git ignores it: something a run makes (bench/results/, var/), not a source."""
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_repository_path_named_exists(doc: Path) -> None:
    """`services/auth/domain/common-passwords.txt`, `tests/launcher/test_up.py`, ..."""
    missing = [p for p in REPO_PATH.findall(prose(doc))
               if not (ROOT / p).exists() and not ignored(p)]
    assert not missing, (doc.name, missing)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_no_doc_points_outside_the_repository(doc: Path) -> None:
    found = [m.group(0) for m in OUTSIDE.finditer(doc.read_text())]
    assert not found, (doc.name, found)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_api_path_named_is_served(doc: Path) -> None:
    text = doc.read_text()
    unknown = {(method, path) for method, path in API_PATH.findall(text)
               if path not in BASES and not served(path, method or None)}
    assert not unknown, (doc.name, sorted(unknown))


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_other_call_named_is_served(doc: Path) -> None:
    """`GET /health`, and the Instance API's own paths (`GET /instance`) under its base."""
    unknown = {(method, path) for method, path in METHOD_PATH.findall(doc.read_text())
               if not path.startswith("/api")
               and not (served(path, method) or served(V1 + path, method))}
    assert not unknown, (doc.name, sorted(unknown))


def test_the_checks_see_what_they_check() -> None:
    """The patterns find the README's links, the sections it names and the API's paths."""
    readme = ROOT / "README.md"
    assert len(LINK.findall(prose(readme))) >= 5
    assert NAMED.findall(readme.read_text())
    assert len(REPO_PATH.findall(prose(ROOT / "docs" / "operations.md"))) >= 10
    api = (ROOT / "docs" / "api.md").read_text()
    assert len(API_PATH.findall(api)) >= 40 and len(METHOD_PATH.findall(api)) >= 40
    assert not served("/api/messages/history", None)
    assert served("/api/messages/message-status/msg_...", "GET")
    assert not served("/api/messages/send-message", "GET")
