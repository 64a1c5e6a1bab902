"""Use cases of the messaging service: one handler per command or query."""
