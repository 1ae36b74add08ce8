"""Synthetic ulcer photos with exact ground truth, for the LimbTrack area estimator.

Why: the estimator (``backend.imaging``) must give ulcer areas in mm² from a phone photo
with a calibration marker; real photos have no exact truth, so we render a skin plane in
millimetres, put an ulcer (known analytic area) and the marker on it, and photograph it
with a pinhole camera at a known pose.

Library API::

    from bench.ulcer_synth import render, save, to_jpeg_bytes, SynthPhoto

    photo = render(seed=7, size=(4000, 3000))          # deterministic by seed
    photo.image                # PIL.Image.Image, RGB, upright, `size`
    photo.true_area_mm2        # exact, analytic: ½∫r(θ)²dθ of the ulcer's radial function
    photo.ulcer_polygon_px     # list[(x, y)], 360 boundary points in image px
    photo.marker_corners_px    # 4 corners of the 20 mm blue square, or None without marker
    photo.seed_px              # (x, y) a point inside the ulcer (the app's tap)
    photo.has_marker           # bool
    photo.params               # dict: fitzpatrick, tilt_deg, blur_sigma_px, jpeg_quality, ...
    data = to_jpeg_bytes(photo)                 # JPEG at params["jpeg_quality"] (70-95)
    save(photo, "x.jpg")                        # same bytes, to a file
    photo.truth(file="x.jpg")                   # JSON-ready dict (the truth.jsonl line)

    render(seed, with_marker=False)      # force no marker; None (default): 10 % have none
    render(seed, no_marker_rate=0.2)     # the chance used when with_marker is None

Command line (writes OUTDIR/ulcer_0000.jpg ... plus OUTDIR/truth.jsonl)::

    python -m bench.ulcer_synth OUTDIR -n 20 [--size 4000x3000] [--seed 0]
                                [--no-marker-rate 0.1] [--jobs 2]

Image i of a run uses ``render(image_seed(seed, i))`` and has no marker exactly when
``floor((i + 1) * rate) > floor(i * rate)`` (evenly spread, round(n * rate) of them).

Conventions:
 * Image coordinates: x right, y down, origin at the image's top-left *corner*; the
   centre of pixel (i, j) is (i + 0.5, j + 0.5) (Pillow's convention for transforms).
 * Marker corners: the blue 20.0 mm square only (not the white sticker), ordered
   clockwise as seen in the image (y down), starting with the corner with the smallest
   x + y ("top-left").
 * The skin plane is in mm: ulcer centre at (0, 0), u right, v down as seen at tilt 0.

What is rendered: skin of Fitzpatrick type I-VI (mottling, fine texture, a lighting
gradient), an ulcer r(θ) = R0 (1 + Σ a_k cos kθ + b_k sin kθ) (k = 1..6, area 20-1500 mm²,
log-uniform) with red granulation, yellow slough and black/dark-brown eschar, a diffuse
periwound erythema ring (not ulcer), and the marker v1 (blue square 20 mm, sRGB
(20, 70, 200), on a 30 mm white sticker) at a random rotation beside the ulcer, never
over it. The camera: tilt 0-30° from the skin normal in a random direction, random
in-plane roll, focal length 0.75-1.1 x image width, distance set so the scene fills
60-95 % of the short side. Then Gaussian blur (σ 0-2.5 px at 4000 px wide), vignetting,
white-balance gains, sensor noise, JPEG quality 70-95.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

Point = tuple[float, float]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

GENERATOR_VERSION = 2  # in every truth record; bump when the rendering changes
MARKER_SIDE_MM = 20.0
MARKER_RGB = (20, 70, 200)
STICKER_SIDE_MM = 30.0
DEFAULT_NO_MARKER_RATE = 0.10
AREA_RANGE_MM2 = (20.0, 1500.0)
TILT_RANGE_DEG = (0.0, 30.0)
FOURIER_TERMS = 6
POLYGON_POINTS = 360
TEXTURE_BUDGET_PX = 5_000_000  # cap on the rendered skin plane (speed)
MAX_FRAMING_TRIES = 30

# Typical sRGB skin tones by Fitzpatrick type (I..VI), jittered per image.
SKIN_RGB: dict[int, tuple[float, float, float]] = {
    1: (244, 214, 196),
    2: (232, 192, 166),
    3: (212, 166, 130),
    4: (180, 130, 95),
    5: (135, 92, 64),
    6: (88, 58, 42),
}


@dataclass
class SynthPhoto:
    """One rendered photo and its exact ground truth."""

    image: Image.Image
    true_area_mm2: float
    ulcer_polygon_px: list[Point]
    marker_corners_px: list[Point] | None
    seed_px: Point
    has_marker: bool
    params: dict[str, Any] = field(default_factory=dict)

    def truth(self, file: str | None = None) -> dict[str, Any]:
        """The JSON-ready ground truth (one truth.jsonl line)."""
        w, h = self.image.size
        return {
            "file": file,
            "width": w,
            "height": h,
            "has_marker": self.has_marker,
            "true_area_mm2": self.true_area_mm2,
            "true_area_px": polygon_area(self.ulcer_polygon_px),
            "ulcer_polygon_px": [[round(x, 2), round(y, 2)] for x, y in self.ulcer_polygon_px],
            "marker_corners_px": (
                [[round(x, 3), round(y, 3)] for x, y in self.marker_corners_px] if self.marker_corners_px else None
            ),
            "seed_px": [round(self.seed_px[0], 2), round(self.seed_px[1], 2)],
            "params": self.params,
        }


# ----------------------------------------------------------------------------- geometry


def polygon_area(points: Sequence[Point] | F64) -> float:
    """Shoelace area (absolute) of a closed polygon."""
    p = np.asarray(points, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def apply_h(h: F64, pts: F64) -> F64:
    """Apply a 3x3 homography to an (n, 2) array of points."""
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    out: F64 = q[:, :2] / q[:, 2:3]
    return out


def order_clockwise_from_top_left(pts: F64) -> F64:
    """Corners clockwise as seen in the image (y down), starting at the smallest x + y."""
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])  # y down: increasing = clockwise
    p = pts[np.argsort(ang)]
    start = int(np.argmin(p[:, 0] + p[:, 1]))
    return np.roll(p, -start, axis=0)


def camera_homography(
    tilt: float, azimuth: float, roll: float, dist_mm: float, focal_px: float, size: tuple[int, int], look_at: F64
) -> F64:
    """Plane (u, v, 0) mm -> image px for a pinhole camera looking at `look_at`.

    The camera sits on the -z side of the plane (so u right / v down looks unmirrored at
    tilt 0), `tilt` radians from the plane normal towards `azimuth`, rolled by `roll`.
    """
    n_c = np.array([math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), -math.cos(tilt)])
    centre = np.array([look_at[0], look_at[1], 0.0]) + dist_mm * n_c
    z = -n_c
    y0 = np.array([0.0, 1.0, 0.0]) - z[1] * z
    y0 /= np.linalg.norm(y0)
    x0 = np.cross(y0, z)
    x = math.cos(roll) * x0 + math.sin(roll) * y0
    y = -math.sin(roll) * x0 + math.cos(roll) * y0
    rot = np.stack([x, y, z])  # world -> camera rows
    k = np.array([[focal_px, 0.0, size[0] / 2.0], [0.0, focal_px, size[1] / 2.0], [0.0, 0.0, 1.0]])
    h = k @ np.c_[rot[:, 0], rot[:, 1], -rot @ centre]
    out: F64 = h / h[2, 2]
    return out


# ----------------------------------------------------------------------------- noise


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> F32:
    """Zero-mean unit-ish value noise: `cells` random values across the longer side, bicubic-upsampled."""
    h, w = shape
    scale = max(h, w) / max(cells, 1.0)
    gh, gw = max(2, math.ceil(h / scale) + 2), max(2, math.ceil(w / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC)
    a = np.asarray(img, dtype=np.float32)
    sub = a[:: max(1, h // 64), :: max(1, w // 64)]  # statistics on a subsample: speed
    a = a - np.float32(sub.mean())
    a *= np.float32(1.0 / (float(sub.std()) or 1.0))
    return a


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], cells: float, octaves: int = 3, work: int = 1
) -> F32:
    """A few octaves of value noise (mottling, patches); summed at 1/`work` resolution (speed)."""
    h, w = shape
    small = (max(2, h // work), max(2, w // work))
    out = np.zeros(small, dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        out += amp * smooth_noise(rng, small, cells * (2**o))
        total += amp * amp
        amp *= 0.5
    out /= math.sqrt(total)
    if small != shape:
        out = np.asarray(Image.fromarray(out, mode="F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    return out


# ----------------------------------------------------------------------------- scene


@dataclass
class _Ulcer:
    r0: float
    a: F64  # cos coefficients, k = 1..K
    b: F64  # sin coefficients
    area_mm2: float

    def radius(self, theta: F64) -> F64:
        k = np.arange(1, len(self.a) + 1)
        t = np.asarray(theta, dtype=np.float64)[..., None] * k
        r: F64 = self.r0 * (1.0 + (np.cos(t) * self.a).sum(-1) + (np.sin(t) * self.b).sum(-1))
        return r


def _make_ulcer(rng: np.random.Generator) -> _Ulcer:
    """Random star-shaped ulcer with area log-uniform in AREA_RANGE_MM2, r(θ) ≥ 0.35 R0."""
    lo, hi = AREA_RANGE_MM2
    area = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    theta = np.linspace(0.0, 2 * math.pi, 1440, endpoint=False)
    k = np.arange(1, FOURIER_TERMS + 1)
    rough = rng.uniform(0.5, 1.4)
    a = b = np.zeros(FOURIER_TERMS)
    for _ in range(50):  # bounded: shrink until the shape is well star-shaped
        sd = rough * 0.22 / k**1.3
        sd[0] *= 0.4  # k = 1 mostly shifts the shape; keep it small
        a = rng.normal(0.0, sd)
        b = rng.normal(0.0, sd)
        r = 1.0 + np.cos(theta[:, None] * k) @ a + np.sin(theta[:, None] * k) @ b
        if r.min() >= 0.35:
            break
        rough *= 0.8
    # ½∫r² dθ over [0, 2π] for r = R0 (1 + Σ a_k cos kθ + b_k sin kθ): π R0² (1 + ½ Σ (a² + b²)).
    factor = math.pi * (1.0 + 0.5 * float(np.sum(a * a) + np.sum(b * b)))
    r0 = math.sqrt(area / factor)
    return _Ulcer(r0=r0, a=a, b=b, area_mm2=factor * r0 * r0)


def _blend(dst: F32, colour: F32 | Sequence[float], alpha: F32) -> None:
    """dst = dst·(1-α) + colour·α, in place (colour per pixel or constant)."""
    a = alpha[..., None]
    dst *= 1.0 - a
    dst += np.asarray(colour, dtype=np.float32) * a


def _render_plane(
    rng: np.random.Generator,
    p: dict[str, Any],
    ulcer: _Ulcer,
    box: tuple[float, float, float, float],
    ppm: float,
    marker: tuple[float, float, float] | None,
    tex_to_img: F64,
    image_size: tuple[int, int],
) -> Image.Image:
    """Render the skin plane over `box` (u0, v0, u1, v1 mm) at `ppm` px/mm as an RGB image.

    Lighting, vignetting, white balance and blur are folded in here (see the end).
    """
    u0, v0, u1, v1 = box
    w, h = math.ceil((u1 - u0) * ppm), math.ceil((v1 - v0) * ppm)
    shape = (h, w)
    mm_w, mm_h = w / ppm, h / ppm
    big = max(mm_w, mm_h)

    # Skin: base tone, mottling (luminance + redness), fine texture, lighting gradient.
    base = np.array(SKIN_RGB[p["fitzpatrick"]], dtype=np.float32) * rng.uniform(0.92, 1.06, 3).astype(np.float32)
    mottle = fractal_noise(rng, shape, big / 12.0, work=4)
    redness = fractal_noise(rng, shape, big / 8.0, work=4)
    fine = smooth_noise(rng, shape, big / 0.8)
    img = np.empty((h, w, 3), dtype=np.float32)
    lum = 1.0 + 0.035 * mottle + 0.03 * fine
    img[:] = base
    img *= lum[..., None]
    red_amt = np.clip(redness, 0.0, None) * 0.035
    img[..., 1] *= 1.0 - red_amt
    img[..., 2] *= 1.0 - 0.8 * red_amt

    # Ulcer + erythema window.
    ery_w = p["erythema_width_mm"]
    rmax = float(ulcer.radius(np.linspace(0, 2 * math.pi, 720)).max())
    reach = rmax + 3.0 * ery_w
    c0 = max(0, int((-reach - u0) * ppm))
    c1 = min(w, math.ceil((reach - u0) * ppm))
    r0_ = max(0, int((-reach - v0) * ppm))
    r1_ = min(h, math.ceil((reach - v0) * ppm))
    win = img[r0_:r1_, c0:c1]
    wh, ww = win.shape[:2]
    us = (np.arange(c0, c1, dtype=np.float32) + 0.5) / ppm + u0
    vs = (np.arange(r0_, r1_, dtype=np.float32) + 0.5) / ppm + v0
    uu, vv = np.meshgrid(us, vs)
    rho = np.hypot(uu, vv)
    theta = np.arctan2(vv, uu)
    lut_n = 4096
    lut_t = np.linspace(-math.pi, math.pi, lut_n + 1)
    lut_r = ulcer.radius(lut_t).astype(np.float32)
    pos = (theta + np.float32(math.pi)) * np.float32(lut_n / (2 * math.pi))
    i0 = np.clip(pos.astype(np.int32), 0, lut_n - 1)
    fr = pos - i0
    r_at = lut_r[i0] * (1 - fr) + lut_r[i0 + 1] * fr
    d = rho - r_at  # signed distance-ish (mm, along the ray), < 0 inside

    # Erythema: diffuse ring, patchy; reddens light skin, darkens/violaceous on dark skin.
    wshape = (wh, ww)
    wbig = max(wh, ww) / ppm
    ery_noise = fractal_noise(rng, wshape, wbig / 6.0, work=2)
    e = p["erythema_strength"] * np.exp(-((np.clip(d, 0, None) / ery_w) ** 2)) * np.clip(1 + 0.35 * ery_noise, 0, 2)
    dark = (p["fitzpatrick"] - 1) / 5.0
    win[..., 0] *= 1.0 + (0.06 - 0.2 * dark) * e
    win[..., 1] *= 1.0 - (0.38 - 0.05 * dark) * e
    win[..., 2] *= 1.0 - (0.30 - 0.1 * dark) * e

    # Pale macerated rim just outside the edge (sometimes).
    if p["rim_strength"] > 0:
        rim = p["rim_strength"] * np.exp(-((np.clip(d, 0, None) / p["rim_width_mm"]) ** 2))
        _blend(win, (225, 200, 190), rim.astype(np.float32))

    # Wound bed: granulation with granules, slough and eschar patches.
    gran_c = np.array(p["granulation_rgb"], dtype=np.float32)
    granules = smooth_noise(rng, wshape, wbig / 0.8)
    depth = np.clip(-d / max(ulcer.r0, 1e-3), 0, 1)  # 0 at the edge, 1 deep inside
    bed = np.empty((wh, ww, 3), dtype=np.float32)
    bed[:] = gran_c
    bed *= (1.0 + 0.14 * granules - 0.12 * depth)[..., None]
    patch_cells = wbig / max(ulcer.r0 * 0.9, 1.0)
    slough = fractal_noise(rng, wshape, patch_cells, 3, work=2)
    s_alpha = np.clip((slough - p["slough_threshold"]) * 2.5, 0, 1) * 0.95
    slough_c = np.array(p["slough_rgb"], dtype=np.float32)
    _blend(bed, slough_c * (1.0 + 0.08 * granules)[..., None], s_alpha)
    eschar = fractal_noise(rng, wshape, patch_cells, 3, work=2)
    x_alpha = np.clip((eschar - p["eschar_threshold"]) * 3.0, 0, 1)
    eschar_c = np.array(p["eschar_rgb"], dtype=np.float32)
    _blend(bed, eschar_c * (1.0 + 0.12 * granules)[..., None], x_alpha)
    cover = np.clip(-d * ppm + 0.5, 0, 1).astype(np.float32)  # anti-aliased edge at r(θ)
    _blend(win, bed, cover)

    # Marker: 30 mm white sticker with the 20 mm blue square, same plane.
    if marker is not None:
        mu, mv, ang = marker
        half_s = STICKER_SIDE_MM / 2 + 1.0
        reach_m = half_s * math.sqrt(2)
        mc0, mc1 = max(0, int((mu - reach_m - u0) * ppm)), min(w, math.ceil((mu + reach_m - u0) * ppm))
        mr0, mr1 = max(0, int((mv - reach_m - v0) * ppm)), min(h, math.ceil((mv + reach_m - v0) * ppm))
        mwin = img[mr0:mr1, mc0:mc1]
        mus = (np.arange(mc0, mc1, dtype=np.float32) + 0.5) / ppm + u0 - mu
        mvs = (np.arange(mr0, mr1, dtype=np.float32) + 0.5) / ppm + v0 - mv
        mu_, mv_ = np.meshgrid(mus, mvs)
        ca, sa = math.cos(ang), math.sin(ang)
        s = mu_ * ca + mv_ * sa
        t = -mu_ * sa + mv_ * ca

        def square(half: float) -> F32:
            cs = np.clip((half - np.abs(s)) * ppm + 0.5, 0, 1)
            ct = np.clip((half - np.abs(t)) * ppm + 0.5, 0, 1)
            sq: F32 = (cs * ct).astype(np.float32)
            return sq

        # A faint contact shadow just outside the sticker edge.
        shadow = np.clip((STICKER_SIDE_MM / 2 + 0.6 - np.maximum(np.abs(s), np.abs(t))) / 0.6, 0, 1)
        mwin *= (1.0 - 0.12 * shadow.astype(np.float32))[..., None]
        _blend(mwin, p["sticker_rgb"], square(STICKER_SIDE_MM / 2))
        _blend(mwin, p["marker_rgb"], square(MARKER_SIDE_MM / 2))

    # Lighting (plane gradient), vignetting (image space) and white balance, on a coarse
    # grid: all smooth, and folding them in here is far cheaper than at 12 MP.
    gw_, gh_ = 97, max(2, int(97 * h / w) + 1)
    cu = np.linspace(0, w, gw_)
    cv = np.linspace(0, h, gh_)
    cuu, cvv = np.meshgrid(cu, cv)
    lx, ly, lc = p["light_gradient"]
    light = lc + lx * (cuu / ppm + u0) / 100.0 + ly * (cvv / ppm + v0) / 100.0
    iw, ih = image_size
    ip = apply_h(tex_to_img, np.c_[cuu.ravel(), cvv.ravel()]).reshape(gh_, gw_, 2)
    r2 = ((ip[..., 0] - iw / 2) ** 2 + (ip[..., 1] - ih / 2) ** 2) / (iw / 2) ** 2
    light = np.clip(light, 0.45, 1.4) * np.clip(1.0 - p["vignetting"] * r2 / 1.56, 0.3, 1.0)
    field_ = np.asarray(
        Image.fromarray(light.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    img *= field_[..., None]
    img *= np.asarray(p["wb_gains"], dtype=np.float32)
    np.clip(img, 0, 255, out=img)
    out = Image.fromarray(img.astype(np.uint8), mode="RGB")
    # Defocus/motion blur, applied on the plane (cheaper; the perspective varies it a
    # little across the image, as real defocus does).
    sigma_tex = p["blur_sigma_px"] * ppm / p["px_per_mm_centre"]
    if sigma_tex > 0.15:
        out = out.filter(ImageFilter.GaussianBlur(sigma_tex))
    return out


def _postprocess(rng: np.random.Generator, im: Image.Image, p: dict[str, Any]) -> Image.Image:
    """Sensor noise in image space: per-pixel luminance noise plus coarser chroma noise."""
    w, h = im.size
    sig = p["noise_sigma"]
    # Sum of two uniforms ~ Gaussian enough for sensor noise, and ~10x faster to draw.
    k = max(1, round(sig * 1.22))
    luma = rng.integers(-k, k + 1, (h, w), dtype=np.int16)
    luma += rng.integers(-k, k + 1, (h, w), dtype=np.int16)
    kc = max(1, round(sig * 0.7))
    chroma = rng.integers(128 - kc, 128 + kc + 1, (h // 2 + 1, w // 2 + 1, 3), dtype=np.uint8)
    chroma_up = np.asarray(Image.fromarray(chroma, mode="RGB").resize((w, h), Image.Resampling.NEAREST))
    a = np.asarray(im).astype(np.int16)
    a += luma[..., None]
    a += chroma_up
    a -= 128
    np.clip(a, 0, 255, out=a)
    return Image.fromarray(a.astype(np.uint8), mode="RGB")


def _slough_rgb(rng: np.random.Generator) -> list[float]:
    """Dull yellow to creamy-yellow fibrin: G and B tied to R (independent channels give skin tones)."""
    r = rng.uniform(200, 235)
    return [float(r), float(r * rng.uniform(0.80, 0.90)), float(r * rng.uniform(0.30, 0.55))]


def _draw_params(rng: np.random.Generator, size: tuple[int, int], has_marker: bool) -> dict[str, Any]:
    """All random photo parameters (JSON-ready)."""
    fitz = int(rng.integers(1, 7))
    width_scale = size[0] / 4000.0
    slough_mode, eschar_mode = rng.random(), rng.random()
    return {
        "fitzpatrick": fitz,
        "has_marker": has_marker,
        "tilt_deg": float(rng.uniform(*TILT_RANGE_DEG)),
        "tilt_azimuth_deg": float(rng.uniform(0, 360)),
        "roll_deg": float(rng.uniform(0, 360)),
        "focal_factor": float(rng.uniform(0.75, 1.1)),
        "fill": float(rng.uniform(0.60, 0.95)),
        "erythema_width_mm": float(rng.uniform(2.0, 10.0)),
        "erythema_strength": float(rng.uniform(0.25, 0.85)),
        "rim_strength": float(rng.uniform(0.2, 0.5)) if rng.random() < 0.4 else 0.0,
        "rim_width_mm": float(rng.uniform(0.4, 1.5)),
        "granulation_rgb": [float(v) for v in rng.uniform((160, 30, 35), (205, 70, 70))],
        "slough_rgb": _slough_rgb(rng),
        "eschar_rgb": [float(v) for v in rng.uniform((25, 18, 14), (80, 55, 38))],
        # Thresholds on unit noise: high = little of it, low = a lot.
        "slough_threshold": float(rng.uniform(-0.2, 0.8) if slough_mode < 0.6 else rng.uniform(1.2, 3.0)),
        "eschar_threshold": float(rng.uniform(0.2, 1.0) if eschar_mode < 0.4 else rng.uniform(1.4, 3.0)),
        "sticker_rgb": [float(v) for v in rng.uniform(236, 250, 3)],
        "marker_rgb": [float(c + d) for c, d in zip(MARKER_RGB, rng.uniform(-8, 8, 3), strict=True)],
        "marker_gap_mm": float(rng.uniform(3.0, 25.0)),
        "marker_direction_deg": float(rng.uniform(0, 360)),
        "marker_rotation_deg": float(rng.uniform(0, 90)),
        "light_gradient": [float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.25, 0.25)), 1.0],
        "blur_sigma_px": float(rng.uniform(0.0, 2.5) * width_scale) if rng.random() < 0.8 else 0.0,
        "vignetting": float(rng.uniform(0.0, 0.25)),
        "wb_gains": [float(rng.uniform(0.88, 1.12)), 1.0, float(rng.uniform(0.85, 1.15))],
        "noise_sigma": float(rng.uniform(1.0, 6.0)),
        "jpeg_quality": int(rng.integers(70, 96)),
    }


def render(
    seed: int,
    *,
    size: tuple[int, int] = (4000, 3000),
    with_marker: bool | None = None,
    no_marker_rate: float = DEFAULT_NO_MARKER_RATE,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
) -> SynthPhoto:
    """Render one synthetic ulcer photo, deterministic in (seed, size, with_marker).

    `resample` is the plane -> photo interpolation: BILINEAR by default, as BICUBIC costs
    ~0.8 s more per 12-MP image here and the plane is only upsampled ~1.5-2.5x and blurred.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x17CE4]))
    marker_draw = rng.random()
    has_marker = bool(marker_draw >= no_marker_rate) if with_marker is None else bool(with_marker)
    p = _draw_params(rng, size, has_marker)
    p["seed"] = int(seed)
    p["generator_version"] = GENERATOR_VERSION
    ulcer = _make_ulcer(rng)
    p["ulcer_r0_mm"] = ulcer.r0
    p["ulcer_fourier_a"] = [float(v) for v in ulcer.a]
    p["ulcer_fourier_b"] = [float(v) for v in ulcer.b]
    theta = np.linspace(0.0, 2 * math.pi, POLYGON_POINTS, endpoint=False)
    r = ulcer.radius(theta)
    poly_mm = np.c_[r * np.cos(theta), r * np.sin(theta)]
    rmax = float(ulcer.radius(np.linspace(0, 2 * math.pi, 1440)).max())
    dense_t = np.linspace(0.0, 2 * math.pi, 20000, endpoint=False)
    dr = ulcer.radius(dense_t)
    p["shoelace_area_mm2"] = polygon_area(np.c_[dr * np.cos(dense_t), dr * np.sin(dense_t)])

    # Marker beside the ulcer: its whole sticker (circumscribed circle) clear of the ulcer.
    marker: tuple[float, float, float] | None = None
    scene = [poly_mm]
    if has_marker:
        dist = rmax + p["marker_gap_mm"] + STICKER_SIDE_MM / 2 * math.sqrt(2)
        phi = math.radians(p["marker_direction_deg"])
        marker = (dist * math.cos(phi), dist * math.sin(phi), math.radians(p["marker_rotation_deg"]))
        scene.append(
            np.array([marker[0], marker[1]]) + np.array([[-21.3, -21.3], [21.3, -21.3], [21.3, 21.3], [-21.3, 21.3]])
        )
        p["marker_centre_mm"] = [marker[0], marker[1]]
    pts = np.vstack(scene)
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2 + rng.uniform(-0.1, 0.1, 2) * (hi - lo)
    radius = float(np.linalg.norm(pts - centre, axis=1).max())
    radius = max(radius, 12.0)

    w, h = size
    focal = p["focal_factor"] * w
    tilt, az, roll = (math.radians(p[k]) for k in ("tilt_deg", "tilt_azimuth_deg", "roll_deg"))
    ppm_c = p["fill"] * min(w, h) / (2 * radius)
    hmat = np.eye(3)
    for _ in range(MAX_FRAMING_TRIES):  # bounded: zoom out until the scene is inside
        hmat = camera_homography(tilt, az, roll, focal / ppm_c, focal, size, centre)
        proj = apply_h(hmat, pts)
        m = 0.03 * min(w, h)
        if proj[:, 0].min() > m and proj[:, 1].min() > m and proj[:, 0].max() < w - m and proj[:, 1].max() < h - m:
            break
        ppm_c *= 0.9
    p["distance_mm"] = focal / ppm_c
    p["focal_px"] = focal
    p["px_per_mm_centre"] = ppm_c

    # Texture over the plane region that the image sees.
    hinv = np.asarray(np.linalg.inv(hmat), dtype=np.float64)
    img_corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    plane_corners = apply_h(hinv, img_corners)
    pad = 2.0
    box = (
        float(plane_corners[:, 0].min() - pad),
        float(plane_corners[:, 1].min() - pad),
        float(plane_corners[:, 0].max() + pad),
        float(plane_corners[:, 1].max() + pad),
    )
    box_area = (box[2] - box[0]) * (box[3] - box[1])
    # Highest image px/mm anywhere in view ~ the near edge; no point rendering finer.
    ppm_max = ppm_c / max(math.cos(tilt), 0.5) * 1.6
    ppm_tex = min(ppm_max, math.sqrt(TEXTURE_BUDGET_PX / box_area))
    p["texture_px_per_mm"] = ppm_tex
    # Image px -> texture px: texture = S · H⁻¹ · image, with continuous pixel coordinates.
    s = np.array([[ppm_tex, 0, -box[0] * ppm_tex], [0, ppm_tex, -box[1] * ppm_tex], [0, 0, 1.0]])
    t = s @ hinv
    t /= t[2, 2]
    plane = _render_plane(rng, p, ulcer, box, ppm_tex, marker, np.asarray(np.linalg.inv(t), dtype=np.float64), size)
    coeffs = tuple(float(v) for v in t.ravel()[:8])
    im = plane.transform(size, Image.Transform.PERSPECTIVE, coeffs, resample=resample)
    im = _postprocess(rng, im, p)

    poly_px = apply_h(hmat, poly_mm)
    seed_mm = rng.uniform(-0.25, 0.25, 2) * float(r.min())
    seed_px = apply_h(hmat, seed_mm[None, :])[0]
    corners: list[Point] | None = None
    if marker is not None:
        mu, mv, ang = marker
        ca, sa = math.cos(ang), math.sin(ang)
        half = MARKER_SIDE_MM / 2
        local = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        mm = local @ np.array([[ca, sa], [-sa, ca]]) + np.array([mu, mv])
        cp = order_clockwise_from_top_left(apply_h(hmat, mm))
        corners = [(float(x), float(y)) for x, y in cp]
    p["homography_plane_to_image"] = [[float(v) for v in row] for row in hmat]
    return SynthPhoto(
        image=im,
        true_area_mm2=float(ulcer.area_mm2),
        ulcer_polygon_px=[(float(x), float(y)) for x, y in poly_px],
        marker_corners_px=corners,
        seed_px=(float(seed_px[0]), float(seed_px[1])),
        has_marker=has_marker,
        params=p,
    )


