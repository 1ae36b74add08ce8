"""Photo storage by content hash, behind a small adapter: a directory on a laptop, an
object store (S3 and the like) later, with no filesystem path leaving the adapter.

Keys are `<sha256>.<ext>` of the stored (clean) bytes, so the same image is one object and
a key can never be made to point outside the store.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY = re.compile(r"^[0-9a-f]{64}\.(jpg|png)$")


class PhotoStore(Protocol):
    """Where stored photos live. `untouched_for` is in seconds since the object was last
    written or put again (a re-upload of the same image marks it young)."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (a no-op but for its age if it is there already)."""

    def open(self, key: str) -> BinaryIO:
        """A binary stream of the stored object, to read and close; KeyError if missing."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str, *, untouched_for: float = 0.0) -> bool:
        """Delete `key` unless it was written or put again within `untouched_for`; True if deleted."""

    def keys(self, *, untouched_for: float = 0.0) -> Iterator[str]:
        """Stored keys not written or put again within `untouched_for`."""


class FilesystemPhotoStore:
    """Files under `root/ab/cd/<key>`, written to a temporary file and renamed into place,
    so a reader never sees half a photo."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a photo key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, key: str, data: bytes) -> None:
        target = self._file(key)
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

    def open(self, key: str) -> BinaryIO:
        try:
            return self._file(key).open("rb")
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._file(key).is_file()

    def delete(self, key: str, *, untouched_for: float = 0.0) -> bool:
        target = self._file(key)
        try:
            if untouched_for and target.stat().st_mtime >= time.time() - untouched_for:
                return False
            target.unlink()
        except FileNotFoundError:
            return False
        return True

    def keys(self, *, untouched_for: float = 0.0) -> Iterator[str]:
        """Temporary files of a write that died before its rename are removed here once
        they are as old: their names are not keys."""
        cutoff = time.time() - untouched_for
        if not self.root.exists():
            return
        for file in self.root.glob("*/*/*"):
            if untouched_for and file.stat().st_mtime >= cutoff:
                continue
            if file.name.startswith(".upload-"):
                if untouched_for:  # never a write that may still be under way
                    file.unlink(missing_ok=True)
            elif _KEY.match(file.name):
                yield file.name
