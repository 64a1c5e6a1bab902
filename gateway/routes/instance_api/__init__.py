"""The Instance API (seed 000): `/api/v1/whatsapp`, signed with an instance's key pair,
answers in `{"success", "message", "data"}`; its routers are listed in
gateway/routes/__init__.py."""
