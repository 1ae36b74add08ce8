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
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), upright full-resolution px


class Status(StrEnum):
    """How far one measurement may be trusted.

    - ok: an outline that deserves trust (holds the tap, stays off the frame border and inside
      the patient's box, and stays put when the box is drawn a little larger or the cut is
      made again inside it) measured through a confidently found marker: `area_mm2` is given.
    - low_quality: as ok, but a flag on the photo (tiny or tilted marker, blur) makes the mm²
      shakier: `area_mm2` is given and the flags say why.
    - needs_outline: an outline was found but not one to trust (it touches the frame border,
      misses the tap, leaves the box, is unstable, or no anchor was given): it is returned as a
      suggestion for the nurse to correct or redraw, and `area_mm2` is None.
    - no_marker: no usable marker, so never an mm²; an outline may still be suggested.
    - ulcer_not_found: the marker was found but nothing wound-like near the anchor.
    """

    OK = "ok"
    NO_MARKER = "no_marker"
    ULCER_NOT_FOUND = "ulcer_not_found"
    LOW_QUALITY = "low_quality"
    NEEDS_OUTLINE = "needs_outline"


class RetakeReason(StrEnum):
    """Why the patient should take the photo again while the phone is still in hand."""

    BLURRED = "blurred"
    NO_MARKER = "no_marker"
    MARKER_CUT_BY_EDGE = "marker_cut_by_edge"
    TOO_DARK = "too_dark"
    MARKER_TOO_SMALL = "marker_too_small"  # too small in the frame: the phone was too far
    WOUND_FILLS_FRAME = "wound_fills_frame"


class AnchorRejected(ValueError):
    """The tap or box cannot anchor a measurement of this photo (a 4xx for the caller).

    `field` names the anchor at fault ("seed" or "box"); the message is for a human.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class QualityFlag(StrEnum):
    MARKER_TOO_SMALL = "marker_too_small"  # marker side < 60 px
    STRONG_TILT = "strong_tilt"  # camera tilt > 35 degrees from the skin normal
    BLURRED = "blurred"
    ULCER_TOUCHES_BORDER = "ulcer_touches_border"


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
    retake: list[RetakeReason] = field(default_factory=list)  # empty when the photo is fine

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
            "retake": [r.value for r in self.retake],
        }
