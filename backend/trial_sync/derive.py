"""Endpoint derivations: one participant's records in, endpoint rows out.

Pure functions of plain data (no database, no clock), so a derivation can be read next to
docs/design.md's rules and tested by hand. Days are study days (local date − day 0); `today`
is the study day of the run in the participant's zone. Each protocol endpoint names its
rule and version; a rule changes meaning only under a new version.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from backend.studies.document import EndpointRule
from backend.studies.timeline import VisitWindow

FINAL, PROVISIONAL, MISSING = "final", "provisional", "missing"
INSUFFICIENT, NO_MEASUREMENT, WITHDRAWN, BASELINE_ZERO = (
    "insufficient_data",
    "no_measurement",
    "withdrawn",
    "baseline_zero",
)

# Rules that compare a visit with the baseline visit: no row at the baseline itself.
FROM_BASELINE = frozenset({"change_from_baseline", "percent_change_from_baseline", "responder", "area_reduction"})


Window = VisitWindow  # a visit of the protocol, or a pseudo-visit an endpoint defines (e.g. DAY28)
Endpoint = EndpointRule  # an endpoint of the protocol and its derivation rule


@dataclass(frozen=True)
class Observation:
    """One source record's value on a study day; `source` is "table:id"."""

    day: int
    value: float
    source: str


@dataclass(frozen=True)
class PainEntry:
    day: int  # of the diary date
    recorded_at: Any  # comparable (a datetime); the latest of a day counts
    score: int
    id: int

    @property
    def source(self) -> str:
        return f"pain_score:{self.id}"


@dataclass(frozen=True)
class WalkEntry:
    day: int
    method: str
    distance_m: float
    source: str


@dataclass(frozen=True)
class UlcerRecord:
    label: str
    first_seen_day: int
    # Reviewed photos (their reviewed area) and closures (area 0), in day order; a closure
    # sorts after a photo of the same day.
    observations: tuple[Observation, ...]


@dataclass(frozen=True)
class AmputationEntry:
    day: int
    leg: str
    major: bool
    source: str


@dataclass(frozen=True)
class Subject:
    today: int
    target_leg: str
    withdrawn_day: int | None = None
    pain: tuple[PainEntry, ...] = ()
    walks: tuple[WalkEntry, ...] = ()
    ulcers: tuple[UlcerRecord, ...] = ()
    amputations: tuple[AmputationEntry, ...] = ()


@dataclass(frozen=True)
class Row:
    visit_code: str
    endpoint_code: str
    ulcer_label: str
    family: str
    value: float | None
    unit: str | None
    n: int | None
    window_start_day: int
    window_end_day: int
    rule: str
    rule_version: int
    source_ids: tuple[str, ...]
    status: str
    missing_reason: str | None


@dataclass(frozen=True)
class Result:
    """What a rule found in a window so far: a value, or why there is none. `exact` keeps
    a mean of integer scores as a fraction, so that comparisons with it are exact (in
    floats 26/3 − 20/3 is 1.9999999999999991, which would miss a 2-point drop)."""

    value: float | None
    n: int | None = None
    sources: tuple[str, ...] = ()
    reason: str | None = None
    exact: Fraction | None = None

    @property
    def number(self) -> Fraction:
        assert self.value is not None
        return self.exact if self.exact is not None else Fraction(self.value)


def _param(endpoint: Endpoint, name: str) -> Fraction:
    """A threshold from the protocol, read as the decimal it was written as."""
    return Fraction(str(endpoint.params[name]))


def _none(reason: str, n: int | None = None) -> Result:
    return Result(None, n, (), reason)