def to_jpeg_bytes(photo: SynthPhoto, quality: int | None = None) -> bytes:
    """JPEG-encode at the photo's drawn quality (or `quality`)."""
    buf = io.BytesIO()
    save(photo, buf, quality)
    return buf.getvalue()


def save(photo: SynthPhoto, path: str | os.PathLike[str] | BinaryIO, quality: int | None = None) -> None:
    """Write the photo as a JPEG (quality: the drawn one, 70-95, unless given)."""
    q = int(quality if quality is not None else photo.params.get("jpeg_quality", 90))
    photo.image.save(path, format="JPEG", quality=q)


# ----------------------------------------------------------------------------- CLI


def image_seed(base_seed: int, index: int) -> int:
    """Seed of image `index` in a run with `base_seed` (distinct runs don't overlap)."""
    return int(base_seed) * 1_000_003 + int(index)


def has_marker_at(index: int, rate: float) -> bool:
    """Evenly spread marker-less images: exactly round-down shares of `rate`."""
    return math.floor((index + 1) * rate) == math.floor(index * rate)


def parse_size(text: str) -> tuple[int, int]:
    """'4000x3000' -> (4000, 3000)."""
    w, _, h = text.lower().partition("x")
    size = (int(w), int(h))
    if min(size) < 64:
        raise argparse.ArgumentTypeError(f"size too small: {text}")
    return size


