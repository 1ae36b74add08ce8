"""Find the ulcer from the patient's anchor: GrabCut (OpenCV) learns the wound's colours from
the tap and the box and the skin's from around them, and a graph cut keeps the edge smooth.

Why anchored: real wound photos hold bedsheets, gloves, furniture and callus, and periwound
erythema is as red as granulation in some photos and redder in others, so no fixed colour
threshold separates them; the colours at the tap and around the box do, photo by photo.

With a box, everything outside it is background and everything inside may be wound. With a
tap only, a window around the tap plays the box, but its inside starts as "probably skin"
except a small disc around the tap: started as "probably wound", GrabCut takes in the skin
of a window that is large for the wound; started as skin, the wound has to win its pixels.
The work is done on a crop around the anchor reduced to at most SIDE px, so the time does
not grow with the photo.

Whether an outline deserves trust is judged by its stability, not by how it looks: an outline
that follows the wound's real edge stays put when the box is drawn a little larger and when
GrabCut is run again inside it; one that stopped halfway into reddish periwound skin or pale
slough moves. Edge contrast, colour separation and shape were weaker signs on real photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
U8Array = NDArray[np.uint8]

SIDE = 200  # long side (px) of the crop GrabCut works on
CONTEXT = 0.3  # background taken around the box, as a share of the box's size per side
TAP_WINDOW = 0.25  # half-size of the search window around a lone tap, share of the photo's long side
TAP_DISC = 0.03  # radius of the certain-wound disc at the tap, share of the box's long side
ITERATIONS = 5
GRABCUT_SEED = 16
FILLED = 0.7  # share of the box a region may cover before the cut is made again from the tap
GROWN = 1.1  # the patient's box is grown by this factor about its centre for the stability check
STABLE_GROWN = 0.04  # |log area ratio| of the cut from the grown box within which the outline is stable
STABLE_REFINED = 0.01  # |log area ratio| of a second cut inside the outline within which it is stable
LIKE_TAP = 12.0  # Lab distance (L weighted) within which a pixel looks like the tapped tissue
L_WEIGHT = 0.6  # lighting gradients and vignetting move L far more than they move hue

cv2.setNumThreads(1)  # one core per measurement: uploads are measured in parallel processes


@dataclass(frozen=True)
class Region:
    """The ulcer found in a crop of the detail image."""

    mask: BoolArray  # at crop scale, holes filled
    origin: tuple[float, float]  # crop's top-left, detail px
    scale: float  # crop px per detail px
    touches_limit: bool  # the region reaches the box (or tap window) it was confined to
    touches_frame: bool  # the region reaches the photo's border
    fills_box: float  # share of the box (or tap window) the region covers
    refined: float  # area of a second cut made inside the region, as a share of the region's
    stable: bool = False  # the outline barely moves with a larger box or a second cut


def find_ulcer(
    detail: U8Array,
    exclusion: list[F64],
    seed: tuple[float, float] | None,
    box: tuple[float, float, float, float] | None,
) -> Region | None:
    """The ulcer holding the tap (detail px) and confined to the box (detail px), if given.

    `exclusion` are quads (detail px) that are never wound: the marker's sticker and
    look-alikes. Without any anchor the reddest blob away from the photo's edge is tapped.
    A box whose whole inside starts as "probably wound" can end up taken (nearly) whole when the
    skin inside it dominates; then the cut is made again starting from the tap, inside the box.
    """
    from_tap = box is None
    region = _cut(detail, exclusion, seed, box, from_tap)
    if region is not None and region.fills_box > FILLED and box is not None and seed is not None:
        again = _cut(detail, exclusion, seed, box, from_tap=True)
        if again is not None and not again.touches_limit:
            region, from_tap = again, True
    if region is None:
        return region
    stable = abs(math.log(max(region.refined, 1e-6))) <= STABLE_REFINED
    if box is not None:  # a lone tap's window is ours, not the patient's: nothing to vary
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        hw, hh = GROWN * (box[2] - box[0]) / 2, GROWN * (box[3] - box[1]) / 2
        grown = _cut(detail, exclusion, seed, (cx - hw, cy - hh, cx + hw, cy + hh), from_tap)
        stable = stable and grown is not None and abs(math.log(_area(grown) / _area(region))) <= STABLE_GROWN
    return replace(region, stable=stable)


def _area(region: Region) -> float:
    """The region's area in detail px."""
    return float(region.mask.sum()) / region.scale**2


