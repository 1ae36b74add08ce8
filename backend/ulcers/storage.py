"""Photo storage by content hash: a directory under var/ on a laptop, an object store later.

Keys are `<sha256>.<ext>` of the stored (clean) bytes, so the same image is one file and a
key can never be made to point outside the store.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[0-9a-f]{64}\.(jpg|png)$")


class PhotoStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (a no-op but for its age if it is there already)."""

    def get(self, key: str) -> bytes: ...

    def path(self, key: str) -> Path: ...

    def keys_older_than(self, seconds: float) -> Iterator[str]: ...

    def delete_if_older(self, key: str, seconds: float) -> bool:
        """Delete `key` unless it was written or reused within `seconds`; True if deleted."""


class FilesystemPhotoStore:
    """Files under `root/ab/cd/<key>`, written to a temporary file and renamed into place,
    so a reader never sees half a photo."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a photo key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        if target.exists():
            # The same image again: mark it young, so the orphan sweep leaves it to the
            # upload that is about to commit a row for it.
            os.utime(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete_if_older(self, key: str, seconds: float) -> bool:
        target = self.path(key)
        try:
            if target.stat().st_mtime >= time.time() - seconds:
                return False
        except FileNotFoundError:
            return False
        target.unlink(missing_ok=True)
        return True

    def keys_older_than(self, seconds: float) -> Iterator[str]:
        """Stored keys last modified more than `seconds` ago (temporary files included as
        their own names are not keys: they are removed here directly)."""
        cutoff = time.time() - seconds
        if not self.root.exists():
            return
        for file in self.root.glob("*/*/*"):
            if file.stat().st_mtime >= cutoff:
                continue
            if file.name.startswith(".upload-"):
                file.unlink(missing_ok=True)  # a write that died before its rename
            elif _KEY.match(file.name):
                yield file.name
