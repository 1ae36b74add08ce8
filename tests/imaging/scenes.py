"""Test scenes rendered from exact geometry in the skin plane (mm), independently of the code
under test: every pixel's colour is computed from where its samples land on the plane.

The marker's blue square spans (0, 0)-(20, 20) mm, its white sticker (-5, -5)-(25, 25) mm.
A homography `h` maps plane mm to image px (continuous coordinates: pixel (i, j) covers
[i, i+1) x [j, j+1)). Each pixel averages s x s samples, so edges are anti-aliased the way a
camera's pixels integrate light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

F64 = NDArray[np.float64]

SKIN = (205, 160, 130)
GRANULATION = (180, 50, 50)
ERYTHEMA = (225, 120, 115)
BLUE = (20, 70, 200)
WHITE = (245, 245, 242)


def solve_homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> F64:
    """The 3x3 projective map sending 4 src points to 4 dst points (test-side, by least squares)."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    sol = np.linalg.lstsq(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64), rcond=None)[0]
    return np.append(sol, 1.0).reshape(3, 3)


def project(h: F64, pts: F64) -> F64:
    q = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return q[:, :2] / q[:, 2:3]


def similarity(scale_px_per_mm: float, angle_deg: float, origin_px: tuple[float, float]) -> F64:
    """mm -> px for a camera looking straight down: rotation, scale and shift only."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale_px_per_mm, math.sin(a) * scale_px_per_mm
    return np.array([[c, -s, origin_px[0]], [s, c, origin_px[1]], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Ulcer:
    centre_mm: tuple[float, float]
    radius_mm: float
    erythema_mm: float = 4.0  # width of the diffuse ring (0: none)

    @property
    def area_mm2(self) -> float:
        return math.pi * self.radius_mm**2


def render(
    size: tuple[int, int],
    h: F64,
    ulcer: Ulcer | None,
    marker: bool = True,
    samples: int = 3,
    skin: tuple[int, int, int] = SKIN,
    marker_rgb: tuple[int, int, int] = BLUE,
) -> Image.Image:
    """The scene photographed through `h` (mm -> px)."""
    w, ht = size
    hinv = np.linalg.inv(h)
    offs = (np.arange(samples) + 0.5) / samples
    acc = np.zeros((ht, w, 3), dtype=np.float64)
    xs = np.arange(w, dtype=np.float64)
    for oy in offs:
        for ox in offs:
            px = np.broadcast_to(xs + ox, (ht, w))
            py = np.broadcast_to((np.arange(ht, dtype=np.float64) + oy)[:, None], (ht, w))
            den = hinv[2, 0] * px + hinv[2, 1] * py + hinv[2, 2]
            u = (hinv[0, 0] * px + hinv[0, 1] * py + hinv[0, 2]) / den
            v = (hinv[1, 0] * px + hinv[1, 1] * py + hinv[1, 2]) / den
            col = np.empty((ht, w, 3))
            col[:] = skin
            if ulcer is not None:
                r = np.hypot(u - ulcer.centre_mm[0], v - ulcer.centre_mm[1])
                if ulcer.erythema_mm > 0:
                    e = np.exp(-((np.clip(r - ulcer.radius_mm, 0, None) / ulcer.erythema_mm) ** 2)) * 0.8
                    col += (np.array(ERYTHEMA) - np.array(skin)) * e[..., None]
                col[r <= ulcer.radius_mm] = GRANULATION
            if marker:
                sticker = (u >= -5) & (u <= 25) & (v >= -5) & (v <= 25)
                col[sticker] = WHITE
                col[(u >= 0) & (u <= 20) & (v >= 0) & (v <= 20)] = marker_rgb
            acc += col
    acc /= samples * samples
    return Image.fromarray(np.clip(acc + 0.5, 0, 255).astype(np.uint8), "RGB")


def marker_corners_px(h: F64) -> F64:
    """Where the blue square's corners land, clockwise on screen from the smallest x + y."""
    pts = project(h, np.array([[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]]))
    c = pts.mean(axis=0)
    pts = pts[np.argsort(np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0]))]
    return np.roll(pts, -int(np.argmin(pts.sum(axis=1))), axis=0)
