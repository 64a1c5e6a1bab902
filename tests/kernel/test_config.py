"""kernel/config.py: the NATS address every process and command derives from the same
settings, and the settings each process reads of its own class."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.config import Settings
from launcher.settings import PROCESS_SETTINGS, StackSettings


def test_without_a_url_nats_is_the_embedded_servers_port(tmp_path: Path) -> None:
    assert Settings(var_dir=tmp_path).nats_url == "nats://127.0.0.1:4222"
    assert Settings(var_dir=tmp_path, nats_port=14222).nats_url == "nats://127.0.0.1:14222"
    given = "nats://nats.internal:4222"
    assert Settings(var_dir=tmp_path, nats_port=14222, nats_url=given).nats_url == given


@pytest.mark.parametrize("process", sorted(PROCESS_SETTINGS))
def test_every_process_and_the_launcher_read_one_nats_address_from_the_environment(
        process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_NATS_URL", raising=False)
    monkeypatch.setenv("SWITCHBOARD_NATS_PORT", "14333")
    monkeypatch.setenv("SWITCHBOARD_VAR_DIR", str(tmp_path))
    assert PROCESS_SETTINGS[process]().nats_url == StackSettings().nats_url \
        == "nats://127.0.0.1:14333"
