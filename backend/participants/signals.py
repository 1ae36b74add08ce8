"""Signals of the participants package, for the layers above it (locks, auth, entries)
to subscribe to: a participant's record sits below the packages that react to it.

Receivers take the participant as sender and the keyword arguments named below; they
add to the session and never commit (the use case that sent the signal does)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Before a change to the participant's own record (session, actor, every_visit): a
# receiver raises to refuse it. `every_visit` is true for a change that reaches the data
# of every visit (day 0, the target leg, the time zone), locked visits included.
participant_changing = _signals.signal("participant-changing")

# Day 0 moved or became known (session): every study day counted from it changes.
day0_moved = _signals.signal("day0-moved")

# Withdrawn or completed (session, reason, now): the participant's app must stop working.
participation_ended = _signals.signal("participation-ended")
