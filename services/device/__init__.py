"""The device service: linked WhatsApp numbers, the shared pool, and message dispatch.

domain/   the Device and Dispatch aggregates, their events and named errors
app/      command handlers, the dispatcher with per-device pacing, the transport port
adapters/ the event codec, the device directory table, the transports (simulator, …)
ports/    the gRPC servicer and the JetStream consumer of queued messages
"""
