"""Signals of the staff package, for auth (a layer above it) to subscribe to."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# An account was disabled (sender: the StaffUser; session, now). A receiver ends the
# account's sessions and returns how many; it never commits (disable_staff does).
staff_disabled = _signals.signal("staff-disabled")
