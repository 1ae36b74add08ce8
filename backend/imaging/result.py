"""What one measurement of one photo says, in plain data (JSON-ready via `to_dict`).

Coordinates are in *upright full-resolution image pixels*: the photo after its EXIF
orientation has been applied, at the size it was stored, whatever resolution the
estimator worked at internally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Point = tuple[float, float]


class Status(StrEnum):
    OK = "ok"
    NO_MARKER = "no_marker"
    ULCER_NOT_FOUND = "ulcer_not_found"
    LOW_QUALITY = "low_quality"


class QualityFlag(StrEnum):
    MARKER_TOO_SMALL = "marker_too_small"  # marker side < 60 px
    STRONG_TILT = "strong_tilt"  # camera tilt > 35 degrees from the skin normal
    BLURRED = "blurred"
    ULCER_TOUCHES_BORDER = "ulcer_touches_border"
    LOW_CONTRAST = "low_contrast"


@dataclass(frozen=True)
class MarkerSpec:
    """The protocol's calibration marker (docs/design.md, "Calibration marker v1")."""

    side_mm: float = 20.0
    color_srgb: tuple[int, int, int] = (20, 70, 200)


@dataclass(frozen=True)
class Analysis:
    status: Status
    algorithm_version: str
    image_size: tuple[int, int]  # (width, height) of the upright image
    outline: list[Point] | None  # ulcer polygon; None when no ulcer was found
    area_px: float | None
    # Only with a confidently found marker; never otherwise.
    area_mm2: float | None
    marker_corners: list[Point] | None  # 4 corners, clockwise from top-left of the square
    mm_per_px: float | None  # mean scale near the marker
    # Row-major 3x3 homography mapping image pixels to skin-plane millimetres.
    homography: list[list[float]] | None
    flags: list[QualityFlag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "algorithm_version": self.algorithm_version,
            "image_size": list(self.image_size),
            "outline": [list(p) for p in self.outline] if self.outline is not None else None,
            "area_px": self.area_px,
            "area_mm2": self.area_mm2,
            "marker_corners": [list(p) for p in self.marker_corners] if self.marker_corners else None,
            "mm_per_px": self.mm_per_px,
            "homography": self.homography,
            "flags": [f.value for f in self.flags],
        }
