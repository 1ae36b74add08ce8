"""Checks and areas of an outline a person drew (a patient's rough outline, a nurse's
correction or a new outline): pure Python, no Flask, no database.

An outline is a list of [x, y] points in upright full-resolution image pixels. Its area in
mm² comes from the photo's image->skin-plane homography, vertex by vertex, exactly as the
estimator measures its own outlines.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_POINTS = 500

Polygon = Sequence[Sequence[float]]


class PolygonRejected(ValueError):
    """An outline that cannot be measured; the message says why, for the person who drew it."""


def check_polygon(points: Polygon, width: int, height: int) -> None:
    """Refuse an outline that is not a simple polygon with an area inside the image."""
    if not 3 <= len(points) <= MAX_POINTS:
        raise PolygonRejected(f"An outline needs 3 to {MAX_POINTS} points.")
    if any(not (0 <= x <= width and 0 <= y <= height) for x, y in points):
        raise PolygonRejected(f"Every point must lie inside the {width}×{height} image.")
    if area_px(points) <= 0:
        raise PolygonRejected("The outline encloses no area.")
    if self_intersects(points):
        raise PolygonRejected("The outline crosses itself.")


def area_px(points: Polygon) -> float:
    """Area in square pixels (shoelace)."""
    from backend.imaging.geometry import polygon_area_px  # numpy, loaded on first use

    return polygon_area_px([(float(x), float(y)) for x, y in points])


def area_mm2(points: Polygon, homography: Sequence[Sequence[float]], marker_corners: Polygon) -> float:
    """Area in the skin plane through the photo's homography; refuses an outline that
    reaches the plane's horizon (possible in a strongly tilted photo), which has no size
    in millimetres. `marker_corners` tell which side of the horizon the skin is on."""
    (g, h, i) = homography[2]

    def w(x: float, y: float) -> float:
        return g * x + h * y + i

    side = 1.0 if w(*marker_corners[0]) > 0 else -1.0
    if any(side * w(x, y) <= 1e-9 for x, y in points):
        raise PolygonRejected(
            "Part of this outline lies beyond the skin plane seen in the photo; it cannot be measured."
        )
    from backend.imaging.geometry import polygon_area_mm2

    return polygon_area_mm2([(float(x), float(y)) for x, y in points], homography)


def self_intersects(points: Polygon) -> bool:
    """True if any two edges cross or touch, other than neighbours at their shared vertex
    (and neighbours that fold back along each other count: a spike has no area)."""
    n = len(points)
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        following = points[(i + 2) % n]
        # Neighbours share b; they fold back on each other if collinear and pointing back.
        if (
            _orient(a, b, following) == 0
            and (b[0] - a[0]) * (following[0] - b[0]) + (b[1] - a[1]) * (following[1] - b[1]) < 0
        ):
            return True
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge
            if _touch(a, b, points[j], points[(j + 1) % n]):
                return True
    return False


def contains(points: Polygon, x: float, y: float) -> bool:
    """Whether (x, y) lies inside the polygon (even-odd rule)."""
    inside = False
    n = len(points)
    for k in range(n):
        (x1, y1), (x2, y2) = points[k], points[(k + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _orient(a: Sequence[float], b: Sequence[float], c: Sequence[float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Sequence[float], b: Sequence[float], c: Sequence[float]) -> bool:
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])


def _touch(a: Sequence[float], b: Sequence[float], c: Sequence[float], d: Sequence[float]) -> bool:
    d1, d2, d3, d4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((d1 > 0 and d2 < 0) or (d1 < 0 and d2 > 0)) and ((d3 > 0 and d4 < 0) or (d3 < 0 and d4 > 0)):
        return True
    return (
        (d1 == 0 and _on_segment(a, b, c))
        or (d2 == 0 and _on_segment(a, b, d))
        or (d3 == 0 and _on_segment(c, d, a))
        or (d4 == 0 and _on_segment(c, d, b))
    )
