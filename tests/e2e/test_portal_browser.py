"""A nurse's morning in a real browser (headless Chromium): sign in, clear the review
queue (accept one photo, correct one outline by dragging a point, reject one), look at
the participant's charts, issue an activation code. Each page is saved as a screenshot."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, FloatRect, Page, Route, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import get_database
from backend.ulcers.models import PhotoAnalysis, PhotoReview, ReviewStatus, UlcerPhoto
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, Site
from tests.factories import PASSWORD
from tests.imaging.scenes import render, similarity
from tests.ulcers.helpers import upload


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def console(page: Page) -> list[str]:
    """The console errors and uncaught exceptions of the pages visited, with their URL."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: uncaught {error}"))
    return errors


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/portal/today")
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))
    shot(page, "01-sign-in")
    page.get_by_label("E-mail").fill(site.nurse.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()


def test_a_nurse_clears_the_review_queue_and_issues_an_activation_code(
    page: Page, site: Site, console: list[str]
) -> None:
    first, second, third = site.photos
    sign_in(page, site)
    expect(page.locator("li.urgent")).to_contain_text("wound new or infected")
    shot(page, "02-today")

    # 1. Accept the first photo with the keyboard shortcut: the overlay lies exactly on the
    # image; a second press while the first is on its way sends nothing more.
    page.get_by_role("link", name=f"Photo {first}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Photo {first}"))).to_be_visible()
    wait_for_review_script(page)
    assert_overlay_on_image(page)
    shot(page, "03-photo-review")
    review_post = re.compile(r"/portal/photos/\d+/review$")
    held: list[Route] = []  # the decision's POSTs, held back while A is pressed again
    page.route(review_post, lambda route: held.append(route))
    with page.expect_request(review_post):
        page.keyboard.press("a")
    page.context.cookies()  # one round trip more: the held request's route, sent just after it, has arrived
    assert len(held) == 1
    page.keyboard.press("a")
    held[0].continue_()
    expect(page).to_have_url(re.compile(f"/portal/photos/{second}$"))
    # A second POST would have left the page before the first was released, and been held.
    assert len(held) == 1
    page.unroute(review_post)

    # 2. Correct the second one. A click inside the outline adds nothing, one on its edge
    # adds a point (undone); then drag a point: the area changes on screen.
    wait_for_review_script(page)
    area = page.locator("#corrected-area")
    expect(area).to_have_text("—")
    handles = page.locator("svg.overlay circle.handle")
    count = handles.count()
    centres = [centre(h.bounding_box()) for h in handles.all()]
    cx, cy = sum(x for x, _ in centres) / len(centres), sum(y for _, y in centres) / len(centres)
    page.mouse.click(cx, cy)
    expect(handles).to_have_count(count)
    edges = [(centres[i], centres[(i + 1) % count]) for i in range(count)]
    (x1, y1), (x2, y2) = max(edges, key=lambda e: (e[1][0] - e[0][0]) ** 2 + (e[1][1] - e[0][1]) ** 2)
    page.mouse.click((x1 + x2) / 2, (y1 + y2) / 2)  # the longest edge's middle: away from the points
    expect(handles).to_have_count(count + 1)
    page.get_by_role("button", name="Undo changes").click()
    expect(handles).to_have_count(count)
    expect(area).to_have_text("—")
    x, y = centres[0]
    save = page.get_by_role("button", name=re.compile("Save corrected outline"))
    page.mouse.move(x, y)  # across the outline to beyond its far side: it crosses itself
    page.mouse.down()
    page.mouse.move(cx + (cx - x) * 1.5, cy + (cy - y) * 1.5, steps=6)
    page.mouse.up()
    expect(page.locator("#outline-problem")).to_have_text(re.compile("crosses itself"))
    expect(save).to_be_disabled()
    expect(area).to_have_text("—")
    page.get_by_role("button", name="Undo changes").click()
    expect(page.locator("#outline-problem")).to_have_text("")
    length = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + (x - cx) / length * 12, y + (y - cy) / length * 12, steps=6)  # 12 px outwards
    page.mouse.up()
    expect(area).to_have_text(re.compile(r"^\d+\.\d mm²$"))
    shown_area = float(area.inner_text().split()[0])
    shot(page, "04-outline-corrected")
    save.click()
    expect(page).to_have_url(re.compile(f"/portal/photos/{third}$"))

    # 3. Reject the third; the queue is empty and Today says so.
    wait_for_review_script(page)
    page.get_by_label("Reject because").select_option("blurred")
    page.get_by_role("button", name=re.compile("^Reject")).click()
    expect(page).to_have_url(re.compile(r"/portal/today$"))
    expect(page.get_by_text("No photos waiting.")).to_be_visible()

    with site.app.app_context(), get_database(site.app).sessionmaker() as db:
        assert_reviews(db, site, shown_area)

    # 4. The participant's page: the charts are drawn (server-side SVG).
    page.get_by_role("link", name=site.patient.participant.subject_code).first.click()
    expect(page.get_by_role("heading", name=site.patient.participant.subject_code)).to_be_visible()
    expect(page.locator("svg.chart, section svg[role=img]")).to_have_count(3)
    expect(page.locator("#pain-h + svg, #pain-h ~ svg").first).to_be_visible()
    shot(page, "05-participant")
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, upright
    shot(page, "06-participant-tablet")
    page.set_viewport_size({"width": 1280, "height": 800})

    # 5. An activation code, with the QR code to scan.
    page.get_by_role("button", name="Issue an activation code").click()
    expect(page.get_by_role("heading", name=re.compile("Activation code for"))).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    code = page.locator("#activation-code").inner_text()
    shot(page, "07-activation-code")
    activated = site.make.client.post("/api/v1/auth/patient/activate", json={"code": code, "platform": "android"})
    assert activated.status_code == 201, activated.json

    # 6. The participant list and the registration form.
    page.get_by_role("link", name="Participants", exact=True).click()
    expect(page.get_by_role("link", name=site.patient.participant.subject_code)).to_be_visible()
    shot(page, "08-participants")
    page.get_by_role("link", name="Register a participant").click()
    expect(page.get_by_label("Subject code")).to_be_visible()
    shot(page, "09-register")

    # 7. Sign out: the portal asks for a sign-in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))

    # Nothing was blocked by the Content-Security-Policy, and no script failed.
    assert [e for e in console if re.search("Content.Security.Policy|uncaught", e)] == []


