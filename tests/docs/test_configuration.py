"""docs/configuration.md against the settings classes, both ways: every field of every
process's settings has a row under its SWITCHBOARD_ name, in the section of a class that
declares it, and every SWITCHBOARD_ variable the page names is one of those fields."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from kernel.config import Settings
from launcher.settings import LauncherSettings
from services.auth.settings import AuthSettings
from services.billing.settings import BillingSettings
from services.device.settings import DeviceSettings
from services.messaging.settings import MessagingSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
# Each class and the heading its section starts with.
SECTIONS: dict[str, type[BaseSettings]] = {
    "Every process": Settings, "auth": AuthSettings, "billing": BillingSettings,
    "messaging": MessagingSettings, "device": DeviceSettings, "gateway": GatewaySettings,
    "launcher": LauncherSettings}
ROW = re.compile(r"^\| `(SWITCHBOARD_[A-Z0-9_]+)` \|")
NAMED = re.compile(r"SWITCHBOARD_[A-Z0-9_]*[A-Z0-9]")


def env_name(field: str) -> str:
    return f"SWITCHBOARD_{field.upper()}"


def rows_by_section() -> dict[str, set[str]]:
    """Variables with a table row, by the `## ` section they stand in."""
    rows: dict[str, set[str]] = {}
    section = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = next((s for s in SECTIONS if line[3:].startswith(s)), line[3:])
        elif match := ROW.match(line):
            rows.setdefault(section, set()).add(match.group(1))
    return rows


def declaring_sections(field: str) -> set[str]:
    """The sections of the classes that declare `field` themselves (not inherited)."""
    inherited = field in Settings.model_fields
    return {s for s, cls in SECTIONS.items()
            if field in cls.model_fields and (cls is Settings or not inherited)}


def all_fields() -> set[str]:
    return {f for cls in SECTIONS.values() for f in cls.model_fields}


def test_every_setting_has_a_row_in_the_section_of_its_class() -> None:
    rows = rows_by_section()
    missing = [f"{env_name(f)} (in {sorted(declaring_sections(f))})" for f in sorted(all_fields())
               if not any(env_name(f) in rows.get(s, set()) for s in declaring_sections(f))]
    assert not missing, f"settings without a row in their section: {missing}"


def test_every_variable_the_page_names_is_a_setting() -> None:
    known = {env_name(f) for f in all_fields()}
    unknown = sorted(set(NAMED.findall(DOC.read_text())) - known)
    assert not unknown, f"docs/configuration.md names variables no process reads: {unknown}"


def test_each_variable_has_one_row() -> None:
    rows = [m.group(1) for line in DOC.read_text().splitlines() if (m := ROW.match(line))]
    assert sorted(rows) == sorted(set(rows))


def test_a_setting_two_classes_declare_means_the_same_in_both() -> None:
    """The gateway reads the device's transport and messaging's template limits."""
    for field in all_fields():
        declared = [cls.model_fields[field] for cls in SECTIONS.values()
                    if field in cls.model_fields]
        assert len({(repr(f.annotation), repr(f.get_default(call_default_factory=True)))
                    for f in declared}) == 1, field
