"""The protocol file format (YAML), validated by marshmallow.

A protocol file is the single description of a study's schedule: visits and windows,
cohorts, sites, the assessment schedule, reminder texts per language, the calibration
marker, and the endpoint derivation rules the weekly sync applies. Errors name the field
by its path, e.g. ``visits.2.window.end: Missing data for required field.``
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from backend.core.timeutil import is_valid_timezone

FORMAT_VERSION = 1
TASKS = ("rest_pain_diary", "six_minute_walk", "ulcer_photo", "symptom_check")
REMINDER_KINDS = ("rest_pain_diary", "six_minute_walk", "ulcer_photo", "visit_tomorrow", "injection_day")
WALK_METHODS = ("clinic_course", "home_course", "phone_pedometer", "phone_gps")
ENDPOINT_FAMILIES = ("rest_pain", "walk", "ulcer", "diary", "amputation")
ENDPOINT_RULES = (
    "window_mean_daily",
    "change_from_baseline",
    "percent_change_from_baseline",
    "responder",
    "window_max",
    "closest_to_target",
    "area_reduction",
    "healed",
    "healed_confirmed",
    "diary_completion",
    "event_by_window_end",
)
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
_CODE = validate.Regexp(CODE_PATTERN, error="Use 1-32 capital letters, digits, '-' or '_'.")
LOCAL_TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"  # HH:MM, 24-hour: protocol files and the API alike
_LOCAL_TIME = validate.Regexp(LOCAL_TIME_PATTERN, error="Use HH:MM (24-hour, quoted in YAML).")
_LANG = validate.Regexp(r"^[a-z]{2}$", error="Use a two-letter ISO 639-1 code.")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class StudyInfoSchema(_Strict):
    code = fields.String(required=True, validate=_CODE)
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    registry_id = fields.String(load_default=None, validate=validate.Length(max=100))


class SiteSchema(_Strict):
    code = fields.String(required=True, validate=_CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    timezone = fields.String(required=True)

    @validates("timezone")
    def _known_zone(self, value: str, **_: Any) -> None:
        if not is_valid_timezone(value):
            raise ValidationError(f"Unknown IANA time zone {value!r}.")


class CohortSchema(_Strict):
    code = fields.String(required=True, validate=_CODE)
    description = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class _DayRange(_Strict):
    """Two study days, the first not after the last (`FIRST`, `LAST` name the fields)."""

    FIRST = "start"
    LAST = "end"

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data[self.FIRST] > data[self.LAST]:
            raise ValidationError(f"{self.FIRST} must not be after {self.LAST}.", self.FIRST)


class WindowSchema(_DayRange):
    start = fields.Integer(required=True, strict=True)
    end = fields.Integer(required=True, strict=True)


class VisitSchema(_Strict):
    code = fields.String(required=True, validate=_CODE)
    label = fields.String(required=True, validate=validate.Length(min=1, max=200))
    target_day = fields.Integer(required=True, strict=True)
    window = fields.Nested(WindowSchema, required=True)
    injection = fields.Boolean(load_default=False)

    @validates_schema
    def _target_in_window(self, data: dict[str, Any], **_: Any) -> None:
        window = data["window"]
        if not window["start"] <= data["target_day"] <= window["end"]:
            raise ValidationError("target_day must lie inside the window.", "target_day")


class ScheduleSchema(_DayRange):
    FIRST = "from_day"
    LAST = "to_day"

    every = fields.String(required=True, validate=validate.OneOf(("day", "week", "visit")))
    from_day = fields.Integer(required=True, strict=True)
    to_day = fields.Integer(required=True, strict=True)


class AssessmentSchema(_Strict):
    task = fields.String(required=True, validate=validate.OneOf(TASKS))
    schedule = fields.Nested(ScheduleSchema, required=True)
    method = fields.String(load_default=None, validate=validate.OneOf(WALK_METHODS))


class DiarySchema(_Strict):
    # Yesterday's diary may still be filled until this local time the next morning.
    grace_until = fields.String(required=True, validate=_LOCAL_TIME)


class MessageSchema(_Strict):
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    body = fields.String(required=True, validate=validate.Length(min=1, max=300))


class QuietHoursSchema(_Strict):
    start = fields.String(required=True, validate=_LOCAL_TIME)
    end = fields.String(required=True, validate=_LOCAL_TIME)


class RemindersSchema(_Strict):
    default_time = fields.String(required=True, validate=_LOCAL_TIME)
    quiet_hours = fields.Nested(QuietHoursSchema, required=True)
    max_per_day = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10))
    follow_up_after_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=15, max=720))
    texts = fields.Dict(
        keys=fields.String(validate=validate.OneOf(REMINDER_KINDS)),
        values=fields.Dict(keys=fields.String(validate=_LANG), values=fields.Nested(MessageSchema)),
        required=True,
    )


class MarkerSchema(_Strict):
    version = fields.Integer(required=True, strict=True, validate=validate.Equal(1))
    side_mm = fields.Float(required=True, validate=validate.Range(min=5, max=100))
    margin_mm = fields.Float(required=True, validate=validate.Range(min=0, max=50))
    color_srgb = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=0, max=255)),
        required=True,
        validate=validate.Length(equal=3),
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _day_window(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and value[0] <= value[1]
    )


# What each derivation rule needs in `params` (the weekly sync reads them), and a check of
# each value; `of` names another endpoint of the same protocol.
RULE_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "window_mean_daily": {"min_n": ("a whole number ≥ 1", lambda v: isinstance(v, int) and v >= 1)},
    "change_from_baseline": {"of": ("an endpoint code", lambda v: isinstance(v, str))},
    "percent_change_from_baseline": {"of": ("an endpoint code", lambda v: isinstance(v, str))},
    "responder": {
        "of": ("an endpoint code", lambda v: isinstance(v, str)),
        "min_drop": ("a number", _number),
        "min_drop_pct": ("a number", _number),
    },
    "window_max": {"method": (f"one of {', '.join(WALK_METHODS)}", lambda v: v in WALK_METHODS)},
    "closest_to_target": {
        "reviewed_only": ("true (only a nurse's reviewed area is a measurement)", lambda v: v is True)
    },
    "area_reduction": {
        # the baseline's endpoint; ULCER_AREA_MM2 when not given
        "of?": ("an endpoint code", lambda v: isinstance(v, str)),
        "visit_code": ("a visit code", lambda v: isinstance(v, str) and re.match(CODE_PATTERN, v) is not None),
        "target_day": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
        "window": ("[start, end] study days", _day_window),
        "min_reduction_pct": ("a number", _number),
    },
    "healed": {},
    "healed_confirmed": {"min_days_apart": ("a whole number ≥ 1", lambda v: isinstance(v, int) and v >= 1)},
    "diary_completion": {},
    "event_by_window_end": {"level": ("major or minor", lambda v: v in ("major", "minor"))},
}


class EndpointSchema(_Strict):
    code = fields.String(required=True, validate=_CODE)
    family = fields.String(required=True, validate=validate.OneOf(ENDPOINT_FAMILIES))
    rule = fields.String(required=True, validate=validate.OneOf(ENDPOINT_RULES))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = fields.String(load_default=None, validate=validate.Length(max=32))
    per_ulcer = fields.Boolean(load_default=False)
    params = fields.Dict(keys=fields.String(), load_default=dict)

    @validates_schema
    def _params_fit_the_rule(self, data: dict[str, Any], **_: Any) -> None:
        needed = {key.rstrip("?"): (key.endswith("?"), *check) for key, check in RULE_PARAMS[data["rule"]].items()}
        given = data["params"]
        problems = [
            f"{name} must be {what}."
            for name, (optional, what, ok) in needed.items()
            if (name in given and not ok(given[name])) or (name not in given and not optional)
        ]
        problems += [f"{name} is not a parameter of {data['rule']}." for name in given if name not in needed]
        if problems:
            raise ValidationError(problems, "params")


class ProtocolSchema(_Strict):
    format = fields.Integer(required=True, strict=True, validate=validate.Equal(FORMAT_VERSION))
    version = fields.String(required=True, validate=validate.Regexp(r"^\d+(\.\d+){0,2}$"))
    study = fields.Nested(StudyInfoSchema, required=True)
    languages = fields.List(fields.String(validate=_LANG), required=True, validate=validate.Length(min=1))
    default_language = fields.String(required=True, validate=_LANG)
    sites = fields.List(fields.Nested(SiteSchema), required=True, validate=validate.Length(min=1))
    cohorts = fields.List(fields.Nested(CohortSchema), required=True, validate=validate.Length(min=1))
    visits = fields.List(fields.Nested(VisitSchema), required=True, validate=validate.Length(min=1))
    diary = fields.Nested(DiarySchema, required=True)
    assessments = fields.List(fields.Nested(AssessmentSchema), required=True)
    reminders = fields.Nested(RemindersSchema, required=True)
    marker = fields.Nested(MarkerSchema, required=True)
    endpoints = fields.List(fields.Nested(EndpointSchema), required=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        for key in ("sites", "cohorts", "visits", "endpoints"):
            codes = [item["code"] for item in data[key]]
            duplicates = sorted({c for c in codes if codes.count(c) > 1})
            if duplicates:
                errors.setdefault(key, []).append(f"Duplicate code(s): {', '.join(duplicates)}.")
        by_code = {e["code"]: e for e in data["endpoints"]}
        for endpoint in data["endpoints"]:
            of = endpoint["params"].get("of")
            if of is not None and (of not in by_code or by_code[of]["per_ulcer"] != endpoint["per_ulcer"]):
                errors.setdefault("endpoints", []).append(
                    f"{endpoint['code']}: params.of must name an endpoint of this protocol (per ulcer alike)."
                )
        if data["default_language"] not in data["languages"]:
            errors.setdefault("default_language", []).append("Must be one of languages.")
        for kind, by_language in data["reminders"]["texts"].items():
            if data["default_language"] not in by_language:
                errors.setdefault("reminders.texts", []).append(
                    f"{kind} has no text in the default language {data['default_language']!r}."
                )
            unknown = sorted(set(by_language) - set(data["languages"]))
            if unknown:
                errors.setdefault("reminders.texts", []).append(f"{kind} has texts in undeclared languages {unknown}.")
        if errors:
            raise ValidationError(errors)


def flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested messages into ``path.to.field: message`` lines."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and key != "_schema" else (prefix or str(key))
            lines.extend(flatten_errors(value, path))
        return lines
    if isinstance(messages, list):
        return [f"{prefix}: {m}" if prefix else str(m) for m in messages if not isinstance(m, dict | list)] + [
            line for m in messages if isinstance(m, dict | list) for line in flatten_errors(m, prefix)
        ]
    return [f"{prefix}: {messages}"]


class ProtocolError(ValueError):
    """The protocol file is not valid; `lines` name each bad field."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("invalid protocol file:\n  " + "\n  ".join(lines))
        self.lines = lines


def parse_protocol(text: str) -> dict[str, Any]:
    """Parse and validate protocol YAML; return the normalised document."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError([f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ProtocolError(["the file must hold a mapping at its top level"])
    try:
        return ProtocolSchema().load(raw)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ProtocolError(flatten_errors(exc.messages)) from exc


def read_protocol_file(path: Path) -> tuple[dict[str, Any], str]:
    """Read, validate and fingerprint a protocol file."""
    document = parse_protocol(path.read_text(encoding="utf-8"))
    return document, document_sha256(document)


def document_sha256(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


DEMO_PROTOCOL_PATH = Path(__file__).resolve().parent.parent.parent / "protocols" / "pmsc-cli-phase1.yaml"
