"""Brute-force throttling (policy in backend/auth/throttle.py): per account and address,
per account, and per address; 423/429 with Retry-After; lock expiry; reset on success."""

from __future__ import annotations

import itertools
from datetime import timedelta

import time_machine
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from backend.app import create_app
from backend.db import Database
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.auth.helpers import activate, assert_error, login, retry_after
from tests.conftest import test_config
from tests.factories import PASSWORD, Factory

WRONG = "wrong password, try again"
ATTACKER = "10.0.0.66"
NURSE_DESK = "10.0.0.9"


def fail_logins(client: FlaskClient, email: str, times: int, address: str = ATTACKER) -> None:
    for _ in range(times):
        assert_error(login(client, email, WRONG, address), 401, "unauthenticated")


# --- one account from one address ------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_at_that_address(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 5)

    locked = login(client, nurse.email, WRONG, ATTACKER)

    assert_error(locked, 423, "locked")
    assert retry_after(locked) == 60  # the first lock lasts one minute (clock frozen)


def test_the_right_password_is_refused_while_locked(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 5)
    clock.shift(timedelta(seconds=30))

    response = login(client, nurse.email, PASSWORD, ATTACKER)

    assert_error(response, 423, "locked")
    assert retry_after(response) == 30
    assert "access_token" not in response.json


def test_the_right_password_works_after_the_lock_expires(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 5)
    clock.shift(timedelta(seconds=61))

    response = login(client, nurse.email, PASSWORD, ATTACKER)

    assert response.status_code == 200, response.json


def test_the_lock_doubles_with_each_further_failure(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 5)  # locked 1 min
    clock.shift(timedelta(seconds=61))
    fail_logins(client, nurse.email, 1)  # sixth failure: locked 2 min
    assert retry_after(login(client, nurse.email, PASSWORD, ATTACKER)) == 120
    clock.shift(timedelta(seconds=121))
    fail_logins(client, nurse.email, 1)  # seventh failure: locked 4 min

    assert retry_after(login(client, nurse.email, PASSWORD, ATTACKER)) == 240


def test_failures_elsewhere_do_not_lock_the_nurse_out_at_her_own_address(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 5, ATTACKER)
    assert_error(login(client, nurse.email, PASSWORD, ATTACKER), 423, "locked")

    response = login(client, nurse.email, PASSWORD, NURSE_DESK)

    assert response.status_code == 200, response.json


