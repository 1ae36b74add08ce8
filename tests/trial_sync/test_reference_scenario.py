"""The reference scenario: the trial sync's endpoint rows for three participants over 200
days (tests/trial_sync/scenario.py tells their story), against values worked out by hand.

Every expected number below is written out with its arithmetic; none is computed by the
code under test or by a second implementation of its rules. The only inputs read back
from the application are record ids (for source_ids) and the area of the one photo whose
estimate the nurse accepted as it was (C's baseline photo, area X).

Day 0 is 1 March 2026 (Asia/Tehran). Windows (study days, inclusive) and their dates:
  BASELINE -14..0   2026-02-15..2026-03-01      M4 113..127   2026-06-22..2026-07-06
  DAY28     21..35  2026-03-22..2026-04-05      M5 143..157   2026-07-22..2026-08-05
  M1        23..37  2026-03-24..2026-04-07      M6 166..194   2026-08-14..2026-09-11
  M2        53..67  2026-04-23..2026-05-07
  M3        83..97  2026-05-23..2026-06-06
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.trial_sync.service import run_trial_sync
from backend.trial_sync.target import SqlTrialTarget
from tests.factories import Factory
from tests.trial_sync.scenario import ENROLLED, Scenario, at, build

STUDY = "PMSC-CLI-1"


class _Any:
    """Matches anything: columns the rules leave open (e.g. n of a change from baseline)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


@dataclass(frozen=True)
class Expect:
    status: str
    value: float | None
    reason: str | None = None
    n: Any = ANY


def fin(value: float, n: Any = ANY) -> Expect:
    return Expect("final", value, None, n)


def miss(reason: str, n: Any = ANY) -> Expect:
    return Expect("missing", None, reason, n)


def prov(value: float | None, n: Any = ANY, reason: str | None = None) -> Expect:
    return Expect("provisional", value, reason, n)


WITHDRAWN = miss("withdrawn")

# Window of every visit: (start day, end day, start date, end date). Dates by hand from
# day 0 = 1 March (day 30 = 31 March, day 61 = 1 May, day 92 = 1 June, day 122 = 1 July,
# day 153 = 1 August, day 184 = 1 September; February 2026 has 28 days).
WINDOWS = {
    "BASELINE": (-14, 0, date(2026, 2, 15), date(2026, 3, 1)),
    "DAY28": (21, 35, date(2026, 3, 22), date(2026, 4, 5)),
    "M1": (23, 37, date(2026, 3, 24), date(2026, 4, 7)),
    "M2": (53, 67, date(2026, 4, 23), date(2026, 5, 7)),
    "M3": (83, 97, date(2026, 5, 23), date(2026, 6, 6)),
    "M4": (113, 127, date(2026, 6, 22), date(2026, 7, 6)),
    "M5": (143, 157, date(2026, 7, 22), date(2026, 8, 5)),
    "M6": (166, 194, date(2026, 8, 14), date(2026, 9, 11)),
}

# The protocol's rule, version and unit of every endpoint (protocols/pmsc-cli-phase1.yaml).
RULES = {
    "REST_PAIN_NRS": ("window_mean_daily", "NRS"),
    "REST_PAIN_CHANGE": ("change_from_baseline", "NRS"),
    "REST_PAIN_RESPONDER": ("responder", None),
    "SIX_MWD_M": ("window_max", "m"),
    "SIX_MWD_CHANGE_M": ("change_from_baseline", "m"),
    "SIX_MWD_PCT_CHANGE": ("percent_change_from_baseline", "%"),
    "ULCER_AREA_MM2": ("closest_to_target", "mm2"),
    "ULCER_AREA_PCT_CHANGE": ("percent_change_from_baseline", "%"),
    "ULCER_AREA_REDUCTION_4W_GE50": ("area_reduction", None),
    "ULCER_HEALED": ("healed", None),
    "ULCER_HEALED_CONFIRMED": ("healed_confirmed", None),
    "DIARY_COMPLETION_PCT": ("diary_completion", "%"),
    "MAJOR_AMPUTATION": ("event_by_window_end", None),
    "MINOR_AMPUTATION": ("event_by_window_end", None),
}
PARTICIPANT_ENDPOINTS = [
    "REST_PAIN_NRS",
    "REST_PAIN_CHANGE",
    "REST_PAIN_RESPONDER",
    "SIX_MWD_M",
    "SIX_MWD_CHANGE_M",
    "SIX_MWD_PCT_CHANGE",
    "DIARY_COMPLETION_PCT",
    "MAJOR_AMPUTATION",
    "MINOR_AMPUTATION",
]
ULCER_ENDPOINTS = ["ULCER_AREA_MM2", "ULCER_AREA_PCT_CHANGE", "ULCER_HEALED", "ULCER_HEALED_CONFIRMED"]

