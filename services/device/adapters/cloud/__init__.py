"""The cloud transport: Meta's WhatsApp Business Cloud API, one phone number id per
device, sends over HTTPS and statuses through the gateway's signed webhook. It exports
`CloudTransport` and `cloud_from` (the transport built from the settings, in
`transport.py`), `CloudStatus` and `CloudStatusError` (a webhook's status as the gateway
forwards it, from `statuses.py`), `CloudMessage` (a webhook's message, read as an Inbound
in `inbound.py`) and `Template` (a template send, from `api.py`, the Graph API client);
`errors.py` is the table of Meta's error codes."""

from services.device.adapters.cloud.api import Template
from services.device.adapters.cloud.inbound import CloudMessage
from services.device.adapters.cloud.statuses import CloudStatus, CloudStatusError
from services.device.adapters.cloud.transport import CloudTransport, cloud_from

__all__ = ["CloudMessage", "CloudStatus", "CloudStatusError", "CloudTransport", "Template",
           "cloud_from"]
