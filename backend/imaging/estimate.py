"""Measure one photo: load it cheaply, find the marker and the ulcer, map the outline to mm².

Resolutions: a JPEG is decoded at 1/2, 1/4 or 1/8 scale by the decoder itself (Image.draft),
keeping the long side at least DETAIL_LONG_SIDE px ("detail" image); colour work and the ulcer
search run on a further reduced copy ("work" image, long side <= WORK_LONG_SIDE). The marker's
corners and the ulcer's edge are then refined on the detail image, in crops only. Every
coordinate handed back is in upright full-resolution pixels of the file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import BinaryIO

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.imaging import geometry, segment
from backend.imaging.labels import outer_boundary
from backend.imaging.marker import MarkerSearch, find_marker, side_px, sticker_quad
from backend.imaging.result import Analysis, AnchorRejected, Box, MarkerSpec, Point, QualityFlag, RetakeReason, Status

ALGORITHM_VERSION = "2.1.0"

DETAIL_LONG_SIDE = 1600  # enough for sub-pixel marker corners and a smooth ulcer edge
WORK_LONG_SIDE = 700  # colour classification and components: cheap at this size
MIN_MARKER_SIDE_PX = 60.0
MAX_TILT_DEG = 35.0
MIN_SIDE_PX = 8  # below this there is nothing to measure
SMALL_ULCER_DETAIL_PX = 320  # ulcers up to this extent (detail px) are settled at detail resolution

UPSAMPLE = 4.0  # finest interpolation of the coarse region for its outline
TOO_DARK_P90 = 60.0  # luma (0-255): a frame whose 90th percentile stays below it is underexposed
WOUND_FILLS_FRAME = 0.5  # outline area / frame area above which the wound cannot be framed with skin

F64 = NDArray[np.float64]


class ImageUnreadable(ValueError):
    """The file is not an image Pillow can decode (or is truncated/corrupt)."""


def measure_file(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    seed: Point | None = None,
    box: Box | None = None,
    outline: Sequence[Point] | None = None,
    marker: MarkerSpec = MarkerSpec(),  # noqa: B008 - frozen dataclass, safe as a default
) -> Analysis:
    """Measure a photo file (path or binary file object); coordinates in upright full-res px."""
    try:
        im = Image.open(source)
        raw_w, raw_h = im.size
        orientation = int(im.getexif().get(0x0112, 1))
        if im.format == "JPEG":
            k = 1
            while k < 8 and max(raw_w, raw_h) / (2 * k) >= DETAIL_LONG_SIDE:
                k *= 2
            if k > 1:
                im.draft("RGB", (math.ceil(raw_w / k), math.ceil(raw_h / k)))
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageUnreadable(f"cannot decode image: {exc}") from exc
    # The DCT-scaled decode keeps the pixel grid aligned: pixel i covers full pixels [k i, k i + k).
    scale = raw_w / im.size[0] if im.size[0] else 1.0
    k_int = round(scale)
    if k_int >= 1 and math.ceil(raw_w / k_int) == im.size[0]:
        scale = float(k_int)
    # exif_transpose copies the image even when there is nothing to do: skip it then.
    upright = ImageOps.exif_transpose(im) if orientation != 1 else im
    full_size = (raw_h, raw_w) if orientation in (5, 6, 7, 8) else (raw_w, raw_h)
    if scale == 1.0:  # not draft-decoded (PNG, small JPEG): reduce in memory instead
        return measure_image(upright, seed=seed, box=box, outline=outline, marker=marker)
    return _measure(upright, full_size, scale, seed, box, outline, marker)


def measure_image(
    image: Image.Image,
    *,
    seed: Point | None = None,
    box: Box | None = None,
    outline: Sequence[Point] | None = None,
    marker: MarkerSpec = MarkerSpec(),  # noqa: B008 - frozen dataclass, safe as a default
) -> Analysis:
    """Measure an already-upright image held in memory (no EXIF handling)."""
    w, h = image.size
    k = 1
    while max(w, h) / (2 * k) >= DETAIL_LONG_SIDE:
        k *= 2
    detail = image.convert("RGB") if image.mode != "RGB" else image
    if k > 1:
        detail = detail.reduce(k)
    return _measure(detail, (w, h), w / detail.size[0], seed, box, outline, marker)


def _check_anchors(seed: Point | None, box: Box | None, fw: int, fh: int) -> Box | None:
    """Reject anchors that cannot be right; the box clipped to the image."""
    if seed is not None and not (0 <= seed[0] < fw and 0 <= seed[1] < fh):
        raise AnchorRejected("seed", f"the tap {seed} lies outside the {fw}x{fh} photo")
    if box is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise AnchorRejected("box", "the box has no size: it needs x0 < x1 and y0 < y1")
    cx0, cy0, cx1, cy1 = max(0.0, x0), max(0.0, y0), min(float(fw), x1), min(float(fh), y1)
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        raise AnchorRejected("box", f"the box {tuple(box)} lies outside the {fw}x{fh} photo")
    if seed is not None and not (x0 <= seed[0] <= x1 and y0 <= seed[1] <= y1):
        raise AnchorRejected("box", "the box does not contain the tap")
    return (cx0, cy0, cx1, cy1)


def _measure(
    detail_img: Image.Image,
    full_size: tuple[int, int],
    detail_scale: float,
    seed: Point | None,
    box: Box | None,
    outline: Sequence[Point] | None,
    spec: MarkerSpec,
) -> Analysis:
    fw, fh = full_size
    box = _check_anchors(seed, box, fw, fh)
    detail_img = detail_img.convert("RGB") if detail_img.mode != "RGB" else detail_img

    def result(status: Status, **kw: object) -> Analysis:
        base: dict[str, object] = {
            "outline": None,
            "area_px": None,
            "area_mm2": None,
            "marker_corners": None,
            "mm_per_px": None,
            "homography": None,
            "flags": [],
            "retake": [],
        }
        base.update(kw)
        return Analysis(status=status, algorithm_version=ALGORITHM_VERSION, image_size=(fw, fh), **base)  # type: ignore[arg-type]

    if min(detail_img.size) < MIN_SIDE_PX or min(fw, fh) < MIN_SIDE_PX:
        return result(Status.NO_MARKER, retake=[RetakeReason.NO_MARKER])

    dw, dh = detail_img.size
    r = max(1, math.ceil(max(dw, dh) / WORK_LONG_SIDE))
    work_img = detail_img.reduce(r) if r > 1 else detail_img
    work_scale = detail_scale * (dw / work_img.size[0])
    work = np.asarray(work_img)

    # --- marker
    search = find_marker(work, work_scale, detail_img, detail_scale, spec.color_srgb)
    fit = search.fit
    flags: list[QualityFlag] = []
    retake: list[RetakeReason] = []
    homography: F64 | None = None
    marker_kw: dict[str, object] = {}
    if fit is not None:
        if seed is not None and _inside(sticker_quad(fit.corners), seed):
            raise AnchorRejected("seed", "the tap is on the calibration marker, not on the wound")
        s = spec.side_mm
        homography = geometry.homography_from_points(fit.corners, [(0.0, 0.0), (s, 0.0), (s, s), (0.0, s)])
        centre = (float(fit.corners[:, 0].mean()), float(fit.corners[:, 1].mean()))
        marker_kw = {
            "marker_corners": [(float(x), float(y)) for x, y in fit.corners],
            "mm_per_px": geometry.scale_mm_per_px(homography, centre),
            "homography": [[float(v) for v in row] for row in homography],
        }
        if side_px(fit.corners) < MIN_MARKER_SIDE_PX:
            flags.append(QualityFlag.MARKER_TOO_SMALL)
            retake.append(RetakeReason.MARKER_TOO_SMALL)
        # Phones' main cameras have a focal length of roughly 0.75-1.1x the long side.
        if geometry.camera_tilt_degrees(homography, (fw, fh), 0.9 * max(fw, fh)) > MAX_TILT_DEG:
            flags.append(QualityFlag.STRONG_TILT)
        if fit.edge_sigma_px > max(2.0, 0.0015 * max(fw, fh)):
            flags.append(QualityFlag.BLURRED)
            retake.append(RetakeReason.BLURRED)
    else:
        retake.append(RetakeReason.MARKER_CUT_BY_EDGE if search.cut_by_edge else RetakeReason.NO_MARKER)
    if _too_dark(work):
        retake.append(RetakeReason.TOO_DARK)

    found = _find_outline(detail_img, detail_scale, search, work_scale, seed, box, outline)
    if found is None:
        if fit is None:
            return result(Status.NO_MARKER, flags=flags, retake=retake)
        return result(Status.ULCER_NOT_FOUND, flags=flags, retake=retake, **marker_kw)
    polygon, region = found
    touches = region.touches_frame
    if touches:
        flags.append(QualityFlag.ULCER_TOUCHES_BORDER)
    outline_pts = [(float(x), float(y)) for x, y in polygon]
    area_px = geometry.shoelace(polygon)
    fills = area_px > WOUND_FILLS_FRAME * fw * fh
    if seed is not None and not fills:
        seed_d = (seed[0] / detail_scale, seed[1] / detail_scale)
        fills = segment.like_tap_share(np.asarray(detail_img), seed_d) > WOUND_FILLS_FRAME
    if fills:
        retake.append(RetakeReason.WOUND_FILLS_FRAME)
        touches = True  # the wound runs on beyond the frame: no outline of it can be trusted
    if fit is None or homography is None:
        return result(Status.NO_MARKER, outline=outline_pts, area_px=area_px, flags=flags, retake=retake)
    suggestion = {"outline": outline_pts, "area_px": area_px, "flags": flags, "retake": retake, **marker_kw}
    anchored = seed is not None or box is not None or (outline is not None and len(outline) >= 3)
    # Confined to its box (or the window around a lone tap) and still reaching its edge: the
    # outline most likely runs on into the skin, or the wound on beyond the box. An outline
    # that moves with a slightly larger box or a second cut follows no real edge.
    trusted = region.stable and not region.touches_limit and _trusted(polygon, seed, box)
    if not anchored or touches or not trusted:
        return result(Status.NEEDS_OUTLINE, **suggestion)
    area_mm2 = geometry.polygon_area_mm2(outline_pts, homography.tolist())
    status = Status.LOW_QUALITY if flags else Status.OK
    return result(status, area_mm2=area_mm2, **suggestion)


def _inside(poly: F64, point: Point) -> bool:
    """Whether a point lies inside a polygon (even-odd rule)."""
    x, y = point
    xs, ys = poly[:, 0], poly[:, 1]
    xj, yj = np.roll(xs, 1), np.roll(ys, 1)
    crosses = (ys > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = (xj - xs) * (y - ys) / (yj - ys) + xs
    return bool(np.count_nonzero(crosses & (x < at)) % 2)


def _trusted(polygon: F64, seed: Point | None, box: Box | None) -> bool:
    """An outline to trust holds the tap and stays inside the patient's box."""
    if seed is not None and not _inside(polygon, seed):
        return False
    if box is not None:
        x0, y0, x1, y1 = box
        tol = 0.02 * max(x1 - x0, y1 - y0)
        xs, ys = polygon[:, 0], polygon[:, 1]
        if xs.min() < x0 - tol or ys.min() < y0 - tol or xs.max() > x1 + tol or ys.max() > y1 + tol:
            return False
    return True


