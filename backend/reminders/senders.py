"""Who hands pushes to the phones: FCM through firebase-admin, or the embedded log sender.

A sender turns each push into a `SendResult`; it never decides what a result means for the
reminder (retry, give up, retire the device) — the dispatcher does that, the same way for
both senders.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import count
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import firebase_admin
import google.auth.exceptions
from firebase_admin import credentials, exceptions, messaging
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from backend.reminders.models import DeliveryOutcome

log = logging.getLogger(__name__)
MAX_BATCH = 500  # the most messages one send_each call takes
HTTP_TIMEOUT_SECONDS = 15


class SenderConfigError(RuntimeError):
    """The sender cannot work as configured (credentials, project): an operator must act."""


@dataclass(frozen=True)
class Push:
    token: str
    platform: str
    title: str
    body: str
    data: dict[str, str]
    collapse_key: str  # one per reminder kind: a newer reminder replaces the older one
    ttl_seconds: int
    expires_at: datetime


@dataclass(frozen=True)
class SendResult:
    outcome: DeliveryOutcome
    message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after_seconds: int | None = None
    fatal: bool = False  # a configuration error: the run stops, the reminder stays unsent


class Sender(Protocol):
    name: str

    def check(self) -> None:
        """Raise SenderConfigError if sending cannot work at all (checked before claiming)."""

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        """Send at most MAX_BATCH pushes; one result per push, in order."""


@dataclass
class LogSender:
    """The embedded default: no Google account; the delivery log and the app log get it."""

    name: str = "log"

    def check(self) -> None:
        return None

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        results = []
        for push in pushes:
            message_id = f"log/{uuid.uuid4().hex}"
            log.info(
                "push (log sender) %s to %s…: %s — %s",
                push.collapse_key,
                push.token[:8],
                push.title,
                push.body,
                extra={"push_message_id": message_id, "push_data": push.data},
            )
            results.append(SendResult(DeliveryOutcome.SENT, message_id=message_id))
        return results


# FCM errors that are the operator's to fix, not the device's or the moment's.
_FATAL: dict[type[Exception], str] = {
    messaging.SenderIdMismatchError: "SENDER_ID_MISMATCH",
    messaging.ThirdPartyAuthError: "THIRD_PARTY_AUTH_ERROR",
    exceptions.UnauthenticatedError: "UNAUTHENTICATED",
    exceptions.PermissionDeniedError: "PERMISSION_DENIED",
}
# Worth trying again later.
_TRANSIENT: dict[type[Exception], str] = {
    messaging.QuotaExceededError: "QUOTA_EXCEEDED",
    exceptions.UnavailableError: "UNAVAILABLE",
    exceptions.InternalError: "INTERNAL",
    exceptions.DeadlineExceededError: "DEADLINE_EXCEEDED",
    exceptions.UnknownError: "UNKNOWN",  # also what a dropped connection becomes
}


class FcmSender:
    """The real firebase-admin SDK with a service account (FIREBASE_CREDENTIALS)."""

    name = "fcm"
    _apps = count(1)

    def __init__(self, service_account: str | Path | dict[str, Any]) -> None:
        try:
            certificate = credentials.Certificate(
                str(service_account) if isinstance(service_account, Path) else service_account
            )
        except (ValueError, OSError) as exc:
            raise SenderConfigError(f"FIREBASE_CREDENTIALS is not a usable service-account file: {exc}") from exc
        # A named app of our own, so several senders (tests, two dispatchers) never share one.
        # A short HTTP timeout keeps the worst send (5 tries) well inside STALE_CLAIM.
        self.app = firebase_admin.initialize_app(
            certificate, options={"httpTimeout": HTTP_TIMEOUT_SECONDS}, name=f"limbtrack-{next(self._apps)}"
        )
        _no_waiting_inside_the_sdk(self.app)

    def close(self) -> None:
        firebase_admin.delete_app(self.app)

    def check(self) -> None:
        try:
            self.app.credential.get_access_token()
        except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
            raise SenderConfigError(f"FCM credentials were refused: {exc}") from exc

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        assert len(pushes) <= MAX_BATCH
        try:
            response = messaging.send_each([_message(push) for push in pushes], app=self.app)
        except exceptions.FirebaseError as exc:
            # send_each reports per-message errors in its result; a raise means the call
            # itself could not be made (the credentials stopped working mid-run).
            raise SenderConfigError(f"FCM could not be called: {exc}") from exc
        return [_result(item) for item in response.responses]


def _no_waiting_inside_the_sdk(app: firebase_admin.App) -> None:
    """Keep the SDK's quick retries of 500/503, but not its sleeping out a Retry-After.

    By default firebase-admin's urllib3 retry honours Retry-After on 429 and 503 inside
    send_each, up to four times: a push whose TTL was fixed before could then reach FCM
    after its task's window closed, and the run would block for minutes. The dispatcher
    waits instead (next_try_at >= Retry-After). This reaches into the SDK (pinned at
    7.7.0); tests/reminders/test_dispatch_errors.py pins the behaviour.
    """
    retry = Retry(
        connect=1,
        read=0,  # a read timeout may mean FCM has it: sending again could deliver twice
        status=4,
        status_forcelist=[500, 503],
        backoff_factor=0.5,
        raise_on_status=False,
        respect_retry_after_header=False,
        allowed_methods=None,
    )
    service = messaging._get_messaging_service(app)
    url = urlsplit(service._fcm_url)
    # requests picks the adapter of the longest matching prefix, and the SDK mounts its own
    # on https:// and, for messaging, on https://fcm.googleapis.com: ours sits on the send
    # URL's own origin, so it wins for the real URL and for a test's fake alike.
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=MAX_BATCH)
    service._client.session.mount(f"{url.scheme}://{url.netloc}", adapter)


def _message(push: Push) -> messaging.Message:
    return messaging.Message(
        fid=push.token,
        notification=messaging.Notification(title=push.title, body=push.body),
        data=push.data,
        android=messaging.AndroidConfig(
            collapse_key=push.collapse_key,
            priority="high",
            ttl=push.ttl_seconds,
            notification=messaging.AndroidNotification(tag=push.collapse_key),
        ),
        apns=messaging.APNSConfig(
            headers={
                "apns-collapse-id": push.collapse_key,
                "apns-expiration": str(int(push.expires_at.timestamp())),
                "apns-priority": "10",
                "apns-push-type": "alert",
            },
            payload=messaging.APNSPayload(aps=messaging.Aps(thread_id=push.collapse_key, sound="default")),
        ),
    )


def _result(item: messaging.SendResponse) -> SendResult:
    if item.success:
        return SendResult(DeliveryOutcome.SENT, message_id=item.message_id)
    error = item.exception
    message = str(error)[:500]
    if isinstance(error, messaging.UnregisteredError):
        return SendResult(DeliveryOutcome.TOKEN_RETIRED, error_code="UNREGISTERED", error_message=message)
    if isinstance(error, exceptions.InvalidArgumentError):
        # FCM uses INVALID_ARGUMENT for a malformed token and for a malformed message; only
        # the first is the device's fault.
        if "registration token" in message.lower():
            return SendResult(DeliveryOutcome.TOKEN_RETIRED, error_code="INVALID_TOKEN", error_message=message)
        return SendResult(DeliveryOutcome.FAILED, error_code="INVALID_ARGUMENT", error_message=message)
    for kind, code in _FATAL.items():
        if isinstance(error, kind):
            return SendResult(DeliveryOutcome.FAILED, error_code=code, error_message=message, fatal=True)
    for kind, code in _TRANSIENT.items():
        if isinstance(error, kind):
            return SendResult(
                DeliveryOutcome.RETRY, error_code=code, error_message=message, retry_after_seconds=_retry_after(error)
            )
    code = getattr(error, "code", None) or type(error).__name__
    return SendResult(DeliveryOutcome.FAILED, error_code=str(code)[:64], error_message=message)


def _retry_after(error: Exception) -> int | None:
    """Seconds from FCM's Retry-After header (a number or an HTTP date), if it sent one."""
    response = getattr(error, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int((moment - datetime.now(UTC)).total_seconds()))


def make_sender(firebase_credentials: str | None) -> Sender:
    """FCM when credentials are configured; otherwise the log sender (`make run`)."""
    if firebase_credentials:
        return FcmSender(Path(firebase_credentials))
    return LogSender()
