"""URIs: local paths and ``s3://bucket/key``, read through ``pyarrow.fs``, written atomically.

Reads use a seekable ``open_input_file`` (an mp4 whose moov atom sits at the end needs seeks); media
readers wrap it in :class:`ReadAhead` so S3 sees few large range requests instead of one per 32 KiB.
The S3 endpoint comes from ``AWS_ENDPOINT_URL`` (unset: real AWS), credentials and region from the
standard AWS chain, which pyarrow's C++ client reads itself; we never touch or log them. Transient
S3 errors (throttling, resets, a server away for seconds) are retried with exponential backoff.
Writes land on a local temp file first; the final path/key appears only once it is complete
(``os.replace`` locally; S3 multipart upload, which makes the object visible only on completion).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pyarrow.fs as pafs

from vidcolor.errors import VidcolorError, one_line

VIDEO_EXTS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".mxf", ".wmv", ".flv", ".ogv", ".3gp", ".nut", ".y4m",
}  # fmt: skip
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dpx"}
MEDIA_EXTS = VIDEO_EXTS | IMAGE_EXTS

_COPY_CHUNK = 8 << 20
READ_AHEAD = 8 << 20  # bytes per S3 range request when media readers read a file
# Retries of one S3 request: backoff 2^n x 25 ms (no retry quota), about 25 s in all, so a store
# that is away for a few seconds (or throttles with 503) costs time, not the run.
S3_ATTEMPTS = 11


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
    # profile, instance role) itself. The "default" strategy has no retry quota, unlike
    # "standard", whose token bucket runs dry during an outage of a few seconds.
    kwargs: dict = {
        "region": region,
        "retry_strategy": pafs.AwsDefaultS3RetryStrategy(max_attempts=S3_ATTEMPTS),
        "connect_timeout": 5,
        "request_timeout": 60,
    }
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme
    return pafs.S3FileSystem(**kwargs)


@lru_cache(maxsize=8)
def _boto3_client(endpoint: str | None, region: str, _credentials: str):
    import boto3
    from botocore.config import Config

    retries = {"mode": "standard", "max_attempts": S3_ATTEMPTS}
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region, config=Config(retries=retries)
    )


def s3_client():
    """A boto3 S3 client on the same endpoint and credential chain as pyarrow's, with retries
    (for what pyarrow lacks: paginated listing, ETags)."""
    return _boto3_client(os.environ.get("AWS_ENDPOINT_URL") or None, _region(), _credentials_tag())


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


def suffix_of(uri: str) -> str:
    return PurePosixPath(str(uri).replace("\\", "/")).suffix.lower()


def kind_of(uri: str) -> str:
    """'image' or 'video', by the name's suffix (what the listing let through is one or the other)."""
    return "image" if suffix_of(uri) in IMAGE_EXTS else "video"


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
        raise VidcolorError(f"{uri}: cannot read ({one_line(err)})") from err


class ReadAhead:
    """A read-only, seekable file object over a pyarrow file that fetches ``chunk`` bytes per
    request and serves small reads (PyAV asks for 32 KiB at a time) from memory."""

    def __init__(self, raw: pafs.NativeFile, chunk: int = READ_AHEAD):
        self.raw, self.chunk = raw, chunk
        self.size = raw.size()
        self.pos = 0
        self.buf_start, self.buf = 0, b""

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        offset = self.pos - self.buf_start
        if not 0 <= offset < len(self.buf) or offset + n > len(self.buf) and n <= self.chunk:
            self.buf_start, self.buf = self.pos, self.raw.read_at(max(n, self.chunk), self.pos)
            offset = 0
        data = self.buf[offset : offset + n]
        if len(data) < n:  # a read larger than the chunk: straight through
            data += self.raw.read_at(n - len(data), self.pos + len(data))
        self.pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


def exists(uri: str) -> bool:
    """Whether something is at ``uri``. On S3 one HEAD of the object: pyarrow would follow a
    missing key with a LIST (is it a "directory"?), and planning checks every output this way."""
    fs, path = filesystem_for(uri)
    if is_s3(uri):
        return _s3_object_exists(path)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot check ({one_line(err)})") from err


def _s3_object_exists(path: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = path.partition("/")
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise VidcolorError(f"s3://{path}: cannot check ({one_line(err)})") from err
    except BotoCoreError as err:
        raise VidcolorError(f"s3://{path}: cannot check ({one_line(err)})") from err


def size_of(uri: str) -> int:
    fs, path = filesystem_for(uri)
    try:
        return fs.get_file_info(path).size or 0
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot check ({one_line(err)})") from err


def read_bytes(uri: str) -> bytes:
    """A whole (small) file: on S3 one GET (pyarrow's reader would HEAD it twice first, which
    for a reel's 129,600 frame files is most of its requests)."""
    if not is_s3(uri):
        with open_input(uri) as f:
            return f.read()
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = filesystem_for(uri)[1].partition("/")
    try:
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise VidcolorError(f"{uri}: no such file") from err
        raise VidcolorError(f"{uri}: cannot read ({one_line(err)})") from err
    except BotoCoreError as err:
        raise VidcolorError(f"{uri}: cannot read ({one_line(err)})") from err


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
        raise VidcolorError(f"{uri}: cannot write ({one_line(err)})") from err
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
        raise VidcolorError(f"{uri}: cannot write ({one_line(err)})") from err


def write_bytes_atomic(uri: str, data: bytes | bytearray) -> None:
    """``data`` at ``uri``, whole or not at all: locally through :func:`atomic_output`, on S3 as
    one PUT (an object appears only complete; a multipart upload would cost three requests)."""
    if not is_s3(uri):
        with atomic_output(uri) as tmp:
            tmp.write_bytes(data)
        return
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = filesystem_for(uri)[1].partition("/")
    try:
        s3_client().put_object(Bucket=bucket, Key=key, Body=bytes(data))
    except (BotoCoreError, ClientError) as err:
        raise VidcolorError(f"{uri}: cannot write ({one_line(err)})") from err


def fingerprint(uri: str) -> str:
    """Cheap content identity (uri, size, mtime; plus the ETag on S3), hashed. Never reads the data."""
    fs, path = filesystem_for(uri)
    try:
        info = fs.get_file_info(path)
    except OSError as err:
        raise VidcolorError(f"{uri}: cannot stat ({one_line(err)})") from err
    if info.type != pafs.FileType.File:
        raise VidcolorError(f"{uri}: no such file")
    parts = [str(uri), str(info.size), str(info.mtime_ns)]
    if is_s3(uri):
        parts.append(_s3_etag(path))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _s3_etag(path: str) -> str:
    # pyarrow's FileInfo has no ETag; boto3 gives it (same endpoint and credential chain).
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = path.partition("/")
    try:
        return str(s3_client().head_object(Bucket=bucket, Key=key).get("ETag", ""))
    except (BotoCoreError, ClientError):
        return ""