@dataclass
class _Context:
    subject: Subject
    baseline: Window
    # Results already derived, by (endpoint code, visit code, ulcer label).
    results: dict[tuple[str, str, str], Result] = field(default_factory=dict)
    # The score that counts for each diary day (the latest recorded), found once.
    diary: dict[int, PainEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.subject.pain:
            kept = self.diary.get(entry.day)
            if kept is None or (entry.recorded_at, entry.id) > (kept.recorded_at, kept.id):
                self.diary[entry.day] = entry


def derive(subject: Subject, visits: Sequence[Window], endpoints: Sequence[Endpoint]) -> list[Row]:
    """Every endpoint row of one participant as of `subject.today`."""
    baseline = min(visits, key=lambda v: v.target_day)
    ctx = _Context(subject, baseline)
    rows: list[Row] = []
    # Rules that read other endpoints' results run after the ones they read.
    for endpoint in sorted(endpoints, key=lambda e: e.rule in FROM_BASELINE):
        own = endpoint.own_window
        windows = (
            [own] if own is not None else [v for v in visits if v != baseline or endpoint.rule not in FROM_BASELINE]
        )
        for window in windows:
            if not _has_rows(subject, window):
                continue
            labels = (
                [u.label for u in subject.ulcers if u.first_seen_day <= window.end_day] if endpoint.per_ulcer else [""]
            )
            for label in labels:
                result = _result(ctx, endpoint, window, label)
                ctx.results[(endpoint.code, window.code, label)] = result
                rows.append(_row(subject, endpoint, window, label, result))
    return rows


def _has_rows(subject: Subject, window: Window) -> bool:
    """A visit has rows once its window opened, and a withdrawal fills in the rest."""
    return subject.today >= window.start_day or _withdrawn_before_close(subject, window)


def _withdrawn_before_close(subject: Subject, window: Window) -> bool:
    return subject.withdrawn_day is not None and window.end_day >= subject.withdrawn_day


def _result(ctx: _Context, endpoint: Endpoint, window: Window, label: str) -> Result:
    if _withdrawn_before_close(ctx.subject, window):
        return _none(WITHDRAWN)
    return RULES[endpoint.rule](ctx, endpoint, window, label)


def _row(subject: Subject, endpoint: Endpoint, window: Window, label: str, result: Result) -> Row:
    if result.reason == WITHDRAWN:
        status = MISSING
    elif subject.today <= window.end_day:
        status = PROVISIONAL
    else:
        status = FINAL if result.value is not None else MISSING
    return Row(
        visit_code=window.code,
        endpoint_code=endpoint.code,
        ulcer_label=label,
        family=endpoint.family,
        value=result.value,
        unit=endpoint.unit,
        n=result.n,
        window_start_day=window.start_day,
        window_end_day=window.end_day,
        rule=endpoint.rule,
        rule_version=endpoint.version,
        source_ids=result.sources,
        status=status,
        missing_reason=None if result.value is not None else result.reason,
    )


def _last_day(ctx: _Context, window: Window) -> int:
    """The window's end, or today while it is still open."""
    return min(window.end_day, ctx.subject.today)


def _in_window(ctx: _Context, window: Window, day: int) -> bool:
    return window.start_day <= day <= _last_day(ctx, window)


def _daily_scores(ctx: _Context, window: Window) -> dict[int, PainEntry]:
    """One score per diary day of the window so far: the latest recorded."""
    found = (ctx.diary.get(day) for day in range(window.start_day, _last_day(ctx, window) + 1))
    return {entry.day: entry for entry in found if entry is not None}


def window_mean_daily(ctx: _Context, endpoint: Endpoint, window: Window, _label: str) -> Result:
    days = _daily_scores(ctx, window)
    n = len(days)
    sources = tuple(days[d].source for d in sorted(days))
    if n < endpoint.params.get("min_n", 1):
        return Result(None, n, sources, INSUFFICIENT)
    mean = Fraction(sum(e.score for e in days.values()), n)
    return Result(float(mean), n, sources, exact=mean)


def diary_completion(ctx: _Context, _endpoint: Endpoint, window: Window, _label: str) -> Result:
    days = _daily_scores(ctx, window)
    so_far = _last_day(ctx, window) - window.start_day + 1
    return Result(len(days) / so_far * 100, len(days), tuple(days[d].source for d in sorted(days)))


def window_max(ctx: _Context, endpoint: Endpoint, window: Window, _label: str) -> Result:
    method = endpoint.params.get("method")
    tests = [w for w in ctx.subject.walks if _in_window(ctx, window, w.day) and (method is None or w.method == method)]
    if not tests:
        return _none(NO_MEASUREMENT, 0)
    tests.sort(key=lambda w: (w.day, w.source))
    return Result(max(w.distance_m for w in tests), len(tests), tuple(w.source for w in tests))


def _ulcer(ctx: _Context, label: str) -> UlcerRecord:
    return next(u for u in ctx.subject.ulcers if u.label == label)


def _closest(ctx: _Context, window: Window, label: str) -> Observation | None:
    """The observation in the window closest to its target day; the later one on a tie."""
    candidates = [o for o in _ulcer(ctx, label).observations if _in_window(ctx, window, o.day)]
    if not candidates:
        return None
    # Observations are in day order, so among equals max() must prefer the last: compare
    # the negated distance and then the position.
    best = max(enumerate(candidates), key=lambda pair: (-abs(pair[1].day - window.target_day), pair[0]))
    return best[1]


def closest_to_target(ctx: _Context, _endpoint: Endpoint, window: Window, label: str) -> Result:
    found = _closest(ctx, window, label)
    if found is None:
        return _none(NO_MEASUREMENT, 0)
    return Result(found.value, 1, (found.source,))


def healed(ctx: _Context, _endpoint: Endpoint, window: Window, label: str) -> Result:
    seen = [o for o in _ulcer(ctx, label).observations if o.day <= _last_day(ctx, window)]
    if not seen:
        return _none(NO_MEASUREMENT, 0)
    latest = seen[-1]
    return Result(1.0 if latest.value == 0 else 0.0, 1, (latest.source,))


def healed_confirmed(ctx: _Context, endpoint: Endpoint, window: Window, label: str) -> Result:
    """Healed at two reviews at least `min_days_apart` apart with no open wound seen in
    between (FDA: complete closure confirmed at two visits two weeks apart)."""
    seen = [o for o in _ulcer(ctx, label).observations if o.day <= _last_day(ctx, window)]
    if not seen:
        return _none(NO_MEASUREMENT, 0)
    apart = endpoint.params.get("min_days_apart", 14)
    run: list[Observation] = []
    for observation in seen:
        if observation.value != 0:
            run = []
            continue
        run.append(observation)
        if observation.day - run[0].day >= apart:
            return Result(1.0, len(run), tuple(o.source for o in run))
    return Result(0.0, len(seen), tuple(o.source for o in seen))


def event_by_window_end(ctx: _Context, endpoint: Endpoint, window: Window, _label: str) -> Result:
    major = endpoint.params["level"] == "major"
    events = [
        a
        for a in ctx.subject.amputations
        if a.leg == ctx.subject.target_leg and a.major == major and 0 <= a.day <= _last_day(ctx, window)
    ]
    return Result(1.0 if events else 0.0, None, tuple(a.source for a in sorted(events, key=lambda a: a.day)))


def _compared(ctx: _Context, endpoint: Endpoint, window: Window, label: str, of: str) -> tuple[Result, Result]:
    """The visit's and the baseline's results; an ulcer first seen after the baseline
    window has no baseline measurement."""
    base = ctx.results.get((of, ctx.baseline.code, label), _none(NO_MEASUREMENT))
    return ctx.results[(of, window.code, label)], base


def _both(visit: Result, base: Result) -> Result | None:
    """None when both have values; otherwise the missing result, naming the visit's
    reason first."""
    if visit.value is None:
        return _none(visit.reason or NO_MEASUREMENT)
    if base.value is None:
        return _none(base.reason or NO_MEASUREMENT)
    return None


def _sources(*results: Result) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for r in results for s in r.sources))


