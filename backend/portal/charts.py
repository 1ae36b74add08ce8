"""Participant-page charts drawn server-side as inline SVG (no script, nothing fetched).

Plain data in, `Markup` out: no Flask, no database, so the page view stays thin and the
drawing is tested by parsing its XML. Every text and attribute value goes through
`markupsafe.escape`, so a subject code or visit label can never inject markup.

Conventions shared by the three charts:
- the x axis covers the calendar days first..last inclusive; a day is a slot and its value
  sits in the slot's centre, so a range of one day is a single centred slot;
- points, injection days and walk or ulcer measurements outside [first, last] are ignored
  (left out of the drawing and of the summary); visit windows are clipped to the range;
- values are clamped to the y axis (0-10 for pain, 0 upwards otherwise), so a bad value
  stays inside the plot instead of overdrawing the legend; the schemas refuse them anyway;
- `chart_id` must be unique on the page: it prefixes the <title>/<desc> ids that
  aria-labelledby points at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from statistics import fmean

from markupsafe import Markup

from backend.portal import svg
from backend.portal.chart_text import (
    DAILY_SCORE,
    INJECTION,
    INJECTION_TIP,
    INJECTIONS_SUMMARY,
    LEGEND_PROVISIONAL,
    LEGEND_REVIEWED,
    METRES,
    NO_SCORES,
    NO_ULCER_AREAS,
    NO_WALKS,
    PAIN_TITLE,
    POINT_TIP,
    PROVISIONAL,
    REVIEWED,
    SCORES_SUMMARY,
    SERIES_TIP,
    SQUARE_MM,
    STATE_SUFFIX,
    ULCER_SUMMARY,
    ULCER_TITLE,
    VISIT_TIP,
    VISIT_WINDOW,
    WALK_METHODS,
    WALK_SUMMARY,
    WALK_TITLE,
    WEEK_TIP,
    WEEKLY_MEAN,
    count_summary,
    day_text,
    format_value,
    plural,
)

# --- Geometry (viewBox units; the SVG scales to its container's width). ---
WIDTH, LEFT, RIGHT, PLOT_HEIGHT, BOTTOM = 640, 46, 14, 170, 30
LEGEND_TOP, LEGEND_ROW, BAND_STRIP, MAX_X_TICKS = 38, 18, 16, 7
FONT = "system-ui, sans-serif"
# Every colour keeps >= 3:1 against white (WCAG 1.4.11), text >= 4.5:1 (1.4.3).
TEXT, AXIS, GRID, BAND = "#333333", "#595959", "#d9d9d9", "#e6ecf2"
SCORE_COLOUR, MEAN_COLOUR, INJECTION_COLOUR = "#0072b2", "#222222", "#a3174a"
PALETTE = ("#0072b2", "#d55e00", "#007a5a", "#8e4b8e", "#222222")


@dataclass(frozen=True)
class VisitBand:
    """A protocol visit window, shaded so the nurse sees which values fall inside it."""

    label: str
    start: date
    end: date
    injection: bool = False


@dataclass(frozen=True)
class UlcerSeries:
    """One ulcer's areas as (day, area_mm2, reviewed): only a reviewed area is a measurement."""

    label: str
    points: Sequence[tuple[date, float, bool]]


Tag = Callable[[float, float], Markup]  # draws a legend swatch at (x, y)


