"""What an idle process does not import (docs/performance.md, "Fifth wave"): each check runs
in a fresh interpreter, since this test process has imported everything already."""

import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_tokens_sign_and_verify_without_loading_cryptography() -> None:
    pytest.importorskip("cryptography")  # installed (dev extra): the case that matters
    out = _run("""
        import sys, time
        from kernel.tokens import KeyRing, issue_user_token, read_token
        ring = KeyRing("k1", "s" * 32, {})
        token, _ = issue_user_token(ring, 7, "ann", False, time.time(), 60)
        caller = read_token(ring, token)
        print(caller.user_id, caller.username, "cryptography" in sys.modules)
        import cryptography.hazmat.primitives.hashes  # still importable afterwards
    """)
    assert out == "7 ann False"


def test_device_service_loads_the_qr_encoder_only_to_draw_a_code() -> None:
    out = _run("""
        import sys
        import services.device.bootstrap
        from services.device.adapters.qr import qr_png_data_url
        before = "segno" in sys.modules
        url = qr_png_data_url("2@pairing")
        print(before, "segno" in sys.modules, url.startswith("data:image/png;base64,iVBOR"))
    """)
    assert out == "False True True"


def test_webhook_client_makes_its_tls_context_for_the_first_request() -> None:
    from services.messaging.adapters.webhook_guard import TargetGuard
    from services.messaging.adapters.webhook_transport import GuardedTransport
    from services.messaging.domain.webhook_targets import AddressPolicy, allow_list

    transport = GuardedTransport(TargetGuard(AddressPolicy(allow_list(""))), 4)
    assert transport._pool is None
    assert transport.pool is transport.pool and transport._pool is not None
    assert transport.pool._ssl_context is not None
