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