def pain_chart(
    scores: Sequence[tuple[date, int]],
    first: date,
    last: date,
    visits: Sequence[VisitBand] = (),
    injection_days: Sequence[date] = (),
    *,
    title: str = PAIN_TITLE,
    chart_id: str = "pain-chart",
) -> Markup:
    """Daily scores as points and the weekly mean as a line, with visits and injections.

    The weekly mean is per study week: 7-day blocks starting at `first` (day 1), drawn as a
    segment across the days it summarises, over whatever scores the week has.
    """
    frame = _Frame(first, last, [0, 2, 4, 6, 8, 10])
    kept = sorted((d, s) for d, s in scores if frame.has(d))
    injections = sorted({d for d in injection_days if frame.has(d)})
    desc = (
        count_summary(SCORES_SUMMARY, [d for d, _ in kept], format_value(kept[-1][1]) if kept else "")
        or NO_SCORES + "."
    )
    if injections:
        desc += " " + plural(INJECTIONS_SUMMARY, len(injections)).format(n=len(injections))
    legend: list[tuple[str, Tag]] = []
    if kept:
        legend += [(DAILY_SCORE, _swatch(0, SCORE_COLOUR, True))]
        legend += [(WEEKLY_MEAN, lambda x, y: svg.line(x - 8, y, x + 8, y, MEAN_COLOUR, 2.5))]
    if injections:
        legend.append((INJECTION, lambda x, y: svg.line(x, y - 6, x, y + 6, INJECTION_COLOUR, 1.5, "4 2")))

    def draw(c: _Canvas) -> list[Markup]:
        parts = [_injection(c, d) for d in injections]
        weeks: dict[int, list[int]] = {}
        for d, s in kept:
            weeks.setdefault(c.day(d) // 7, []).append(s)
        for week, values in sorted(weeks.items()):
            start = first + timedelta(days=7 * week)
            end = min(start + timedelta(days=6), last)
            mean = fmean(values)
            tip = WEEK_TIP.format(week=week + 1, value=format_value(mean))
            parts.append(
                svg.line(
                    c.left(start), c.y(mean), c.left(end) + c.slot, c.y(mean), MEAN_COLOUR, 2.5, cls="mean", tip=tip
                )
            )
        for d, s in kept:
            parts.append(
                svg.marker(
                    0, c.x(d), c.y(s), SCORE_COLOUR, True, "point", POINT_TIP.format(day=day_text(d, True), value=s)
                )
            )
        return parts

    return _chart(chart_id, title, desc, frame, visits, legend, draw, None if kept else NO_SCORES)


def walk_chart(
    tests: Sequence[tuple[date, float, str]],
    first: date,
    last: date,
    visits: Sequence[VisitBand] = (),
    *,
    title: str = WALK_TITLE,
    chart_id: str = "walk-chart",
) -> Markup:
    """Walk distances, one series (marker, colour, legend entry) per method.

    A phone walk and a clinic course are different instruments, so each method gets its own
    line and no line ever joins two methods. Known methods keep their marker across pages.
    """
    frame = _Frame(first, last, [])
    by_method: dict[str, list[tuple[date, float, bool]]] = {}
    for d, metres, method in tests:
        if frame.has(d) and math.isfinite(metres):
            by_method.setdefault(method, []).append((d, metres, True))
    known = list(WALK_METHODS)
    order = sorted(by_method, key=lambda m: (known.index(m) if m in known else len(known), m))
    unknown = [m for m in order if m not in known]
    styles = {m: known.index(m) if m in known else len(known) + unknown.index(m) for m in order}
    series = [(WALK_METHODS.get(m, m), styles[m], sorted(by_method[m])) for m in order]
    return _series_chart(series, frame, visits, title, chart_id, _WALK)


def ulcer_chart(
    series: Sequence[UlcerSeries],
    first: date,
    last: date,
    visits: Sequence[VisitBand] = (),
    *,
    title: str = ULCER_TITLE,
    chart_id: str = "ulcer-chart",
) -> Markup:
    """Ulcer areas, one series per ulcer: reviewed points solid, provisional ones hollow.

    Pass one series for a chart per ulcer, or several to compare ulcers on one axis.
    """
    frame = _Frame(first, last, [])
    rows = [
        (s.label, i, sorted((d, a, r) for d, a, r in s.points if frame.has(d) and math.isfinite(a)))
        for i, s in enumerate(series)
    ]
    return _series_chart(rows, frame, visits, title, chart_id, _ULCER)


# --- Internals ---


@dataclass(frozen=True)
class _Frame:
    first: date
    last: date
    y_ticks: list[float]

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"chart range ends ({self.last}) before it starts ({self.first})")

    def has(self, d: date) -> bool:
        return self.first <= d <= self.last


@dataclass(frozen=True)
class _Kind:
    """What differs between the walk and the ulcer chart besides the data."""

    unit: str
    empty: str
    summary: tuple[str, str]
    floor: float  # the y axis reaches at least this, so a few small values do not fill it
    with_state: bool  # reviewed/provisional matters


_WALK = _Kind(METRES, NO_WALKS, WALK_SUMMARY, 100, with_state=False)
_ULCER = _Kind(SQUARE_MM, NO_ULCER_AREAS, ULCER_SUMMARY, 10, with_state=True)


