"""The device service: linked WhatsApp numbers, the shared pool, and message dispatch.

domain/   the Device and Dispatch aggregates, their events and named errors
app/      command handlers, the dispatcher with per-device pacing, the transport port
adapters/ the event codec, the device directory table, session leases, and the three
          transports, one package each (simulator/, whatsmeow/, cloud/)
ports/    the gRPC servicers (DeviceService, CloudWebhookService) and the subscriptions
          to messaging's queued messages and auth's instances
"""
