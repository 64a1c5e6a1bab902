"""Every named error of every service takes its gRPC status from one kernel category
(kernel/errors.py), the one road from a domain error to a status: no service declares a
status of its own."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import grpc
import pytest

from kernel import errors
from kernel.errors import DomainError

CATEGORIES = (errors.InvalidRequestError, errors.NotFoundError, errors.UnauthorizedError,
              errors.ForbiddenError, errors.ConflictError, errors.UnavailableError,
              errors.FailedPreconditionError, errors.ThrottledError)
SERVICES = ("auth", "billing", "messaging", "device")


def _below(error: type[DomainError]) -> Iterator[type[DomainError]]:
    for sub in error.__subclasses__():
        yield sub
        yield from _below(sub)


def named_errors() -> set[type[DomainError]]:
    """Every error below `DomainError` that each service's composition root brings in."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.bootstrap")
    product = ("kernel.", "services.", "gateway.")  # not the tests' stand-ins for peers
    return {e for e in _below(DomainError)
            if e.__module__.startswith(product)} - set(CATEGORIES)


def families() -> set[type[DomainError]]:
    """Each service's base of its errors: a family, not a rule anyone breaks."""
    from services.auth.domain.errors import AuthError
    from services.billing.domain.errors import BillingError
    from services.device.domain.errors import DeviceError
    from services.messaging.domain.errors import MessagingError
    return {AuthError, BillingError, DeviceError, MessagingError}


def passed_on() -> set[type[DomainError]]:
    """A refusal another service made, passed on with that service's status."""
    from services.messaging.domain.errors import RefusedByServiceError
    return {RefusedByServiceError}


def test_every_named_error_is_in_exactly_one_category() -> None:
    found = named_errors()
    assert len(found) > 40
    outside = {e.__qualname__: [c.__name__ for c in CATEGORIES if issubclass(e, c)]
               for e in found - families() - passed_on()}
    assert {name: cats for name, cats in outside.items() if len(cats) != 1} == {}


def test_no_error_declares_a_status_of_its_own() -> None:
    assert sorted(e.__qualname__ for e in named_errors() if "status" in vars(e)) == []


AUTH, BILLING = "services.auth.domain.errors", "services.billing.domain.errors"
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(("module", "name", "status", "code"), [
    (AUTH, "SelfLockoutError", FAILED_PRECONDITION, "INVALID_REQUEST"),
    (AUTH, "LoginThrottledError", grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
    (AUTH, "UsernameTakenError", grpc.StatusCode.ALREADY_EXISTS, "INVALID_REQUEST"),
    (AUTH, "KeyTakenError", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
    (BILLING, "InsufficientCreditsError", FAILED_PRECONDITION, "INSUFFICIENT_CREDITS"),
    (BILLING, "QuotaExceededError", FAILED_PRECONDITION, "QUOTA_EXCEEDED"),
    (BILLING, "SubscriptionEndedError", grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    ("kernel.ratelimit", "RateLimitedError", grpc.StatusCode.RESOURCE_EXHAUSTED,
     "RATE_LIMITED"),
])
def test_the_category_fixes_the_status_and_the_error_keeps_its_code(
        module: str, name: str, status: grpc.StatusCode, code: str) -> None:
    error = getattr(importlib.import_module(module), name)
    assert (error.status, error.code) == (status, code)
