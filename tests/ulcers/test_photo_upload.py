"""Uploading ulcer photos: content-decided types, limits, stripped storage, idempotency,
and nothing half-stored when anything fails."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageCms, PngImagePlugin
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.entries import service as entries_service
from backend.participants.service import change_status
from backend.ulcers import upkeep
from backend.ulcers.models import UlcerPhoto
from tests.ulcers.helpers import T0, T0_TEHRAN, png_bytes, post_multipart, synthetic, upload


def exiftool_tags(path: Path) -> dict[str, Any]:
    """Every tag exiftool finds, keyed `group:name` (-G1: the specific group, e.g. GPS, XMP-x)."""
    result = subprocess.run(["exiftool", "-j", "-a", "-G1", str(path)], capture_output=True, check=True)  # noqa: S603, S607
    tags: dict[str, Any] = json.loads(result.stdout)[0]
    return tags


def photo_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(UlcerPhoto)) or 0


def stored_files(photo_dir: Path) -> list[Path]:
    return [p for p in photo_dir.rglob("*") if p.is_file()] if photo_dir.exists() else []


def test_upload_stores_the_photo_and_a_provisional_area(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], photo_dir: Path
) -> None:
    data, truth = synthetic(3)
    seed_x, seed_y = truth.seed_px
    response = upload(client, patient, ulcer["id"], data, seed_x=seed_x, seed_y=seed_y)
    assert response.status_code == 201, response.json
    photo = response.json
    assert photo["received_sha256"] == hashlib.sha256(data).hexdigest()
    assert photo["received_format"] == "JPEG" and photo["media_type"] == "image/jpeg"
    assert (photo["width"], photo["height"]) == truth.image.size
    assert photo["review_status"] == "pending" and photo["review"] is None
    assert photo["local_date"] == "2026-03-02" and photo["study_day"] == -7
    analysis = photo["analysis"]
    assert analysis["status"] in ("ok", "low_quality")
    # The upload stores the estimator's area; its accuracy is measured on real photos
    # (bench/ulcer_real.py), not on this synthetic one.
    assert analysis["area_mm2"] == pytest.approx(truth.true_area_mm2, rel=0.5)
    assert len(analysis["marker_corners"]) == 4
    [file] = stored_files(photo_dir)
    assert file.name == hashlib.sha256(file.read_bytes()).hexdigest() + ".jpg"
    shown = client.get(f"/api/v1/photos/{photo['id']}", headers=patient)
    assert shown.status_code == 200 and shown.json["analysis"] == analysis


def test_replay_returns_the_original_and_a_changed_replay_is_refused(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    data, _ = synthetic(3)
    client_uuid = str(uuid.uuid4())
    first = upload(client, patient, ulcer["id"], data, client_uuid=client_uuid)
    again = upload(client, patient, ulcer["id"], data, client_uuid=client_uuid)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["id"] == first.json["id"]
    other, _ = synthetic(4)
    changed = upload(client, patient, ulcer["id"], other, client_uuid=client_uuid)
    assert changed.status_code == 422
    assert "client_uuid" in changed.json["errors"]["files"]
    assert photo_count(db) == 1 and len(stored_files(photo_dir)) == 1


# .ci/run installs exiftool and sets LIMBTRACK_REQUIRE_EXIFTOOL, so CI never skips this.
@pytest.mark.skipif(
    shutil.which("exiftool") is None and not os.environ.get("LIMBTRACK_REQUIRE_EXIFTOOL"),
    reason="needs exiftool (apt-get install libimage-exiftool-perl); .ci/run installs it",
)
def test_no_metadata_survives_and_the_photo_is_stored_upright(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], photo_dir: Path, tmp_path: Path
) -> None:
    image = Image.new("RGB", (320, 200), (190, 140, 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (35.0, 41.0, 21.0)  # GPSLatitudeRef, GPSLatitude (Tehran)
    gps[3], gps[4] = "E", (51.0, 23.0, 20.0)
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="PhoneCamera 1.0"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    sent = io.BytesIO()
    image.save(sent, "JPEG", exif=exif, xmp=xmp, icc_profile=icc, comment=b"Tehran, patient 7")
    sent_path = tmp_path / "sent.jpg"
    sent_path.write_bytes(sent.getvalue())
    sent_groups = {key.split(":")[0] for key in exiftool_tags(sent_path) if ":" in key}
    assert {"GPS", "IFD0", "ICC-header", "XMP-xmp"} <= sent_groups, sent_groups  # the test file carries them

    response = upload(client, patient, ulcer["id"], sent.getvalue())
    assert response.status_code == 201, response.json
    assert (response.json["width"], response.json["height"]) == (200, 320)
    [stored] = stored_files(photo_dir)
    tags = exiftool_tags(stored)
    groups = {key.split(":")[0] for key in tags if ":" in key}
    assert not {g for g in groups if g.startswith(("GPS", "XMP", "ICC", "IFD0", "ExifIFD", "IFD1"))}, tags
    assert "File:Comment" not in tags and not any("Orientation" in key for key in tags), tags
    with Image.open(stored) as kept:
        assert kept.size == (200, 320)


def test_png_is_kept_lossless_without_text_chunks(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], photo_dir: Path
) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "patient 7 at home")
    image = Image.new("RGBA", (200, 150), (200, 120, 100, 255))
    response = upload(client, patient, ulcer["id"], png_bytes(image, pnginfo=info), filename="x.png")
    assert response.status_code == 201, response.json
    assert response.json["media_type"] == "image/png"
    [stored] = stored_files(photo_dir)
    with Image.open(stored) as kept:
        assert kept.format == "PNG" and kept.mode == "RGB"
        assert "Comment" not in kept.info and kept.getpixel((10, 10)) == (200, 120, 100)


def test_heic_from_an_iphone_is_accepted_and_stored_as_jpeg(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], photo_dir: Path
) -> None:
    _, truth = synthetic(3)
    sent = io.BytesIO()
    truth.image.save(sent, "HEIF", quality=90)  # pillow-heif's encoder
    response = upload(client, patient, ulcer["id"], sent.getvalue(), filename="IMG_0001.HEIC")
    assert response.status_code == 201, response.json
    assert response.json["received_format"] == "HEIF" and response.json["media_type"] == "image/jpeg"
    assert response.json["analysis"]["marker_corners"] is not None
    [stored] = stored_files(photo_dir)
    assert stored.suffix == ".jpg"


def _truncated_jpeg() -> bytes:
    data, _ = synthetic(3)
    return data[: len(data) // 2]


def _bomb_png() -> bytes:
    # 100 megapixels of one colour: a few kilobytes on the wire.
    return png_bytes(Image.new("1", (10_000, 10_000)))


BAD_FILES = {
    "pdf named .jpg": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n", 422),
    "1x1 image": (png_bytes(Image.new("RGB", (1, 1))), 422),
    "empty file": (b"", 422),
    "truncated JPEG": (None, 422),
    "100-megapixel PNG": (None, 413),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused_and_nothing_is_stored(
    case: str, client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    data, status = BAD_FILES[case]
    if case == "truncated JPEG":
        data = _truncated_jpeg()
    elif case == "100-megapixel PNG":
        data = _bomb_png()
    assert data is not None
    response = upload(client, patient, ulcer["id"], data)
    assert response.status_code == status, response.json
    assert response.json["status"] == status and response.json["message"]
    if status == 422:
        assert "image" in response.json["errors"]["files"]
    assert photo_count(db) == 0 and stored_files(photo_dir) == []


def test_more_than_20_mb_is_refused_before_decoding(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    data, _ = synthetic(3)
    huge = data + b"\0" * (20 * 1024 * 1024)
    response = upload(client, patient, ulcer["id"], huge)
    assert response.status_code == 413
    assert response.json["code"] in ("payload_too_large", "request_entity_too_large")
    assert photo_count(db) == 0 and stored_files(photo_dir) == []


def test_bad_form_fields_name_the_field(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    data, _ = synthetic(3)
    outside = upload(client, patient, ulcer["id"], data, seed_x=5000, seed_y=10)
    assert outside.status_code == 422 and "seed_x" in outside.json["errors"]["files"]
    half = upload(client, patient, ulcer["id"], data, seed_x=10)
    assert half.status_code == 422 and "seed_y" in half.json["errors"]["files"]
    naive = upload(client, patient, ulcer["id"], data, recorded_at="2026-03-02T12:30:00")
    assert naive.status_code == 422 and "recorded_at" in naive.json["errors"]["files"]
    outline = upload(client, patient, ulcer["id"], data, outline="[[1, 2], [3]]")
    assert outline.status_code == 422 and "outline" in outline.json["errors"]["files"]
    crossing = upload(client, patient, ulcer["id"], data, outline="[[0,0],[100,100],[100,0],[0,100]]")
    assert crossing.status_code == 422 and "outline" in crossing.json["errors"]["files"]
    no_file = post_multipart(
        client,
        f"/api/v1/me/ulcers/{ulcer['id']}/photos",
        {"client_uuid": str(uuid.uuid4()), "recorded_at": T0_TEHRAN, "image": "not a file"},
        patient,
    )
    assert no_file.status_code == 422 and "image" in no_file.json["errors"]["files"]
    assert photo_count(db) == 0 and stored_files(photo_dir) == []


def test_photo_without_marker_has_no_mm2_but_an_outline(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any]
) -> None:
    data, truth = synthetic(5, with_marker=False)
    response = upload(client, patient, ulcer["id"], data, seed_x=truth.seed_px[0], seed_y=truth.seed_px[1])
    assert response.status_code == 201
    analysis = response.json["analysis"]
    assert analysis["status"] == "no_marker"
    assert analysis["area_mm2"] is None and analysis["homography"] is None
    assert analysis["area_px"] and analysis["outline"]


def test_marker_cut_by_the_edge_gives_no_mm2(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any]
) -> None:
    _, truth = synthetic(3)
    corners = truth.marker_corners_px
    assert corners is not None
    xs = [x for x, _ in corners]
    ulcer_xs = [x for x, _ in truth.ulcer_polygon_px]
    width, height = truth.image.size
    # Cut through the middle of the marker, keeping the ulcer in the picture.
    middle = round((min(xs) + max(xs)) / 2)
    box = (0, 0, middle, height) if min(xs) > max(ulcer_xs) else (middle, 0, width, height)
    cropped = truth.image.crop(box)
    out = io.BytesIO()
    cropped.save(out, "JPEG", quality=92)
    response = upload(client, patient, ulcer["id"], out.getvalue())
    assert response.status_code == 201
    assert response.json["analysis"]["status"] == "no_marker"
    assert response.json["analysis"]["area_mm2"] is None


def test_a_failure_after_the_file_write_leaves_no_record_and_the_sweep_removes_the_file(
    app: Flask,
    client: FlaskClient,
    patient: dict[str, str],
    ulcer: dict[str, Any],
    db: Session,
    photo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(entries_service, "record_audit", broken_audit)  # the entry's audit event
    data, _ = synthetic(3)
    response = upload(client, patient, ulcer["id"], data)
    assert response.status_code == 500
    assert response.json["code"] == "internal_error"
    assert photo_count(db) == 0
    # The file stays until the sweep: another upload of the same image may be committing.
    [orphan] = stored_files(photo_dir)
    store = app.extensions["limbtrack_photo_store"]
    assert upkeep.sweep_orphan_photos(db, store) == 0  # young: left alone
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    assert upkeep.sweep_orphan_photos(db, store) == 1
    assert not orphan.exists()


def test_an_upload_reusing_an_old_orphan_file_keeps_it(
    app: Flask, client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    """A phone retries a photo whose first upload died after the file write: the file is
    reused, made young again, so a sweep before the commit cannot take it away."""
    data, _ = synthetic(3)
    assert upload(client, patient, ulcer["id"], data).status_code == 201
    [file] = stored_files(photo_dir)
    two_hours_ago = time.time() - 7200
    os.utime(file, (two_hours_ago, two_hours_ago))
    assert upload(client, patient, ulcer["id"], data).status_code == 201  # a new client_uuid, same image
    assert file.stat().st_mtime > two_hours_ago + 3600


def test_damaged_exif_is_not_a_server_error(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any]
) -> None:
    # A real file whose EXIF block Pillow cannot rewrite (ImageOps.exif_transpose raised
    # TypeError on it); its orientation tag (6) can still be read and is applied.
    data = (Path(__file__).parent / "data" / "broken_exif.jpg").read_bytes()
    response = upload(client, patient, ulcer["id"], data)
    assert response.status_code == 201, response.json
    assert (response.json["width"], response.json["height"]) == (80, 100)


def test_uploads_only_to_own_ulcers(
    client: FlaskClient, make: Any, patient: dict[str, str], ulcer: dict[str, Any], db: Session
) -> None:
    other = make.participant()
    change_status(db, Actor.system("test", study_id=other.study_id), other.id, "enrol", "eligible", T0)
    data, _ = synthetic(3)
    assert upload(client, make.patient_headers(other), ulcer["id"], data).status_code == 404
    assert photo_count(db) == 0
