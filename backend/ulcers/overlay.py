"""The photo with its outline and marker drawn over it, for a quick look outside the portal."""

from __future__ import annotations

import io
from typing import BinaryIO

from PIL import Image, ImageDraw

from backend.ulcers.models import UlcerPhoto


def draw_overlay(source: BinaryIO, photo: UlcerPhoto) -> bytes:
    """The reviewed outline (or else the estimate) in yellow, the marker corners in cyan, as JPEG."""
    image = Image.open(source).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 400))
    review, analysis = photo.review, photo.analysis
    outline = review.outline if review is not None and review.outline else (analysis.outline if analysis else None)
    if outline:
        draw.line([tuple(p) for p in [*outline, outline[0]]], fill=(255, 220, 0), width=width, joint="curve")
    if analysis is not None and analysis.marker_corners:
        corners = analysis.marker_corners
        draw.line([tuple(p) for p in [*corners, corners[0]]], fill=(0, 230, 230), width=width)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()
