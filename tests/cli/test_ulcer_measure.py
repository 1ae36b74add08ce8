"""`flask ulcer measure`: photo files measured the way uploads are, with the tap and the box."""

from __future__ import annotations

import io
import json
from pathlib import Path

from flask import Flask
from PIL import Image

from backend.imaging import measure_file
from tests.imaging.scenes import Ulcer, render, similarity

FLAT = similarity(5.0, 0.0, (100.0, 100.0))  # marker at 100..200 px, 5 px/mm
ULCER = Ulcer(centre_mm=(55.0, 45.0), radius_mm=12.0, erythema_mm=0.0)  # centre (375, 325) px, radius 60 px
TAP = "375,325"
BOX = "280,230,470,420"


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["ulcer", "measure", *args])
    return result.exit_code, result.output


def test_one_json_line_per_file_with_tap_and_box(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(render((800, 600), FLAT, ULCER)))
    (tmp_path / "notes.txt").write_text("not a photo")  # skipped: not an image name
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jpg").write_bytes(jpeg(render((800, 600), FLAT, ULCER, marker=False)))
    code, out = run(app, str(tmp_path), "--seed", TAP, "--box", BOX, "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["file"]).name for r in rows] == ["a.jpg", "b.jpg"]
    fields = {"file", "status", "area_mm2", "area_px", "outline", "marker_corners", "mm_per_px", "flags", "retake"}
    assert all(fields <= set(r) for r in rows)
    # Whether this outline earns an mm² is the segmentation's call (tests/imaging), not the command's.
    direct = measure_file(tmp_path / "a.jpg", seed=(375.0, 325.0), box=(280.0, 230.0, 470.0, 420.0))
    assert rows[0]["status"] == direct.status.value
    assert (rows[0]["area_mm2"] is None) == (direct.area_mm2 is None)
    # pi * 60^2 = 11310 px (no erythema here: this checks the command, not the segmentation).
    assert abs(rows[0]["area_px"] - 11310.0) < 0.12 * 11310.0
    assert rows[1]["status"] == "no_marker" and rows[1]["area_mm2"] is None and rows[1]["retake"] == ["no_marker"]


def test_without_an_anchor_no_mm2_is_given(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(render((800, 600), FLAT, ULCER)))
    code, out = run(app, str(tmp_path / "a.jpg"))
    assert code == 0, out
    assert "needs_outline, no mm² (outline to be checked by a nurse)" in out


def test_bad_files_and_anchors(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "fake.jpg").write_bytes(b"%PDF-1.4 not an image")
    (tmp_path / "ok.jpg").write_bytes(jpeg(render((800, 600), FLAT, ULCER)))
    ok = str(tmp_path / "ok.jpg")
    code, out = run(app, str(tmp_path / "fake.jpg"), ok, "--seed", TAP, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and rows[0]["status"] == "error" and rows[1]["area_mm2"] is not None
    code, out = run(app, ok, "--seed", "99999,5")
    assert code == 1 and "outside the 800x600 photo" in out
    code, out = run(app, ok, "--seed", "150,150")
    assert code == 1 and "on the calibration marker" in out
    code, out = run(app, ok, "--seed", TAP, "--box", "0,0,100,100")
    assert code == 1 and "does not contain the tap" in out
    code, out = run(app, ok, "--box", "900,100,1000,200")
    assert code == 1 and "outside the 800x600 photo" in out
    for bad in ("a,b", "1,2,3"):
        code, out = run(app, ok, "--box", bad)
        assert code == 2 and "4 comma-separated numbers" in out
    code, out = run(app, ok, "--box", "300,300,300,400")
    assert code == 2 and "X0 < X1" in out
    code, out = run(app, ok, "--seed", "a,b")
    assert code == 2 and "2 comma-separated numbers" in out
