"""The protocol file format: the shipped demo is valid; bad files are refused field by field."""

from __future__ import annotations

import copy
from datetime import date, time, timedelta
from typing import Any

import pytest
import yaml

from backend.studies.document import build_protocol
from backend.studies.protocol import DEMO_PROTOCOL_PATH, ProtocolError, parse_protocol, read_protocol_file
from backend.studies.timeline import VisitDates


def demo() -> dict[str, Any]:
    return yaml.safe_load(DEMO_PROTOCOL_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def refused(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(document, allow_unicode=True))
    return info.value.lines


def test_the_demo_protocol_is_the_pmsc_cli_study() -> None:
    document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
    assert document["study"]["registry_id"] == "IRCT20210221050446N1"
    assert [c["code"] for c in document["cohorts"]] == ["LOW", "HIGH"]
    visits = {v["code"]: (v["target_day"], v["window"]["start"], v["window"]["end"]) for v in document["visits"]}
    assert visits == {
        "BASELINE": (0, -14, 0),
        "M1": (30, 23, 37),
        "M2": (60, 53, 67),
        "M3": (90, 83, 97),
        "M4": (120, 113, 127),
        "M5": (150, 143, 157),
        "M6": (180, 166, 194),
    }
    assert [v["code"] for v in document["visits"] if v["injection"]] == ["BASELINE", "M2"]
    assert document["marker"]["side_mm"] == 20.0
    assert set(document["reminders"]["texts"]["rest_pain_diary"]) == {"en", "fa", "zh"}
    assert len(sha256) == 64


def test_a_missing_visit_window_is_named() -> None:
    document = demo()
    del document["visits"][2]["window"]
    assert refused(document) == ["visits.2.window: Missing data for required field."]


def test_a_window_missing_its_end_is_named() -> None:
    document = demo()
    del document["visits"][1]["window"]["end"]
    assert refused(document) == ["visits.1.window.end: Missing data for required field."]


def test_a_target_day_outside_its_window_is_refused() -> None:
    document = demo()
    document["visits"][1]["target_day"] = 40
    assert refused(document) == ["visits.1.target_day: target_day must lie inside the window."]


def test_unknown_fields_duplicates_and_bad_zones_are_all_reported() -> None:
    document = demo()
    document["sites"][1]["timezone"] = "Asia/Atlantis"
    document["visits"].append(copy.deepcopy(document["visits"][0]))
    document["colour"] = "blue"
    lines = refused(document)
    assert "sites.1.timezone: Unknown IANA time zone 'Asia/Atlantis'." in lines
    assert "colour: Unknown field." in lines


def test_duplicate_visit_codes_are_refused() -> None:
    document = demo()
    document["visits"].append(copy.deepcopy(document["visits"][0]))
    assert refused(document) == ["visits: Duplicate code(s): BASELINE."]


def test_reminder_texts_need_the_default_language() -> None:
    document = demo()
    del document["reminders"]["texts"]["visit_tomorrow"]["en"]
    assert refused(document) == ["reminders.texts: visit_tomorrow has no text in the default language 'en'."]


def test_an_unquoted_time_is_refused_with_a_hint() -> None:
    document = demo()
    document["diary"]["grace_until"] = 600  # what YAML 1.1 makes of an unquoted 10:00
    assert refused(document) == ["diary.grace_until: Not a valid string."]


@pytest.mark.parametrize("text", ["[1, 2", "- just\n- a list\n"])
def test_files_that_are_not_a_protocol_mapping_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_protocol(text)


def endpoint(document: dict[str, Any], code: str) -> dict[str, Any]:
    return next(e for e in document["endpoints"] if e["code"] == code)


def test_an_endpoints_parameters_must_fit_its_rule() -> None:
    document = demo()
    endpoint(document, "REST_PAIN_RESPONDER")["params"] = {"of": "REST_PAIN_NRS", "min_drop": "two"}
    endpoint(document, "SIX_MWD_M")["params"] = {}  # a walk series must name its instrument
    endpoint(document, "MAJOR_AMPUTATION")["params"]["colour"] = "red"

    lines = refused(document)

    assert "endpoints.2.params: min_drop must be a number." in lines
    assert "endpoints.2.params: min_drop_pct must be a number." in lines
    assert any(line.startswith("endpoints.3.params: method must be one of clinic_course") for line in lines)
    assert "endpoints.12.params: colour is not a parameter of event_by_window_end." in lines


def test_a_change_must_be_of_an_endpoint_of_the_protocol() -> None:
    document = demo()
    endpoint(document, "REST_PAIN_CHANGE")["params"]["of"] = "REST_PAIN_VAS"
    endpoint(document, "ULCER_AREA_PCT_CHANGE")["params"]["of"] = "SIX_MWD_M"  # not per ulcer

    assert refused(document) == [
        "endpoints: REST_PAIN_CHANGE: params.of must name an endpoint of this protocol (per ulcer alike).",
        "endpoints: ULCER_AREA_PCT_CHANGE: params.of must name an endpoint of this protocol (per ulcer alike).",
    ]


def test_the_demo_protocol_reads_as_typed_values() -> None:
    protocol = build_protocol(read_protocol_file(DEMO_PROTOCOL_PATH)[0])
    m6 = protocol.visits[-1]
    assert (m6.code, m6.label, m6.target_day, m6.start_day, m6.end_day, m6.injection) == (
        "M6",
        "Month 6",
        180,
        166,
        194,
        False,
    )
    assert [v.code for v in protocol.visits if v.injection] == ["BASELINE", "M2"]
    # Day 0 on 1 March 2026: M1's window is study days 23-37, 24 March to 7 April.
    assert protocol.visits[1].dates(date(2026, 3, 1)) == VisitDates(
        "M1", date(2026, 3, 31), date(2026, 3, 24), date(2026, 4, 7)
    )
    assert protocol.grace_until == time(10, 0)
    rules = protocol.reminders
    assert (rules.default_time, rules.quiet_start, rules.quiet_end) == (time(20, 0), time(22, 0), time(8, 0))
    assert (rules.max_per_day, rules.follow_up_after) == (3, timedelta(minutes=90))
    walk = protocol.assessment("six_minute_walk")
    assert walk is not None and walk.method == "phone_gps"
    assert (walk.schedule.covers(-14), walk.schedule.covers(194), walk.schedule.covers(195)) == (True, True, False)
    assert protocol.assessment("no_such_task") is None
    assert protocol.text("ulcer_photo", "ar") == protocol.text("ulcer_photo", "en")  # the default language
    assert protocol.text("visit_tomorrow", "fa") is not None
    assert (protocol.marker.side_mm, protocol.marker.margin_mm, protocol.marker.color_srgb) == (
        20.0,
        5.0,
        (20, 70, 200),
    )
    assert [e.code for e in protocol.endpoints][:2] == ["REST_PAIN_NRS", "REST_PAIN_CHANGE"]
