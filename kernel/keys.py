"""The keys every process shares, where they come from, and which ones are refused.

Local use (`environment=local`, loopback only): a key left unset is read from
`<var_dir>/secrets/<name>`, or generated there on first use (directory 0700, file 0600),
so every process of one stack, and every start after the first, shares it. Anywhere
else keys must be given, and weak ones are refused: short, of few distinct characters,
of little estimated entropy, or a value or marker known from this repository's examples.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import secrets
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)
SECRETS_DIR = "secrets"
MIN_KEY_LENGTH = 32
MIN_KEY_DISTINCT = 10
MIN_KEY_BITS = 80.0  # length x Shannon entropy of its characters; 32 random hex: 90+
MIN_FRESH_TRIGRAMS = 0.75  # distinct / all runs of 3 characters: low when a chunk repeats
MIN_ADMIN_PASSWORD = 10
# Values that were or are written in this repository, and words that mark an example.
KNOWN_VALUES = frozenset({
    "", "change-me", "changeme", "secret", "password",
    "local-development-only-jwt-secret-not-for-production",
    "local-development-only-pepper-not-for-production",
    "dev-only-jwt-secret-not-for-production",
    "dev-only-secret-pepper-not-for-production",
    "dev-only-admin-password",
    "switchboard-admin",
})
MARKERS = ("dev-only", "not-for-production", "local-development", "change-me", "changeme",
           "replace-me", "placeholder", "example")


def private_dir(path: Path) -> Path:
    """`path`, created if missing, readable by its owner only (or a warning, when it
    belongs to someone else and cannot be changed)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        path.chmod(0o700)
    except PermissionError:
        log.warning("%s is not ours to make private (mode %o)", path, path.stat().st_mode)
    return path


def stored_secret(var_dir: Path, name: str, nbytes: int = 48) -> tuple[str, bool]:
    """The secret kept in `<var_dir>/secrets/<name>` (`nbytes` random bytes, URL-safe
    base64, when this call creates it), and whether this call created it. Processes
    starting together agree: the file appears whole (linked) or not at all."""
    private_dir(var_dir)
    folder = private_dir(var_dir / SECRETS_DIR)
    path = folder / name
    if path.exists():
        return path.read_text().strip(), False
    draft = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(nbytes) + "\n")
    try:
        os.link(draft, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        draft.unlink()
    return path.read_text().strip(), created


def secret_path(var_dir: Path, name: str) -> Path:
    return var_dir / SECRETS_DIR / name


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def weak_key(value: str) -> str | None:
    """Why `value` is no key to sign tokens or pepper secrets with, or None."""
    if not value:
        return "not set"
    if is_known(value):
        return "a value known from examples or development"
    if len(value) < MIN_KEY_LENGTH:
        return f"shorter than {MIN_KEY_LENGTH} characters"
    counts = Counter(value)
    if len(counts) < MIN_KEY_DISTINCT:
        return f"fewer than {MIN_KEY_DISTINCT} distinct characters"
    if _entropy_bits(counts, len(value)) < MIN_KEY_BITS:
        return "too predictable (too little entropy)"
    trigrams = [value[i:i + 3] for i in range(len(value) - 2)]
    if len(set(trigrams)) < MIN_FRESH_TRIGRAMS * len(trigrams):
        return "too predictable (it repeats itself: too little entropy)"
    return None


def weak_admin_password(value: str) -> str | None:
    if is_known(value):
        return "a value known from examples or development"
    if len(value) < MIN_ADMIN_PASSWORD or not value.strip():
        return f"shorter than {MIN_ADMIN_PASSWORD} characters"
    return None


def is_known(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in KNOWN_VALUES or any(marker in lowered for marker in MARKERS)


def _entropy_bits(counts: Counter[str], length: int) -> float:
    return -length * sum(n / length * math.log2(n / length) for n in counts.values())


KEY_SIZES = {"jwt-secret": 48, "secret-pepper": 48, "admin-password": 18}  # random bytes


def write_env_file(path: Path) -> bool:
    """Fresh keys as `name=value` lines (a Kubernetes Secret's keys) in a new file of mode
    0600; False, and the file untouched, when it exists already."""
    lines = "".join(f"{name}={secrets.token_urlsafe(size)}\n" for name, size in KEY_SIZES.items())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as out:
        out.write(lines)
    return True
