"""The photo store adapter: the directory store keeps its contract, and every use of stored
photos (upload, download, reanalysis, orphan sweep) works on a store that has no files."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend import imaging
from backend.ulcers.storage import FilesystemPhotoStore, PhotoStore
from tests.ulcers.helpers import synthetic, upload

KEY = "ab" + "0" * 62 + ".jpg"


class MemoryPhotoStore:
    """A store in a dict, as an object store would be: keys and bytes, no paths."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, float]] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = (self.objects.get(key, (data, 0.0))[0], time.time())

    def open(self, key: str) -> BinaryIO:
        return BytesIO(self.objects[key][0])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str, *, untouched_for: float = 0.0) -> bool:
        if key not in self.objects or self.objects[key][1] > time.time() - untouched_for:
            return False
        del self.objects[key]
        return True

    def keys(self, *, untouched_for: float = 0.0) -> Iterator[str]:
        cutoff = time.time() - untouched_for
        yield from [key for key, (_, written) in self.objects.items() if written <= cutoff]


def test_the_directory_store_keeps_the_contract(tmp_path: Path) -> None:
    store: PhotoStore = FilesystemPhotoStore(tmp_path)
    assert not store.exists(KEY)
    with pytest.raises(KeyError):
        store.open(KEY)
    store.put(KEY, b"photo")
    assert store.exists(KEY)
    with store.open(KEY) as stream:
        assert stream.read() == b"photo"
    assert list(store.keys(untouched_for=3600)) == []  # just written
    assert store.delete(KEY, untouched_for=3600) is False
    [file] = [p for p in tmp_path.rglob("*") if p.is_file()]
    os.utime(file, (time.time() - 7200, time.time() - 7200))
    assert list(store.keys(untouched_for=3600)) == [KEY]
    store.put(KEY, b"photo")  # the same image again: young again
    assert store.delete(KEY, untouched_for=3600) is False
    assert store.delete(KEY) is True and not store.exists(KEY)
    with pytest.raises(ValueError):
        store.put("../../etc/passwd", b"x")


def test_photos_work_on_a_store_without_files(
    app: Flask,
    client: FlaskClient,
    patient: dict[str, str],
    ulcer: dict[str, Any],
    photo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryPhotoStore()
    monkeypatch.setitem(app.extensions, "limbtrack_photo_store", store)
    data, truth = synthetic(3)
    photo = upload(client, patient, ulcer["id"], data, seed_x=truth.seed_px[0], seed_y=truth.seed_px[1]).json
    [key] = store.objects
    shown = client.get(f"/api/v1/photos/{photo['id']}/image", headers=patient, buffered=True)
    assert shown.status_code == 200 and shown.data == store.objects[key][0]

    monkeypatch.setattr(imaging, "ALGORITHM_VERSION", "9.9.9")
    monkeypatch.setattr("backend.imaging.estimate.ALGORITHM_VERSION", "9.9.9")
    result = app.test_cli_runner().invoke(args=["photos", "reanalyse", "--all"])
    assert result.exit_code == 0 and "1 analysed" in result.output, result.output

    store.objects["cd" + "1" * 62 + ".jpg"] = (b"x", time.time() - 7200)  # an upload that died before its row
    store.objects[key] = (store.objects[key][0], time.time() - 7200)  # old, but a photo uses it
    swept = app.test_cli_runner().invoke(args=["jobs", "run", "orphan-photos"])
    assert (swept.exit_code, swept.output) == (0, "orphan-photos: 1 files removed\n")
    assert list(store.objects) == [key]
    assert [p for p in photo_dir.rglob("*") if p.is_file()] == []
