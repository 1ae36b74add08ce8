"""Ulcer photos for the API tests, drawn here from exact geometry (the benchmark's generator is
not the tests' business): a foot's sole lit from one side on a dark floor, an ulcer with its
reddened rim, and the protocol's blue calibration marker on its white sticker beside it.

A seed picks the ulcer's size and place and the camera's scale and angle, so two seeds give
two different photos; the ground truth (area in mm², outline, marker corners, a point inside
the ulcer) comes from the same geometry the pixels were drawn from.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from tests.imaging.scenes import Ulcer, marker_corners_px, project, render, similarity

Point = tuple[float, float]

FLOOR = (70, 72, 80)
OUTLINE_POINTS = 72


@dataclass(frozen=True)
class UlcerPhoto:
    """One drawn photo and its exact ground truth, in image pixels."""

    image: Image.Image
    true_area_mm2: float
    ulcer_polygon_px: list[Point]
    marker_corners_px: list[Point] | None
    seed_px: Point


@cache
def ulcer_photo(seed: int, size: tuple[int, int] = (1200, 900), with_marker: bool = True) -> UlcerPhoto:
    """The photo of `seed`, the same every time it is asked for."""
    rng = np.random.default_rng(seed)
    ulcer = Ulcer(centre_mm=(52.0 + rng.uniform(-4, 4), 10.0 + rng.uniform(-6, 6)), radius_mm=rng.uniform(5.0, 7.5))
    width, height = size
    scale = width / rng.uniform(150, 170)  # the picture spans about 16 cm of skin
    angle = rng.uniform(-25, 25)
    middle_mm = np.array([(ulcer.centre_mm[0] + ulcer.radius_mm - 5) / 2, 10.0])  # sticker to ulcer
    a = math.radians(angle)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    origin = np.array([width / 2, height / 2]) - rotation @ middle_mm
    h = similarity(scale, angle, (float(origin[0]), float(origin[1])))
    image = _on_a_foot(render(size, h, ulcer, marker=with_marker, samples=2))
    theta = np.linspace(0.0, 2 * math.pi, OUTLINE_POINTS, endpoint=False)
    outline_mm = np.c_[
        ulcer.centre_mm[0] + ulcer.radius_mm * np.cos(theta), ulcer.centre_mm[1] + ulcer.radius_mm * np.sin(theta)
    ]
    [seed_px] = project(h, np.array([ulcer.centre_mm]))
    return UlcerPhoto(
        image=image,
        true_area_mm2=ulcer.area_mm2,
        ulcer_polygon_px=[(float(x), float(y)) for x, y in project(h, outline_mm)],
        marker_corners_px=[(float(x), float(y)) for x, y in marker_corners_px(h)] if with_marker else None,
        seed_px=(float(seed_px[0]), float(seed_px[1])),
    )


def jpeg_bytes(image: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _on_a_foot(scene: Image.Image) -> Image.Image:
    """Light the skin from the left and put the floor beyond the sole's oval outline."""
    pixels = np.asarray(scene, dtype=np.float64)
    height, width = pixels.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    light = 1.06 - 0.12 * xs / width
    lit = pixels * light[..., None]
    outside = ((xs - width / 2) / (width * 0.54)) ** 2 + ((ys - height / 2) / (height * 0.62)) ** 2 > 1
    lit[outside] = FLOOR
    return Image.fromarray(np.clip(lit + 0.5, 0, 255).astype(np.uint8), "RGB")