def test_the_lock_grows_to_the_15_minute_cap_for_a_persistent_guesser(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    """Policy: 1 min after 5 failures, doubling with each further failure, capped at 15 min.

    The guesser retries the moment each lock ends: 2, 4, 8 minutes, then the cap
    (16 min → 15). The escalation must not start over just because 15 minutes have
    passed since the first failure while the guesser never stopped.
    """
    fail_logins(client, nurse.email, 5)
    expected_locks = [60, 120, 240, 480, 900]
    for waited, expected in itertools.pairwise(expected_locks):
        clock.shift(timedelta(seconds=waited))  # the lock has just ended
        fail_logins(client, nurse.email, 1)
        locked = login(client, nurse.email, PASSWORD, ATTACKER)
        assert_error(locked, 423, "locked")
        assert retry_after(locked) == expected

    # After 15 quiet minutes the count is forgotten: one more slip does not lock her out.
    clock.shift(timedelta(minutes=15))
    fail_logins(client, nurse.email, 1)
    assert login(client, nurse.email, PASSWORD, ATTACKER).status_code == 200


def test_success_resets_the_account_and_address_counter(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 4, NURSE_DESK)
    assert login(client, nurse.email, PASSWORD, NURSE_DESK).status_code == 200
    # Without the reset the next failure would be the fifth and lock her out.
    fail_logins(client, nurse.email, 4, NURSE_DESK)

    assert login(client, nurse.email, PASSWORD, NURSE_DESK).status_code == 200


def test_counting_ignores_the_case_of_the_email(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    for variant in (nurse.email.upper(), nurse.email, nurse.email.title(), nurse.email.upper(), nurse.email):
        assert_error(login(client, variant, WRONG, ATTACKER), 401, "unauthenticated")

    assert_error(login(client, nurse.email, PASSWORD, ATTACKER), 423, "locked")


def test_failures_older_than_the_window_are_forgotten(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    fail_logins(client, nurse.email, 4)
    clock.shift(timedelta(minutes=16))
    fail_logins(client, nurse.email, 4)

    assert login(client, nurse.email, PASSWORD, ATTACKER).status_code == 200


# --- one account from anywhere ---------------------------------------------------------


def test_fifty_failures_from_many_addresses_lock_the_account_everywhere(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    for n in range(50):  # a distributed guess: 50 addresses, one try each
        assert_error(login(client, nurse.email, WRONG, f"10.1.0.{n + 1}"), 401, "unauthenticated")

    response = login(client, nurse.email, PASSWORD, NURSE_DESK)

    assert_error(response, 423, "locked")
    assert retry_after(response) == 900  # the rest of the 15-minute window (clock frozen)


# --- one address -----------------------------------------------------------------------


def test_thirty_failures_from_one_address_across_accounts_are_429(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    for n in range(30):  # credential stuffing: a different account each time
        assert_error(login(client, f"user{n}@site.example", WRONG, ATTACKER), 401, "unauthenticated")

    blocked = login(client, nurse.email, PASSWORD, ATTACKER)

    assert_error(blocked, 429, "too_many_requests")
    assert retry_after(blocked) == 900  # until the 15-minute window ends (clock frozen)
    assert login(client, nurse.email, PASSWORD, NURSE_DESK).status_code == 200


def test_the_address_block_lifts_when_the_window_ends(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    for n in range(30):
        login(client, f"user{n}@site.example", WRONG, ATTACKER)
    clock.shift(timedelta(minutes=15, seconds=1))

    assert login(client, nurse.email, PASSWORD, ATTACKER).status_code == 200


def test_ten_bad_activation_codes_from_one_address_are_429(
    clock: time_machine.Traveller, client: FlaskClient, make: Factory, participant: Participant
) -> None:
    real_code = make.activation_code(participant)
    for n in range(10):
        assert_error(activate(client, f"0000-0000-00{n:02d}", ATTACKER), 401, "unauthenticated")

    blocked = activate(client, real_code, ATTACKER)

    assert_error(blocked, 429, "too_many_requests")
    assert retry_after(blocked) == 900
    # The block is per address: the patient at the clinic still activates.
    assert activate(client, real_code, NURSE_DESK).status_code == 201


# --- which address counts --------------------------------------------------------------


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(
    clock: time_machine.Traveller, client: FlaskClient, nurse: StaffUser
) -> None:
    # An attacker cannot dodge the per-address lock by inventing a new X-Forwarded-For each time.
    for n in range(5):
        response = client.post(
            "/api/v1/auth/staff/login",
            json={"email": nurse.email, "password": WRONG},
            headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
            environ_base={"REMOTE_ADDR": ATTACKER},
        )
        assert_error(response, 401, "unauthenticated")

    response = client.post(
        "/api/v1/auth/staff/login",
        json={"email": nurse.email, "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.99"},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert_error(response, 423, "locked")


def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    clock: time_machine.Traveller, engine: Engine, session_factory: sessionmaker[Session], nurse: StaffUser
) -> None:
    proxied = create_app(test_config(trusted_proxies=1), Database(engine, session_factory)).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def via_proxy(client_address: str, password: str) -> TestResponse:
        return proxied.post(
            "/api/v1/auth/staff/login",
            json={"email": nurse.email, "password": password},
            headers={"X-Forwarded-For": client_address},
            environ_base=proxy,
        )

    for _ in range(5):
        assert_error(via_proxy("203.0.113.7", WRONG), 401, "unauthenticated")

    assert_error(via_proxy("203.0.113.7", PASSWORD), 423, "locked")
    # The nurse reaches the same proxy from her own address and is not locked out.
    assert via_proxy("198.51.100.20", PASSWORD).status_code == 200
