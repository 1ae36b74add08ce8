"""Every module that connects a signal receiver, imported by the app factories: a lower
layer's signal (participants, staff, entries) must never go unheard because the entry
point happened not to import the layer above that reacts to it."""

from __future__ import annotations

from backend.auth import service as auth
from backend.diary import service as diary
from backend.entries import service as entries
from backend.locks import service as locks
from backend.symptoms import service as symptoms
from backend.walks import service as walks

CONNECTED = (
    auth,  # ends the sessions of withdrawn participants and disabled staff
    locks,  # refuses changes to a locked participant's record
    entries,  # restamps study days when day 0 moves
    diary,  # the pain-rise flag
    walks,  # the walk review and drop flags
    symptoms,  # the symptom flag
)
