"""Plane geometry: homographies, polygon areas, corner order, tilt.

Coordinates are continuous pixel coordinates: pixel (i, j) covers [i, i+1) x [j, j+1), so a
polygon's shoelace area equals the number of pixels it covers, and coordinates scale exactly
between resolutions (x_full = x_reduced * factor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from backend.imaging.result import Point

FloatArray = NDArray[np.float64]


def _as_points(polygon: Sequence[Point] | FloatArray) -> FloatArray:
    pts = np.asarray(polygon, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError("a polygon is a sequence of (x, y) points")
    return pts


def shoelace(pts: FloatArray) -> float:
    """Unsigned area of a simple polygon given as an (n, 2) array."""
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2.0


def polygon_area_px(polygon: Sequence[Point]) -> float:
    """Area in square pixels (shoelace); fewer than 3 vertices have no area."""
    return shoelace(_as_points(polygon)) if len(polygon) else 0.0


def homography_from_points(src: Sequence[Point] | FloatArray, dst: Sequence[Point] | FloatArray) -> FloatArray:
    """The 3x3 projective map sending the 4 `src` points to the 4 `dst` points (h33 = 1).

    Direct linear solve of the 8 equations; raises ValueError for degenerate quads (three
    collinear points), for which no homography exists.
    """
    s, d = _as_points(src), _as_points(dst)
    if len(s) != 4 or len(d) != 4:
        raise ValueError("a homography needs exactly 4 point pairs")
    for pts in (s, d):
        span = float(np.ptp(pts, axis=0).max()) or 1.0
        for i in range(4):
            a, b, c = pts[i], pts[(i + 1) % 4], pts[(i + 2) % 4]
            if abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) < 1e-9 * span * span:
                raise ValueError("degenerate quadrilateral (three collinear points): no homography")
    # Normalise for conditioning: pixel coordinates in the thousands square to 1e7.
    ts, td = _normaliser(s), _normaliser(d)
    sn, dn = _apply(ts, s), _apply(td, d)
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i in range(4):
        x, y = sn[i]
        u, v = dn[i]
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    if abs(np.linalg.det(a)) < 1e-12:
        raise ValueError("degenerate quadrilateral: no homography")
    h = np.append(np.linalg.solve(a, b), 1.0).reshape(3, 3)
    full = np.linalg.inv(td) @ h @ ts
    return np.asarray(full / full[2, 2], dtype=np.float64)


def _normaliser(pts: FloatArray) -> FloatArray:
    c = pts.mean(axis=0)
    scale = math.sqrt(2.0) / max(float(np.mean(np.hypot(*(pts - c).T))), 1e-12)
    return np.array([[scale, 0, -scale * c[0]], [0, scale, -scale * c[1]], [0, 0, 1.0]])


def _apply(h: FloatArray, pts: FloatArray) -> FloatArray:
    hom = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    w = hom[:, 2:3]
    if np.any(np.abs(w) < 1e-12):
        raise ValueError("a point maps to infinity (it lies on the horizon line of the plane)")
    return hom[:, :2] / w


def apply_homography(
    homography: Sequence[Sequence[float]] | FloatArray, pts: Sequence[Point] | FloatArray
) -> FloatArray:
    """Map (n, 2) points through a 3x3 homography."""
    h = np.asarray(homography, dtype=np.float64)
    if h.shape != (3, 3):
        raise ValueError("a homography is 3x3")
    return _apply(h, _as_points(pts))


def polygon_area_mm2(polygon: Sequence[Point], homography: Sequence[Sequence[float]]) -> float:
    """Area in the skin plane: each vertex mapped through the image->mm homography, then shoelace.

    Mapping vertices (not scaling the pixel area) is what makes the area correct under tilt,
    where one pixel covers more skin far from the camera than near it. Exact for polygons
    because a homography maps straight edges to straight edges.
    """
    pts = _as_points(polygon) if len(polygon) else np.zeros((0, 2))
    if len(pts) < 3:
        return 0.0
    return shoelace(apply_homography(homography, pts))


def order_corners(corners: Sequence[Point] | FloatArray) -> FloatArray:
    """4 corners clockwise on screen (y grows downwards), starting from the top-left-most one.

    "Top-left-most" is the smallest x + y, so the order is stable whichever way the marker lies.
    """
    c = _as_points(corners)
    centre = c.mean(axis=0)
    angles = np.arctan2(c[:, 1] - centre[1], c[:, 0] - centre[0])  # increasing = clockwise on screen
    c = c[np.argsort(angles)]
    start = int(np.argmin(c[:, 0] + c[:, 1]))
    return np.roll(c, -start, axis=0)


def camera_tilt_degrees(homography_px_to_mm: FloatArray, image_size: tuple[int, int], focal_px: float) -> float:
    """Angle between the camera's optical axis and the skin normal, for a pinhole camera with
    its principal point at the image centre and the given focal length.

    The plane-to-image homography is K [r1 r2 t] up to scale; K^-1 H gives the plane's axes in
    camera coordinates, whose cross product is the plane normal. Unlike the local
    foreshortening, this does not grow for a marker near the edge of a wide-angle photo.
    """
    w, h = image_size
    to_px = np.linalg.inv(homography_px_to_mm)
    k_inv = np.array([[1.0 / focal_px, 0.0, -w / 2 / focal_px], [0.0, 1.0 / focal_px, -h / 2 / focal_px], [0, 0, 1.0]])
    m = k_inv @ to_px
    r1 = m[:, 0] / np.linalg.norm(m[:, 0])
    r2 = m[:, 1] / np.linalg.norm(m[:, 1])
    n = np.cross(r1, r2)
    norm = float(np.linalg.norm(n))
    if norm < 1e-12:
        return 90.0
    return math.degrees(math.acos(min(1.0, abs(float(n[2])) / norm)))


def tilt_degrees(homography_px_to_mm: FloatArray, at_px: Point) -> float:
    """Angle between the viewing direction and the skin normal, from the local foreshortening.

    Under (locally) weak perspective a plane tilted by t is squeezed by cos(t) in one direction
    only, so the ratio of the singular values of the local Jacobian of mm -> px is cos(t). This
    needs no focal length, which a photo from an unknown phone does not give us.
    """
    inv = np.linalg.inv(homography_px_to_mm)
    mm = apply_homography(homography_px_to_mm, [at_px])[0]
    x, y = mm
    hx = inv @ np.array([x, y, 1.0])
    w = hx[2]
    # d(px)/d(mm) for px = (inv[0:2] . m) / (inv[2] . m)
    jac = (inv[:2, :2] * w - np.outer(hx[:2], inv[2, :2])) / (w * w)
    s = np.linalg.svd(jac, compute_uv=False)
    if s[0] <= 0:
        return 90.0
    return math.degrees(math.acos(min(1.0, float(s[1] / s[0]))))


def scale_mm_per_px(homography_px_to_mm: FloatArray, at_px: Point) -> float:
    """Mean linear scale (mm per px) at one image point: sqrt of the local area ratio."""
    inv_h = np.asarray(homography_px_to_mm, dtype=np.float64)
    x, y = at_px
    hx = inv_h @ np.array([x, y, 1.0])
    w = hx[2]
    jac = (inv_h[:2, :2] * w - np.outer(hx[:2], inv_h[2, :2])) / (w * w)
    return math.sqrt(abs(float(np.linalg.det(jac))))


def is_convex(quad: FloatArray) -> bool:
    """True when the polygon turns the same way at every vertex (and is not degenerate)."""
    d = np.roll(quad, -1, axis=0) - quad
    cross = d[:, 0] * np.roll(d[:, 1], -1) - d[:, 1] * np.roll(d[:, 0], -1)
    return bool(np.all(cross > 0) or np.all(cross < 0))


def interior_angles(quad: FloatArray) -> FloatArray:
    """Interior angles in degrees of a convex polygon."""
    prev = np.roll(quad, 1, axis=0) - quad
    nxt = np.roll(quad, -1, axis=0) - quad
    cos = np.sum(prev * nxt, axis=1) / (np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1) + 1e-12)
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), dtype=np.float64)


def simplify(pts: FloatArray, tolerance: float) -> FloatArray:
    """Douglas-Peucker on a closed polygon, iterative (no recursion limit on long outlines)."""
    n = len(pts)
    if n <= 4:
        return pts
    # Split the ring at the two mutually far vertices so both halves are open polylines.
    a = 0
    b = int(np.argmax(np.sum((pts - pts[a]) ** 2, axis=1)))
    keep = np.zeros(n, dtype=bool)
    keep[a] = keep[b] = True
    ring = np.vstack([pts, pts[:1]])
    stack = [(a, b), (b, n)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        seg = ring[i + 1 : j]
        p, q = ring[i], ring[j]
        d = q - p
        norm = math.hypot(d[0], d[1])
        if norm < 1e-12:
            dist = np.hypot(seg[:, 0] - p[0], seg[:, 1] - p[1])
        else:
            dist = np.abs(d[0] * (seg[:, 1] - p[1]) - d[1] * (seg[:, 0] - p[0])) / norm
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            m = i + 1 + k
            keep[m % n] = True
            stack.append((i, m))
            stack.append((m, j))
    return pts[keep]
