"""The embedded runtime: the `switchboard` CLI, nats-server and the process supervisor."""