def _too_dark(work: NDArray[np.uint8]) -> bool:
    luma = work[::2, ::2].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return bool(np.percentile(luma, 90) < TOO_DARK_P90)


def _find_outline(
    detail_img: Image.Image,
    detail_scale: float,
    search: MarkerSearch,
    work_scale: float,
    seed: Point | None,
    box: Box | None,
    outline: Sequence[Point] | None,
) -> tuple[F64, segment.Region] | None:
    """The ulcer's outline (full-res px) and the region it bounds; None if not found."""
    to_detail = 1.0 / detail_scale
    exclusion = [q * (work_scale / detail_scale) for q in search.exclusion]
    if search.fit is not None:
        exclusion.append(sticker_quad(search.fit.corners) * to_detail)
    if box is None and outline is not None and len(outline) >= 3:
        pts = np.asarray(outline, dtype=np.float64)
        box = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
    seed_d = None if seed is None else (seed[0] * to_detail, seed[1] * to_detail)
    box_d = None if box is None else (box[0] * to_detail, box[1] * to_detail, box[2] * to_detail, box[3] * to_detail)
    region = segment.find_ulcer(np.asarray(detail_img), exclusion, seed_d, box_d)
    if region is None:
        return None
    # The cut was made on a reduced crop: interpolated up to (at most) detail resolution, its
    # edge runs between the coarse pixels instead of along their staircase.
    up = min(UPSAMPLE, 1.0 / region.scale)
    mask = region.mask
    if up > 1.0:
        h, w = mask.shape
        size = (round(w * up), round(h * up))
        mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5
        up = size[0] / w
    poly = outer_boundary(mask)
    if len(poly) < 3:
        return None
    # Midpoints of the pixel-edge staircase: a smooth outline whose area is the pixel count
    # minus half a pixel, instead of the jagged staircase itself.
    mids = geometry.simplify((poly + np.roll(poly, -1, axis=0)) / 2.0, 0.5)
    full = (mids / (region.scale * up) + np.array(region.origin, dtype=np.float64)) * detail_scale
    return full, region
