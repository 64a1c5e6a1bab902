"""The whatsmeow transport: real WhatsApp Web multi-device through neonize, an optional
extra (`pip install 'switchboard-gateway[whatsmeow]'`); importing this package loads
neonize, so the device service imports it only when this transport is picked. It exports
`WhatsmeowTransport` (one neonize client per device, in `transport.py`) and
`whatsmeow_from` (the transport built from the settings); `session.py` holds one
device's client, `events.py` reads what whatsmeow reports, `threads.py` bounds the
threads neonize runs on, `go_maps.py` has its Go calls take turns at the library's maps."""

from services.device.adapters.whatsmeow.transport import WhatsmeowTransport, whatsmeow_from

__all__ = ["WhatsmeowTransport", "whatsmeow_from"]
