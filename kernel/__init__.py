"""The shared kernel: what every Switchboard service needs, in one copy.

Event store and aggregates, the outbox relay to NATS JetStream, durable consumers and
projections, the gRPC server bootstrap, configuration, logging and the service host.
"""
