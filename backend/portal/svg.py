"""SVG elements as escaped `Markup`: every attribute value and plain-string child goes through
`markupsafe.escape`, so a subject code or visit label can never inject markup."""

from __future__ import annotations

import re
from collections.abc import Mapping

from markupsafe import Markup, escape


def marker(shape: int, x: float, y: float, colour: str, solid: bool, cls: str, tip: str = "") -> Markup:
    """Circle, square, triangle or diamond: shape tells series apart, fill tells reviewed from not."""
    attrs: dict[str, object] = {
        "class": f"{cls} {'solid' if solid else 'hollow'}",
        "fill": colour if solid else "#ffffff",
        "stroke": colour,
        "stroke-width": 1.5,
    }
    kind = shape % 4
    if kind == 0:
        name, geometry = "circle", {"cx": num(x), "cy": num(y), "r": 4}
    elif kind == 1:
        name, geometry = "rect", {"x": num(x - 3.5), "y": num(y - 3.5), "width": 7, "height": 7}
    else:
        path = f"M{num(x)},{num(y - 5)} l4.5,8 h-9 z" if kind == 2 else f"M{num(x)},{num(y - 5)} l5,5 l-5,5 l-5,-5 z"
        name, geometry = "path", {"d": path}
    return tag(name, {**geometry, **attrs}, *([tag("title", {}, tip)] if tip else []))


def line(
    x1: float, y1: float, x2: float, y2: float, colour: str, width: float, dash: str = "", cls: str = "", tip: str = ""
) -> Markup:
    attrs: dict[str, object] = {"x1": num(x1), "y1": num(y1), "x2": num(x2), "y2": num(y2), "stroke": colour}
    attrs |= {"stroke-width": width, **({"stroke-dasharray": dash} if dash else {}), **({"class": cls} if cls else {})}
    return tag("line", attrs, *([tag("title", {}, tip)] if tip else []))


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> Markup:
    attrs = {"x": num(x), "y": num(y), "width": num(w), "height": num(h), "fill": fill}
    return tag("rect", attrs, *([tag("title", {}, tip)] if tip else []))


def text(x: float, y: float, text: str, size: int, *, fill: str, anchor: str = "start", cls: str = "") -> Markup:
    attrs = {"x": num(x), "y": num(y), "font-size": size, "fill": fill, "text-anchor": anchor}
    return tag("text", {**attrs, **({"class": cls} if cls else {})}, text)


def tag(name: str, attrs: Mapping[str, object], *children: str) -> Markup:
    """One element; attribute values and plain-string children are escaped, Markup passes."""
    rendered = Markup("").join(Markup(' {}="{}"').format(k, str(v)) for k, v in attrs.items())
    if not children:
        return Markup("<{}{}/>").format(name, rendered)
    return Markup("<{0}{1}>{2}</{0}>").format(name, rendered, Markup("").join(escape(c) for c in children))


def ident(chart_id: str) -> str:
    """An XML id from the caller's chart id (ids may not contain spaces or start with a digit)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id)
    return cleaned if cleaned[:1].isalpha() else f"chart-{cleaned}"


def num(value: float) -> str:
    """A coordinate, short enough to keep the markup small."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
