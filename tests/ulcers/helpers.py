"""Instants, request bodies and real image files shared by the ulcer and photo tests."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from tests.helpers import T0 as T0
from tests.helpers import T0_TEHRAN as T0_TEHRAN
from tests.images import UlcerPhoto, jpeg_bytes, ulcer_photo

OWN_ULCERS = "/api/v1/me/ulcers"
REVIEW_QUEUE = "/api/v1/review/photos"

# Day 0 a week later, so T0's local date is study day -7.
DAY0 = date(2026, 3, 9)
SIZE = (1200, 900)


def ulcer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "label": "A",
        "leg": "right",
        "location": "heel",
        "first_seen_on": "2026-02-20",
    }
    body.update(overrides)
    return body


@cache
def synthetic(seed: int, with_marker: bool = True) -> tuple[bytes, UlcerPhoto]:
    """A drawn ulcer photo (JPEG bytes) with its exact ground truth."""
    photo = ulcer_photo(seed, SIZE, with_marker)
    return jpeg_bytes(photo.image), photo


def png_bytes(image: Image.Image, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **params)
    return out.getvalue()


def upload(
    client: FlaskClient,
    headers: dict[str, str],
    ulcer_id: int,
    data: bytes,
    filename: str = "photo.jpg",
    **fields: Any,
) -> TestResponse:
    now_in_tehran = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tehran")).isoformat()  # the frozen clock
    form: dict[str, Any] = {"client_uuid": str(uuid.uuid4()), "recorded_at": now_in_tehran}
    form.update({k: str(v) for k, v in fields.items()})
    form["image"] = FileStorage(io.BytesIO(data), filename=filename)
    return post_multipart(client, f"{OWN_ULCERS}/{ulcer_id}/photos", form, headers)


def post_multipart(client: FlaskClient, url: str, form: dict[str, Any], headers: dict[str, str]) -> TestResponse:
    """POST a multipart body encoded in memory (the test client would spool a large one to a
    temporary file that nobody closes when the app refuses the body unread)."""
    boundary, body = encode_multipart(MultiDict(form))
    return client.post(url, data=body, headers=headers, content_type=f"multipart/form-data; boundary={boundary}")
