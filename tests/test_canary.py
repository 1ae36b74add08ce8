"""The per-test rollback really rolls back: the first test commits, the second sees nothing."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.studies.models import Study
from tests.factories import Factory


def test_canary_commits_a_study(make: Factory, db: Session) -> None:
    make.study()
    db.commit()
    assert db.scalar(select(func.count()).select_from(Study)) == 1


def test_canary_sees_no_study_from_the_previous_test(db: Session) -> None:
    assert db.scalar(select(func.count()).select_from(Study)) == 0
