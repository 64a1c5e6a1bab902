"""Entrypoints of the messaging service; they only translate."""
