"""Messaging rules: numbers, bodies, the Message aggregate and its status lattice."""
