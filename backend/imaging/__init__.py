"""Ulcer area from a phone photo with a calibration marker (pure numpy + Pillow, no Flask).

Public API: `measure_file`, `measure_image`, `polygon_area_px`, `polygon_area_mm2` and the
result types; everything else in the package is an implementation detail.
"""

from backend.imaging.estimate import ALGORITHM_VERSION, ImageUnreadable, measure_file, measure_image
from backend.imaging.geometry import polygon_area_mm2, polygon_area_px
from backend.imaging.result import Analysis, MarkerSpec, Point, QualityFlag, Status

__all__ = [
    "ALGORITHM_VERSION",
    "Analysis",
    "ImageUnreadable",
    "MarkerSpec",
    "Point",
    "QualityFlag",
    "Status",
    "measure_file",
    "measure_image",
    "polygon_area_mm2",
    "polygon_area_px",
]
