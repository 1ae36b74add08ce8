"""The views every kind of patient entry has: the patient's own list and create, and the
staff's list of one participant's. Written once, so that who may call them, what they
document and how a page is cut cannot drift between diary, walks and symptoms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask.views import MethodView
from sqlalchemy import Select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor, current_participant_id
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.staff import roles

# service.<kind>_query(session, actor, participant_id, filters, now): the participant's entries
EntriesQuery = Callable[[Session, Actor, int, dict[str, Any], datetime], Select[Any]]
# service.record_<kind>(session, actor, data, now): (entry, created)
RecordEntry = Callable[[Session, Actor, dict[str, Any], datetime], tuple[Any, bool]]


def own_entries_view(
    blp: Blueprint, schemas: tuple[Any, Any, Any], query: EntriesQuery, record: RecordEntry, docs: tuple[str, str]
) -> type[MethodView]:
    """GET lists and POST records the signed-in patient's entries of one kind. `schemas`
    are (query args, create body, entry); `docs` the two operations' summaries."""
    query_args, body, schema = schemas

    class OwnEntries(MethodView):
        @blp.auth(patient=True)
        @blp.listing(query_args, schema)
        def get(self, filters: dict[str, Any]) -> Select[Any]:
            return query(get_session(), current_actor(), current_participant_id(), filters, utcnow())

        @blp.auth(patient=True)
        @blp.creates(body, schema, 423)
        def post(self, data: dict[str, Any]) -> tuple[Any, bool]:
            return record(get_session(), current_actor(), data, utcnow())

    OwnEntries.get.__doc__, OwnEntries.post.__doc__ = docs
    return OwnEntries


def participant_entries_view(
    blp: Blueprint, query_args: Any, schema: Any, query: EntriesQuery, doc: str
) -> type[MethodView]:
    """GET lists one participant's entries of one kind, for staff who may read them."""

    class ParticipantEntries(MethodView):
        @blp.auth(roles.READ_PARTICIPANTS)
        @blp.listing(query_args, schema, 404)
        def get(self, filters: dict[str, Any], participant_id: int) -> Select[Any]:
            return query(get_session(), current_actor(), participant_id, filters, utcnow())

    ParticipantEntries.get.__doc__ = doc
    return ParticipantEntries
