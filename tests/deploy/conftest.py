"""Each manifest test runs once per Kustomize overlay."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import OVERLAYS, Obj, render


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> tuple[Obj, ...]:
    return render(overlay)
