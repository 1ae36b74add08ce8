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

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.imaging import geometry, segment
from backend.imaging.labels import outer_boundary
from backend.imaging.marker import MarkerSearch, blue_mask, find_marker, side_px, sticker_quad
from backend.imaging.result import Analysis, AnchorRejected, Box, MarkerSpec, Point, QualityFlag, RetakeReason, Status

ALGORITHM_VERSION = "2.0.0"

DETAIL_LONG_SIDE = 1600  # enough for sub-pixel marker corners and a smooth ulcer edge
WORK_LONG_SIDE = 700  # colour classification and components: cheap at this size
MIN_MARKER_SIDE_PX = 60.0
MAX_TILT_DEG = 35.0
MIN_SIDE_PX = 8  # below this there is nothing to measure
SMALL_ULCER_DETAIL_PX = 320  # ulcers up to this extent (detail px) are settled at detail resolution

TOO_DARK_P90 = 60.0  # luma (0-255) that 90 % of the frame stays below: an underexposed photo
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

    found = _find_outline(work, work_img, work_scale, detail_img, detail_scale, search, spec, seed, box, outline)
    if found is None:
        if fit is None:
            return result(Status.NO_MARKER, flags=flags, retake=retake)
        return result(Status.ULCER_NOT_FOUND, flags=flags, retake=retake, **marker_kw)
    polygon, contrast, touches = found
    if touches:
        flags.append(QualityFlag.ULCER_TOUCHES_BORDER)
    if contrast < segment.LOW_CONTRAST:
        flags.append(QualityFlag.LOW_CONTRAST)
    outline_pts = [(float(x), float(y)) for x, y in polygon]
    area_px = geometry.shoelace(polygon)
    if area_px > WOUND_FILLS_FRAME * fw * fh:
        retake.append(RetakeReason.WOUND_FILLS_FRAME)
    if fit is None or homography is None:
        return result(Status.NO_MARKER, outline=outline_pts, area_px=area_px, flags=flags, retake=retake)
    suggestion = {"outline": outline_pts, "area_px": area_px, "flags": flags, "retake": retake, **marker_kw}
    anchored = seed is not None or box is not None or (outline is not None and len(outline) >= 3)
    if not anchored or touches or not _trusted(polygon, seed, box):
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
    work: NDArray[np.uint8],
    work_img: Image.Image,
    work_scale: float,
    detail_img: Image.Image,
    detail_scale: float,
    search: MarkerSearch,
    spec: MarkerSpec,
    seed: Point | None,
    box: Box | None,
    outline: Sequence[Point] | None,
) -> tuple[F64, float, bool] | None:
    """The ulcer's outline (full-res px), edge contrast and border contact; None if not found."""
    wh, ww = work.shape[:2]
    to_work = 1.0 / work_scale
    exclusion_polys = [q * 1.0 for q in search.exclusion]
    if search.fit is not None:
        exclusion_polys.append(sticker_quad(search.fit.corners) * to_work)
    exclude = segment.polygon_mask((wh, ww), [_grow(q, 1.12) for q in exclusion_polys])
    exclude |= segment.dilate(blue_mask(work, spec.color_srgb), 2)
    seed_work = None
    if seed is not None:
        seed_work = (min(ww - 1, int(seed[0] * to_work)), min(wh - 1, int(seed[1] * to_work)))
    hint = None
    if box is not None:
        x0, y0, x1, y1 = box
        outline = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    if outline is not None and len(outline) >= 3:
        hint = segment.polygon_mask((wh, ww), [np.asarray(outline, dtype=np.float64) * to_work])
        hint = segment.dilate(hint, max(2, int(0.01 * max(wh, ww))))
    dist = segment.wound_score(work, exclude)
    core = segment.find_core(dist, exclude, seed_work, hint)
    if core is None:
        return None
    band_w = max(2, round(0.004 * max(wh, ww)))
    protect = segment.erode(core & (dist > 1.0), 1)
    ratio = work_scale / detail_scale  # detail px per work px
    ys, xs = np.nonzero(core)
    extent = max(int(xs.max() - xs.min()), int(ys.max() - ys.min())) + 1
    if ratio > 1.01 and extent * ratio <= SMALL_ULCER_DETAIL_PX:
        # Small ulcer: settle its edge directly on the detail image (a small crop, cheap), where
        # a pixel of edge error costs the least area.
        polygon, contrast, touches = _settle_on_detail(core, protect, exclude, detail_img, detail_scale, ratio)
    else:
        settled = segment.settle_boundary(work_img, core, exclude, band_w, protect, iterations=4)
        # --- refine the edge on the detail image, in a crop around the region
        polygon, contrast, touches = _refine_outline(settled, detail_img, detail_scale, work_scale)
    if polygon is None:
        return None
    return polygon, contrast, touches


def _grow(quad: F64, factor: float) -> F64:
    c = quad.mean(axis=0)
    return np.asarray(c + (quad - c) * factor, dtype=np.float64)


