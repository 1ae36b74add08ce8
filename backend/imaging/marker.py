"""Find the calibration marker (blue square on a white sticker) and its corners, sub-pixel.

Detection runs on the small working image (blue-dominance mask, connected components, a quad
per blob, checks that reject look-alikes); the corners are then refined on the sharpest image
we hold by fitting straight lines to the blue/white edge along each side: a corner off by 1 px
on a 100 px side is already a 2 % area error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.imaging import geometry
from backend.imaging.labels import label

U8Array = NDArray[np.uint8]
F64 = NDArray[np.float64]

MIN_BLOB_PX = 24  # working-image pixels; below this a square cannot be told from a speck
STICKER_SCALE = 1.5  # sticker side / blue side (30 mm / 20 mm)


@dataclass(frozen=True)
class MarkerFit:
    """A confidently found marker, in full-resolution upright pixels."""

    corners: F64  # (4, 2), clockwise from the top-left-most
    edge_sigma_px: float  # blur of the blue/white edge (Gaussian sigma), full-res px
    line_rms_px: float  # how far edge points stray from the fitted straight sides


@dataclass(frozen=True)
class MarkerSearch:
    fit: MarkerFit | None
    cut_by_edge: bool  # a blue square-ish blob was seen touching the image border
    exclusion: list[F64]  # quads (work px) to keep out of the ulcer search: markers and look-alikes


def luminance(rgb: U8Array) -> NDArray[np.float32]:
    """Rec. 601 luma, float32 (the JPEG's own full-resolution channel, so edges are sharpest)."""
    f = rgb.astype(np.float32)
    return np.asarray(0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2], dtype=np.float32)


def blue_mask(rgb: U8Array, colour: tuple[int, int, int] = (20, 70, 200)) -> NDArray[np.bool_]:
    """Pixels where the marker colour's dominant channel clearly beats the other two.

    For the blue marker v1: clearly bluer than red and green, which skin, erythema, slough and
    eschar never are. A ratio test (not an absolute level) so that dim lighting and white-balance
    shifts keep the marker in.
    """
    k = int(np.argmax(colour))
    chans = rgb.astype(np.int16)
    main = chans[..., k]
    others = np.maximum(chans[..., (k + 1) % 3], chans[..., (k + 2) % 3])
    excess = main - others
    return np.asarray((excess > 20) & (excess * 4 > main), dtype=np.bool_)


def _quad_from_points(pts: F64) -> F64 | None:
    """Four extreme points of a convex-ish blob: the far corner pair, then the farthest on each side."""
    c = pts.mean(axis=0)
    p1 = pts[int(np.argmax(np.sum((pts - c) ** 2, axis=1)))]
    p3 = pts[int(np.argmax(np.sum((pts - p1) ** 2, axis=1)))]
    d = p3 - p1
    side = d[0] * (pts[:, 1] - p1[1]) - d[1] * (pts[:, 0] - p1[0])
    if side.max() <= 0 or side.min() >= 0:
        return None
    p2 = pts[int(np.argmax(side))]
    p4 = pts[int(np.argmin(side))]
    return np.array([p1, p2, p3, p4], dtype=np.float64)


def _bilinear(img: NDArray[np.float32], x: F64, y: F64) -> F64:
    """Sample at continuous coordinates (pixel centres at +0.5), clamped to the image."""
    h, w = img.shape
    xf = np.clip(x - 0.5, 0, w - 1.001)
    yf = np.clip(y - 0.5, 0, h - 1.001)
    x0 = xf.astype(np.int64)
    y0 = yf.astype(np.int64)
    ax = xf - x0
    ay = yf - y0
    top = img[y0, x0] * (1 - ax) + img[y0, x0 + 1] * ax
    bot = img[y0 + 1, x0] * (1 - ax) + img[y0 + 1, x0 + 1] * ax
    return np.asarray(top * (1 - ay) + bot * ay, dtype=np.float64)


