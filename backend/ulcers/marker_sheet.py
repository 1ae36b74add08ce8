"""The printable calibration marker, at exact physical size.

A sheet with the sticker (the blue square with its white margin and a thin cut line), a
50 mm ruler to check that the printer did not scale the page, and one instruction line.
The PNG carries its resolution (pHYs), the PDF its page size, so printing at 100 % gives
the protocol's millimetres.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

MM_PER_INCH = 25.4
SHEET_MM = (80.0, 72.0)  # width, height
STICKER_AT_MM = (20.0, 6.0)  # top-left of the sticker (blue square plus margin)
RULER_MM = 50.0
INSTRUCTIONS = (
    "Print at 100 % (no scaling); the line above must measure 50 mm.",
    "Cut along the grey line. Place flat on the skin beside the wound,",
    "fully inside the photo, and hold the phone straight above it.",
)


def render_marker_sheet(side_mm: float, margin_mm: float, color: tuple[int, int, int], dpi: int) -> Image.Image:
    """The sheet as an RGB image at `dpi` for a `side_mm` square with a `margin_mm` margin."""

    def px(mm: float) -> int:
        return round(mm / MM_PER_INCH * dpi)

    sticker_mm = side_mm + 2 * margin_mm
    width_mm = max(SHEET_MM[0], sticker_mm + 2 * STICKER_AT_MM[1], RULER_MM + 20)
    height_mm = SHEET_MM[1] - 30 + sticker_mm
    sheet = Image.new("RGB", (px(width_mm), px(height_mm)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    line = max(1, px(0.2))

    left_mm = (width_mm - sticker_mm) / 2
    top_mm = STICKER_AT_MM[1]
    # Cut line around the white margin: light grey, so the estimator never takes it for an edge.
    draw.rectangle(
        (px(left_mm), px(top_mm), px(left_mm + sticker_mm) - 1, px(top_mm + sticker_mm) - 1),
        outline=(200, 200, 200),
        width=line,
    )
    square_left, square_top = left_mm + margin_mm, top_mm + margin_mm
    draw.rectangle(
        (px(square_left), px(square_top), px(square_left + side_mm) - 1, px(square_top + side_mm) - 1), fill=color
    )

    ruler_top_mm = top_mm + sticker_mm + 8
    ruler_left_mm = (width_mm - RULER_MM) / 2
    y = px(ruler_top_mm)
    draw.line((px(ruler_left_mm), y, px(ruler_left_mm + RULER_MM), y), fill=(0, 0, 0), width=line)
    for mm in range(int(RULER_MM) + 1):
        tick = 3.0 if mm % 10 == 0 else (2.0 if mm % 5 == 0 else 1.2)
        x = px(ruler_left_mm + mm)
        draw.line((x, y, x, y + px(tick)), fill=(0, 0, 0), width=line)

    font = ImageFont.load_default(size=max(8, px(2.2)))
    label = f"{RULER_MM:g} mm. LimbTrack marker v1: blue square {side_mm:g} mm."
    for row, text in enumerate((label, *INSTRUCTIONS)):
        draw.text((px(width_mm / 2), y + px(5 + 4 * row)), text, fill=(0, 0, 0), font=font, anchor="mt")
    return sheet


def marker_png(side_mm: float, margin_mm: float, color: tuple[int, int, int], dpi: int) -> bytes:
    out = io.BytesIO()
    render_marker_sheet(side_mm, margin_mm, color, dpi).save(out, "PNG", dpi=(dpi, dpi))
    return out.getvalue()


def marker_pdf(side_mm: float, margin_mm: float, color: tuple[int, int, int], dpi: int) -> bytes:
    out = io.BytesIO()
    render_marker_sheet(side_mm, margin_mm, color, dpi).save(out, "PDF", resolution=float(dpi))
    return out.getvalue()
