"""URIs: local paths and ``s3://bucket/key``, read through ``pyarrow.fs``, written atomically.

Reads use a seekable ``open_input_file`` (an mp4 whose moov atom sits at the end needs seeks).
The S3 endpoint comes from ``AWS_ENDPOINT_URL`` (unset: real AWS), credentials and region from the
standard AWS chain, which pyarrow's C++ client reads itself; we never touch or log them.
Writes land on a local temp file first; the final path/key appears only once it is complete
(``os.replace`` locally; S3 multipart upload, which makes the object visible only on completion).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob as globlib
import hashlib
import os
import posixpath
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pyarrow.fs as pafs

from vidcolor.errors import VidcolorError

VIDEO_EXTS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".mxf", ".wmv", ".flv", ".ogv", ".3gp", ".nut", ".y4m",
}  # fmt: skip
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
MEDIA_EXTS = VIDEO_EXTS | IMAGE_EXTS

_COPY_CHUNK = 8 << 20


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _credentials_tag() -> str:
    # Part of the cache key only, so a changed credential environment gets a fresh client.
    env = "\0".join(os.environ.get(k, "") for k in _CREDENTIAL_VARS)
    return hashlib.sha256(env.encode()).hexdigest()


_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)


@lru_cache(maxsize=8)
def _s3_filesystem(endpoint: str | None, region: str, _credentials: str) -> pafs.S3FileSystem:
    # Credentials are deliberately not passed: pyarrow resolves the default AWS chain (env vars,
    # profile, instance role) itself.
    kwargs: dict = {"region": region}
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme
    return pafs.S3FileSystem(**kwargs)


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path within it)`` for a local path or ``s3://bucket/key``."""
    uri = str(uri)
    if is_s3(uri):
        path = uri[len("s3://") :]
        if not path or path.startswith("/"):
            raise VidcolorError(f"{uri}: not a valid s3://bucket/key URI")
        fs = _s3_filesystem(
            os.environ.get("AWS_ENDPOINT_URL") or None, _region(), _credentials_tag()
        )
        return fs, path
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))


def _suffix(uri: str) -> str:
    return PurePosixPath(str(uri).replace("\\", "/")).suffix.lower()


def open_input(uri: str) -> pafs.NativeFile:
    """A seekable binary file for ``uri``; ``VidcolorError`` naming it when missing or unreadable."""
    fs, path = filesystem_for(uri)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise VidcolorError(f"{uri}: no such file")
        if info.type == pafs.FileType.Directory:
            raise VidcolorError(f"{uri}: is a directory, expected a file")
        return fs.open_input_file(path)
    except VidcolorError:
        raise
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot read ({_one_line(err)})") from err


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def exists(uri: str) -> bool:
    fs, path = filesystem_for(uri)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot check ({_one_line(err)})") from err


def read_bytes(uri: str) -> bytes:
    with open_input(uri) as f:
        return f.read()


@dataclass
class InputFile:
    uri: str
    relpath: str  # relative to the input root it was found under (directory, prefix or glob base)


def _is_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def _join_uri(uri_root: str, rel: str) -> str:
    return uri_root.rstrip("/") + "/" + rel if rel else uri_root


def _list_tree(uri: str) -> list[InputFile] | None:
    """Files under ``uri`` (a file or a directory/prefix), or None when nothing is there."""
    fs, path = filesystem_for(uri)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            return [InputFile(uri=uri, relpath=posixpath.basename(path))]
        if info.type == pafs.FileType.NotFound and not is_s3(uri):
            return None
        # An S3 "directory" may be a bare prefix that reports NotFound: list it anyway.
        selector = pafs.FileSelector(path.rstrip("/"), recursive=True, allow_not_found=True)
        found = fs.get_file_info(selector)
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot list ({_one_line(err)})") from err
    root = path.rstrip("/")
    out = []
    for entry in found:
        if entry.type != pafs.FileType.File:
            continue
        rel = posixpath.relpath(entry.path, root) if not is_s3(uri) else entry.path[len(root) + 1 :]
        rel = rel.replace(os.sep, "/")
        out.append(InputFile(uri=_join_uri(uri, rel), relpath=rel))
    return out if out or info.type == pafs.FileType.Directory else None


def _glob_regex(pattern: str) -> re.Pattern:
    """Shell glob on '/'-separated keys, like glob.glob: '*' stays in one level, '**/' spans any."""
    out = []
    for i, part in enumerate(pattern.split("/")):
        if part == "**":
            out.append("(?:[^/]+/)*")
            continue
        # fnmatch.translate gives '(?s:...)\\Z'; '*' must not cross '/'.
        body = fnmatch.translate(part)[4:-3].replace(".*", "[^/]*")
        body = re.sub(r"(?<!\\)\.", "[^/]", body)  # '?' -> any one character but '/'
        out.append(body + ("/" if i < len(pattern.split("/")) - 1 else ""))
    return re.compile("".join(out))