def _ring_samples(rgb: U8Array, quad: F64, factor: float) -> NDArray[np.float32] | None:
    """RGB at 48 points on the quad scaled by `factor` around its centre; None if off-image."""
    h, w = rgb.shape[:2]
    c = quad.mean(axis=0)
    ring = c + (quad - c) * factor
    t = np.linspace(0, 1, 12, endpoint=False)
    pts = np.vstack([ring[i] + np.outer(t, ring[(i + 1) % 4] - ring[i]) for i in range(4)])
    if pts[:, 0].min() < 0 or pts[:, 1].min() < 0 or pts[:, 0].max() >= w or pts[:, 1].max() >= h:
        return None
    return rgb[pts[:, 1].astype(np.int64), pts[:, 0].astype(np.int64)].astype(np.float32)


def _saturation(s: NDArray[np.float32]) -> NDArray[np.float32]:
    mx = s.max(axis=1)
    return np.asarray((mx - s.min(axis=1)) / np.maximum(mx, 1.0), dtype=np.float32)


def _white_margin_ok(rgb: U8Array, quad: F64) -> bool:
    """The sticker's white margin must surround the blue square (rejects blue clothing, veins).

    Samples the ring halfway across the 5 mm margin (1.25x the blue square around its centre):
    bright against the blue and not strongly coloured; and, unless plainly grey, distinctly
    brighter than the skin beyond the sticker (1.9x). Saturation alone cannot tell the sticker
    from very pale skin once white balance tints both; a blue patch on skin fails the contrast.
    """
    s = _ring_samples(rgb, quad, 1.25)
    if s is None:
        return False
    c = quad.mean(axis=0)
    blue = rgb[int(c[1]), int(c[0])].astype(np.float32)
    y_blue = float(0.299 * blue[0] + 0.587 * blue[1] + 0.114 * blue[2])
    y_ring = 0.299 * s[:, 0] + 0.587 * s[:, 1] + 0.114 * s[:, 2]
    sat = _saturation(s)
    white = (sat < 0.35) & (y_ring > 1.7 * max(y_blue, 1.0))
    if float(white.mean()) < 0.75:
        return False
    if float(np.median(sat)) < 0.08:
        return True
    outer = _ring_samples(rgb, quad, 1.9)
    if outer is None:
        return False
    y_outer = 0.299 * outer[:, 0] + 0.587 * outer[:, 1] + 0.114 * outer[:, 2]
    diff = float(np.linalg.norm(np.median(s, axis=0) - np.median(outer, axis=0)))
    return diff > 30.0 and float(np.median(y_ring)) > float(np.median(y_outer)) + 5.0


def _plausible_square(quad: F64) -> bool:
    """A square under at most ~45 degrees of tilt: convex, no very sharp corners, sides alike."""
    if not geometry.is_convex(quad):
        return False
    angles = geometry.interior_angles(quad)
    if angles.min() < 45 or angles.max() > 135:
        return False
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    return bool(sides.min() > 0 and sides.max() / sides.min() < 2.5)


def _candidates(rgb_work: U8Array, colour: tuple[int, int, int]) -> tuple[list[F64], bool, list[F64]]:
    """Square blue blobs with a white margin, largest first; whether one was cut by the border."""
    mask = blue_mask(rgb_work, colour)
    labels, n = label(mask)
    if n == 0:
        return [], False, []
    h, w = mask.shape
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    found: list[tuple[int, F64]] = []
    lookalikes: list[F64] = []
    cut = False
    for lab in np.nonzero(counts >= MIN_BLOB_PX)[0]:
        if lab == 0:
            continue
        ys, xs = np.nonzero(labels == lab)
        pts = np.column_stack([xs + 0.5, ys + 0.5])
        quad = _quad_from_points(pts)
        if quad is None:
            continue
        # Pixel centres sit half a pixel inside the true outline: compare with a grown quad.
        c = quad.mean(axis=0)
        rad = float(np.mean(np.linalg.norm(quad - c, axis=1)))
        grown = c + (quad - c) * (rad + 0.7) / max(rad, 1e-9)
        fill = counts[lab] / max(geometry.shoelace(grown), 1e-9)
        squareish = 0.8 < fill < 1.2 and _plausible_square(quad)
        touches = xs.min() == 0 or ys.min() == 0 or xs.max() == w - 1 or ys.max() == h - 1
        if touches:
            # A blue blob cut by the border cannot be trusted, however square its visible part.
            cut = cut or counts[lab] >= 4 * MIN_BLOB_PX
            continue
        if not squareish:
            continue
        if not _white_margin_ok(rgb_work, quad):
            lookalikes.append(quad)
            continue
        found.append((int(counts[lab]), geometry.order_corners(quad)))
    found.sort(key=lambda item: -item[0])
    return [q for _, q in found], cut, lookalikes


