"""User-facing errors: one line that names the file and the reason."""

from __future__ import annotations


class VidcolorError(Exception):
    """An error the user can act on. ``str(err)`` is the one-line message the CLI prints."""

    exit_code = 1


class UsageError(VidcolorError):
    """Bad command-line usage (exit code 2)."""

    exit_code = 2


class CheckpointError(VidcolorError):
    """A file that is not a valid vidcolor checkpoint."""


class InceptionWeightsMissing(VidcolorError):
    """vit-i-gan needs ImageNet Inception-v3 weights and none were found."""


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {10: "\\n", 13: "\\r", 9: "\\t"}


def one_line(text: object, limit: int = 500) -> str:
    """``text`` as one printable line: control characters (a newline in a file name, say) are
    escaped, runs of spaces folded, the length capped. Every error message goes through this."""
    return " ".join(str(text).translate(_CONTROL).split())[:limit]
