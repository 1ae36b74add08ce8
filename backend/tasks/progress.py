"""What a participant has done: the one read behind the tasks screen and the reminders.

The tasks screen shows it, the planner skips what is done, and the sender asks again just
before a push leaves (a reminder held over the quiet hours may have been done meanwhile),
so the three cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from backend.diary.models import PainScore
from backend.studies.timeline import study_week
from backend.ulcers.models import ReviewStatus, Ulcer, UlcerPhoto
from backend.walks.models import WalkTest

DIARY = "rest_pain_diary"
WALK = "six_minute_walk"
PHOTO = "ulcer_photo"


@dataclass(frozen=True)
class Progress:
    """Done days and weeks; weeks are named by their first day (see `study_week`)."""

    diary_days: Collection[date] = ()
    walk_weeks_done: Collection[date] = ()
    photographed: Mapping[date, Collection[int]] = field(default_factory=dict)  # week -> ulcer ids
    open_ulcers: Collection[int] = ()

    @property
    def has_open_ulcers(self) -> bool:
        return bool(self.open_ulcers)

    def photo_done(self, week: date, ulcer_id: int) -> bool:
        return ulcer_id in self.photographed.get(week, ())

    def photos_done(self, week: date) -> bool:
        """Every ulcer that is still open has a photo of the week."""
        return set(self.open_ulcers) <= set(self.photographed.get(week, ()))

    def done(self, task: str, day: date) -> bool:
        """Whether `task` of the local date `day` (a weekly task: its week's first day) is done."""
        if task == DIARY:
            return day in self.diary_days
        if task == WALK:
            return day in self.walk_weeks_done
        if task == PHOTO:
            return self.photos_done(day)
        return False  # a visit or an injection is not something the app can tick off


Which = Callable[[Any], ColumnElement[bool]]


def read_progress(
    session: Session,
    day0: Mapping[int, date | None],
    which: Which,
    diary_since: date,
    weeks_since: date,
    walk_method: Callable[[int], str | None] = lambda _pid: None,
) -> dict[int, Progress]:
    """The progress of the participants in `day0` (id -> day 0); `which(column)` selects
    them by participant id (a range for a planner's chunk, a list for a batch). Diary days
    from `diary_since`, walks and photos from `weeks_since` (local dates); a walk counts
    when it used the method the participant's protocol asks for (`walk_method`)."""
    diary: dict[int, set[date]] = defaultdict(set)
    for pid, day in session.execute(
        select(PainScore.participant_id, PainScore.diary_date).where(
            which(PainScore.participant_id), PainScore.superseded_at.is_(None), PainScore.diary_date >= diary_since
        )
    ):
        diary[pid].add(day)
    walks: dict[int, set[date]] = defaultdict(set)
    for pid, day, method in session.execute(
        select(WalkTest.participant_id, WalkTest.local_date, WalkTest.method).where(
            which(WalkTest.participant_id), WalkTest.superseded_at.is_(None), WalkTest.local_date >= weeks_since
        )
    ):
        wanted = walk_method(pid)
        if pid in day0 and (wanted is None or method.value == wanted):
            walks[pid].add(study_week(day0[pid], day)[0])
    open_ulcers: dict[int, set[int]] = defaultdict(set)
    for pid, ulcer_id in session.execute(
        select(Ulcer.participant_id, Ulcer.id).where(which(Ulcer.participant_id), Ulcer.healed_on.is_(None))
    ):
        open_ulcers[pid].add(ulcer_id)
    photographed: dict[int, dict[date, set[int]]] = defaultdict(lambda: defaultdict(set))
    for pid, ulcer_id, day in session.execute(
        select(UlcerPhoto.participant_id, UlcerPhoto.ulcer_id, UlcerPhoto.local_date).where(
            which(UlcerPhoto.participant_id),
            UlcerPhoto.local_date >= weeks_since,
            UlcerPhoto.review_status != ReviewStatus.REJECTED,  # a rejected photo has to be taken again
        )
    ):
        if pid in day0:
            photographed[pid][study_week(day0[pid], day)[0]].add(ulcer_id)
    return {
        pid: Progress(
            diary_days=frozenset(diary[pid]),
            walk_weeks_done=frozenset(walks[pid]),
            photographed={week: frozenset(ids) for week, ids in photographed[pid].items()},
            open_ulcers=frozenset(open_ulcers[pid]),
        )
        for pid in day0
    }
