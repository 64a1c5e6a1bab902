"""The one image (Dockerfile, .dockerignore), checked without a Docker engine: a pinned
multi-stage build, proto code generated in the builder, a runtime stage without build
tools that runs as a numeric non-root user, and `switchboard` as the entry point."""

from __future__ import annotations

import re

import pytest

from kernel.config import SERVICES
from tests.deploy.dockerfile import Stage, ignored, stages
from tests.deploy.manifests import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PINNED_PYTHON = re.compile(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?")
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|gcc|g\+\+|make|build-essential|pip install)\b")
# the one system library the runtime may install: libmagic, which neonize loads
RUNTIME_LIBRARY = re.compile(r"apt-get (update|install -y --no-install-recommends libmagic1)")


@pytest.fixture(scope="module")
def built() -> list[Stage]:
    return stages(DOCKERFILE.read_text())


def test_two_stages_on_the_same_pinned_base(built: list[Stage]) -> None:
    assert len(built) >= 2
    for stage in built:
        assert PINNED_PYTHON.fullmatch(stage.image), stage.image
        assert "latest" not in stage.image
    assert built[0].name == "builder" and len({s.image for s in built}) == 1


def test_the_builder_installs_and_generates_the_proto_code(built: list[Stage]) -> None:
    runs = " ".join(i.args for i in built[0].all("RUN"))
    assert "pip install" in runs
    assert "grpc_tools.protoc -Iproto" in runs
    for flag in ("--python_out", "--pyi_out", "--grpc_python_out"):
        assert flag in runs


def test_the_runtime_copies_the_build_and_has_no_build_tools(built: list[Stage]) -> None:
    runtime = built[-1]
    copies = runtime.all("COPY")
    assert copies and all(c.args.startswith("--from=builder ") for c in copies)
    for run in runtime.all("RUN"):
        assert not BUILD_TOOLS.search(RUNTIME_LIBRARY.sub("", run.args)), run.args


def test_the_runtime_runs_as_a_numeric_non_root_user(built: list[Stage]) -> None:
    users = built[-1].all("USER")
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so runAsNonRoot can verify it"
    assert not gid or (gid.isdigit() and int(gid) > 0)


def test_the_entry_point_is_switchboard_with_the_service_as_argument(
        built: list[Stage]) -> None:
    runtime = built[-1]
    assert runtime.all("ENTRYPOINT")[-1].exec_form() == ["switchboard"]
    command = runtime.all("CMD")[-1].exec_form()
    assert command[0] == "service" and command[1] in (*SERVICES, "gateway")


@pytest.mark.parametrize("path", [".venv/bin/python", "var/auth.db", ".git/HEAD",
                                  "switchboard/auth/v1/auth_pb2.py", "tests/conftest.py",
                                  "kernel/__pycache__/host.cpython-311.pyc", "deploy/k8s",
                                  "bench/results/x.json"])
def test_the_build_context_leaves_out(path: str) -> None:
    assert ignored(DOCKERIGNORE, path)


def test_the_build_context_has_everything_the_builder_copies(built: list[Stage]) -> None:
    for copy in built[0].all("COPY"):
        *sources, _ = copy.args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not ignored(DOCKERIGNORE, source.strip("/")), source
    for kept in ("kernel/host.py", "proto/switchboard/auth/v1/auth.proto", "pyproject.toml"):
        assert not ignored(DOCKERIGNORE, kept)
