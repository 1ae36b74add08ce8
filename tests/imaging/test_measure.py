"""End-to-end measurements of rendered scenes whose geometry (hence truth) is known exactly."""

from __future__ import annotations

import io
import math
from functools import cache

import numpy as np
import pytest
from PIL import Image, ImageFilter

from backend.imaging import (
    ALGORITHM_VERSION,
    AnchorRejected,
    ImageUnreadable,
    MarkerSpec,
    QualityFlag,
    RetakeReason,
    Status,
    measure_file,
    measure_image,
)
from backend.imaging.geometry import camera_tilt_degrees
from tests.imaging.scenes import Ulcer, marker_corners_px, render, similarity

# The segmentation is learned from the anchor and measured on real photos (bench/ulcer_real.py);
# on these scenes it settles inside the erythema's falloff, within this share of the area.
SEG_TOL = 0.12
SIZE = (800, 600)
FLAT = similarity(5.0, 0.0, (100.0, 100.0))  # 5 px/mm: marker 100 px, ulcer below
ULCER = Ulcer(centre_mm=(55.0, 45.0), radius_mm=12.0, erythema_mm=5.0)  # 452.4 mm², 60 px radius


def camera(
    tilt_deg: float, roll_deg: float, focal_px: float, distance_mm: float, look_at: tuple[float, float]
) -> np.ndarray:
    """mm -> px homography of a pinhole camera tilted from the plane normal (rendering geometry)."""
    t, r = math.radians(tilt_deg), math.radians(roll_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rot = rx @ rz  # world -> camera
    centre = np.array([look_at[0], look_at[1], 0.0]) - distance_mm * rot.T @ np.array([0.0, 0.0, 1.0])
    k = np.array([[focal_px, 0, SIZE[0] / 2], [0, focal_px, SIZE[1] / 2], [0, 0, 1.0]])
    h = k @ np.column_stack([rot[:, 0], rot[:, 1], -rot @ centre])
    return h / h[2, 2]


TILTED = camera(tilt_deg=28.0, roll_deg=20.0, focal_px=900.0, distance_mm=170.0, look_at=(32.0, 12.0))
TILTED_ULCER = Ulcer(centre_mm=(48.0, 12.0), radius_mm=9.0, erythema_mm=4.0)


@cache
def flat_scene() -> Image.Image:
    return render(SIZE, FLAT, ULCER)


@cache
def tilted_scene() -> Image.Image:
    return render(SIZE, TILTED, TILTED_ULCER)


def jpeg(image: Image.Image, quality: int = 92, exif: bytes | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    if exif is None:
        image.save(buf, "JPEG", quality=quality)
    else:
        image.save(buf, "JPEG", quality=quality, exif=exif)
    buf.seek(0)
    return buf


def tap(h: np.ndarray, ulcer: Ulcer, scale: float = 1.0) -> tuple[float, float]:
    """Where the patient taps: the ulcer's centre, in image px."""
    q = h @ np.array([ulcer.centre_mm[0], ulcer.centre_mm[1], 1.0])
    return (float(q[0] / q[2]) * scale, float(q[1] / q[2]) * scale)


def max_corner_error(got: list[tuple[float, float]] | None, h: np.ndarray, scale: float = 1.0) -> float:
    assert got is not None
    return float(np.abs(np.array(got) - marker_corners_px(h) * scale).max())


def test_flat_scene_area_corners_and_scale() -> None:
    a = measure_image(flat_scene(), seed=tap(FLAT, ULCER))
    assert a.status is Status.OK, a.flags
    assert a.algorithm_version == ALGORITHM_VERSION
    assert a.image_size == SIZE
    assert max_corner_error(a.marker_corners, FLAT) < 0.3
    assert a.mm_per_px == pytest.approx(0.2, rel=0.01)
    assert a.area_mm2 == pytest.approx(ULCER.area_mm2, rel=SEG_TOL)
    # The 5 mm erythema ring is not ulcer: counting it would add ~90 %.
    assert a.area_px == pytest.approx(math.pi * 60.0**2, rel=SEG_TOL)
    assert a.outline is not None and 8 <= len(a.outline) <= 400
    assert a.homography is not None and len(a.homography) == 3
    assert a.to_dict()["status"] == "ok"


def test_rotated_marker_corners() -> None:
    h = similarity(4.0, 33.0, (300.0, 150.0))
    ulcer = Ulcer(centre_mm=(20.0, 50.0), radius_mm=10.0)
    a = measure_image(render(SIZE, h, ulcer), seed=tap(h, ulcer))
    assert a.status is Status.OK, a.flags
    assert max_corner_error(a.marker_corners, h) < 0.4
    assert a.area_mm2 == pytest.approx(math.pi * 100.0, rel=SEG_TOL)


def test_tilted_camera_area_in_the_skin_plane() -> None:
    a = measure_file(jpeg(tilted_scene()), seed=tap(TILTED, TILTED_ULCER))
    assert a.status is Status.OK, a.flags
    assert max_corner_error(a.marker_corners, TILTED) < 0.5
    assert a.area_mm2 == pytest.approx(TILTED_ULCER.area_mm2, rel=SEG_TOL)


def test_seed_and_outline_hint_give_the_same_ulcer() -> None:
    seed = tuple(float(v) for v in FLAT @ np.array([55.0, 45.0, 1.0]))[:2]
    a = measure_image(flat_scene(), seed=(seed[0], seed[1]))
    assert a.area_mm2 == pytest.approx(ULCER.area_mm2, rel=SEG_TOL)
    ring = [(375 + 75 * math.cos(t), 325 + 75 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    b = measure_image(flat_scene(), seed=seed, outline=ring)
    assert b.area_mm2 == pytest.approx(ULCER.area_mm2, rel=SEG_TOL)


def test_no_marker_gives_no_mm2_but_an_outline() -> None:
    a = measure_image(render(SIZE, FLAT, ULCER, marker=False))
    assert a.status is Status.NO_MARKER
    assert a.area_mm2 is None and a.homography is None and a.marker_corners is None
    assert a.area_px == pytest.approx(math.pi * 60.0**2, rel=SEG_TOL)


def test_marker_cut_by_the_image_edge_is_not_trusted() -> None:
    h = similarity(5.0, 0.0, (-40.0, 100.0))  # blue square spans x -40..60
    a = measure_image(render(SIZE, h, Ulcer(centre_mm=(60.0, 45.0), radius_mm=12.0)))
    assert a.status is Status.NO_MARKER
    assert a.area_mm2 is None


def test_blue_square_without_white_margin_is_not_a_marker() -> None:
    image = render(SIZE, FLAT, ULCER, marker=False)
    image.paste((20, 70, 200), (100, 100, 200, 200))  # blue patch straight on skin
    a = measure_image(image)
    assert a.status is Status.NO_MARKER


def test_seed_outside_the_image_is_an_error() -> None:
    with pytest.raises(ValueError):
        measure_image(flat_scene(), seed=(800.0, 10.0))
    with pytest.raises(ValueError):
        measure_image(flat_scene(), seed=(-1.0, 10.0))


def test_unreadable_file() -> None:
    with pytest.raises(ImageUnreadable):
        measure_file(io.BytesIO(b"this is not a photo"))
    assert issubclass(ImageUnreadable, ValueError)


def test_exif_rotated_jpeg_reports_upright_coordinates() -> None:
    # Stored sideways with orientation 6 ("rotate 90 CW to view"): Pillow's exif_transpose
    # turns it back with ROTATE_270, so the stored pixels are the upright ones rotated 90.
    stored = flat_scene().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    a = measure_file(jpeg(stored, exif=exif.tobytes()), seed=tap(FLAT, ULCER))
    assert a.image_size == SIZE
    assert a.status is Status.OK, a.flags
    assert max_corner_error(a.marker_corners, FLAT) < 0.6
    assert a.area_mm2 == pytest.approx(ULCER.area_mm2, rel=SEG_TOL)


def test_one_pixel_image_gets_a_status_not_an_exception() -> None:
    a = measure_image(Image.new("RGB", (1, 1), (200, 150, 120)))
    assert a.status in (Status.NO_MARKER, Status.ULCER_NOT_FOUND)
    assert a.area_mm2 is None


def test_plain_skin_gives_no_mm2() -> None:
    a = measure_image(render(SIZE, FLAT, None))
    assert a.status in (Status.ULCER_NOT_FOUND, Status.NEEDS_OUTLINE)
    assert a.marker_corners is not None and a.area_mm2 is None


def test_tiny_marker_is_flagged_but_measured() -> None:
    h = similarity(2.5, 10.0, (150.0, 150.0))  # marker side 50 px < 60
    ulcer = Ulcer(centre_mm=(60.0, 30.0), radius_mm=14.0)
    a = measure_image(render(SIZE, h, ulcer), seed=tap(h, ulcer))
    assert QualityFlag.MARKER_TOO_SMALL in a.flags
    assert a.status is Status.LOW_QUALITY
    assert a.area_mm2 == pytest.approx(math.pi * 14.0**2, rel=SEG_TOL)


def test_blurred_photo_is_flagged() -> None:
    a = measure_image(flat_scene().filter(ImageFilter.GaussianBlur(5)), seed=tap(FLAT, ULCER))
    assert QualityFlag.BLURRED in a.flags
    assert a.status is Status.LOW_QUALITY
    assert a.retake == [RetakeReason.BLURRED]
    sharp = measure_image(flat_scene(), seed=tap(FLAT, ULCER))
    assert QualityFlag.BLURRED not in sharp.flags and sharp.retake == []


def test_ulcer_touching_the_border_is_flagged() -> None:
    ulcer = Ulcer(centre_mm=(120.0, 45.0), radius_mm=20.0)
    a = measure_image(render(SIZE, FLAT, ulcer), seed=tap(FLAT, ulcer))
    assert QualityFlag.ULCER_TOUCHES_BORDER in a.flags
    # Part of the wound is out of the frame: the outline is a suggestion, not an mm².
    assert a.status is Status.NEEDS_OUTLINE
    assert a.outline is not None and a.area_mm2 is None


def test_twelve_megapixel_jpeg_smoke() -> None:
    # Rendered at 1000x750 then upscaled 4x: the geometry scales exactly by 4.
    h = similarity(5.0, 15.0, (220.0, 120.0))
    ulcer = Ulcer(centre_mm=(50.0, 60.0), radius_mm=15.0)
    small = render((1000, 750), h, ulcer, samples=2)
    big = small.resize((4000, 3000), Image.Resampling.BICUBIC)
    data = jpeg(big, quality=90)
    a = measure_file(data, seed=tap(h, ulcer, scale=4.0))  # speed is measured by bench/ulcer_speed.py, not here
    assert a.image_size == (4000, 3000)
    assert a.status is Status.OK, a.flags
    assert max_corner_error(a.marker_corners, h, scale=4.0) < 2.0
    assert a.area_mm2 == pytest.approx(math.pi * 15.0**2, rel=SEG_TOL)


def test_camera_tilt_from_the_marker_homography() -> None:
    to_mm = np.linalg.inv(TILTED)  # the true plane map of the tilted scene, 28 degrees
    assert camera_tilt_degrees(to_mm, SIZE, 900.0) == pytest.approx(28.0, abs=1e-6)


def test_strong_tilt_is_flagged() -> None:
    h = camera(tilt_deg=45.0, roll_deg=10.0, focal_px=720.0, distance_mm=150.0, look_at=(30.0, 10.0))
    ulcer = Ulcer(centre_mm=(45.0, 10.0), radius_mm=8.0)
    a = measure_image(render(SIZE, h, ulcer), seed=tap(h, ulcer))
    assert QualityFlag.STRONG_TILT in a.flags
    assert a.status is Status.LOW_QUALITY
    assert a.area_mm2 == pytest.approx(math.pi * 64.0, rel=SEG_TOL)
    assert QualityFlag.STRONG_TILT not in measure_file(jpeg(tilted_scene())).flags


def test_marker_colour_and_size_come_from_the_spec() -> None:
    # A green 25 mm square: rendered as the 20 mm square of the scene at 4 px/mm, i.e. the
    # scene's geometry is in units of 1.25 mm; areas scale by 1.25^2.
    h = similarity(4.0, 12.0, (120.0, 120.0))
    ulcer = Ulcer(centre_mm=(55.0, 40.0), radius_mm=11.0)
    image = render(SIZE, h, ulcer, marker_rgb=(30, 150, 60))
    assert measure_image(image).status is Status.NO_MARKER  # not the default blue
    a = measure_image(image, seed=tap(h, ulcer), marker=MarkerSpec(side_mm=25.0, color_srgb=(30, 150, 60)))
    assert a.status is Status.OK, a.flags
    assert max_corner_error(a.marker_corners, h) < 0.4
    assert a.area_mm2 == pytest.approx(ulcer.area_mm2 * 1.25**2, rel=SEG_TOL)


def test_without_an_anchor_the_outline_is_only_a_suggestion() -> None:
    a = measure_image(flat_scene())
    assert a.status is Status.NEEDS_OUTLINE
    assert a.outline is not None and a.area_mm2 is None
    assert a.to_dict()["status"] == "needs_outline" and a.to_dict()["retake"] == []


def test_box_around_the_ulcer_measures_it() -> None:
    # Ulcer centre (375, 325) px, radius 60 px: a rough box 35-40 px outside it.
    a = measure_image(flat_scene(), seed=tap(FLAT, ULCER), box=(280.0, 230.0, 470.0, 420.0))
    assert a.status is Status.OK, a.flags
    assert a.area_mm2 == pytest.approx(ULCER.area_mm2, rel=SEG_TOL)


def test_outline_leaving_the_box_is_not_trusted() -> None:
    # The box cuts through the ulcer (x 315..435): the true outline leaves it on the right.
    a = measure_image(flat_scene(), seed=tap(FLAT, ULCER), box=(300.0, 250.0, 400.0, 400.0))
    assert a.status is Status.NEEDS_OUTLINE
    assert a.area_mm2 is None and a.outline is not None


@pytest.mark.parametrize(
    ("seed", "box", "field"),
    [
        ((-1.0, 10.0), None, "seed"),
        ((800.0, 10.0), None, "seed"),
        ((150.0, 150.0), None, "seed"),  # on the blue square
        ((90.0, 150.0), None, "seed"),  # on the white sticker around it
        (None, (300.0, 300.0, 300.0, 400.0), "box"),  # zero width
        (None, (400.0, 300.0, 300.0, 400.0), "box"),  # corners swapped
        (None, (900.0, 100.0, 1000.0, 200.0), "box"),  # right of the image
        ((375.0, 325.0), (0.0, 0.0, 100.0, 100.0), "box"),  # does not hold the tap
    ],
)
def test_bad_anchors_are_rejected(
    seed: tuple[float, float] | None, box: tuple[float, float, float, float] | None, field: str
) -> None:
    with pytest.raises(AnchorRejected) as info:
        measure_image(flat_scene(), seed=seed, box=box)
    assert info.value.field == field and info.value.message
    assert isinstance(info.value, ValueError)


def test_marker_cut_by_the_edge_asks_for_a_retake() -> None:
    h = similarity(5.0, 0.0, (-40.0, 100.0))
    ulcer = Ulcer(centre_mm=(60.0, 45.0), radius_mm=12.0)
    a = measure_image(render(SIZE, h, ulcer), seed=tap(h, ulcer))
    assert a.status is Status.NO_MARKER and a.area_mm2 is None
    assert a.retake == [RetakeReason.MARKER_CUT_BY_EDGE]
    b = measure_image(render(SIZE, FLAT, ULCER, marker=False), seed=tap(FLAT, ULCER))
    assert b.retake == [RetakeReason.NO_MARKER] and b.area_mm2 is None


def test_dark_photo_asks_for_a_retake() -> None:
    dark = Image.eval(flat_scene(), lambda v: v // 5)  # skin luma ~170 -> ~34
    a = measure_image(dark, seed=tap(FLAT, ULCER))
    assert RetakeReason.TOO_DARK in a.retake
    assert RetakeReason.TOO_DARK not in measure_image(flat_scene(), seed=tap(FLAT, ULCER)).retake


def test_wound_filling_the_frame_asks_for_a_retake() -> None:
    # A 70 mm radius ulcer at 5 px/mm: 350 px radius around the frame's centre (400, 300) in
    # an 800 x 600 frame, so it covers about 0.8 of the frame and runs off every side.
    h = similarity(5.0, 0.0, (400.0, 300.0))
    ulcer = Ulcer(centre_mm=(0.0, 0.0), radius_mm=70.0, erythema_mm=0.0)
    a = measure_image(render(SIZE, h, ulcer, marker=False), seed=(400.0, 300.0))
    assert RetakeReason.WOUND_FILLS_FRAME in a.retake
    assert a.area_mm2 is None


def test_the_same_photo_gives_the_same_outline() -> None:
    # GrabCut's k-means starts from OpenCV's global RNG: earlier calls must not change it.
    first = measure_image(flat_scene(), seed=tap(FLAT, ULCER))
    measure_image(tilted_scene(), seed=tap(TILTED, TILTED_ULCER))
    assert measure_image(flat_scene(), seed=tap(FLAT, ULCER)).outline == first.outline
