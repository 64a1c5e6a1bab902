"""The auth service: users, argon2id password hashes, JWT issue and verify, admins."""
