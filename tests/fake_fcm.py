"""A local fake of FCM HTTP v1 plus an OAuth2 token endpoint, so the real firebase-admin SDK
can be tested offline: there is no FCM emulator, so the SDK's send URL is pointed here
(`point_sdk_at`) and its service account's `token_uri` too (`service_account_info`).

Built for load as well as for unit tests (a benchmark pushes 10,000 messages through it), so
the request path does as little as possible: parse the JSON, append under one lock, answer."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
# HTTP status -> the canonical Google API status FCM puts in "error.status".
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_MESSAGES = {
    "UNREGISTERED": "Requested entity was not found.",
    "QUOTA_EXCEEDED": "Quota exceeded for quota metric 'Send requests'.",
    "SENDER_ID_MISMATCH": "SenderId mismatch",
    "INVALID_ARGUMENT": "The registration token is not a valid FCM registration token",
    "INTERNAL": "Internal error encountered.",
}


@dataclass
class Received:
    """One request the fake received on messages:send, kept so tests can assert the exact wire JSON."""

    project: str
    body: dict[str, Any]  # the parsed JSON body, exactly as sent ({"message": {...}, maybe "validate_only"})
    headers: dict[str, str]  # lower-cased names
    status: int = 200  # what the fake answered

    @property
    def token(self) -> str:
        """The device token; firebase-admin 7.x sends `fid` (or the deprecated `token`)."""
        message = self.body.get("message") or {}
        return message.get("token") or message.get("fid") or ""


@dataclass
class _Failure:
    status: int
    error_code: str | None
    retry_after: int | None
    remaining: int | None  # None: fail forever


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive handler threads must never block interpreter exit
    request_queue_size = 1024  # send_each opens up to 500 connections at once; a short backlog drops SYNs
    fake: FakeFcm


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK pools connections
    disable_nagle_algorithm = True  # otherwise delayed ACKs add ~40 ms per request
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._opened(self.connection)

    def finish(self) -> None:
        self.server.fake._closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: one log line per request would swamp test output and slow the benchmark."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # always drain: keep-alive framing
        fake = self.server.fake
        if self.path == "/token":
            status, payload, headers = fake._answer_token()
        elif match := _SEND_PATH.fullmatch(self.path):
            status, payload, headers = fake._answer_send(match[1], raw, self.headers.items())
        else:
            status, payload, headers = (
                404,
                {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}},
                {},
            )
        data = json.dumps(payload).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeFcm:
    """Threading HTTP server on 127.0.0.1:<free port>; start()/stop(), also a context manager.

    Serves `POST /token` (OAuth2, always the same access token) and
    `POST /v1/projects/<p>/messages:send` (success, or the FCM error set up with `fail_token`)."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.token_requests = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._failures: dict[str, _Failure] = {}
        self._oauth_status: int | None = None
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeFcm:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-fcm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut pooled keep-alive connections, so no handler thread outlives the fake."""
        if self._server is None:
            return
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # the client may have hung up already
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeFcm:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def fail_token(
        self,
        token: str,
        status: int,
        error_code: str | None,
        *,
        retry_after: int | None = None,
        times: int | None = None,
    ) -> None:
        """Answer sends to this device token with an FCM error: e.g. 404 "UNREGISTERED", 429 "QUOTA_EXCEEDED",
        503 None (plain UNAVAILABLE), 500 "INTERNAL", 403 "SENDER_ID_MISMATCH", 400 "INVALID_ARGUMENT";
        optionally with a Retry-After header. `times`=None means always, else only the next N sends to it.

        Beware: the SDK's urllib3 retries 500/503 (and 429/503 carrying Retry-After) itself, up to 4 times."""
        with self._lock:
            if times is not None and times <= 0:
                self._failures.pop(token, None)
            else:
                self._failures[token] = _Failure(status, error_code, retry_after, times)

    def fail_oauth(self, status: int = 400) -> None:
        """Make the token endpoint refuse, as Google does for a revoked or deleted service-account key."""
        with self._lock:
            self._oauth_status = status

    def reset(self) -> None:
        """Forget what was received and every failure set up; keeps serving on the same port."""
        with self._lock:
            self.received.clear()
            self.token_requests = 0
            self._failures.clear()
            self._oauth_status = None

    def sent_tokens(self) -> list[str]:
        """Tokens of successful sends, in arrival order (dry runs, `validate_only`, deliver nothing: left out)."""
        with self._lock:
            return [r.token for r in self.received if r.status == 200 and not r.body.get("validate_only")]

    # Called from handler threads.

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _answer_token(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.token_requests += 1
            status = self._oauth_status
        if status is not None:
            return status, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, {}
        return 200, {"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"}, {}

    def _answer_send(
        self, project: str, raw: bytes, header_items: Iterable[tuple[str, str]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        received = Received(project, json.loads(raw), {name.lower(): value for name, value in header_items})
        token = received.token
        with self._lock:
            failure = self._failures.get(token)
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[token]
            if failure is not None:
                received.status = failure.status
            self.received.append(received)
            message_id = next(self._ids)
        if failure is None:
            if received.body.get("validate_only"):
                return 200, {"name": f"projects/{project}/messages/fake_message_id"}, {}
            return 200, {"name": f"projects/{project}/messages/0:{message_id}"}, {}
        return failure.status, _error_body(failure.status, failure.error_code), _retry_after(failure.retry_after)


def _error_body(status: int, error_code: str | None) -> dict[str, Any]:
    status_name = _STATUS_NAMES.get(status, "UNKNOWN")
    error: dict[str, Any] = {
        "code": status,
        "message": _MESSAGES.get(error_code or "", "The service is currently unavailable."),
        "status": status_name,
    }
    if error_code is not None:
        error["details"] = [{"@type": _FCM_ERROR_TYPE, "errorCode": error_code}]
    return {"error": error}


def _retry_after(seconds: int | None) -> dict[str, str]:
    return {} if seconds is None else {"Retry-After": str(seconds)}


@functools.cache
def _private_key_pem() -> str:
    """One RSA key per process: generating one takes tens of milliseconds."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_info(token_uri: str, project_id: str = "limbtrack-test") -> dict[str, str]:
    """A service-account dict for `credentials.Certificate`, whose token_uri is the fake's `/token`."""
    email = f"firebase-adminsdk-test@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fake-key-id",
        "private_key": _private_key_pem(),
        "client_email": email,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }


@contextlib.contextmanager
def point_sdk_at(fake_url: str) -> Iterator[None]:
    """Point firebase-admin's FCM send URL at the fake, and restore it afterwards.

    The SDK reads `_MessagingService.FCM_URL` once, when an app's messaging service is first
    created, and caches it: make the app's first messaging call inside this block."""
    from firebase_admin import messaging

    service = messaging._MessagingService
    original = service.FCM_URL
    service.FCM_URL = fake_url + "/v1/projects/{0}/messages:send"
    try:
        yield
    finally:
        service.FCM_URL = original