def _cut(
    detail: U8Array,
    exclusion: list[F64],
    seed: tuple[float, float] | None,
    box: tuple[float, float, float, float] | None,
    from_tap: bool,
) -> Region | None:
    """One GrabCut in a crop around the anchor; `from_tap`: the box starts as skin but for the tap."""
    h, w = detail.shape[:2]
    if seed is None and box is None:
        seed = _likely_wound(detail, exclusion)
        if seed is None:
            return None
    lone_tap = from_tap
    if box is None:
        assert seed is not None
        half = TAP_WINDOW * max(h, w)
        box = (seed[0] - half, seed[1] - half, seed[0] + half, seed[1] + half)
    bx0, by0 = max(0.0, box[0]), max(0.0, box[1])
    bx1, by1 = min(float(w), box[2]), min(float(h), box[3])
    bw, bh = bx1 - bx0, by1 - by0
    cx0, cy0 = int(max(0, bx0 - CONTEXT * bw)), int(max(0, by0 - CONTEXT * bh))
    cx1, cy1 = int(min(w, math.ceil(bx1 + CONTEXT * bw))), int(min(h, math.ceil(by1 + CONTEXT * bh)))
    crop = detail[cy0:cy1, cx0:cx1]
    s = min(1.0, SIDE / max(crop.shape[:2]))
    if s < 1.0:
        crop = np.asarray(cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ch, cw = crop.shape[:2]
    if ch < 4 or cw < 4:
        return None

    def to_crop(x: float, y: float) -> tuple[int, int]:
        return (min(cw - 1, max(0, int((x - cx0) * s))), min(ch - 1, max(0, int((y - cy0) * s))))

    ix0, iy0 = to_crop(bx0, by0)
    ix1 = max(ix0 + 1, min(cw, math.ceil((bx1 - cx0) * s)))
    iy1 = max(iy0 + 1, min(ch, math.ceil((by1 - cy0) * s)))
    mask = np.full((ch, cw), cv2.GC_BGD, dtype=np.uint8)
    mask[iy0:iy1, ix0:ix1] = cv2.GC_PR_BGD if lone_tap else cv2.GC_PR_FGD
    tap = to_crop(*seed) if seed is not None else ((ix0 + ix1) // 2, (iy0 + iy1) // 2)
    r = max(1, round(TAP_DISC * max(ix1 - ix0, iy1 - iy0)))
    if lone_tap:
        cv2.circle(mask, tap, 3 * r, cv2.GC_PR_FGD, -1)
    never = _never_wound(crop, exclusion, (cx0, cy0), s)
    if seed is not None:
        cv2.circle(mask, tap, r, cv2.GC_FGD, -1)
    mask[never] = cv2.GC_BGD
    if seed is not None:
        mask[tap[1], tap[0]] = cv2.GC_FGD
    if not np.any((mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)) or not np.any(mask == cv2.GC_PR_FGD):
        return None
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(crop[..., ::-1])
    cv2.setRNGSeed(GRABCUT_SEED)  # its k-means starts from OpenCV's global RNG: same photo, same outline
    cv2.grabCut(bgr, mask, (0, 0, 0, 0), bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    wound = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    region = _component_at(wound, tap)
    if region is None:
        return None
    at_frame = (cx0 == 0 and region[:, 0].any()) or (cy0 == 0 and region[0].any())
    at_frame = at_frame or (cx1 == w and region[:, -1].any()) or (cy1 == h and region[-1].any())
    return Region(
        mask=region,
        origin=(float(cx0), float(cy0)),
        scale=s,
        touches_limit=_reaches_limit(region, (ix0, iy0, ix1, iy1), (cw, ch)),
        touches_frame=bool(at_frame),
        fills_box=float(region[iy0:iy1, ix0:ix1].sum()) / ((iy1 - iy0) * (ix1 - ix0)),
        refined=_refined_share(bgr, region, tap),
    )


def _refined_share(bgr: U8Array, region: BoolArray, tap: tuple[int, int]) -> float:
    """Area of a second GrabCut that may only shrink the region, as a share of the region's."""
    mask = np.where(region, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
    cv2.circle(mask, tap, 2, cv2.GC_FGD, -1)
    if not np.any(mask == cv2.GC_BGD):
        return 1.0
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(GRABCUT_SEED)
    try:
        cv2.grabCut(bgr, mask, (0, 0, 0, 0), bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # too few pixels on one side to learn its colours: nothing to vouch for it
        return 0.0
    kept = _component_at((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), tap)
    return 0.0 if kept is None else float(kept.sum()) / float(region.sum())


def _reaches_limit(region: BoolArray, box: tuple[int, int, int, int], size: tuple[int, int]) -> bool:
    """Whether the region runs along a side of its box that is not the crop's own border."""
    x0, y0, x1, y1 = box
    cw, ch = size
    sides = []
    if x0 > 0:
        sides.append(region[y0:y1, x0])
    if y0 > 0:
        sides.append(region[y0, x0:x1])
    if x1 < cw:
        sides.append(region[y0:y1, x1 - 1])
    if y1 < ch:
        sides.append(region[y1 - 1, x0:x1])
    return any(side.any() for side in sides)


def _never_wound(crop: U8Array, exclusion: list[F64], origin: tuple[int, int], s: float) -> BoolArray:
    """The marker's sticker (and look-alikes), at crop scale."""
    ch, cw = crop.shape[:2]
    out = np.zeros((ch, cw), dtype=np.uint8)
    for quad in exclusion:
        c = quad.mean(axis=0)
        grown = (c + (quad - c) * 1.12 - np.array(origin, dtype=np.float64)) * s
        cv2.fillPoly(out, [np.round(grown).astype(np.int32)], 1)
    return np.asarray(out > 0)


def _component_at(mask: BoolArray, at: tuple[int, int]) -> BoolArray | None:
    """The 8-connected component holding `at` (else the nearest one), holes filled."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    x, y = at
    chosen = int(labels[y, x])
    if chosen == 0:
        ys, xs = np.nonzero(labels)
        k = int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))
        chosen = int(labels[ys[k], xs[k]])
    return fill_holes(labels == chosen)


def fill_holes(mask: BoolArray) -> BoolArray:
    """The mask with every background region not connected to the border set to True."""
    h, w = mask.shape
    flood = np.zeros((h + 2, w + 2), dtype=np.uint8)
    flood[1:-1, 1:-1] = mask
    cv2.floodFill(flood, None, (0, 0), 2)  # 4-connected: the dual of 8-connected foreground
    return np.asarray(flood[1:-1, 1:-1] != 2)


def _likely_wound(detail: U8Array, exclusion: list[F64]) -> tuple[float, float] | None:
    """Without an anchor: the centre of the reddest patch away from the photo's edge."""
    h, w = detail.shape[:2]
    s = min(1.0, SIDE / max(h, w))
    small = detail
    if s < 1.0:
        small = np.asarray(cv2.resize(detail, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab).astype(np.float32)
    redness = cv2.GaussianBlur(lab[..., 1], (0, 0), max(1.0, 0.02 * max(small.shape[:2])))
    sh, sw = redness.shape
    edge = max(1, round(0.05 * max(sh, sw)))
    redness[_never_wound(small, exclusion, (0, 0), s)] = -1.0
    redness[:edge] = redness[-edge:] = -1.0
    redness[:, :edge] = redness[:, -edge:] = -1.0
    y, x = np.unravel_index(int(np.argmax(redness)), redness.shape)
    if redness[y, x] <= 128.0:  # a* of 128 is neutral grey: nothing red at all
        return None
    return ((x + 0.5) / s, (y + 0.5) / s)


def like_tap_share(detail: U8Array, seed: tuple[float, float]) -> float:
    """Share of the photo whose colour is within LIKE_TAP of the tap's (a wound filling the frame)."""
    h, w = detail.shape[:2]
    s = min(1.0, SIDE / max(h, w))
    small = detail
    if s < 1.0:
        small = np.asarray(cv2.resize(detail, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab).astype(np.float32)
    sh, sw = lab.shape[:2]
    x, y = min(sw - 1, int(seed[0] * s)), min(sh - 1, int(seed[1] * s))
    ref = np.median(lab[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].reshape(-1, 3), axis=0)
    d = lab - ref
    d[..., 0] *= L_WEIGHT
    return float(np.mean(np.sqrt(np.sum(d * d, axis=-1)) < LIKE_TAP))
