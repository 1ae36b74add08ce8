"""The derivation rules on small, hand-worked inputs (no database): each expected value is
worked out in the comment beside it, from docs/design.md's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.studies.document import build_protocol
from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file
from backend.trial_sync.derive import (
    AmputationEntry,
    Observation,
    PainEntry,
    Row,
    Subject,
    UlcerRecord,
    WalkEntry,
    Window,
    derive,
)

DOCUMENT, _ = read_protocol_file(DEMO_PROTOCOL_PATH)
PROTOCOL = build_protocol(DOCUMENT)
VISITS: list[Window] = list(PROTOCOL.visits)
ENDPOINTS = list(PROTOCOL.endpoints)
T = datetime(2026, 3, 1, tzinfo=UTC)


def pain(day: int, score: int, entry_id: int, minutes: int = 0) -> PainEntry:
    return PainEntry(day, T + timedelta(days=day, minutes=minutes), score, entry_id)


def by_key(subject: Subject) -> dict[tuple[str, str, str], Row]:
    return {(r.visit_code, r.endpoint_code, r.ulcer_label): r for r in derive(subject, VISITS, ENDPOINTS)}


def photo(day: int, area: float, photo_id: int) -> Observation:
    return Observation(day, area, f"ulcer_photo:{photo_id}")


def closure(day: int, closure_id: int) -> Observation:
    return Observation(day, 0.0, f"ulcer_closure:{closure_id}")


def test_rows_appear_as_windows_open_and_are_final_once_closed() -> None:
    rows = by_key(Subject(today=23, target_leg="right"))

    assert {visit for visit, *_ in rows} == {"BASELINE", "M1"}  # no ulcer, so no DAY28 row
    assert rows[("BASELINE", "REST_PAIN_NRS", "")].status == "missing"  # closed on day 0 with no score
    assert rows[("M1", "REST_PAIN_NRS", "")].status == "provisional"  # opened today, day 23
    assert ("M2", "REST_PAIN_NRS", "") not in rows  # opens on day 53


def test_the_latest_score_of_a_diary_day_counts_once() -> None:
    # Day -1 has two current scores (an offline phone): 9 recorded later wins over 3.
    subject = Subject(
        today=5, target_leg="right", pain=(pain(-3, 6, 1), pain(-2, 6, 2), pain(-1, 3, 3), pain(-1, 9, 4, 30))
    )

    nrs = by_key(subject)[("BASELINE", "REST_PAIN_NRS", "")]

    assert (nrs.value, nrs.n, nrs.source_ids) == (
        pytest.approx(7.0),
        3,
        ("pain_score:1", "pain_score:2", "pain_score:4"),
    )
    completion = by_key(subject)[("BASELINE", "DIARY_COMPLETION_PCT", "")]
    assert (completion.value, completion.n) == (pytest.approx(3 / 15 * 100), 3)  # days -14..0


def test_responder_by_points_or_by_percent() -> None:
    base = (pain(-3, 3, 1), pain(-2, 3, 2), pain(-1, 3, 3))  # mean 3
    # Month 1 mean 2: a drop of 1 point (< 2) but 33 % (≥ 30 %): a responder.
    subject = Subject(today=40, target_leg="right", pain=(*base, pain(24, 2, 4), pain(25, 2, 5), pain(26, 2, 6)))
    rows = by_key(subject)
    assert rows[("M1", "REST_PAIN_RESPONDER", "")].value == 1
    assert rows[("M1", "REST_PAIN_CHANGE", "")].value == pytest.approx(-1)
    # Month 1 mean 2.5 (2, 3, 2.5 → scores 2, 3 and 3, 2): a drop of 0.5, 16.7 %: not one.
    subject = Subject(
        today=40, target_leg="right", pain=(*base, pain(24, 2, 4), pain(25, 3, 5), pain(26, 2, 6), pain(27, 3, 7))
    )
    assert by_key(subject)[("M1", "REST_PAIN_RESPONDER", "")].value == 0


def test_a_missing_baseline_makes_the_changes_missing_with_its_reason() -> None:
    subject = Subject(
        today=40, target_leg="right", pain=(pain(-1, 5, 1), pain(24, 2, 4), pain(25, 2, 5), pain(26, 2, 6))
    )

    rows = by_key(subject)

    change = rows[("M1", "REST_PAIN_CHANGE", "")]
    assert (change.value, change.status, change.missing_reason) == (None, "missing", "insufficient_data")
    assert rows[("M1", "REST_PAIN_RESPONDER", "")].value is None


def test_the_best_walk_of_the_protocols_method_only() -> None:
    walks = (
        WalkEntry(-10, "phone_gps", 210.0, "walk_test:1"),
        WalkEntry(-3, "phone_gps", 240.0, "walk_test:2"),
        WalkEntry(-2, "clinic_course", 400.0, "walk_test:3"),  # another instrument: never in this series
        WalkEntry(30, "phone_gps", 300.0, "walk_test:4"),
    )
    rows = by_key(Subject(today=40, target_leg="right", walks=walks))

    assert (rows[("BASELINE", "SIX_MWD_M", "")].value, rows[("BASELINE", "SIX_MWD_M", "")].n) == (240.0, 2)
    assert rows[("M1", "SIX_MWD_CHANGE_M", "")].value == pytest.approx(60.0)
    assert rows[("M1", "SIX_MWD_PCT_CHANGE", "")].value == pytest.approx(25.0)  # 60 / 240


def test_a_zero_baseline_walk_has_no_percent_change() -> None:
    walks = (WalkEntry(-3, "phone_gps", 0.0, "walk_test:1"), WalkEntry(30, "phone_gps", 50.0, "walk_test:2"))
    rows = by_key(Subject(today=40, target_leg="right", walks=walks))

    assert rows[("M1", "SIX_MWD_CHANGE_M", "")].value == pytest.approx(50.0)
    pct = rows[("M1", "SIX_MWD_PCT_CHANGE", "")]
    assert (pct.value, pct.status, pct.missing_reason) == (None, "missing", "baseline_zero")


def test_ulcer_area_closest_to_target_the_later_on_a_tie() -> None:
    # Baseline target day 0: photos on days -4 and -2 → -2 (400). Month 1 target day 30:
    # days 28 and 32 are equally close → the later, 32 (180).
    ulcer = UlcerRecord("A", -14, (photo(-4, 500, 1), photo(-2, 400, 2), photo(28, 200, 3), photo(32, 180, 4)))
    rows = by_key(Subject(today=40, target_leg="right", ulcers=(ulcer,)))

    assert rows[("BASELINE", "ULCER_AREA_MM2", "A")].value == 400
    assert rows[("M1", "ULCER_AREA_MM2", "A")].source_ids == ("ulcer_photo:4",)
    assert rows[("M1", "ULCER_AREA_PCT_CHANGE", "A")].value == pytest.approx(-55.0)  # (180 − 400) / 400
    # Day 28 (window 21..35): the photo on day 28 itself, 200 = 50 % below 400 → 1
    assert rows[("DAY28", "ULCER_AREA_REDUCTION_4W_GE50", "A")].value == 1


def test_day28_reduction_below_half_is_zero_and_needs_a_photo() -> None:
    ulcer = UlcerRecord("A", -14, (photo(-2, 400, 2), photo(26, 201, 3)))
    assert (
        by_key(Subject(today=40, target_leg="right", ulcers=(ulcer,)))[
            ("DAY28", "ULCER_AREA_REDUCTION_4W_GE50", "A")
        ].value
        == 0
    )
    ulcer = UlcerRecord("A", -14, (photo(-2, 400, 2), photo(40, 10, 3)))
    row = by_key(Subject(today=41, target_leg="right", ulcers=(ulcer,)))[("DAY28", "ULCER_AREA_REDUCTION_4W_GE50", "A")]
    assert (row.value, row.status, row.missing_reason) == (None, "missing", "no_measurement")


def test_day28_an_exact_halving_measured_a_hair_short_still_counts() -> None:
    # 200.00000000000003 is 200 mm² as a homography in floats gives it: 50 % below 400.
    ulcer = UlcerRecord("A", -14, (photo(-2, 400, 2), photo(28, 200.00000000000003, 3)))
    row = by_key(Subject(today=40, target_leg="right", ulcers=(ulcer,)))[("DAY28", "ULCER_AREA_REDUCTION_4W_GE50", "A")]
    assert row.value == 1


def test_an_ulcer_first_seen_later_has_no_rows_at_earlier_visits() -> None:
    ulcer = UlcerRecord("B", 40, (photo(41, 90, 1),))
    rows = by_key(Subject(today=70, target_leg="right", ulcers=(ulcer,)))

    assert {visit for visit, code, label in rows if label == "B"} == {"M2"}


def test_healed_confirmed_needs_two_weeks_of_healing_without_an_open_wound_between() -> None:
    # Healed on day 100 (closure), open again on 107, healed on 110 and 124 → confirmed on 124.
    ulcer = UlcerRecord(
        "A", -14, (photo(-2, 400, 1), closure(100, 1), photo(107, 20, 2), photo(110, 0, 3), closure(124, 2))
    )
    rows = by_key(Subject(today=200, target_leg="right", ulcers=(ulcer,)))

    assert rows[("M3", "ULCER_HEALED", "A")].value == 0  # latest by day 97: the open wound of day -2
    assert rows[("M4", "ULCER_HEALED", "A")].value == 1  # latest by day 127: the closure of day 124
    assert rows[("M4", "ULCER_HEALED_CONFIRMED", "A")].value == 1  # 110 → 124 by day 127
    assert rows[("M4", "ULCER_HEALED_CONFIRMED", "A")].source_ids == ("ulcer_photo:3", "ulcer_closure:2")
    assert rows[("M3", "ULCER_HEALED_CONFIRMED", "A")].value == 0
    # Healed on day 100 and seen open on 107: the 100 → 110 span does not confirm it.
    early = UlcerRecord("A", -14, (photo(-2, 400, 1), closure(100, 1), photo(107, 20, 2), photo(110, 0, 3)))
    assert (
        by_key(Subject(today=200, target_leg="right", ulcers=(early,)))[("M4", "ULCER_HEALED_CONFIRMED", "A")].value
        == 0
    )


def test_a_closure_counts_after_a_photo_of_the_same_day() -> None:
    ulcer = UlcerRecord("A", -14, (photo(-2, 400, 1), photo(30, 15, 2), closure(30, 1)))
    rows = by_key(Subject(today=40, target_leg="right", ulcers=(ulcer,)))

    assert rows[("M1", "ULCER_HEALED", "A")].value == 1
    assert rows[("M1", "ULCER_AREA_MM2", "A")].source_ids == ("ulcer_closure:1",)


def test_amputations_count_from_day_0_in_the_target_leg() -> None:
    amputations = (
        AmputationEntry(-30, "right", False, "amputation_event:1"),  # before treatment: not an outcome
        AmputationEntry(50, "left", True, "amputation_event:2"),  # the other leg
        AmputationEntry(70, "right", True, "amputation_event:3"),
    )
    rows = by_key(Subject(today=100, target_leg="right", amputations=amputations))

    assert rows[("M1", "MINOR_AMPUTATION", "")].value == 0
    assert rows[("M2", "MAJOR_AMPUTATION", "")].value == 0  # window ends on day 67
    assert rows[("M3", "MAJOR_AMPUTATION", "")].value == 1
    assert rows[("M3", "MAJOR_AMPUTATION", "")].source_ids == ("amputation_event:3",)


def test_withdrawal_fills_every_unclosed_visit_with_missing_rows() -> None:
    subject = Subject(
        today=100, target_leg="right", withdrawn_day=60, pain=(pain(55, 4, 1), pain(56, 4, 2), pain(57, 4, 3))
    )

    rows = by_key(subject)

    assert {visit for visit, *_ in rows} == {"BASELINE", "M1", "M2", "M3", "M4", "M5", "M6"}
    assert rows[("M1", "REST_PAIN_NRS", "")].status == "missing"  # closed on day 37 with no diary
    assert rows[("M1", "REST_PAIN_NRS", "")].missing_reason == "insufficient_data"
    for visit in ("M2", "M3", "M6"):  # M2 (53..67) had not closed on day 60
        row = rows[(visit, "REST_PAIN_NRS", "")]
        assert (row.value, row.status, row.missing_reason) == (None, "missing", "withdrawn")


def test_a_drop_of_exactly_two_points_is_a_response_whatever_floats_say() -> None:
    # Baseline 9, 9, 8 (26/3) and month 1 7, 7, 6 (20/3): exactly 2 points lower, though
    # 26/3 − 20/3 in floats is 1.9999999999999991.
    base = (pain(-3, 9, 1), pain(-2, 9, 2), pain(-1, 8, 3))
    subject = Subject(today=40, target_leg="right", pain=(*base, pain(24, 7, 4), pain(25, 7, 5), pain(26, 6, 6)))

    rows = by_key(subject)

    assert rows[("M1", "REST_PAIN_RESPONDER", "")].value == 1
    assert rows[("M1", "REST_PAIN_CHANGE", "")].value == -2.0
