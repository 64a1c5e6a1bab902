"""Routers, collected in one place: every module in this package that has a `router`."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter

api = APIRouter()
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    if isinstance(getattr(_module, "router", None), APIRouter):
        api.include_router(_module.router)