Table = dict[tuple[str, str, str, str], Expect]  # (participant, visit, endpoint, ulcer label)


def table(who: str, label: str, by_endpoint: dict[str, dict[str, Expect]]) -> Table:
    return {
        (who, visit, endpoint, label): expect
        for endpoint, by_visit in by_endpoint.items()
        for visit, expect in by_visit.items()
    }


def zeros(visits: str, status: str = "final") -> dict[str, Expect]:
    return {visit: Expect(status, 0, None, None) for visit in visits.split()}


# ---------------------------------------------------------------------------------------
# Day 30, 21:30 in Tehran: the baseline has closed (day 0), M1 (23..37) and DAY28 (21..35)
# are open, so their rows are provisional and count days 23..30 (21..30) only.
# ---------------------------------------------------------------------------------------


def expected_on_day_30(x: float) -> Table:
    """`x`: C's baseline area (the accepted estimate of C's day -2 photo)."""
    expected = table(
        "A",
        "",
        {
            # days -5:7, -3:8 (the 09:00 5 was superseded by 20:00), -1:6 (grace), 0:7
            "REST_PAIN_NRS": {"BASELINE": fin((7 + 8 + 6 + 7) / 4, n=4), "M1": prov((5 + 4 + 4) / 3, n=3)},
            "REST_PAIN_CHANGE": {"M1": prov(13 / 3 - 7)},  # -8/3
            "REST_PAIN_RESPONDER": {"M1": prov(1)},  # 7 - 13/3 = 2.67 >= 2
            # -7:250, -2:280 (the clinic course 400 on day -1 is another instrument)
            "SIX_MWD_M": {"BASELINE": fin(280, n=2), "M1": prov(300, n=1)},
            "SIX_MWD_CHANGE_M": {"M1": prov(300 - 280)},
            "SIX_MWD_PCT_CHANGE": {"M1": prov(20 / 280 * 100)},  # 7.142857...
            # baseline: 4 days of 15; M1 so far: days 24, 27, 30 of the 8 days 23..30
            "DIARY_COMPLETION_PCT": {"BASELINE": fin(4 / 15 * 100, n=4), "M1": prov(3 / 8 * 100, n=3)},
            # the toe amputation of day -5 was before day 0: not an outcome
            "MAJOR_AMPUTATION": zeros("BASELINE") | zeros("M1", "provisional"),
            "MINOR_AMPUTATION": zeros("BASELINE") | zeros("M1", "provisional"),
        },
    )
    expected |= table(
        "A",
        "A",
        {
            # baseline: day -3 corrected to the 20 mm square = 400; M1 so far: day 26 (400,
            # 4 days from 30) and day 30 (200, on target); day 28 rejected, day 29 unreviewed
            "ULCER_AREA_MM2": {"BASELINE": fin(400), "M1": prov(200)},
            "ULCER_AREA_PCT_CHANGE": {"M1": prov(-50.0)},  # (200 - 400) / 400
            # closest to 28 in 21..30: days 26 and 30 tie (2 days each), the later wins:
            # (400 - 200) / 400 = 50 % >= 50 %
            "ULCER_AREA_REDUCTION_4W_GE50": {"DAY28": prov(1)},
            "ULCER_HEALED": {"BASELINE": fin(0), "M1": prov(0)},
            "ULCER_HEALED_CONFIRMED": {"BASELINE": fin(0), "M1": prov(0)},
        },
    )
    expected |= table(
        "B",
        "",
        {
            "REST_PAIN_NRS": {
                "BASELINE": fin((5 + 6 + 4) / 3, n=3),  # days -10, -6, -2
                "M1": prov(None, n=1, reason="insufficient_data"),  # day 25 only
            },
            "REST_PAIN_CHANGE": {"M1": prov(None, reason="insufficient_data")},
            "REST_PAIN_RESPONDER": {"M1": prov(None, reason="insufficient_data")},
            # M1 so far has only a clinic course test (500 m): not the protocol's phone_gps
            "SIX_MWD_M": {"BASELINE": fin(150, n=1), "M1": prov(None, n=0, reason="no_measurement")},
            "SIX_MWD_CHANGE_M": {"M1": prov(None, reason="no_measurement")},
            "SIX_MWD_PCT_CHANGE": {"M1": prov(None, reason="no_measurement")},
            "DIARY_COMPLETION_PCT": {"BASELINE": fin(3 / 15 * 100, n=3), "M1": prov(1 / 8 * 100, n=1)},
            "MAJOR_AMPUTATION": zeros("BASELINE") | zeros("M1", "provisional"),
            "MINOR_AMPUTATION": zeros("BASELINE") | zeros("M1", "provisional"),
        },
    )
    expected |= table(
        "B",
        "HEEL",
        {
            # closed on day -1 (area 0) at baseline; closed again on day 30
            "ULCER_AREA_MM2": {"BASELINE": fin(0), "M1": prov(0)},
            "ULCER_AREA_PCT_CHANGE": {"M1": prov(None, reason="baseline_zero")},
            "ULCER_AREA_REDUCTION_4W_GE50": {"DAY28": prov(None, reason="baseline_zero")},
            "ULCER_HEALED": {"BASELINE": fin(1), "M1": prov(1)},
            # -1 and 30 are 31 days apart, but the day-10 photo (100 mm2) lies between them
            "ULCER_HEALED_CONFIRMED": {"BASELINE": fin(0), "M1": prov(0)},
        },
    )
    expected |= table(
        "C",
        "",
        {
            "REST_PAIN_NRS": {
                "BASELINE": fin((6 + 6 + 9) / 3, n=3),  # days -3, -2, -1
                "M1": prov(None, n=2, reason="insufficient_data"),  # days 23 and 30 (22 is outside)
            },
            "REST_PAIN_CHANGE": {"M1": prov(None, reason="insufficient_data")},
            "REST_PAIN_RESPONDER": {"M1": prov(None, reason="insufficient_data")},
            "SIX_MWD_M": {"BASELINE": fin(300, n=1), "M1": prov(310, n=1)},
            "SIX_MWD_CHANGE_M": {"M1": prov(310 - 300)},
            "SIX_MWD_PCT_CHANGE": {"M1": prov(10 / 300 * 100)},  # 3.33...
            "DIARY_COMPLETION_PCT": {"BASELINE": fin(3 / 15 * 100, n=3), "M1": prov(2 / 8 * 100, n=2)},
            "MAJOR_AMPUTATION": zeros("BASELINE") | zeros("M1", "provisional"),
            "MINOR_AMPUTATION": zeros("BASELINE") | zeros("M1", "provisional"),
        },
    )
    expected |= table(
        "C",
        "A",
        {
            # baseline: the accepted estimate of day -2; nothing reviewed in 21..30 yet
            "ULCER_AREA_MM2": {"BASELINE": fin(x), "M1": prov(None, reason="no_measurement")},
            "ULCER_AREA_PCT_CHANGE": {"M1": prov(None, reason="no_measurement")},
            "ULCER_AREA_REDUCTION_4W_GE50": {"DAY28": prov(None, reason="no_measurement")},
            "ULCER_HEALED": {"BASELINE": fin(0), "M1": prov(0)},  # latest so far: day -2, x > 0
            "ULCER_HEALED_CONFIRMED": {"BASELINE": fin(0), "M1": prov(0)},
        },
    )
    return expected