@dataclass
class _Canvas:
    frame: _Frame
    top: float

    @property
    def slot(self) -> float:
        return (WIDTH - LEFT - RIGHT) / ((self.frame.last - self.frame.first).days + 1)

    @property
    def bottom(self) -> float:
        return self.top + PLOT_HEIGHT

    def day(self, d: date) -> int:
        return (d - self.frame.first).days

    def left(self, d: date) -> float:
        return LEFT + self.day(d) * self.slot

    def x(self, d: date) -> float:
        return self.left(d) + self.slot / 2

    def y(self, value: float) -> float:
        top = self.frame.y_ticks[-1]
        return self.bottom - min(max(value, 0.0), top) / top * PLOT_HEIGHT


def _series_chart(
    series: Sequence[tuple[str, int, list[tuple[date, float, bool]]]],
    frame: _Frame,
    visits: Sequence[VisitBand],
    title: str,
    chart_id: str,
    kind: _Kind,
) -> Markup:
    """Draw walk or ulcer series: a thin line per series, a marker per value."""
    frame = replace(frame, y_ticks=_nice_ticks(max([kind.floor] + [v for _, _, pts in series for _, v, _ in pts])))
    present = [s for s in series if s[2]]
    summaries = []

    def shown(v: float, reviewed: bool) -> str:
        value = kind.unit.format(value=format_value(v))
        return (
            STATE_SUFFIX.format(value=value, state=REVIEWED if reviewed else PROVISIONAL) if kind.with_state else value
        )

    for label, _, pts in present:
        summaries.append(count_summary(kind.summary, [p[0] for p in pts], shown(*pts[-1][1:]), label=label))
    legend: list[tuple[str, Tag]] = []
    for label, style, _ in present:
        legend.append((label, _swatch(style, PALETTE[style % len(PALETTE)], True)))
    if kind.with_state and present:
        legend.append((LEGEND_REVIEWED, _swatch(0, AXIS, True)))
        legend.append((LEGEND_PROVISIONAL, _swatch(0, AXIS, False)))

    def draw(c: _Canvas) -> list[Markup]:
        parts: list[Markup] = []
        for label, style, pts in present:
            colour = PALETTE[style % len(PALETTE)]
            if len(pts) > 1:
                coords = " ".join(f"{svg.num(c.x(d))},{svg.num(c.y(v))}" for d, v, _ in pts)
                parts.append(
                    svg.tag("polyline", {"points": coords, "fill": "none", "stroke": colour, "stroke-width": 1.5})
                )
            for d, v, reviewed in pts:
                tip = SERIES_TIP.format(label=label, day=day_text(d, True), value=shown(v, reviewed))
                parts.append(svg.marker(style, c.x(d), c.y(v), colour, reviewed, "point", tip))
        return parts

    desc = " ".join(summaries) or kind.empty + "."
    return _chart(chart_id, title, desc, frame, visits, legend, draw, None if present else kind.empty)


