"""The licence a Debian package's machine-readable copyright file gives one of its files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def debian_licence(copyright_text: str, path: str) -> str:
    """The ``License:`` a machine-readable Debian copyright file gives ``path``: the last
    ``Files:`` paragraph with a matching pattern wins (the format's rule)."""
    import fnmatch

    licence = ""
    for paragraph in copyright_text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        key = ""
        for line in paragraph.splitlines():
            if line[:1].isspace() and key:
                fields[key].extend(line.split())
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.split()
        patterns, found = fields.get("Files", []), fields.get("License", [])
        if found and any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns):
            licence = found[0]
    return licence


def package_licences(copyright_path: str) -> Callable[[str], str]:
    """path inside a package -> the licence its Debian copyright file gives it
    (:func:`debian_licence`), or "see copyright file" when it names none or is not installed."""
    copyright_file = Path(copyright_path)
    text = copyright_file.read_text() if copyright_file.is_file() else ""
    return lambda path: debian_licence(text, path) or "see copyright file"
