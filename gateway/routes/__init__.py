"""Routers, collected in one place."""

from fastapi import APIRouter

from gateway.routes import admin, auth, health, messages, users

api = APIRouter()
for module in (auth, messages, users, admin, health):
    api.include_router(module.router)
