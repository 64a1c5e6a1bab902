"""The Messaging API (seed 002): `/api`, signed in with a JWT, errors in
`{"error", "message", "code"}`; its routers are listed in gateway/routes/__init__.py."""
