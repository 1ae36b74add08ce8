"""Brute-force throttling for sign-in and activation, kept in the database so that every
worker and machine sees the same counters.

Policy:
- one account from one address: after 5 failures the pair is locked (423) for 1 minute,
  doubling with each further failure up to 15 minutes; the count is forgotten only after
  15 minutes without a failure, so a guesser who retries as each lock ends stays at the
  cap. An attacker elsewhere does not lock the nurse out at her own address;
- one account from anywhere: 50 failures in 15 minutes lock it (423) for what is left of
  that window, the bound on a distributed guess;
- one address: 30 failed sign-ins, or 10 failed activation codes, in 15 minutes are
  answered 429 until the window ends.
Success clears the account counters.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth.models import AuthThrottle
from backend.errors import DomainError, Locked, TooManyRequests

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Rule:
    scope: str
    limit: int
    error: type[DomainError]
    # Lock after `limit` failures: doubling from `base_lock`, capped (None: rest of window).
    base_lock: timedelta | None = None
    max_lock: timedelta | None = None


LOGIN_ACCOUNT_ADDRESS = Rule("login:account+ip", 5, Locked, timedelta(minutes=1), timedelta(minutes=15))
LOGIN_ACCOUNT = Rule("login:account", 50, Locked)
LOGIN_ADDRESS = Rule("login:ip", 30, TooManyRequests)
ACTIVATE_ADDRESS = Rule("activate:ip", 10, TooManyRequests)


def throttle_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _row(session: Session, rule: Rule, key: str) -> AuthThrottle | None:
    return session.scalar(select(AuthThrottle).where(AuthThrottle.scope == rule.scope, AuthThrottle.key == key))


def _retry_after(until: datetime, now: datetime) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil((until - now).total_seconds())))}


def check(session: Session, rule: Rule, key: str, now: datetime) -> None:
    """Raise 423/429 with Retry-After while `key` is locked under `rule`."""
    row = _row(session, rule, key)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return
    if rule.error is Locked:
        message = "Too many failed attempts; this sign-in is locked for a short while."
    else:
        message = "Too many failed attempts from this address; try again later."
    raise rule.error(message, headers=_retry_after(row.locked_until, now))


def record_failure(session: Session, rule: Rule, key: str, now: datetime) -> None:
    """Count one failure; lock the key when the rule's limit is reached. Caller commits."""
    row = _row(session, rule, key)
    if row is None:
        try:
            with session.begin_nested():
                row = AuthThrottle(scope=rule.scope, key=key, failures=0, window_started_at=now, last_failure_at=now)
                session.add(row)
        except IntegrityError:  # another worker created it a moment ago
            row = _row(session, rule, key)
            assert row is not None
    # Progressive locks forget after a quiet WINDOW; fixed-window counters after WINDOW.
    since = row.last_failure_at if rule.base_lock is not None else row.window_started_at
    if since + WINDOW <= now and (row.locked_until is None or row.locked_until <= now):
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= rule.limit:
        if rule.base_lock is not None and rule.max_lock is not None:
            lock = min(rule.base_lock * 2 ** min(row.failures - rule.limit, 10), rule.max_lock)
            row.locked_until = now + lock
        else:
            row.locked_until = row.window_started_at + WINDOW
    session.flush()


def clear(session: Session, rule: Rule, key: str) -> None:
    row = _row(session, rule, key)
    if row is not None:
        session.delete(row)
