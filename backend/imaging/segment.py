"""Find the ulcer: colour distance from the surrounding skin, then a boundary that settles where
the colour steps from wound bed to periwound skin.

Why two stages: the periwound erythema is red too, so any single colour threshold either cuts
into pale slough or swallows the erythema. The wound edge, however, is a sharp step while the
erythema fades out over millimetres; comparing each pixel near the boundary with the *local*
colour just inside and just outside puts the boundary at the middle of that step (where a
symmetric blur leaves the true edge) whatever the tissue or skin tone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageDraw

from backend.imaging.labels import fill_holes, label

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_SRGB = ImageCms.createProfile("sRGB")
_LAB = ImageCms.createProfile("LAB")
_TO_LAB = ImageCms.buildTransform(_SRGB, _LAB, "RGB", "LAB")

# log(v + 6): the offset keeps sensor noise in near-black pixels from exploding in log space.
_LOG_LUT = np.log(np.arange(256, dtype=np.float32) + np.float32(6.0)).astype(np.float32)
L_WEIGHT = 0.6  # lighting gradients and vignetting move L far more than they move hue
LOW_CONTRAST = 10.0  # inside-vs-outside distance along the final edge below which we flag


def to_lab(image: Image.Image) -> F32:
    """CIELab as float32 (h, w, 3) with L in 0..100 and a, b signed; littleCMS does the maths in C."""
    lab = ImageCms.applyTransform(image, _TO_LAB)
    assert lab is not None
    a = np.asarray(lab, dtype=np.float32)
    out = np.empty_like(a)
    out[..., 0] = a[..., 0] * np.float32(100.0 / 255.0)
    # Pillow's 8-bit LAB stores a and b as signed bytes in unsigned storage.
    out[..., 1:] = np.where(a[..., 1:] >= 128, a[..., 1:] - 256, a[..., 1:])
    return out


def box_sum(a: NDArray[np.floating], r: int, exact: bool = True) -> NDArray[np.floating]:
    """Sum over the (2r+1)^2 window around each pixel (zeros beyond the borders), via an
    integral image of the zero-padded array: four slices, no per-pixel indexing.

    `exact=False` accumulates in float32: twice as fast, exact for counts below 2^24 and about
    1e-4 relative error on window sums of colours, far below what the comparisons need.
    """
    h, w = a.shape[:2]
    pad = [(r + 1, r), (r + 1, r)] + [(0, 0)] * (a.ndim - 2)
    ii = np.pad(a.astype(np.float64 if exact else np.float32), pad)
    np.cumsum(ii, axis=0, out=ii)
    np.cumsum(ii, axis=1, out=ii)
    k = 2 * r + 1
    return np.asarray(ii[k:, k:] - ii[:h, k:] - ii[k:, :w] + ii[:h, :w])


def dilate(mask: BoolArray, r: int) -> BoolArray:
    if r <= 0:
        return mask
    return np.asarray(box_sum(mask.astype(np.float32), r, exact=False) > 0.5, dtype=np.bool_)


def erode(mask: BoolArray, r: int) -> BoolArray:
    if r <= 0:
        return mask
    return np.asarray(~dilate(~mask, r), dtype=np.bool_)


def polygon_mask(shape: tuple[int, int], polygons: list[F64]) -> BoolArray:
    """Rasterise polygons (continuous pixel coordinates) into a boolean mask."""
    h, w = shape
    img = Image.new("1", (w, h), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        if len(poly) >= 3:
            # ImageDraw puts pixel centres on integers; ours are at +0.5.
            draw.polygon([(float(x) - 0.5, float(y) - 0.5) for x, y in poly], fill=1)
    return np.array(img, dtype=np.bool_)


def wound_score(rgb: NDArray[np.uint8], exclude: BoolArray) -> F32:
    """How un-skin-like each pixel is, in units of "clearly wound" (> 1 = wound tissue).

    Works on log sRGB relative to the local skin colour, where lighting and white balance are
    additive offsets that the local reference cancels. Three cues, each scaled so that 1 is
    beyond what periwound erythema (redder and darker skin, at most about R/G x1.9) reaches:
    red beyond erythema (granulation), much darker than the skin (eschar), yellower than the
    skin (slough), plus "much brighter and yellowish" for pale slough on dark skin.
    """
    h, w = rgb.shape[:2]
    lg = _LOG_LUT[rgb]  # a table lookup instead of a log per channel per pixel
    usable = ~exclude
    if usable.sum() < 16:
        usable = np.ones((h, w), dtype=np.bool_)
    # The skin reference varies slowly: estimate it on a coarse grid of samples, then spread it.
    r = max(4, int(max(h, w) / 8))
    step = max(1, r // 4)
    small = lg[::step, ::step]
    small_usable = usable[::step, ::step]
    if small_usable.sum() < 4:
        small_usable = np.ones(small_usable.shape, dtype=np.bool_)
    ref = np.median(small[small_usable], axis=0)
    rs = max(1, r // step)
    skin = small_usable & _skin_like(small - ref)
    local_s = _grid_mean(small, skin if skin.sum() > 4 else small_usable, ref, rs)
    # Second pass: the local reference is better than the global one at telling skin apart.
    skin = small_usable & _skin_like(small - local_s)
    local_s = _grid_mean(small, skin if skin.sum() > 4 else small_usable, ref, rs)
    # Erythema reddens light skin more than dark skin, so the red threshold follows the local
    # skin's darkness (luma of the local reference: ~220 for type I, ~65 for type VI).
    skin_y = np.exp(0.3 * local_s[..., 0] + 0.6 * local_s[..., 1] + 0.1 * local_s[..., 2]) - np.float32(6.0)
    darkness = np.clip((210.0 - skin_y) / 140.0, 0.0, 1.0)
    red_thr_s = (0.62 - 0.22 * darkness).astype(np.float32)
    yi = np.minimum(np.arange(h) // step, local_s.shape[0] - 1)
    xi = np.minimum(np.arange(w) // step, local_s.shape[1] - 1)
    d = lg - local_s[yi][:, xi]
    red_thr = red_thr_s[yi][:, xi]
    red = d[..., 0] - d[..., 1]
    yellow = d[..., 1] - d[..., 2]
    bright = 0.3 * d[..., 0] + 0.6 * d[..., 1] + 0.1 * d[..., 2]
    # Thresholds (the divisors) sit just past what erythema, mottling and a pale macerated rim
    # reach on synthetic photos of all six skin types (bench/ulcer_synth.py): erythema raises R/G
    # by up to ~x1.8 and darkens, never yellows; the rim is bright but neither red nor yellow.
    # On light and medium skin granulation is also far darker in green than any erythema
    # (erythema keeps G above ~0.5x the skin's; granulation is ~0.25x): without that second
    # condition, blotches of strong erythema next to the wound pass the R/G test. On dark skin
    # granulation is not darker than the skin, so the condition fades out there.
    dark_skin = np.clip(darkness - 0.3, 0.0, None).astype(np.float32)[yi][:, xi] * np.float32(20.0)
    red_score = np.minimum(red / red_thr, -d[..., 1] / np.float32(0.7) + dark_skin)
    score = np.maximum(red_score, yellow / np.float32(0.065))
    score = np.maximum(score, -bright / np.float32(0.5))
    tinted = (red > 0.15) | (yellow > -0.1)
    score = np.maximum(score, np.where(tinted, bright / np.float32(0.3), np.float32(0.0)))
    return np.asarray(score, dtype=np.float32)


def _skin_like(d: F32) -> BoolArray:
    red = d[..., 0] - d[..., 1]
    yellow = d[..., 1] - d[..., 2]
    bright = 0.3 * d[..., 0] + 0.6 * d[..., 1] + 0.1 * d[..., 2]
    return np.asarray((red < 0.3) & (np.abs(yellow) < 0.2) & (np.abs(bright) < 0.5), dtype=np.bool_)


def _grid_mean(values: F32, weights: BoolArray, fallback: NDArray[np.floating], r: int) -> F32:
    """Mean of `values` over the weighted samples within r grid steps."""
    wt = weights.astype(np.float64)
    num = box_sum(values.astype(np.float64) * wt[..., None], r)
    den = box_sum(wt, r)[..., None]
    return np.asarray(np.where(den > 0.5, num / np.maximum(den, 1e-9), fallback), dtype=np.float32)


def _weighted_distance(lab: F32, ref: F32 | NDArray[np.floating]) -> F32:
    d = lab - ref
    return np.asarray(np.sqrt((L_WEIGHT * d[..., 0]) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2), dtype=np.float32)


def find_core(
    dist: F32,
    exclude: BoolArray,
    seed: tuple[int, int] | None,
    hint: BoolArray | None,
) -> BoolArray | None:
    """The connected region of clearly-not-skin pixels that is the ulcer, filled.

    With a seed: the component holding it (or the nearest one close by). With a hint polygon:
    the component overlapping it most. Otherwise the largest, most central, most wound-like one.
    """
    h, w = dist.shape
    strong = (dist > 1.0) & ~exclude
    labels, n = label(strong)
    if n == 0:
        return None
    counts = np.bincount(labels.ravel(), minlength=n + 1).astype(np.float64)
    counts[0] = 0
    min_px = max(6.0, h * w * 2e-5)
    chosen = 0
    if seed is not None:
        sx, sy = seed
        chosen = int(labels[sy, sx])
        if chosen == 0 or counts[chosen] < 3:
            ys, xs = np.nonzero(labels > 0)
            if len(ys):
                d2 = (xs - sx) ** 2 + (ys - sy) ** 2
                k = int(np.argmin(d2))
                near = d2[k] <= (0.05 * math.hypot(h, w)) ** 2
                chosen = int(labels[ys[k], xs[k]]) if near else 0
    if chosen == 0 and hint is not None and hint.any():
        overlap = np.bincount(labels[hint], minlength=n + 1).astype(np.float64)
        overlap[0] = 0
        if overlap.max() > 0:
            chosen = int(np.argmax(overlap))
    if chosen == 0:
        sums = np.bincount(labels.ravel(), weights=dist.ravel().astype(np.float64), minlength=n + 1)
        ys, xs = np.indices((h, w))
        cy = np.bincount(labels.ravel(), weights=ys.ravel().astype(np.float64), minlength=n + 1)
        cx = np.bincount(labels.ravel(), weights=xs.ravel().astype(np.float64), minlength=n + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_d = sums / np.maximum(counts, 1)
            off = np.hypot(cx / np.maximum(counts, 1) - w / 2, cy / np.maximum(counts, 1) - h / 2) / math.hypot(w, h)
        score = counts * mean_d * np.exp(-((off / 0.3) ** 2))
        score[counts < min_px] = 0
        score[0] = 0
        if score.max() <= 0:
            return None
        chosen = int(np.argmax(score))
    if counts[chosen] < 3:
        return None
    region = labels == chosen
    # Merge nearby pieces of the same wound (eschar islands that skin-coloured tissue splits off).
    near = dilate(region, max(1, int(0.02 * max(h, w))))
    extra = np.unique(labels[near & strong])
    merged = np.isin(labels, extra[extra > 0])
    return fill_holes(merged)


@dataclass(frozen=True)
class Settled:
    mask: BoolArray  # filled region (full working-image size)
    mu_in: F64  # local inside / outside mean colours (weighted Lab) around the final edge,
    mu_out: F64  # over the crop `box` (y0, y1, x0, x1) of the working image
    ok: BoolArray  # where both means exist
    box: tuple[int, int, int, int]


def _weighted(lab: F32) -> F32:
    out = lab.astype(np.float32)
    out[..., 0] *= L_WEIGHT
    return out


def _local_means(labw: F32, mask: BoolArray, exclude: BoolArray, band: int) -> tuple[F64, F64, BoolArray, BoolArray]:
    win = max(2, band * 2)
    inner = mask & ~erode(mask, band)
    outer = dilate(mask, band) & ~mask & ~exclude
    s_in = box_sum(labw * inner[..., None], win, exact=False)
    n_in = box_sum(inner.astype(np.float32), win, exact=False)[..., None]
    s_out = box_sum(labw * outer[..., None], win, exact=False)
    n_out = box_sum(outer.astype(np.float32), win, exact=False)[..., None]
    ok = (n_in[..., 0] > 0.5) & (n_out[..., 0] > 0.5)
    mu_in = np.asarray(s_in / np.maximum(n_in, 1e-6), dtype=np.float64)
    mu_out = np.asarray(s_out / np.maximum(n_out, 1e-6), dtype=np.float64)
    return mu_in, mu_out, ok, inner | outer


def settle_boundary(
    image: Image.Image,
    start: BoolArray,
    exclude: BoolArray,
    band: int,
    protect: BoolArray,
    iterations: int = 6,
    want_means: bool = True,
) -> Settled:
    """Move the boundary to where each pixel is nearer the local inside colour than the outside one.

    `band` (px) is both how far the boundary may move per pass and the width of the inside and
    outside strips whose local mean colours compete, so the outside strip is the periwound skin
    right at the edge, erythema included, and the erythema is never counted as wound.
    Works in a crop around the region: the boundary cannot move further than the passes allow.
    `protect`ed pixels (clearly wound, away from any edge) always stay in: without that, where a
    slough or eschar patch meets the edge, the granulation next to it can lose the comparison
    and the boundary eats its way along the tissue border into the wound.
    """
    h, w = start.shape
    ys, xs = np.nonzero(start)
    margin = band * (iterations + 3) + 2
    y0, y1 = max(0, int(ys.min()) - margin), min(h, int(ys.max()) + margin + 1)
    x0, x1 = max(0, int(xs.min()) - margin), min(w, int(xs.max()) + margin + 1)
    labw = _weighted(to_lab(image.crop((x0, y0, x1, y1))))  # Lab of the crop only
    excl = exclude[y0:y1, x0:x1]
    first = start[y0:y1, x0:x1]
    keep = protect[y0:y1, x0:x1]
    mask = first.copy()
    for _ in range(iterations):
        mu_in, mu_out, ok, zone = _local_means(labw, mask, excl, band)
        zone &= ok
        if not zone.any():
            break
        d_in = np.sum((labw[zone] - mu_in[zone]) ** 2, axis=-1)
        d_out = np.sum((labw[zone] - mu_out[zone]) ** 2, axis=-1)
        new = mask.copy()
        new[zone] = d_in < d_out
        new |= keep
        tidy = tidy_region(new, first)
        if tidy is None:
            break
        changed = int(np.sum(tidy != mask))
        mask = tidy
        if changed <= max(2, int(mask.sum()) // 2000):
            break
    if want_means:
        mu_in, mu_out, ok, _ = _local_means(labw, mask, excl, max(1, band))
    else:  # the caller needs only the mask
        mu_in = mu_out = np.zeros((0, 0, 3))
        ok = np.zeros((0, 0), dtype=np.bool_)
    full = np.zeros((h, w), dtype=np.bool_)
    full[y0:y1, x0:x1] = mask
    return Settled(mask=full, mu_in=mu_in, mu_out=mu_out, ok=ok, box=(y0, y1, x0, x1))


def tidy_region(mask: BoolArray, ref: BoolArray) -> BoolArray | None:
    """Majority-smoothed, the one component overlapping `ref` most, holes filled."""
    comp = _component_touching(_smooth_mask(mask), ref)
    return None if comp is None else fill_holes(comp)


def _smooth_mask(mask: BoolArray) -> BoolArray:
    """3x3 majority: removes single-pixel speckle from noise without moving straight edges."""
    return np.asarray(box_sum(mask.astype(np.float32), 1, exact=False) >= 5, dtype=np.bool_)


def _component_touching(mask: BoolArray, ref: BoolArray) -> BoolArray | None:
    labels, n = label(mask)
    if n == 0:
        return None
    hits = np.bincount(labels[ref & mask], minlength=n + 1)
    hits[0] = 0
    if hits.max() == 0:
        counts = np.bincount(labels.ravel(), minlength=n + 1)
        counts[0] = 0
        return np.asarray(labels == int(np.argmax(counts)), dtype=np.bool_)
    return np.asarray(labels == int(np.argmax(hits)), dtype=np.bool_)


def edge_contrast(lab: F32, mask: BoolArray, band: int) -> float:
    """Weighted Lab distance between the strip just inside and the strip just outside the edge."""
    inner = mask & ~erode(mask, band)
    outer = dilate(mask, band) & ~mask
    if not inner.any() or not outer.any():
        return 0.0
    mi = np.median(lab[inner], axis=0)
    mo = np.median(lab[outer], axis=0)
    return float(_weighted_distance(mi[None, None, :], mo)[0, 0])