def _settle_on_detail(
    core: NDArray[np.bool_],
    protect: NDArray[np.bool_],
    exclude: NDArray[np.bool_],
    detail_img: Image.Image,
    detail_scale: float,
    ratio: float,
) -> tuple[F64 | None, float, bool]:
    """Settle the edge of a small region on a detail-image crop; outline in full-res px."""
    wh, ww = core.shape
    dw, dh = detail_img.size
    ys, xs = np.nonzero(core)
    band = max(2, round(ratio * 1.2))
    margin = band * 7 + 2  # detail px: room for the passes of settle_boundary
    x0 = max(0, int(xs.min() * ratio) - margin)
    y0 = max(0, int(ys.min() * ratio) - margin)
    x1 = min(dw, math.ceil((xs.max() + 1) * ratio) + margin)
    y1 = min(dh, math.ceil((ys.max() + 1) * ratio) + margin)
    yi = np.minimum(((np.arange(y0, y1) + 0.5) / ratio).astype(np.int64), wh - 1)
    xi = np.minimum(((np.arange(x0, x1) + 0.5) / ratio).astype(np.int64), ww - 1)
    crop = detail_img.crop((x0, y0, x1, y1))
    start = core[yi][:, xi]
    settled = segment.settle_boundary(
        crop, start, exclude[yi][:, xi], band, protect[yi][:, xi], iterations=4, want_means=False
    )
    lab = segment.to_lab(crop)
    return _outline(settled.mask, lab, (x0, y0, x1, y1), (dw, dh), detail_scale)


def _outline(
    mask: NDArray[np.bool_],
    lab: NDArray[np.float32],
    box: tuple[int, int, int, int],
    detail_size: tuple[int, int],
    detail_scale: float,
) -> tuple[F64 | None, float, bool]:
    """Polygon (full-res px), edge contrast and border contact of a region found in a crop."""
    x0, y0, x1, y1 = box
    dw, dh = detail_size
    band_c = max(2, round(0.004 * max(dw, dh)))
    contrast = segment.edge_contrast(lab, mask, band_c)
    touches = bool(
        (y0 == 0 and mask[0].any())
        or (x0 == 0 and mask[:, 0].any())
        or (y1 == dh and mask[-1].any())
        or (x1 == dw and mask[:, -1].any())
    )
    poly = outer_boundary(mask)
    if len(poly) < 3:
        return None, contrast, touches
    # Midpoints of the pixel-edge staircase: a smooth outline whose area is the pixel count
    # minus half a pixel, instead of the jagged staircase itself.
    mids = (poly + np.roll(poly, -1, axis=0)) / 2.0
    simple = geometry.simplify(mids, 0.5)
    full = (simple + np.array([x0, y0], dtype=np.float64)) * detail_scale
    return full, contrast, touches


def _refine_outline(
    settled: segment.Settled,
    detail_img: Image.Image,
    detail_scale: float,
    work_scale: float,
) -> tuple[F64 | None, float, bool]:
    """Re-decide the pixels along the edge on the detail image (crop only); outline in full-res px.

    The local inside/outside colours come from the working image (they vary slowly); only
    pixels within one working pixel of the edge are compared again, at detail resolution.
    """
    region = settled.mask
    wh, ww = region.shape
    dw, dh = detail_img.size
    ratio = work_scale / detail_scale  # detail px per work px
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        return None, 0.0, False
    pad = 3
    x0 = max(0, int((xs.min() - pad) * ratio))
    y0 = max(0, int((ys.min() - pad) * ratio))
    x1 = min(dw, math.ceil((xs.max() + 1 + pad) * ratio))
    y1 = min(dh, math.ceil((ys.max() + 1 + pad) * ratio))
    crop = detail_img.crop((x0, y0, x1, y1))
    # Detail crop pixel centres looked up in the work grid (nearest).
    yi = np.minimum(((np.arange(y0, y1) + 0.5) / ratio).astype(np.int64), wh - 1)
    xi = np.minimum(((np.arange(x0, x1) + 0.5) / ratio).astype(np.int64), ww - 1)
    start = region[yi][:, xi]
    lab = segment.to_lab(crop)
    mask = start
    if ratio > 1.01:
        edge_w = segment.dilate(region, 1) & ~segment.erode(region, 1)
        by0, by1, bx0, bx1 = settled.box
        zy, zx = np.nonzero(edge_w[yi][:, xi])
        my = np.clip(yi[zy] - by0, 0, by1 - by0 - 1)
        mx = np.clip(xi[zx] - bx0, 0, bx1 - bx0 - 1)
        ok = settled.ok[my, mx]
        zy, zx, my, mx = zy[ok], zx[ok], my[ok], mx[ok]
        px = lab[zy, zx].astype(np.float64)
        px[:, 0] *= segment.L_WEIGHT
        d_in = np.sum((px - settled.mu_in[my, mx]) ** 2, axis=1)
        d_out = np.sum((px - settled.mu_out[my, mx]) ** 2, axis=1)
        new = start.copy()
        new[zy, zx] = d_in < d_out
        tidy = segment.tidy_region(new, start)
        if tidy is not None:
            mask = tidy
    return _outline(mask, lab, (x0, y0, x1, y1), (dw, dh), detail_scale)
