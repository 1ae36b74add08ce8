"""The participant-page charts: parsed as XML, so a broken or injected document fails here
before a nurse's browser renders it. Expected texts and counts are worked out by hand."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from markupsafe import Markup

from backend.portal import charts
from backend.portal.charts import UlcerSeries, VisitBand, pain_chart, ulcer_chart, walk_chart

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script>'


def mar(day: int) -> date:
    return date(2026, 3, day)


def parse(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    return ET.fromstring(str(markup))  # noqa: S314 -- our own output, parsed to check it


def with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in e.get("class", "").split()]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [e.text or "" for e in with_class(root, cls)]


def desc(root: ET.Element) -> str:
    return root.findtext(f"{SVG}desc") or ""


def cy(element: ET.Element) -> float:
    return float(element.get("cy", "nan"))


def axis_y(root: ET.Element) -> float:
    (axis,) = with_class(root, "axis")
    return float(axis.get("y1", "nan"))


def test_chart_is_responsive_accessible_self_contained_svg() -> None:
    markup = pain_chart([(mar(2), 3)], mar(1), mar(20))
    root = parse(markup)

    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "100%" and root.get("height") is None
    assert root.get("viewBox", "").startswith("0 0 ")
    assert root.get("role") == "img"
    ids = {e.get("id"): e.tag for e in root.iter() if e.get("id")}
    assert [ids[i] for i in root.get("aria-labelledby", "").split()] == [f"{SVG}title", f"{SVG}desc"]
    assert root.findtext(f"{SVG}title") == "Rest pain (NRS 0–10)"
    assert str(markup).count("http") == 1  # the namespace only: nothing is fetched
    assert not [e for e in root.iter() if e.tag.endswith("script") or any("href" in a for a in e.attrib)]


def test_pain_points_one_per_score_inside_the_range() -> None:
    scores = [(date(2026, 2, 28), 5), (mar(1), 1), (mar(2), 2), (mar(5), 3), (mar(20), 4), (mar(21), 6)]
    root = parse(pain_chart(scores, mar(1), mar(20), [], []))

    assert len(with_class(root, "point")) == 4  # 28 Feb and 21 Mar are outside [first, last]


def test_score_ten_is_drawn_above_score_zero_and_zero_sits_on_the_axis() -> None:
    root = parse(pain_chart([(mar(1), 0), (mar(2), 10), (mar(3), 12)], mar(1), mar(7), [], []))
    zero, ten, too_high = with_class(root, "point")

    assert cy(ten) < cy(zero)
    assert cy(zero) == axis_y(root)
    assert cy(too_high) == cy(ten)  # clamped to the axis, never above the plot
    assert float(zero.get("cx", "nan")) < float(ten.get("cx", "nan"))


def test_weekly_mean_is_per_study_week_from_first() -> None:
    # Week 1 is 2-8 Mar: (2 + 4 + 7 + 5) / 4 = 4.5; week 2 starts 9 Mar: 1.
    scores = [(mar(2), 2), (mar(3), 4), (mar(4), 7), (mar(8), 5), (mar(9), 1)]
    root = parse(pain_chart(scores, mar(2), mar(15), [], []))
    week1, week2 = with_class(root, "mean")

    assert [m.findtext(f"{SVG}title") for m in (week1, week2)] == ["Week 1: mean 4.5", "Week 2: mean 1"]
    assert week1.get("x2") == week2.get("x1")  # adjacent blocks, no day left out or counted twice
    one = with_class(root, "point")[-1]
    assert week2.get("y1") == week2.get("y2") == one.get("cy")  # the mean of a single 1 is drawn at 1


def test_injection_days_marked_on_their_day_and_outside_ones_ignored() -> None:
    root = parse(pain_chart([(mar(4), 5)], mar(1), mar(20), [], [mar(4), mar(18), mar(25)]))
    injections = with_class(root, "injection")

    assert [g.findtext(f"{SVG}title") for g in injections] == ["Injection 4 Mar 2026", "Injection 18 Mar 2026"]
    line = injections[0].find(f"{SVG}line")
    assert line is not None
    assert line.get("x1") == with_class(root, "point")[0].get("cx")
    assert "Injection" in [t.text for t in root.iter(f"{SVG}text")]  # in the legend


def test_visit_bands_clipped_to_the_range_and_outside_ones_dropped() -> None:
    visits = [
        VisitBand("V1", date(2026, 2, 25), mar(3), injection=True),
        VisitBand("V2", mar(10), mar(12)),
        VisitBand("V9", date(2026, 4, 1), date(2026, 4, 5)),
    ]
    root = parse(pain_chart([], mar(1), mar(20), visits, []))
    bands = with_class(root, "visit")

    assert [g.findtext(f"{SVG}text") for g in bands] == ["V1", "V2"]
    v1, v2 = (g.find(f"{SVG}rect") for g in bands)
    assert v1 is not None and v2 is not None
    (axis,) = with_class(root, "axis")
    assert v1.get("x") == axis.get("x1")  # starts at the left edge of the plot
    assert v1.get("width") == v2.get("width")  # 1-3 Mar and 10-12 Mar: three days each
    assert v1.findtext(f"{SVG}title") == "V1 (injection visit): 25 Feb 2026 – 3 Mar 2026"


def test_aria_summary_counts_only_what_is_drawn() -> None:
    missing = {2, 5, 9, 11, 15, 17}
    scores = [(mar(d), d % 11) for d in range(1, 20) if d not in missing] + [(mar(20), 4), (date(2026, 2, 27), 9)]
    scores.reverse()  # the latest is found by date, not by position
    root = parse(pain_chart(scores, mar(1), mar(20), [], [mar(4), mar(18), mar(25)]))

    assert desc(root) == "14 scores from 1 Mar 2026 to 20 Mar 2026; latest 4. 2 injection days."


def test_single_score_on_a_one_day_range_is_centred_under_its_tick() -> None:
    root = parse(pain_chart([(mar(3), 10)], mar(3), mar(3), [VisitBand("V1", mar(1), mar(5))], [mar(3)]))
    (point,) = with_class(root, "point")
    (tick,) = with_class(root, "x-tick")
    (axis,) = with_class(root, "axis")
    (band,) = (r for g in with_class(root, "visit") for r in g.iter(f"{SVG}rect"))

    assert desc(root) == "1 score on 3 Mar 2026: 10. 1 injection day."
    assert tick.text == "3 Mar" and tick.get("x") == point.get("cx")
    assert (float(band.get("x", "nan")), float(band.get("width", "nan"))) == (
        float(axis.get("x1", "nan")),
        float(axis.get("x2", "nan")) - float(axis.get("x1", "nan")),
    )


@pytest.mark.parametrize(
    ("first", "last", "labels"),
    [
        (mar(1), date(2026, 4, 12), ["1 Mar", "8 Mar", "15 Mar", "22 Mar", "29 Mar", "5 Apr", "12 Apr"]),
        (date(2025, 12, 20), date(2026, 1, 10), ["20 Dec 2025", "27 Dec", "3 Jan 2026", "10 Jan"]),
        (mar(1), mar(4), ["1 Mar", "2 Mar", "3 Mar", "4 Mar"]),
    ],
)
def test_date_ticks_are_readable_and_show_a_year_where_it_changes(first: date, last: date, labels: list[str]) -> None:
    assert texts(parse(pain_chart([], first, last, [], [])), "x-tick") == labels


def test_empty_charts_say_so_and_stay_valid() -> None:
    pain = parse(pain_chart([], mar(1), mar(20), [], []))
    walk = parse(walk_chart([(mar(25), 300.0, "clinic_course")], mar(1), mar(20), []))
    ulcer = parse(ulcer_chart([UlcerSeries("A", [])], mar(1), mar(20), []))

    for root, text in ((pain, "No scores yet"), (walk, "No walk tests yet"), (ulcer, "No ulcer measurements yet")):
        assert texts(root, "empty") == [text]
        assert desc(root) == text + "."
        assert with_class(root, "point") == []
    assert with_class(pain, "mean") == []


def test_walk_methods_are_separate_series_never_joined() -> None:
    tests = [
        (mar(3), 310.0, "clinic_course"),
        (mar(5), 280.0, "phone_gps"),
        (mar(10), 300.0, "phone_gps"),
        (mar(17), 335.5, "clinic_course"),
        (mar(20), 290.0, "phone_gps"),
        (mar(21), float("nan"), "phone_gps"),
    ]
    root = parse(walk_chart(tests, mar(1), mar(20), []))
    lines = list(root.iter(f"{SVG}polyline"))
    points = with_class(root, "point")

    assert sorted(len(p.get("points", "").split()) for p in lines) == [2, 3]
    assert len({p.get("stroke") for p in lines}) == 2
    assert sorted(p.tag for p in points) == [f"{SVG}circle"] * 2 + [f"{SVG}path"] * 3
    assert {e.text for e in root.iter(f"{SVG}text")} >= {"Clinic course", "Phone (GPS)"}
    assert desc(root) == (
        "Clinic course: 2 tests from 3 Mar 2026 to 17 Mar 2026; latest 335.5 m. "
        "Phone (GPS): 3 tests from 5 Mar 2026 to 20 Mar 2026; latest 290 m."
    )


def test_ulcer_reviewed_points_solid_provisional_hollow() -> None:
    series = [UlcerSeries("Left heel", [(mar(10), 98.5, True), (mar(2), 120.0, True), (mar(20), 80.0, False)])]
    root = parse(ulcer_chart(series, mar(1), mar(20), []))
    points = with_class(root, "point")
    solid, hollow = with_class(root, "solid"), with_class(root, "hollow")

    assert len(points) == 3
    assert [p for p in solid if p in points] == points[:2] and [p for p in hollow if p in points] == points[2:]
    assert all(p.get("fill") == p.get("stroke") for p in points[:2])
    assert points[2].get("fill") == "#ffffff" and points[2].get("stroke") == points[0].get("stroke")
    assert points[2].findtext(f"{SVG}title") == "Left heel, 20 Mar 2026: 80 mm² (provisional)"
    assert desc(root) == "Left heel: 3 measurements from 2 Mar 2026 to 20 Mar 2026; latest 80 mm² (provisional)."


def test_ulcer_area_zero_sits_on_the_axis_and_series_differ_in_shape() -> None:
    series = [UlcerSeries("A", [(mar(2), 0.0, True)]), UlcerSeries("B", [(mar(3), 40.0, False)])]
    root = parse(ulcer_chart(series, mar(1), mar(20), []))
    a, b = with_class(root, "point")

    assert (a.tag, b.tag) == (f"{SVG}circle", f"{SVG}rect")
    assert cy(a) == axis_y(root)
    assert (
        desc(root)
        == "A: 1 measurement on 2 Mar 2026, 0 mm² (reviewed). B: 1 measurement on 3 Mar 2026, 40 mm² (provisional)."
    )


def test_labels_titles_and_ids_cannot_inject_markup() -> None:
    visits = [VisitBand(EVIL, mar(2), mar(4))]
    outputs = [
        pain_chart([(mar(2), 4)], mar(1), mar(20), visits, [], title=EVIL, chart_id='x" onload="alert(1)'),
        walk_chart([(mar(2), 300.0, EVIL)], mar(1), mar(20), visits, title=EVIL),
        ulcer_chart([UlcerSeries(EVIL, [(mar(2), 10.0, True)])], mar(1), mar(20), visits, title=EVIL),
    ]
    for markup in outputs:
        root = parse(markup)
        assert "<script" not in str(markup)
        assert not [e for e in root.iter() if e.tag.endswith("script") or any(a.startswith("on") for a in e.attrib)]
        assert root.findtext(f"{SVG}title") == EVIL
        assert EVIL in [t.text for t in root.iter(f"{SVG}text")]
    assert parse(outputs[0]).get("aria-labelledby") == "x--onload--alert-1--title x--onload--alert-1--desc"


def test_chart_ids_are_valid_and_distinct() -> None:
    one = parse(ulcer_chart([], mar(1), mar(2), [], chart_id="1 ulcer"))
    two = parse(ulcer_chart([], mar(1), mar(2), [], chart_id="ulcer-2"))

    assert one.get("aria-labelledby") == "chart-1-ulcer-title chart-1-ulcer-desc"
    assert two.get("aria-labelledby") == "ulcer-2-title ulcer-2-desc"


def test_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        pain_chart([], mar(2), mar(1), [], [])


def contrast_with_white(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_colours_keep_wcag_contrast_on_white() -> None:
    graphics = [*charts.PALETTE, charts.SCORE_COLOUR, charts.MEAN_COLOUR, charts.INJECTION_COLOUR, charts.AXIS]
    assert min(contrast_with_white(c) for c in graphics) >= 3
    assert contrast_with_white(charts.TEXT) >= 4.5
    assert math.isclose(contrast_with_white("#000000"), 21)  # the formula itself