def _list_glob(pattern: str) -> list[InputFile]:
    parts = pattern.split("/")
    first_wild = next(i for i, p in enumerate(parts) if _is_glob(p))
    base = "/".join(parts[:first_wild])
    if is_s3(pattern):
        candidates = _list_tree(base) or []
        regex = _glob_regex("/".join(parts[first_wild:]))
        return [c for c in candidates if regex.fullmatch(c.relpath)]
    out = []
    for match in globlib.glob(os.path.expanduser(pattern), recursive=True):
        if os.path.isdir(match):
            for f in _list_tree(match) or []:
                rel = os.path.relpath(os.path.join(match, f.relpath), base or ".")
                out.append(InputFile(uri=f.uri, relpath=rel.replace(os.sep, "/")))
        elif os.path.isfile(match):
            rel = os.path.relpath(match, base or ".")
            out.append(InputFile(uri=match, relpath=rel.replace(os.sep, "/")))
    return out


def list_inputs(inputs: list[str]) -> list[InputFile]:
    """Video and image files named by ``inputs``: files, directories (recursive), globs, S3 prefixes.

    Sorted by URI, duplicates dropped; an input that matches no media file is an error naming it.
    """
    seen: dict[str, InputFile] = {}
    for item in inputs:
        item = str(item)
        found = _list_glob(item) if _is_glob(item) else _list_tree(item)
        if found is None:
            raise VidcolorError(f"{item}: no such file or directory")
        media = [f for f in found if _suffix(f.uri) in MEDIA_EXTS]
        if not media:
            raise VidcolorError(f"{item}: no video or image files found")
        for f in media:
            seen.setdefault(f.uri, f)
    return sorted(seen.values(), key=lambda f: f.uri)


def safe_join(root: str, relpath: str) -> str:
    """``root/relpath``, refusing anything that would land outside ``root``."""
    rel = str(relpath).replace("\\", "/")
    if not rel or rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise VidcolorError(f"{relpath!r}: output path must be relative to {root}")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise VidcolorError(f"{relpath!r}: output path escapes the output root {root}")
    clean = "/".join(parts)
    if is_s3(root):
        return str(root).rstrip("/") + "/" + clean
    return os.path.join(str(root), *parts)


@contextlib.contextmanager
def atomic_output(uri: str) -> Iterator[Path]:
    """Yield a local temp path (same suffix as ``uri``); publish it to ``uri`` only on clean exit.

    On an exception the temp file is removed and an existing ``uri`` is left untouched.
    """
    uri = str(uri)
    suffix = PurePosixPath(uri).suffix
    if is_s3(uri):
        fd, tmp = tempfile.mkstemp(prefix="vidcolor-", suffix=suffix)
    else:
        target = Path(filesystem_for(uri)[1])
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target so os.replace is an atomic rename on one filesystem.
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{suffix}", dir=target.parent
        )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if is_s3(uri):
            _upload(tmp_path, uri)
        else:
            # mkstemp makes the file 0600; a finished output gets the usual mode for a new file.
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, target)
    except OSError as err:
        if err.errno not in _FULL_ERRNOS:
            raise
        # A full disk fails this output only, with one line naming it (not the whole run).
        raise VidcolorError(f"{uri}: cannot write ({_one_line(err)})") from err
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # disk full, quota, size limit


def _upload(local: Path, uri: str) -> None:
    fs, path = filesystem_for(uri)
    try:
        # S3 output streams are multipart uploads: the object exists only once close() completes.
        with open(local, "rb") as src, fs.open_output_stream(path) as dst:
            while chunk := src.read(_COPY_CHUNK):
                dst.write(chunk)
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot write ({_one_line(err)})") from err


def write_bytes_atomic(uri: str, data: bytes) -> None:
    with atomic_output(uri) as tmp:
        tmp.write_bytes(data)


def fingerprint(uri: str) -> str:
    """Cheap content identity (uri, size, mtime; plus the ETag on S3), hashed. Never reads the data."""
    fs, path = filesystem_for(uri)
    try:
        info = fs.get_file_info(path)
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot stat ({_one_line(err)})") from err
    if info.type != pafs.FileType.File:
        raise VidcolorError(f"{uri}: no such file")
    parts = [str(uri), str(info.size), str(info.mtime_ns)]
    if is_s3(uri):
        parts.append(_s3_etag(path))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _s3_etag(path: str) -> str:
    # pyarrow's FileInfo has no ETag; boto3 gives it (same endpoint and credential chain).
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = path.partition("/")
    try:
        client = boto3.client(
            "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, region_name=_region()
        )
        return str(client.head_object(Bucket=bucket, Key=key).get("ETag", ""))
    except (BotoCoreError, ClientError):
        return ""
