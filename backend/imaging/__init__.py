"""Ulcer area from a phone photo with a calibration marker (numpy, OpenCV, Pillow; no Flask).

Public API: `measure_file`, `measure_image`, `polygon_area_px`, `polygon_area_mm2` and the
result types; everything else in the package is an implementation detail.

The estimator and the geometry (and numpy with them) are imported on first use, not with
the package (PEP 562): the services import it, and most processes that import the
services — every `flask` command, the reminder dispatch every minute — measure no photo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backend.imaging.result import (
    Analysis,
    AnchorRejected,
    Box,
    MarkerSpec,
    Point,
    QualityFlag,
    RetakeReason,
    Status,
)

if TYPE_CHECKING:
    from backend.imaging.estimate import ALGORITHM_VERSION, ImageUnreadable, measure_file, measure_image
    from backend.imaging.geometry import polygon_area_mm2, polygon_area_px

_LAZY = {
    "ALGORITHM_VERSION": "estimate",
    "ImageUnreadable": "estimate",
    "measure_file": "estimate",
    "measure_image": "estimate",
    "polygon_area_mm2": "geometry",
    "polygon_area_px": "geometry",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # once
    return value


__all__ = [
    "ALGORITHM_VERSION",
    "Analysis",
    "AnchorRejected",
    "Box",
    "ImageUnreadable",
    "MarkerSpec",
    "Point",
    "QualityFlag",
    "RetakeReason",
    "Status",
    "measure_file",
    "measure_image",
    "polygon_area_mm2",
    "polygon_area_px",
]
