"""The charts' user-visible texts and how days and values read: the one place to translate.

Plurals come as (one, many) pairs."""

from __future__ import annotations

from datetime import date

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY_FORMAT = "{day} {month}"  # tick labels: "3 Mar"
DAY_YEAR_FORMAT = "{day} {month} {year}"  # summaries, and ticks where the year changes
PAIN_TITLE = "Rest pain (NRS 0–10)"
WALK_TITLE = "Six-minute walk distance (m)"
ULCER_TITLE = "Ulcer area (mm²)"
NO_SCORES = "No scores yet"
NO_WALKS = "No walk tests yet"
NO_ULCER_AREAS = "No ulcer measurements yet"
DAILY_SCORE = "Daily score"
WEEKLY_MEAN = "Weekly mean"
INJECTION = "Injection"
VISIT_WINDOW = "Visit window"
REVIEWED = "reviewed"
PROVISIONAL = "provisional"
LEGEND_REVIEWED = "Reviewed"
LEGEND_PROVISIONAL = "Provisional"
WALK_METHODS = {  # keys are backend.walks.models.WalkMethod values; other keys show as given
    "clinic_course": "Clinic course",
    "home_course": "Home course",
    "phone_pedometer": "Phone (pedometer)",
    "phone_gps": "Phone (GPS)",
}
METRES = "{value} m"
SQUARE_MM = "{value} mm²"
POINT_TIP = "{day}: {value}"
SERIES_TIP = "{label}, {day}: {value}"
INJECTION_TIP = "Injection {day}"
WEEK_TIP = "Week {week}: mean {value}"
VISIT_TIP = ("{label}: {start} – {end}", "{label} (injection visit): {start} – {end}")
SCORES_SUMMARY = ("1 score on {start}: {value}.", "{n} scores from {start} to {end}; latest {value}.")
INJECTIONS_SUMMARY = ("1 injection day.", "{n} injection days.")
WALK_SUMMARY = ("{label}: 1 test on {start}, {value}.", "{label}: {n} tests from {start} to {end}; latest {value}.")
ULCER_SUMMARY = (
    "{label}: 1 measurement on {start}, {value}.",
    "{label}: {n} measurements from {start} to {end}; latest {value}.",
)
STATE_SUFFIX = "{value} ({state})"


def count_summary(templates: tuple[str, str], days: list[date], value: str, label: str = "") -> str:
    if not days:
        return ""
    start, end = day_text(days[0], True), day_text(days[-1], True)
    return plural(templates, len(days)).format(n=len(days), start=start, end=end, value=value, label=label)


def plural(templates: tuple[str, str], n: int) -> str:
    return templates[0] if n == 1 else templates[1]


def day_text(d: date, with_year: bool = False) -> str:
    template = DAY_YEAR_FORMAT if with_year else DAY_FORMAT
    return template.format(day=d.day, month=MONTHS[d.month - 1], year=d.year)


def format_value(value: float) -> str:
    """A value for people: whole numbers without a decimal point, others to one decimal."""
    return str(round(value)) if float(value).is_integer() else f"{value:.1f}"