def _refine(lum: NDArray[np.float32], quad: F64) -> tuple[F64, float, float] | None:
    """Sub-pixel corners on `lum`: 50 % edge crossings along each side, total-least-squares lines.

    The 50 % level between the blue and the white is where a symmetric blur leaves the true
    edge, so blur does not bias the corners.
    """
    h, w = lum.shape
    lines: list[tuple[F64, F64]] = []
    sigmas: list[float] = []
    residuals: list[float] = []
    side_px = float(np.mean(np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)))
    half = max(5.0, 0.1 * side_px)  # stays inside the blue and inside the 25 %-wide margin
    steps = np.linspace(-half, half, int(2 * half / 0.5) + 1)
    centre = quad.mean(axis=0)
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        length = float(np.hypot(*d))
        if length < 4:
            return None
        u = d / length
        nrm = np.array([-u[1], u[0]])
        if np.dot(nrm, (a + b) / 2 - centre) < 0:
            nrm = -nrm  # outward
        count = int(min(200, max(12, length / 2)))
        ts = np.linspace(0.12, 0.88, count)
        base = a + np.outer(ts, d)
        px = base[:, None, 0] + steps[None, :] * nrm[0]
        py = base[:, None, 1] + steps[None, :] * nrm[1]
        if px.min() < 0 or py.min() < 0 or px.max() > w or py.max() > h:
            return None
        prof = _bilinear(lum, px.ravel(), py.ravel()).reshape(px.shape)
        k = max(2, len(steps) // 6)
        lo = np.median(prof[:, :k], axis=1)  # blue side
        hi = np.median(prof[:, -k:], axis=1)  # white side
        contrast = hi - lo
        ok = contrast > 25
        if ok.sum() < 6:
            return None
        prof, lo, contrast, base = prof[ok], lo[ok], contrast[ok], base[ok]
        norm = (prof - lo[:, None]) / contrast[:, None]
        # Crossing of 0.5 nearest to the profile centre, linearly interpolated.
        above = norm >= 0.5
        change = above[:, 1:] != above[:, :-1]
        mid = len(steps) // 2
        dist = np.where(change, np.abs(np.arange(len(steps) - 1) - mid + 0.5), np.inf)
        j = np.argmin(dist, axis=1)
        valid = np.isfinite(dist[np.arange(len(j)), j])
        j, norm, base = j[valid], norm[valid], base[valid]
        if len(j) < 6:
            return None
        r = np.arange(len(j))
        v0, v1 = norm[r, j], norm[r, j + 1]
        frac = (0.5 - v0) / np.where(np.abs(v1 - v0) < 1e-6, 1e-6, v1 - v0)
        offs = steps[j] + np.clip(frac, 0, 1) * (steps[1] - steps[0])
        edge_pts = base + offs[:, None] * nrm
        # 10-90 % rise gives the blur: for a Gaussian edge it is 2.563 sigma.
        t10 = _crossing(norm, steps, 0.1)
        t90 = _crossing(norm, steps, 0.9)
        rise = np.abs(t90 - t10)
        rise = rise[np.isfinite(rise)]
        if len(rise):
            sigmas.append(float(np.median(rise)) / 2.563)
        fit = _fit_line(edge_pts)
        if fit is None:
            return None
        lines.append((fit[0], fit[1]))
        rms = fit[2]
        residuals.append(rms)
    corners = []
    for i in range(4):
        p = _intersect(lines[i - 1], lines[i])
        if p is None:
            return None
        corners.append(p)
    sigma = float(np.median(sigmas)) if sigmas else 0.0
    return np.array(corners), sigma, float(max(residuals))


def _crossing(norm: F64, steps: F64, level: float) -> F64:
    """Per profile, the first position (from the blue side) where it reaches `level`."""
    above = norm >= level
    j = np.argmax(above, axis=1)
    has = above.any(axis=1) & (j > 0)
    j = np.clip(j, 1, norm.shape[1] - 1)
    r = np.arange(len(j))
    v0, v1 = norm[r, j - 1], norm[r, j]
    frac = (level - v0) / np.where(np.abs(v1 - v0) < 1e-6, 1e-6, v1 - v0)
    pos = steps[j - 1] + np.clip(frac, 0, 1) * (steps[1] - steps[0])
    return np.where(has, pos, np.nan)


def _fit_line(pts: F64) -> tuple[F64, F64, float] | None:
    """Total least squares line with one round of outlier rejection (specks, noise)."""
    for _ in range(2):
        if len(pts) < 4:
            return None
        c = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
        res = (pts - c) @ vt[1]  # distances along the normal
        mad = float(np.median(np.abs(res))) * 1.4826
        keep = np.abs(res) <= max(3 * mad, 0.3)
        if keep.all():
            break
        pts = pts[keep]
    c = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
    rms = float(np.sqrt(np.mean(((pts - c) @ vt[1]) ** 2)))
    return c, vt[0], rms


def _intersect(l1: tuple[F64, F64], l2: tuple[F64, F64]) -> F64 | None:
    (p, d), (q, e) = l1, l2
    den = d[0] * e[1] - d[1] * e[0]
    if abs(den) < 1e-9:
        return None
    t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / den
    return np.asarray(p + t * d, dtype=np.float64)


def find_marker(
    rgb_work: U8Array,
    work_scale: float,
    detail: Image.Image,
    detail_scale: float,
    colour: tuple[int, int, int] = (20, 70, 200),
) -> MarkerSearch:
    """Find the marker: detect on the working image, refine on the detail image's luminance.

    `*_scale` = full-resolution pixels per pixel of that image. Returns corners in full-res px.
    Luminance is computed in a crop around each candidate only.
    """
    cands, cut, lookalikes = _candidates(rgb_work, colour)
    exclusion = [*lookalikes]
    fit: MarkerFit | None = None
    wd, hd = detail.size
    for quad in cands:
        exclusion.append(quad)
        q = quad * (work_scale / detail_scale)
        pad = 0.4 * side_px(q) + 8
        x0 = max(0, int(q[:, 0].min() - pad))
        y0 = max(0, int(q[:, 1].min() - pad))
        x1 = min(wd, int(q[:, 0].max() + pad) + 1)
        y1 = min(hd, int(q[:, 1].max() + pad) + 1)
        lum = luminance(np.asarray(detail.crop((x0, y0, x1, y1))))
        off = np.array([x0, y0], dtype=np.float64)
        q = q - off
        refined = None
        for _ in range(3):  # each pass re-centres the profiles on the better lines
            refined = _refine(lum, q)
            if refined is None:
                break
            q = refined[0]
        if refined is None:
            continue
        corners, sigma, rms = refined
        corners = corners + off
        side = side_px(corners)
        if not _plausible_square(corners) or rms > max(1.0, 0.02 * side):
            continue  # sides not four straight edges
        if corners[:, 0].min() < 0 or corners[:, 1].min() < 0 or corners[:, 0].max() > wd or corners[:, 1].max() > hd:
            cut = True
            continue
        fit = MarkerFit(
            corners=geometry.order_corners(corners * detail_scale),
            edge_sigma_px=sigma * detail_scale,
            line_rms_px=rms * detail_scale,
        )
        break
    return MarkerSearch(fit=fit, cut_by_edge=cut and fit is None, exclusion=exclusion)


def sticker_quad(corners: F64) -> F64:
    """The whole 30 mm sticker around a 20 mm blue square (same centre, 1.5x)."""
    c = corners.mean(axis=0)
    return np.asarray(c + (corners - c) * STICKER_SCALE, dtype=np.float64)


def side_px(corners: F64) -> float:
    """Mean side length of a quad."""
    return float(np.mean(np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)))


__all__ = [
    "MarkerFit",
    "MarkerSearch",
    "blue_mask",
    "find_marker",
    "luminance",
    "side_px",
    "sticker_quad",
]