def _against_baseline(compare: Callable[[Endpoint, Result, Result], Result]) -> Rule:
    """A rule that compares the visit's value of the endpoint named `of` with its baseline
    value; missing when either is."""

    def rule(ctx: _Context, endpoint: Endpoint, window: Window, label: str) -> Result:
        visit, base = _compared(ctx, endpoint, window, label, endpoint.params["of"])
        missing = _both(visit, base)
        return missing if missing is not None else compare(endpoint, visit, base)

    return rule


@_against_baseline
def change_from_baseline(_endpoint: Endpoint, visit: Result, base: Result) -> Result:
    change = visit.number - base.number
    return Result(float(change), None, _sources(base, visit), exact=change)


@_against_baseline
def percent_change_from_baseline(_endpoint: Endpoint, visit: Result, base: Result) -> Result:
    if base.number == 0:
        return _none(BASELINE_ZERO)
    change = (visit.number - base.number) / base.number * 100
    return Result(float(change), None, _sources(base, visit), exact=change)


@_against_baseline
def responder(endpoint: Endpoint, visit: Result, base: Result) -> Result:
    drop = base.number - visit.number
    pct = drop / base.number * 100 if base.number > 0 else Fraction(0)
    hit = drop >= _param(endpoint, "min_drop") or pct >= _param(endpoint, "min_drop_pct")
    return Result(1.0 if hit else 0.0, None, _sources(base, visit))


