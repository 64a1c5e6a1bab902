"""The real neonize package: it imports, loads the whatsmeow library shipped inside its
wheel (no download), and takes a client and the transport's subscriptions without any
network. It never connects: WhatsApp cannot be reached from here.

Run in a fresh interpreter whose sockets refuse to connect, so that an attempt to
download the library at import time would fail the test instead of passing quietly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

neonize = pytest.importorskip("neonize",
                              reason="the whatsmeow extra (neonize) is not installed here")

SCRIPT = textwrap.dedent("""
    import asyncio, json, socket, sys
    from pathlib import Path

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")
    socket.socket.connect = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    import neonize
    from neonize._binder import gocode
    from neonize.aioze.client import NewAClient
    from neonize.aioze.events import EVENT_TO_INT
    from neonize.utils.platform import generated_name
    from services.device.adapters.whatsmeow.events import SUBSCRIBED
    from services.device.adapters.send_ledger import SendLedger
    from services.device.adapters.whatsmeow.session import Session, SessionStores
    from datetime import datetime, UTC

    async def main():
        stores = SessionStores(Path(sys.argv[1]), SendLedger(None))
        args = await stores.client_args("dev-1", fresh=True)
        client = NewAClient(**args)
        async def report(*_): pass
        session = Session("dev-1", client, report, lambda: datetime.now(UTC))
        session.subscribe()
        return {
            "library": str(Path(neonize.__file__).parent / generated_name()),
            "library_version": gocode.GetVersion().decode(),
            "package_version": neonize.__version__,
            "uuid": client.uuid.decode(),
            "name": client.name,
            "subscribed": sorted(client.event.list_func),
            "expected": sorted(EVENT_TO_INT[t] for t in SUBSCRIBED),
            "qr_handler": client.event._qr == session._on_qr,
        }

    print(json.dumps(asyncio.run(main())))
""")


def test_neonize_constructs_a_client_offline_from_its_own_wheel(tmp_path: Path):
    package_dir = Path(neonize.__file__).parent
    before = sorted(p.name for p in package_dir.iterdir())
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "sessions")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["library"]).is_file()
    assert found["library_version"] == found["package_version"] == neonize.__version__
    assert (found["uuid"], found["name"]) == ("dev-1", str(tmp_path / "sessions" / "dev-1.db"))
    assert found["subscribed"] == found["expected"] and len(found["expected"]) == 12
    assert found["qr_handler"]
    assert sorted(p.name for p in package_dir.iterdir()) == before  # nothing downloaded
    assert not (tmp_path / "sessions" / "dev-1.db").exists()  # no store before connect
