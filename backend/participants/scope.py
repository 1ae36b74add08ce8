"""Which participants an actor reaches: object scope for every service.

A participant outside the actor's reach is reported as not found (404), so ids of other
sites' participants reveal nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.errors import NotFound
from backend.participants.models import Participant


def participant_in_scope(session: Session, actor: Actor, participant_id: int) -> Participant:
    """The participant, if `actor` may reach it; NotFound otherwise."""
    participant = session.get(Participant, participant_id)
    if participant is None or not can_reach(actor, participant):
        raise NotFound(f"No participant {participant_id}.")
    return participant


def can_reach(actor: Actor, participant: Participant) -> bool:
    if actor.kind == "system":
        return True
    if actor.kind == "participant":
        return actor.participant_id == participant.id
    return actor.study_id == participant.study_id and actor.can_reach_site(participant.site_id)


def scope_participants(query: Select[Any], actor: Actor) -> Select[Any]:
    """Restrict a participant query to what `actor` may see."""
    if actor.kind == "participant":
        return query.where(Participant.id == actor.participant_id)
    if actor.kind == "staff":
        query = query.where(Participant.study_id == actor.study_id)
        if actor.site_ids is not None:
            query = query.where(Participant.site_id.in_(actor.site_ids))
    return query
