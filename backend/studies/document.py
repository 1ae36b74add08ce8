"""A protocol as typed, frozen values, built once from a validated protocol file.

`protocol.py` validates the YAML (and names every bad field); this module turns the
validated document into dataclasses, so the rest of the code reads `visit.start_day`
and `protocol.reminders.quiet_start` instead of ``["window"]["start"]`` lookups. The
stored document stays the record of what was loaded (and what its hash is of).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from backend.studies.timeline import VisitWindow


@dataclass(frozen=True)
class Visit(VisitWindow):
    label: str = ""
    injection: bool = False


@dataclass(frozen=True)
class Schedule:
    every: str  # day, week or visit
    from_day: int
    to_day: int

    def covers(self, number: int | None) -> bool:
        """Whether the assessment runs on study day `number` (always, while day 0 is unknown)."""
        return number is None or self.from_day <= number <= self.to_day


@dataclass(frozen=True)
class Assessment:
    task: str
    schedule: Schedule
    method: str | None = None


@dataclass(frozen=True)
class Message:
    title: str
    body: str


@dataclass(frozen=True)
class ReminderRules:
    default_time: time
    quiet_start: time
    quiet_end: time
    max_per_day: int
    follow_up_after: timedelta
    texts: Mapping[str, Mapping[str, Message]]  # kind -> language -> message


@dataclass(frozen=True)
class Marker:
    version: int
    side_mm: float
    margin_mm: float
    color_srgb: tuple[int, int, int]


@dataclass(frozen=True)
class EndpointRule:
    code: str
    family: str
    rule: str
    version: int
    unit: str | None
    per_ulcer: bool
    params: Mapping[str, Any]

    @property
    def own_window(self) -> VisitWindow | None:
        """The pseudo-visit of an endpoint measured once, at its own target day (e.g. DAY28)."""
        if "visit_code" not in self.params:
            return None
        start, end = self.params["window"]
        return VisitWindow(self.params["visit_code"], self.params["target_day"], start, end)


class CohortSpec(NamedTuple):
    code: str
    description: str


class SiteSpec(NamedTuple):
    code: str
    name: str
    timezone: str


@dataclass(frozen=True)
class StudyProtocol:
    """One loaded protocol version; `version_id` is its row (0 before it is stored)."""

    version: str
    study_code: str
    study_title: str
    registry_id: str | None
    languages: tuple[str, ...]
    default_language: str
    sites: tuple[SiteSpec, ...]
    cohorts: tuple[CohortSpec, ...]
    visits: tuple[Visit, ...]
    grace_until: time  # yesterday's diary may be filled until this local time
    assessments: tuple[Assessment, ...]
    reminders: ReminderRules
    marker: Marker
    endpoints: tuple[EndpointRule, ...]
    document: Mapping[str, Any] = field(compare=False, repr=False)
    version_id: int = 0

    def assessment(self, task: str) -> Assessment | None:
        """The assessment schedule of `task`, if the protocol has one."""
        for found in self.assessments:
            if found.task == task:
                return found
        return None

    def visit(self, code: str) -> Visit | None:
        return next((v for v in self.visits if v.code == code), None)

    def text(self, kind: str, language: str) -> Message | None:
        """The reminder text in `language`, else in the default language; None if the
        protocol has no text for the kind (it does not want that reminder)."""
        texts = self.reminders.texts.get(kind)
        if texts is None:
            return None
        return texts.get(language) or texts[self.default_language]


def _time(value: str) -> time:
    return time.fromisoformat(value)  # "HH:MM", checked by the schema


def build_protocol(document: Mapping[str, Any], version_id: int = 0) -> StudyProtocol:
    """The typed protocol of a document that `parse_protocol` validated."""
    reminders = document["reminders"]
    return StudyProtocol(
        version=document["version"],
        study_code=document["study"]["code"],
        study_title=document["study"]["title"],
        registry_id=document["study"].get("registry_id"),
        languages=tuple(document["languages"]),
        default_language=document["default_language"],
        sites=tuple(SiteSpec(s["code"], s["name"], s["timezone"]) for s in document["sites"]),
        cohorts=tuple(CohortSpec(c["code"], c["description"]) for c in document["cohorts"]),
        visits=tuple(
            Visit(
                code=v["code"],
                target_day=v["target_day"],
                start_day=v["window"]["start"],
                end_day=v["window"]["end"],
                label=v["label"],
                injection=v.get("injection", False),
            )
            for v in document["visits"]
        ),
        grace_until=_time(document["diary"]["grace_until"]),
        assessments=tuple(
            Assessment(a["task"], Schedule(**a["schedule"]), a.get("method")) for a in document["assessments"]
        ),
        reminders=ReminderRules(
            default_time=_time(reminders["default_time"]),
            quiet_start=_time(reminders["quiet_hours"]["start"]),
            quiet_end=_time(reminders["quiet_hours"]["end"]),
            max_per_day=reminders["max_per_day"],
            follow_up_after=timedelta(minutes=reminders["follow_up_after_minutes"]),
            texts=MappingProxyType(
                {
                    kind: MappingProxyType({lang: Message(m["title"], m["body"]) for lang, m in by_lang.items()})
                    for kind, by_lang in reminders["texts"].items()
                }
            ),
        ),
        marker=Marker(
            version=document["marker"]["version"],
            side_mm=float(document["marker"]["side_mm"]),
            margin_mm=float(document["marker"]["margin_mm"]),
            color_srgb=(
                document["marker"]["color_srgb"][0],
                document["marker"]["color_srgb"][1],
                document["marker"]["color_srgb"][2],
            ),
        ),
        endpoints=tuple(
            EndpointRule(
                code=e["code"],
                family=e["family"],
                rule=e["rule"],
                version=e["version"],
                unit=e.get("unit"),
                per_ulcer=e.get("per_ulcer", False),
                params=MappingProxyType(dict(e.get("params") or {})),
            )
            for e in document["endpoints"]
        ),
        document=MappingProxyType(dict(document)),
        version_id=version_id,
    )