def wait_for_review_script(page: Page) -> None:
    """review.js has drawn the outline and listens to the keys."""
    expect(page.locator("#photo")).to_have_attribute("data-ready", "1")


def assert_overlay_on_image(page: Page) -> None:
    """The SVG covers exactly the image, and the first outline point is drawn where it
    lies on the image."""
    image, overlay = page.locator("#photo img").bounding_box(), page.locator("svg.overlay").bounding_box()
    assert image is not None and overlay is not None
    for key in ("x", "y", "width", "height"):
        assert overlay[key] == pytest.approx(image[key], abs=1), (key, overlay, image)
    geometry = json.loads(page.locator("#photo").get_attribute("data-geometry") or "{}")
    px, py = geometry["outline"][0]
    expected = (
        image["x"] + px / geometry["width"] * image["width"],
        image["y"] + py / geometry["height"] * image["height"],
    )
    drawn = centre(page.locator('svg.overlay circle.handle[data-index="0"]').bounding_box())
    assert drawn == pytest.approx(expected, abs=1)


def centre(box: FloatRect | None) -> tuple[float, float]:
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def assert_reviews(db: Session, site: Site, shown_area: float) -> None:
    photos = {p.id: p for p in db.scalars(select(UlcerPhoto).where(UlcerPhoto.id.in_(site.photos)))}
    assert [photos[i].review_status for i in site.photos] == [
        ReviewStatus.ACCEPTED,
        ReviewStatus.CORRECTED,
        ReviewStatus.REJECTED,
    ]
    corrected = db.scalars(select(PhotoReview).where(PhotoReview.photo_id == site.photos[1])).one()
    estimate = photos[site.photos[1]].analysis
    assert estimate is not None and corrected.area_mm2 is not None and estimate.area_mm2 is not None
    assert corrected.area_mm2 != pytest.approx(estimate.area_mm2, rel=1e-3)  # the drag changed it
    assert corrected.area_mm2 == pytest.approx(shown_area, abs=0.06)  # what the page showed is what was saved


