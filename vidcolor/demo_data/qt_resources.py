"""Read the files inside a Qt binary resource file (``.rcc``), as GCompris ships its photos.

Format (Qt's ``rcc``, versions 1-3): a 20-byte header ``qres``, version, and the offsets of the
tree, data and names sections (version 3 adds 4 bytes of flags). Tree nodes are 14 bytes (v1) or
22 (v2+, a modification time appended): name offset, flags, then a directory's child count and
first child index, or a file's locale and data offset. A data entry is a 4-byte size and the
bytes; flag 1 means qCompress (a 4-byte length, then zlib), flag 4 zstd. Names are a 2-byte
length, a 4-byte hash and UTF-16 big-endian characters.
"""

from __future__ import annotations

import struct
import zlib

_COMPRESSED, _DIRECTORY, _COMPRESSED_ZSTD = 1, 2, 4


def read_rcc(blob: bytes, where: str = "resource file") -> dict[str, bytes]:
    """Every file in the resource file ``blob`` as {path: bytes}; paths use ``/``, no leading
    ``/``. A file that is not one is a ValueError naming ``where``."""
    if blob[:4] != b"qres" or len(blob) < 20:
        raise ValueError(f"{where}: not a Qt resource file")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack_from(">H", blob, names + offset)
        start = names + offset + 6
        return blob[start : start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        index, parent = stack.pop()
        node = tree + index * node_size
        name_offset, flags = struct.unpack_from(">IH", blob, node)
        path = f"{parent}/{name_at(name_offset)}".lstrip("/") if index else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack_from(">II", blob, node + 6)
            stack.extend((child, path) for child in range(first, first + count))
            continue
        (offset,) = struct.unpack_from(">I", blob, node + 10)
        (size,) = struct.unpack_from(">I", blob, data + offset)
        content = blob[data + offset + 4 : data + offset + 4 + size]
        if flags & _COMPRESSED:
            content = zlib.decompress(content[4:])
        elif flags & _COMPRESSED_ZSTD:
            raise ValueError(f"{where}: {path} is zstd-compressed (not supported)")
        files[path] = content
    return files
