"""The output codecs and their encoders: light (no av), so the CLI can offer them as choices."""

from __future__ import annotations

CODECS = {"h264": "libx264", "h265": "libx265", "ffv1": "ffv1", "prores": "prores_ks"}