def test_a_nurse_draws_an_outline_where_the_estimator_found_none(page: Page, site: Site, console: list[str]) -> None:
    """A photo with the marker but no outline: a freehand loop gives an outline at once; then
    "Draw a new outline", four clicks and a click on the first point; the area shown live is
    the one saved."""
    client, headers = site.make.client, site.patient.headers
    [ulcer] = client.get("/api/v1/me/ulcers", headers=headers).json
    out = io.BytesIO()
    render((800, 600), similarity(5.0, 0.0, (100.0, 100.0)), None).save(out, "JPEG", quality=92)  # 5 px/mm
    uploaded = upload(client, headers, ulcer["id"], out.getvalue(), seed_x=400, seed_y=330)
    assert uploaded.status_code == 201, uploaded.json
    photo_id = uploaded.json["id"]
    with site.app.app_context(), get_database(site.app).sessionmaker() as db:  # what "no wound found" stores
        analysis = db.scalars(select(PhotoAnalysis).where(PhotoAnalysis.photo_id == photo_id)).one()
        analysis.status, analysis.outline, analysis.area_px, analysis.area_mm2 = "ulcer_not_found", None, None, None
        db.commit()
    sign_in(page, site)
    page.goto(f"{site.url}/portal/photos/{photo_id}")
    wait_for_review_script(page)
    expect(page.locator("#draw-hint")).to_be_visible()
    save = page.get_by_role("button", name=re.compile("Save corrected outline"))
    area = page.locator("#corrected-area")
    expect(save).to_be_disabled()
    box = page.locator("#photo img").bounding_box()
    assert box is not None

    def screen(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x / 800 * box["width"], box["y"] + y / 600 * box["height"]

    # A freehand loop around (400, 330): it becomes an editable outline as soon as it ends.
    loop = [(400 + 60 * math.cos(a / 10 * math.pi), 330 + 40 * math.sin(a / 10 * math.pi)) for a in range(21)]
    page.mouse.move(*screen(*loop[0]))
    page.mouse.down()
    for x, y in loop[1:]:
        page.mouse.move(*screen(x, y), steps=3)
    page.mouse.up()
    expect(page.locator("#edit-hint")).to_be_visible()
    expect(area).to_have_text(re.compile(r"^\d+\.\d mm²$"))
    assert page.locator("svg.overlay circle.handle").count() > 10
    shot(page, "10-freehand-outline")

    # Start again with points: 100 x 60 px at 5 px/mm is 20 x 12 mm = 240 mm².
    page.get_by_role("button", name="Draw a new outline").click()
    expect(page.locator("svg.overlay circle.handle")).to_have_count(0)
    corners = [(350, 300), (450, 300), (450, 360), (350, 360)]
    for n, corner in enumerate(corners, start=1):
        page.mouse.click(*screen(*corner))
        expect(page.locator("svg.overlay circle.handle")).to_have_count(n)
    expect(save).to_be_enabled()
    page.mouse.click(*screen(*corners[0]))  # close the loop
    expect(page.locator("#edit-hint")).to_be_visible()
    expect(page.locator("svg.overlay circle.handle")).to_have_count(4)
    shown_area = float(area.inner_text().split()[0])
    assert shown_area == pytest.approx(240.0, rel=0.03)
    save.click()
    expect(page).not_to_have_url(re.compile(f"/portal/photos/{photo_id}$"))

    with site.app.app_context(), get_database(site.app).sessionmaker() as db:
        review = db.scalars(select(PhotoReview).where(PhotoReview.photo_id == photo_id)).one()
        assert review.decision.value == "correct" and review.area_mm2 is not None
        assert review.area_mm2 == pytest.approx(shown_area, abs=0.06)
    assert [e for e in console if re.search("Content.Security.Policy|uncaught", e)] == []