# ---------------------------------------------------------------------------------------
# Day 200, 12:00: every window has closed (M6 on day 194). C withdrew on day 100.
# ---------------------------------------------------------------------------------------


def expected_on_day_200(x: float) -> Table:
    expected = table(
        "A",
        "",
        {
            "REST_PAIN_NRS": {
                "BASELINE": fin((7 + 8 + 6 + 7) / 4, n=4),  # 7.0
                "M1": fin((5 + 4 + 4 + 3) / 4, n=4),  # days 24, 27, 30, 33: 4.0
                "M2": fin((4 + 3 + 2) / 3, n=3),  # 55, 60, 65: 3.0
                "M3": fin((3 + 2 + 2 + 1) / 4, n=4),  # 85, 90, 95, 96: 2.0
                "M4": fin((2 + 2 + 1) / 3, n=3),  # 5/3
                "M5": fin((1 + 2 + 1) / 3, n=3),  # 4/3
                "M6": fin((1 + 0 + 1) / 3, n=3),  # 170, 180 (a 0 counts), 190: 2/3
            },
            "REST_PAIN_CHANGE": {
                "M1": fin(4 - 7),
                "M2": fin(3 - 7),
                "M3": fin(2 - 7),
                "M4": fin(5 / 3 - 7),
                "M5": fin(4 / 3 - 7),
                "M6": fin(2 / 3 - 7),
            },
            # every drop from 7 is at least 3 points
            "REST_PAIN_RESPONDER": {visit: fin(1) for visit in ("M1", "M2", "M3", "M4", "M5", "M6")},
            "SIX_MWD_M": {
                "BASELINE": fin(280, n=2),  # max(250, 280); not the clinic course's 400
                "M1": fin(300, n=1),
                "M2": fin(330, n=1),
                "M3": fin(350, n=1),
                "M4": fin(365, n=2),  # max(340, 365)
                "M5": fin(380, n=1),
                "M6": fin(420, n=1),
            },
            "SIX_MWD_CHANGE_M": {
                "M1": fin(300 - 280),
                "M2": fin(330 - 280),
                "M3": fin(350 - 280),
                "M4": fin(365 - 280),
                "M5": fin(380 - 280),
                "M6": fin(420 - 280),
            },
            "SIX_MWD_PCT_CHANGE": {
                "M1": fin(20 / 280 * 100),  # 7.142857...
                "M2": fin(50 / 280 * 100),  # 17.857142...
                "M3": fin(25.0),  # 70 / 280
                "M4": fin(85 / 280 * 100),  # 30.357142...
                "M5": fin(100 / 280 * 100),  # 35.714285...
                "M6": fin(50.0),  # 140 / 280
            },
            "DIARY_COMPLETION_PCT": {
                "BASELINE": fin(4 / 15 * 100, n=4),
                "M1": fin(4 / 15 * 100, n=4),
                "M2": fin(3 / 15 * 100, n=3),
                "M3": fin(4 / 15 * 100, n=4),
                "M4": fin(3 / 15 * 100, n=3),
                "M5": fin(3 / 15 * 100, n=3),
                "M6": fin(3 / 29 * 100, n=3),  # 166..194 is 29 days
            },
            # right toe on day -5 (before day 0), left toe on day 100 (not the target leg)
            "MAJOR_AMPUTATION": zeros("BASELINE M1 M2 M3 M4 M5 M6"),
            "MINOR_AMPUTATION": zeros("BASELINE M1 M2 M3 M4 M5 M6"),
        },
    )
    expected |= table(
        "A",
        "A",
        {
            "ULCER_AREA_MM2": {
                "BASELINE": fin(400),  # day -3, the square
                "M1": fin(200),  # day 30 (on target); day 26 (400) is 4 days off
                "M2": fin(100),  # day 58, a quarter of the square
                # day 85: the photo (100) and the closure (0) are equally far from 90; the
                # closure sorts after the photo on the same day, so it is the later one
                "M3": fin(0),
                "M4": fin(0),  # closure day 115
                "M5": miss("no_measurement"),
                "M6": miss("no_measurement"),
            },
            "ULCER_AREA_PCT_CHANGE": {
                "M1": fin(-50.0),  # (200 - 400) / 400
                "M2": fin(-75.0),  # (100 - 400) / 400
                "M3": fin(-100.0),
                "M4": fin(-100.0),
                "M5": miss("no_measurement"),
                "M6": miss("no_measurement"),
            },
            "ULCER_AREA_REDUCTION_4W_GE50": {"DAY28": fin(1)},  # day 30's 200 vs 400: exactly 50 %
            "ULCER_HEALED": {
                "BASELINE": fin(0),  # latest by day 0: day -3, 400
                "M1": fin(0),  # latest by day 37: day 30, 200
                "M2": fin(0),  # latest by day 67: day 58, 100
                "M3": fin(1),  # latest by day 97: the closure of day 85 (after that day's photo)
                "M4": fin(1),
                "M5": fin(1),  # latest by day 157: closure 115
                "M6": fin(1),
            },
            "ULCER_HEALED_CONFIRMED": {
                "BASELINE": fin(0),
                "M1": fin(0),
                "M2": fin(0),
                "M3": fin(0),  # one healed observation so far
                "M4": fin(1),  # closures 85 and 115: 30 >= 14 days apart, nothing between
                "M5": fin(1),
                "M6": fin(1),
            },
        },
    )
    expected |= table(
        "B",
        "",
        {
            "REST_PAIN_NRS": {
                "BASELINE": fin((5 + 6 + 4) / 3, n=3),  # 5.0
                "M1": miss("insufficient_data", n=2),  # days 25 and 32 only
                "M2": fin((5 + 5 + 4) / 3, n=3),  # 54, 60, 66: 14/3
                "M3": fin((6 + 6 + 7) / 3, n=3),  # 85, 86, 90: 19/3
                "M4": fin((5 + 5 + 5) / 3, n=3),  # 5.0
                "M5": miss("insufficient_data", n=0),  # no diary at all
                "M6": fin((4 + 4 + 4 + 3) / 4, n=4),  # 3.75
            },
            "REST_PAIN_CHANGE": {
                "M1": miss("insufficient_data"),
                "M2": fin(14 / 3 - 5),  # -1/3
                "M3": fin(19 / 3 - 5),  # +4/3
                "M4": fin(0.0),
                "M5": miss("insufficient_data"),
                "M6": fin(3.75 - 5),  # -1.25
            },
            "REST_PAIN_RESPONDER": {
                "M1": miss("insufficient_data"),
                "M2": fin(0),  # drop 1/3 point, 6.7 %
                "M3": fin(0),  # worse
                "M4": fin(0),  # no change
                "M5": miss("insufficient_data"),
                "M6": fin(0),  # drop 1.25 points (< 2), 1.25 / 5 = 25 % (< 30)
            },
            # n is the number of phone_gps tests counted, 0 where there are none (as the
            # diary's n is 0 in M5 below)
            "SIX_MWD_M": {
                "BASELINE": fin(150, n=1),
                "M1": miss("no_measurement", n=0),  # clinic course only
                "M2": fin(160, n=1),
                "M3": miss("no_measurement", n=0),  # no walk at all
                "M4": fin(120, n=1),
                "M5": miss("no_measurement", n=0),  # phone pedometer only
                "M6": fin(180, n=1),
            },
            "SIX_MWD_CHANGE_M": {
                "M1": miss("no_measurement"),
                "M2": fin(160 - 150),
                "M3": miss("no_measurement"),
                "M4": fin(120 - 150),
                "M5": miss("no_measurement"),
                "M6": fin(180 - 150),
            },
            "SIX_MWD_PCT_CHANGE": {
                "M1": miss("no_measurement"),
                "M2": fin(10 / 150 * 100),  # 6.67
                "M3": miss("no_measurement"),
                "M4": fin(-20.0),  # -30 / 150
                "M5": miss("no_measurement"),
                "M6": fin(20.0),  # 30 / 150
            },
            "DIARY_COMPLETION_PCT": {
                "BASELINE": fin(3 / 15 * 100, n=3),
                "M1": fin(2 / 15 * 100, n=2),
                "M2": fin(3 / 15 * 100, n=3),
                "M3": fin(3 / 15 * 100, n=3),
                "M4": fin(3 / 15 * 100, n=3),
                "M5": fin(0.0, n=0),
                "M6": fin(4 / 29 * 100, n=4),  # 13.79
            },
            # transtibial on day 140: after M4's end (127), by M5's (157)
            "MAJOR_AMPUTATION": zeros("BASELINE M1 M2 M3 M4") | {"M5": fin(1, n=None), "M6": fin(1, n=None)},
            "MINOR_AMPUTATION": zeros("BASELINE M1 M2 M3 M4 M5 M6"),  # the day-40 toe was voided
        },
    )
    expected |= table(
        "B",
        "HEEL",
        {
            "ULCER_AREA_MM2": {
                "BASELINE": fin(0),  # closure day -1
                "M1": fin(0),  # closure day 30
                "M2": fin(0),  # closure day 58
                "M3": miss("no_measurement"),
                "M4": miss("no_measurement"),
                "M5": miss("no_measurement"),
                "M6": miss("no_measurement"),
            },
            "ULCER_AREA_PCT_CHANGE": {
                "M1": miss("baseline_zero"),
                "M2": miss("baseline_zero"),
                "M3": miss("no_measurement"),  # the visit's own reason comes first
                "M4": miss("no_measurement"),
                "M5": miss("no_measurement"),
                "M6": miss("no_measurement"),
            },
            # day 30's closure (0) against a baseline of 0: no reduction can be computed
            "ULCER_AREA_REDUCTION_4W_GE50": {"DAY28": miss("baseline_zero")},
            "ULCER_HEALED": {visit: fin(1) for visit in ("BASELINE", "M1", "M2", "M3", "M4", "M5", "M6")},
            "ULCER_HEALED_CONFIRMED": {
                "BASELINE": fin(0),
                "M1": fin(0),  # -1 .. 30 is broken by the day-10 photo of 100 mm2
                "M2": fin(1),  # closures 30 and 58: 28 days apart, nothing between
                "M3": fin(1),
                "M4": fin(1),
                "M5": fin(1),
                "M6": fin(1),
            },
        },
    )
    expected |= table(
        "B",
        "TOE",
        {
            # first seen on day 50: rows from M2 (ends 67) on; none for BASELINE, M1, DAY28
            "ULCER_AREA_MM2": {
                "M2": fin(400),  # day 60 (day 62 rejected)
                "M3": miss("no_measurement"),
                "M4": miss("no_measurement"),
                "M5": fin(200),  # day 150
                "M6": miss("no_measurement"),
            },
            # no baseline observation: the baseline's reason
            "ULCER_AREA_PCT_CHANGE": {visit: miss("no_measurement") for visit in ("M2", "M3", "M4", "M5", "M6")},
            "ULCER_HEALED": {visit: fin(0) for visit in ("M2", "M3", "M4", "M5", "M6")},
            "ULCER_HEALED_CONFIRMED": {visit: fin(0) for visit in ("M2", "M3", "M4", "M5", "M6")},
        },
    )
    expected |= table(
        "C",
        "",
        {
            "REST_PAIN_NRS": {
                "BASELINE": fin((6 + 6 + 9) / 3, n=3),  # 7.0
                "M1": fin((4 + 5 + 3) / 3, n=3),  # days 23, 30, 37 (not 22, not 38): 4.0
                "M2": fin((6 + 6 + 6) / 3, n=3),
                "M3": fin((5 + 5 + 5) / 3, n=3),  # days 83, 90, 97
            },
            "REST_PAIN_CHANGE": {"M1": fin(4 - 7), "M2": fin(6 - 7), "M3": fin(5 - 7)},
            "REST_PAIN_RESPONDER": {
                "M1": fin(1),  # drop 3
                "M2": fin(0),  # drop 1, 14.3 %
                "M3": fin(1),  # drop exactly 2
            },
            "SIX_MWD_M": {"BASELINE": fin(300, n=1), "M1": fin(310, n=1), "M2": fin(290, n=1), "M3": fin(330, n=1)},
            "SIX_MWD_CHANGE_M": {"M1": fin(10), "M2": fin(-10), "M3": fin(30)},
            "SIX_MWD_PCT_CHANGE": {"M1": fin(10 / 300 * 100), "M2": fin(-10 / 300 * 100), "M3": fin(10.0)},
            "DIARY_COMPLETION_PCT": {visit: fin(3 / 15 * 100, n=3) for visit in ("BASELINE", "M1", "M2", "M3")},
            "MAJOR_AMPUTATION": zeros("BASELINE M1 M2 M3"),
            "MINOR_AMPUTATION": zeros("BASELINE M1 M2 M3"),
        },
    )
    expected |= table(
        "C",
        "A",
        {
            "ULCER_AREA_MM2": {
                "BASELINE": fin(x),  # day -2, accepted
                "M1": fin(400),  # day 33
                "M2": miss("no_measurement"),
                "M3": fin(200),  # day 90
            },
            "ULCER_AREA_PCT_CHANGE": {
                "M1": fin((400 - x) / x * 100),
                "M2": miss("no_measurement"),
                "M3": fin((200 - x) / x * 100),
            },
            # closest to 28 in 21..35: day 33's 400, larger than x: no reduction at all
            "ULCER_AREA_REDUCTION_4W_GE50": {"DAY28": fin(0)},
            "ULCER_HEALED": {visit: fin(0) for visit in ("BASELINE", "M1", "M2", "M3")},
            "ULCER_HEALED_CONFIRMED": {visit: fin(0) for visit in ("BASELINE", "M1", "M2", "M3")},
        },
    )
    # Withdrawn on day 100: M4 (ends 127), M5 and M6 end after it; M3 ended on day 97.
    withdrawn = {
        ("C", visit, endpoint, label): WITHDRAWN
        for visit in ("M4", "M5", "M6")
        for endpoint, label in [(e, "") for e in PARTICIPANT_ENDPOINTS] + [(e, "A") for e in ULCER_ENDPOINTS]
    }
    return expected | withdrawn


