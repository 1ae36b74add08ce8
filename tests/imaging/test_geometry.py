"""Area and homography maths on shapes whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.imaging import polygon_area_mm2, polygon_area_px
from backend.imaging.geometry import homography_from_points, order_corners, tilt_degrees
from backend.imaging.labels import fill_holes, label, outer_boundary
from tests.imaging.scenes import project

# A genuinely projective map (non-zero bottom row), mm -> px.
P = np.array([[2.0, 0.3, 5.0], [0.1, 1.5, 7.0], [0.001, 0.002, 1.0]])


def test_shoelace_known_shapes() -> None:
    assert polygon_area_px([(0, 0), (4, 0), (4, 3), (0, 3)]) == 12.0
    assert polygon_area_px([(0, 0), (0, 3), (4, 3), (4, 0)]) == 12.0  # orientation-free
    assert polygon_area_px([(0, 0), (6, 0), (0, 5)]) == 15.0
    assert polygon_area_px([(1, 1), (2, 2)]) == 0.0


def test_area_in_the_plane_through_a_projective_map() -> None:
    square_mm = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    image_px = [tuple(p) for p in project(P, square_mm)]
    to_mm = np.linalg.inv(P).tolist()
    assert polygon_area_mm2(image_px, to_mm) == pytest.approx(100.0, rel=1e-9)
    # The pixel area differs (the map stretches unevenly), which is why vertices are mapped.
    assert polygon_area_px(image_px) != pytest.approx(100.0 * 4, rel=0.01)


def test_homography_from_four_points_matches_the_map() -> None:
    square_mm = np.array([[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]])
    image_px = project(P, square_mm)
    h = homography_from_points(image_px, square_mm)
    centre_px = project(P, np.array([[10.0, 10.0], [3.0, 17.0]]))
    mapped = project(h, centre_px)
    np.testing.assert_allclose(mapped, [[10.0, 10.0], [3.0, 17.0]], atol=1e-9)


def test_degenerate_quad_has_no_homography() -> None:
    with pytest.raises(ValueError):
        homography_from_points([(0, 0), (1, 1), (2, 2), (0, 5)], [(0, 0), (1, 0), (1, 1), (0, 1)])


def test_corner_order_clockwise_from_top_left() -> None:
    got = order_corners([(10, 10), (0, 10), (10, 0), (0, 0)])
    np.testing.assert_array_equal(got, [[0, 0], [10, 0], [10, 10], [0, 10]])


def test_tilt_from_foreshortening() -> None:
    # A plane squeezed by cos(40 deg) along y, seen orthographically: tilt is 40 degrees.
    c = math.cos(math.radians(40))
    to_mm = np.array([[1.0, 0.0, 0.0], [0.0, 1.0 / c, 0.0], [0.0, 0.0, 1.0]])
    assert tilt_degrees(to_mm, (5.0, 5.0)) == pytest.approx(40.0, abs=1e-6)
    assert tilt_degrees(np.eye(3), (5.0, 5.0)) == pytest.approx(0.0, abs=1e-6)


def test_components_and_outline_area_equal_pixel_count() -> None:
    mask = np.zeros((12, 14), dtype=bool)
    mask[2:6, 2:9] = True  # an L: 4x7 bar plus a 5x2 leg
    mask[6:11, 2:4] = True
    mask[8, 12] = True  # a separate pixel
    mask[3, 4] = False  # a hole
    labels, n = label(mask)
    assert n == 2
    l_shape = labels == labels[2, 2]
    filled = fill_holes(l_shape)
    assert filled.sum() == 4 * 7 + 5 * 2
    outline = outer_boundary(filled)
    assert polygon_area_px([tuple(p) for p in outline]) == 38.0
    # Diagonal neighbours are one component (8-connectivity).
    diag = np.zeros((4, 4), dtype=bool)
    diag[0, 0] = diag[1, 1] = diag[2, 2] = True
    assert label(diag)[1] == 1
