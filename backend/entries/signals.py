"""Signals of the entry pipeline, for the packages of each kind of entry to subscribe to."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent by entries.service.record_entry once a new entry, its audit event and its
# late-entry flag are in the session; the sender is the entry's class, the keyword
# arguments are session, participant, entry and now. A receiver raises the flags of its
# kind of entry and never commits (the use case that recorded the entry does).
entry_recorded = _signals.signal("entry-recorded")
