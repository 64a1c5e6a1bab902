"""The REST gateway: both public APIs translated onto the services' gRPC APIs.

It authenticates, validates and maps; no business rule lives here.
"""