# ---------------------------------------------------------------------------------------


def read_rows(target: Engine, s: Scenario) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """The trial database's rows (plain SQL) by (A/B/C, visit, endpoint, ulcer label)."""
    who = {s.code(name): name for name in "ABC"}
    with target.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM endpoint_value"))]
    return {(who[r["subject_code"]], r["visit_code"], r["endpoint_code"], r["ulcer_label"]): r for r in rows}


def sources(row: dict[str, Any]) -> set[str]:
    raw = row["source_ids"]
    return set(json.loads(raw) if isinstance(raw, str) else raw or [])


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def mismatches(rows: dict[tuple[str, str, str, str], dict[str, Any]], expected: Table) -> list[str]:
    """Every difference between the rows and the expectations, all of them at once."""
    problems = []
    for key in sorted(set(expected) - set(rows)):
        problems.append(f"{key}: no row")
    for key in sorted(set(rows) - set(expected)):
        problems.append(f"{key}: unexpected row {rows[key]['status']} {rows[key]['value']}")
    for key in sorted(set(rows) & set(expected)):
        row, want = rows[key], expected[key]
        got = (row["status"], row["value"], row["missing_reason"], row["n"])
        value_ok = (
            row["value"] is None
            if want.value is None
            else row["value"] is not None and row["value"] == pytest.approx(want.value, rel=1e-9, abs=1e-9)
        )
        if not (
            value_ok and row["status"] == want.status and row["missing_reason"] == want.reason and row["n"] == want.n
        ):
            problems.append(f"{key}: got {got}, want {(want.status, want.value, want.reason, want.n)}")
        _, visit, endpoint, _ = key
        start, end, start_date, end_date = WINDOWS[visit]
        window = (row["window_start_day"], row["window_end_day"], as_date(row["window_start_date"]))
        if (*window, as_date(row["window_end_date"])) != (start, end, start_date, end_date):
            problems.append(f"{key}: window {window}, want {(start, end, start_date, end_date)}")
        rule, unit = RULES[endpoint]
        if (row["rule"], str(row["rule_version"]), row["unit"], row["study_code"]) != (rule, "1", unit, STUDY):
            problems.append(
                f"{key}: rule {row['rule']}/{row['rule_version']} unit {row['unit']} of {row['study_code']}"
            )
    return problems


