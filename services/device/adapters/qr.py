"""QR images: a standard QR code (never Micro QR, which phones do not read) as PNG."""

from __future__ import annotations

import base64
import io


def qr_png(text: str, scale: int = 6) -> bytes:
    import segno  # only while pairing: not held by an idle device service

    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_png_data_url(text: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(text)).decode("ascii")