def _chart(
    chart_id: str,
    title: str,
    desc: str,
    frame: _Frame,
    visits: Sequence[VisitBand],
    legend: list[tuple[str, Tag]],
    draw: Callable[[_Canvas], list[Markup]],
    empty: str | None,
) -> Markup:
    """Lay out title, legend, visit strip, axes and plot; `draw` adds the data layer."""
    ident = svg.ident(chart_id)
    bands = [(v, max(v.start, frame.first), min(v.end, frame.last)) for v in visits]
    bands = [b for b in bands if b[1] <= b[2]]
    if bands:
        legend = [*legend, (VISIT_WINDOW, lambda x, y: svg.rect(x - 8, y - 6, 16, 12, BAND))]
    legend_parts, rows = _legend(legend)
    canvas = _Canvas(frame, LEGEND_TOP + rows * LEGEND_ROW + BAND_STRIP)
    height = canvas.bottom + BOTTOM
    parts = [
        svg.tag("title", {"id": f"{ident}-title"}, title),
        svg.tag("desc", {"id": f"{ident}-desc"}, desc),
        svg.tag("text", {"x": LEFT, "y": 20, "font-size": 15, "font-weight": "bold", "fill": TEXT}, title),
        *legend_parts,
    ]
    for band, start, end in bands:
        x0, x1 = canvas.left(start), canvas.left(end) + canvas.slot
        tip = VISIT_TIP[band.injection].format(
            label=band.label, start=day_text(band.start, True), end=day_text(band.end, True)
        )
        parts.append(
            Markup('<g class="visit">{}{}</g>').format(
                svg.rect(x0, canvas.top, x1 - x0, PLOT_HEIGHT, BAND, tip),
                _band_label(x0, x1, canvas.top - 4, band.label),
            )
        )
    for value in frame.y_ticks:
        y = canvas.y(value)
        parts.append(svg.line(LEFT, y, WIDTH - RIGHT, y, GRID, 1))
        parts.append(_text(LEFT - 6, y + 4, format_value(value), 11, anchor="end", cls="y-tick"))
    parts.append(svg.line(LEFT, canvas.bottom, WIDTH - RIGHT, canvas.bottom, AXIS, 1, cls="axis"))
    shown_year = None if frame.first.year != frame.last.year else frame.first.year
    for d in _x_ticks(frame.first, frame.last):
        x = canvas.x(d)
        parts.append(svg.line(x, canvas.bottom, x, canvas.bottom + 4, AXIS, 1))
        parts.append(_text(x, canvas.bottom + 17, day_text(d, d.year != shown_year), 11, anchor="middle", cls="x-tick"))
        shown_year = d.year  # a year appears on a tick only where it changes
    if empty is not None:
        mid = (LEFT + WIDTH - RIGHT) / 2
        parts.append(_text(mid, canvas.top + PLOT_HEIGHT / 2, empty, 14, anchor="middle", cls="empty"))
    parts += draw(canvas)
    attrs = {
        "xmlns": "http://www.w3.org/2000/svg",
        "class": "chart",
        "viewBox": f"0 0 {WIDTH} {svg.num(height)}",
        "width": "100%",
        "role": "img",
        "aria-labelledby": f"{ident}-title {ident}-desc",
        "font-family": FONT,
    }
    return svg.tag("svg", attrs, *parts)


def _legend(items: list[tuple[str, Tag]]) -> tuple[list[Markup], int]:
    """Place swatch + label items left to right, wrapping into rows; return them and the row count."""
    parts: list[Markup] = []
    x, row = float(LEFT), 0
    for label, swatch in items:
        width = 22 + len(label) * 7.2 + 16  # generous for ~7 units per character at font-size 12
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, row = float(LEFT), row + 1
        y = LEGEND_TOP + row * LEGEND_ROW
        parts.append(Markup('<g class="legend">{}{}</g>').format(swatch(x + 8, y - 4), _text(x + 22, y, label, 12)))
        x += width
    return parts, (row + 1 if items else 0)


def _band_label(x0: float, x1: float, y: float, label: str) -> Markup:
    """Label a band from its left edge, or from its right edge where it would run off the chart."""
    if x0 + 2 + len(label) * 6.6 <= WIDTH - RIGHT:
        return _text(x0 + 2, y, label, 11)
    return _text(x1 - 2, y, label, 11, anchor="end")


def _injection(c: _Canvas, d: date) -> Markup:
    x = c.x(d)
    tip = INJECTION_TIP.format(day=day_text(d, True))
    marker = svg.tag("path", {"d": f"M{svg.num(x - 5)},{svg.num(c.top)} h10 l-5,7 z", "fill": INJECTION_COLOUR})
    line = svg.line(x, c.top, x, c.bottom, INJECTION_COLOUR, 1.5, "4 2")
    return Markup('<g class="injection"><title>{}</title>{}{}</g>').format(tip, line, marker)


def _swatch(shape: int, colour: str, solid: bool) -> Tag:
    return lambda x, y: svg.marker(shape, x, y, colour, solid, "swatch")


def _nice_ticks(top: float) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to at least `top`, about five of them."""
    raw = top / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _x_ticks(first: date, last: date) -> list[date]:
    """Ticks every 1, 2, 7, 14, 28... days from `first`, so weekly ticks fall on study weeks."""
    days = (last - first).days + 1
    step = next((s for s in (1, 2, 7, 14, 28, 56, 91, 182) if days / s <= MAX_X_TICKS), 364)
    return [first + timedelta(days=i) for i in range(0, days, step)]


def _text(x: float, y: float, text: str, size: int, *, anchor: str = "start", cls: str = "") -> Markup:
    return svg.text(x, y, text, size, fill=TEXT, anchor=anchor, cls=cls)