def changed_keys(before: dict[Any, dict[str, Any]], after: dict[Any, dict[str, Any]]) -> set[Any]:
    def derived(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(v for k, v in sorted(row.items()) if k not in ("id", "sync_run_id", "updated_at"))

    return {key for key in after if key not in before or derived(after[key]) != derived(before[key])}


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(ENROLLED, tick=False) as traveller:
        yield traveller


def test_reference_scenario(
    make: Factory, db: Session, client: FlaskClient, clock: time_machine.Traveller, target: Engine
) -> None:
    s = build(make, db, client, clock)
    ids = s.ids

    # -- day 30: baseline closed, M1 and DAY28 open ------------------------------------
    s.play_until(at(30, "21:30"))
    x = s.areas[("C", "A", -2)]  # the accepted estimate of C's baseline photo
    # C's later photos (400, 200 mm2) are larger, whatever the estimator makes of it
    assert 0 < x < 200
    assert s.areas[("A", "A", -3)] == pytest.approx(400) and s.areas[("A", "A", 30)] == pytest.approx(200)

    first = run_trial_sync(db, SqlTrialTarget(target), at(30, "21:30"))

    rows = read_rows(target, s)
    # 22 rows each: BASELINE 5 (no change rows at baseline), M1 9, the ulcer's BASELINE 3
    # and M1 4, and DAY28 1; M2 has not opened (day 53)
    assert (first.inserted, first.updated, first.participants) == (66, 0, 3)
    assert len(rows) == 66
    assert mismatches(rows, expected_on_day_30(x)) == []
    assert sources(rows[("A", "M1", "REST_PAIN_NRS", "")]) == {
        f"pain_score:{ids[('A', 'pain', day, '20:00')]}" for day in (24, 27, 30)
    }
    day28 = sources(rows[("A", "DAY28", "ULCER_AREA_REDUCTION_4W_GE50", "A")])
    assert f"ulcer_photo:{ids[('A', 'A', 'photo', 30)]}" in day28
    assert {f"ulcer_photo:{ids[('A', 'A', 'photo', day)]}" for day in (26, 28, 29)}.isdisjoint(day28)

    # -- day 200: every window closed -------------------------------------------------
    s.play_until(at(200, "12:00"))

    second = run_trial_sync(db, SqlTrialTarget(target), at(200, "12:00"))

    rows = read_rows(target, s)
    expected = expected_on_day_200(x)
    # A 5 + 6 × 9 + ulcer (3 + 6 × 4 + 1) = 87; B 59 + HEEL 28 + TOE 5 × 4 = 107; C 87
    assert len(expected) == 281
    assert second.inserted == 281 - 66
    assert mismatches(rows, expected) == []
    assert sum(r["status"] == "missing" and r["missing_reason"] == "withdrawn" for r in rows.values()) == 39

    # source ids: the counted records, not the superseded, rejected, unreviewed or voided ones
    assert sources(rows[("A", "BASELINE", "REST_PAIN_NRS", "")]) == {
        f"pain_score:{ids[key]}"
        for key in [
            ("A", "pain", -5, "20:00"),
            ("A", "pain", -3, "20:00"),  # not the 09:00 version it superseded
            ("A", "pain", -1, "08:30"),  # entered in the next morning's grace time
            ("A", "pain", 0, "20:00"),
        ]
    }
    assert sources(rows[("C", "M1", "REST_PAIN_NRS", "")]) == {
        f"pain_score:{ids[('C', 'pain', day, '20:00')]}" for day in (23, 30, 37)
    }
    walks = sources(rows[("A", "BASELINE", "SIX_MWD_M", "")])
    assert f"walk_test:{ids[('A', 'walk', -2)]}" in walks and f"walk_test:{ids[('A', 'walk', -1)]}" not in walks
    assert f"walk_test:{ids[('A', 'walk', 124)]}" in sources(rows[("A", "M4", "SIX_MWD_M", "")])
    m3_area = sources(rows[("A", "M3", "ULCER_AREA_MM2", "A")])
    assert f"ulcer_closure:{ids[('A', 'A', 'closure', 85)]}" in m3_area
    assert f"ulcer_photo:{ids[('A', 'A', 'photo', 85)]}" not in m3_area
    assert f"ulcer_closure:{ids[('A', 'A', 'closure', 115)]}" in sources(
        rows[("A", "M4", "ULCER_HEALED_CONFIRMED", "A")]
    )
    assert f"ulcer_photo:{ids[('B', 'TOE', 'photo', 60)]}" in sources(rows[("B", "M2", "ULCER_AREA_MM2", "TOE")])
    transtibial = f"amputation_event:{ids[('B', 'amputation', 'transtibial')]}"
    assert sources(rows[("B", "M5", "MAJOR_AMPUTATION", "")]) == {transtibial}
    assert sources(rows[("B", "M4", "MAJOR_AMPUTATION", "")]) == set()
    assert sources(rows[("B", "M6", "MINOR_AMPUTATION", "")]) == set()  # the toe, voided
    assert sources(rows[("A", "M6", "MINOR_AMPUTATION", "")]) == set()  # before day 0; other leg

    # -- a second run with nothing new changes nothing ----------------------------------
    clock.move_to(at(200, "12:05"))
    again = run_trial_sync(db, SqlTrialTarget(target), at(200, "12:05"))
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)
    assert changed_keys(rows, read_rows(target, s)) == set()

    # -- staff corrections, with a reason ---------------------------------------------
    clock.move_to(at(200, "12:10"))
    walk_v2 = s.correct_walk("A", 180, 402)  # A's M6 walk: 420 → 402 m
    score_v2 = s.correct_score("B", 60, 1)  # B's M2 day-60 score: 5 → 1
    clock.move_to(at(200, "12:15"))

    corrected = run_trial_sync(db, SqlTrialTarget(target), at(200, "12:15"))

    after = read_rows(target, s)
    changed = changed_keys(rows, after)
    must_change = {
        ("A", "M6", "SIX_MWD_M", ""),
        ("A", "M6", "SIX_MWD_CHANGE_M", ""),
        ("A", "M6", "SIX_MWD_PCT_CHANGE", ""),
        ("B", "M2", "REST_PAIN_NRS", ""),
        ("B", "M2", "REST_PAIN_CHANGE", ""),
        ("B", "M2", "REST_PAIN_RESPONDER", ""),
    }
    # the diary day still has a (current) score, so completion may only re-point its sources
    assert must_change <= changed <= must_change | {("B", "M2", "DIARY_COMPLETION_PCT", "")}
    assert (corrected.inserted, corrected.removed) == (0, 0)
    assert corrected.updated == len(changed) > 0
    expected |= {
        ("A", "M6", "SIX_MWD_M", ""): fin(402, n=1),
        ("A", "M6", "SIX_MWD_CHANGE_M", ""): fin(402 - 280),  # 122
        ("A", "M6", "SIX_MWD_PCT_CHANGE", ""): fin(122 / 280 * 100),  # 43.571428...
        ("B", "M2", "REST_PAIN_NRS", ""): fin((5 + 1 + 4) / 3, n=3),  # 10/3
        ("B", "M2", "REST_PAIN_CHANGE", ""): fin(10 / 3 - 5),  # -5/3
        # drop 5/3 = 1.67 points (< 2) but 1.67 / 5 = 33 % (>= 30): a responder now
        ("B", "M2", "REST_PAIN_RESPONDER", ""): fin(1),
    }
    assert mismatches(after, expected) == []
    assert f"walk_test:{walk_v2}" in sources(after[("A", "M6", "SIX_MWD_M", "")])
    assert f"walk_test:{ids[('A', 'walk', 180)]}" not in sources(after[("A", "M6", "SIX_MWD_M", "")])
    assert sources(after[("B", "M2", "REST_PAIN_NRS", "")]) == {
        f"pain_score:{ids[('B', 'pain', 54, '20:00')]}",
        f"pain_score:{score_v2}",
        f"pain_score:{ids[('B', 'pain', 66, '20:00')]}",
    }

    # -- and once more: nothing to do, incrementally or deriving everyone ---------------
    clock.move_to(at(200, "12:20"))
    last = run_trial_sync(db, SqlTrialTarget(target), at(200, "12:20"))
    assert (last.inserted, last.updated, last.removed) == (0, 0, 0)
    full = run_trial_sync(db, SqlTrialTarget(target), at(200, "12:20"), full=True)
    assert (full.inserted, full.updated, full.removed) == (0, 0, 0)
    assert full.unchanged == 281
    assert changed_keys(after, read_rows(target, s)) == set()
