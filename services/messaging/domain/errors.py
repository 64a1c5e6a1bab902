"""The messaging service's named errors, one family under `MessagingError`."""

from __future__ import annotations

from kernel.errors import (
    ConflictError,
    DomainError,
    InvalidRequestError,
    NotFoundError,
    RemoteError,
    ThrottledError,
    UnavailableError,
)


class MessagingError(DomainError):
    """Base of every rule the messaging service enforces."""


class InvalidNumberError(MessagingError, InvalidRequestError):
    def __init__(self, number: str) -> None:
        shown = number[:40]
        super().__init__(f"Invalid phone number: {shown!r} (use international format, "
                         "e.g. 27821234567)", number=shown)


class InvalidMessageBodyError(MessagingError, InvalidRequestError):
    pass


class TemplateNotFoundError(MessagingError, NotFoundError):
    def __init__(self, template_id: int) -> None:
        super().__init__(f"Template {template_id} not found", template_id=template_id)


class MessageNotFoundError(MessagingError, NotFoundError):
    def __init__(self, queue_id: str) -> None:
        super().__init__(f"Message {queue_id[:40]!r} not found")


class BulkJobNotFoundError(MessagingError, NotFoundError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"Bulk job {job_id[:40]!r} not found")


class MessageAlreadyQueuedError(MessagingError, ConflictError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"Message {message_id} is already queued", message_id=message_id)


class RefusedByServiceError(MessagingError):
    """A rule another service enforced (INSUFFICIENT_CREDITS, ...); carries that service's
    code and status, so it passes through unchanged."""

    def __init__(self, remote: RemoteError) -> None:
        super().__init__(remote.message, **remote.metadata)
        self.code = remote.reason
        self.status = remote.status


class DependencyUnavailableError(MessagingError, UnavailableError):
    """A service this one depends on (billing, device) cannot be reached."""

    def __init__(self, service: str) -> None:
        super().__init__(f"The {service} service is unavailable; try again shortly",
                         service=service)


class InstanceNotConnectedError(MessagingError, ConflictError):
    """The seed's words, and after them the device's last error when it reported one."""

    code = "INSTANCE_NOT_CONNECTED"

    def __init__(self, instance_id: str, last_error: str = "") -> None:
        cause = f" Last device error: {last_error}" if last_error else ""
        super().__init__(f"WhatsApp instance is not connected. Scan QR code first.{cause}",
                         instance_id=instance_id)


class PoolEmptyError(MessagingError, ConflictError):
    """No pool device of the transport in use is linked, so a Messaging API send could
    never leave: refused before anything is charged, with the Instance API's code for a
    number that is not linked."""

    code = "INSTANCE_NOT_CONNECTED"

    def __init__(self, transport: str) -> None:
        super().__init__(
            f"No WhatsApp number is linked to this server's pool ({transport} transport), "
            "so the message cannot be sent; nothing was charged. An administrator links "
            "one by creating an instance and scanning its QR code.", transport=transport)


class WhatsAppTemplateUnsupportedError(MessagingError, InvalidRequestError):
    """A Meta template asked of a server whose transport has none (only the Cloud API
    has them): refused before anything is charged."""

    code = "UNSUPPORTED_BY_TRANSPORT"

    def __init__(self, transport: str) -> None:
        super().__init__(f"WhatsApp templates need the cloud transport (Meta's Cloud API); "
                         f"this server sends through {transport}. Nothing was charged.",
                         transport=transport)


class InvalidRecipientsError(MessagingError, InvalidRequestError):
    """A bulk send's list of numbers is empty or too long."""


class StatusStreamBehindError(MessagingError, ThrottledError):
    """A status stream's watcher fell too far behind the live events: its stream ends
    and it reconnects (nothing is replayed)."""

    def __init__(self) -> None:
        super().__init__("status stream fell behind; reconnect", retry_after=0)


class MissingVariableError(MessagingError, InvalidRequestError):
    def __init__(self, template_id: int, names: list[str]) -> None:
        shown = ", ".join(names)
        super().__init__(f"Missing template variable(s) for template {template_id}: {shown}",
                         template_id=template_id, missing=shown)


class MediaUrlRefusedError(MessagingError, InvalidRequestError):
    """A media URL pointing at an address the webhooks' guard refuses (SSRF)."""

    code = "MEDIA_URL_REFUSED"

    def __init__(self) -> None:
        super().__init__("media URL must point to a public address: loopback, private, "
                         "link-local and reserved ones are refused; nothing was sent or "
                         "charged")


class MediaFetchFailedError(MessagingError, InvalidRequestError):
    code = "MEDIA_FETCH_FAILED"

    def __init__(self, why: str) -> None:
        super().__init__(f"The media URL could not be fetched: {why}; nothing was sent or "
                         "charged", reason=why)