def area_reduction(ctx: _Context, endpoint: Endpoint, window: Window, label: str) -> Result:
    """Reduction from the baseline area at the observation closest to the target day."""
    of = endpoint.params.get("of", "ULCER_AREA_MM2")
    base = ctx.results.get((of, ctx.baseline.code, label), _none(NO_MEASUREMENT))
    found = _closest(ctx, window, label)
    visit = _none(NO_MEASUREMENT) if found is None else Result(found.value, 1, (found.source,))
    missing = _both(visit, base)
    if missing is not None:
        return missing
    if base.number == 0:
        return _none(BASELINE_ZERO)
    reduction = (base.number - visit.number) / base.number * 100
    threshold = _param(endpoint, "min_reduction_pct")
    # Areas come through a homography in floats: an exact halving may land a hair short.
    hit = reduction >= threshold or math.isclose(reduction, threshold, rel_tol=1e-9)
    return Result(1.0 if hit else 0.0, None, _sources(base, visit))


Rule = Callable[[_Context, Endpoint, Window, str], Result]
RULES: dict[str, Rule] = {
    "window_mean_daily": window_mean_daily,
    "diary_completion": diary_completion,
    "window_max": window_max,
    "closest_to_target": closest_to_target,
    "healed": healed,
    "healed_confirmed": healed_confirmed,
    "event_by_window_end": event_by_window_end,
    "change_from_baseline": change_from_baseline,
    "percent_change_from_baseline": percent_change_from_baseline,
    "responder": responder,
    "area_reduction": area_reduction,
}


# What each rule computes, for the exported data dictionary (docs/design.md has the contract).
RULE_TEXT: dict[str, str] = {
    "window_mean_daily": "Mean of the daily scores in the visit window (one per diary day: the latest "
    "recorded that day); n = days; missing when n < min_n.",
    "diary_completion": "Diary days with a score / days of the window so far × 100; n = diary days.",
    "window_max": "Best (maximum) distance of the tests in the window with the named method; n = tests.",
    "closest_to_target": "Reviewed area (accepted or corrected photo; a recorded closure counts as 0) "
    "closest to the target day in the window, the later one on a tie.",
    "healed": "1 when the latest reviewed observation on or before the window's end has area 0, else 0.",
    "healed_confirmed": "1 when the ulcer was seen healed at two reviews at least min_days_apart apart, with "
    "no open wound seen in between, the second on or before the window's end; else 0.",
    "event_by_window_end": "1 when an amputation of the target leg at this level (major: above the ankle) "
    "occurred from study day 0 to the window's end, else 0.",
    "change_from_baseline": "Visit value − baseline value of the named endpoint.",
    "percent_change_from_baseline": "(Visit − baseline) / baseline × 100 of the named endpoint.",
    "responder": "1 when the visit value is at least min_drop points or min_drop_pct % below baseline, else 0.",
    "area_reduction": "1 when the reviewed area closest to the target day in the endpoint's own window is at "
    "least min_reduction_pct % below the baseline area, else 0.",
}
