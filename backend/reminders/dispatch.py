"""`flask reminders dispatch`: plan what is due, claim it, send it, record what happened.

Safe to run every minute from cron on several machines at once: `plan` writes each
reminder once (a unique key), `claim` hands each to one dispatcher and commits before
anything is sent, `send` asks once more whether the task is done, and `record` writes the
outcome only while the claim is still the dispatcher's own.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from backend.reminders.claim import claim_due, close_abandoned
from backend.reminders.plan import plan_chunks
from backend.reminders.record import DispatchReport
from backend.reminders.send import send_claimed
from backend.reminders.senders import Sender


def dispatch_due_reminders(
    session: Session,
    sender: Sender,
    now: datetime,
    worker: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> DispatchReport:
    """One dispatcher run; raises SenderConfigError (after saving what was done) if the
    sender is misconfigured.

    `now` is when the run plans; `clock` (default: frozen at `now`) stamps each claim and
    each send, so a long run neither backdates its claims nor overstates a push's TTL.
    """
    clock = clock or (lambda: now)
    sender.check()  # before anything is claimed: a bad credential marks nothing
    worker = worker or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    report = DispatchReport()
    close_abandoned(session, now, report)
    for planned, recipients in plan_chunks(session, now, report, claim_for=(worker, clock)):
        send_claimed(session, sender, planned, max(now, clock()), report, recipients)
    while batch := claim_due(session, max(now, clock()), worker):
        send_claimed(session, sender, batch, max(now, clock()), report)
    return report