def _render_one(job: tuple[int, int, tuple[int, int], float, str]) -> dict[str, Any]:
    index, base_seed, size, rate, outdir = job
    t0 = time.perf_counter()
    photo = render(image_seed(base_seed, index), size=size, with_marker=has_marker_at(index, rate))
    render_s = time.perf_counter() - t0
    name = f"ulcer_{index:04d}.jpg"
    save(photo, Path(outdir) / name)
    rec = photo.truth(file=name)
    rec["index"] = index
    rec["render_s"] = round(render_s, 3)
    return rec


def generate(
    outdir: str | os.PathLike[str],
    n: int,
    *,
    size: tuple[int, int] = (4000, 3000),
    seed: int = 0,
    no_marker_rate: float = DEFAULT_NO_MARKER_RATE,
    jobs: int = 1,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Write n JPEGs plus truth.jsonl into outdir; return the truth records in order."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    work = [(i, seed, size, no_marker_rate, str(out)) for i in range(n)]
    records: list[dict[str, Any]] = []
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            for rec in ex.map(_render_one, work):
                records.append(rec)
                if progress:
                    print(f"\r{len(records)}/{n}", end="", file=sys.stderr, flush=True)
    else:
        for job in work:
            records.append(_render_one(job))
            if progress:
                print(f"\r{len(records)}/{n}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    meta = {"n": n, "size": list(size), "seed": seed, "no_marker_rate": no_marker_rate, "generator": GENERATOR_VERSION}
    with open(out / "truth.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps({**rec, "run": meta}) + "\n")
    return records


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write synthetic ulcer photos (JPEG) and truth.jsonl.")
    ap.add_argument("outdir")
    ap.add_argument("-n", type=int, default=20, help="number of images (default 20)")
    ap.add_argument("--size", type=parse_size, default=(4000, 3000), help="WxH (default 4000x3000)")
    ap.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    ap.add_argument("--no-marker-rate", type=float, default=DEFAULT_NO_MARKER_RATE, help="share without marker")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    recs = generate(
        args.outdir, args.n, size=args.size, seed=args.seed, no_marker_rate=args.no_marker_rate, jobs=args.jobs
    )
    el = time.perf_counter() - t0
    render_times = sorted(r["render_s"] for r in recs)
    med = render_times[len(render_times) // 2] if render_times else 0.0
    print(
        f"wrote {len(recs)} images ({sum(r['has_marker'] for r in recs)} with marker) and truth.jsonl to "
        f"{args.outdir} in {el:.1f} s (median render {med:.2f} s/image)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
