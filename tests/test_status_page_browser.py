"""The status page in a real browser (issue 14, item 6): Debian's chromium,
headless, at a phone's size, loading pages over HTTP from a real server on
loopback, and what a person sees on them.

Skipped, saying how to install it, where chromium or chromedriver is missing
(`.ci/run` installs both). With PROVLEDGER_SCREENSHOT=PATH set, the active
ring's first screen is saved there as PNG (docs/make_screenshot.py does that
for docs/status-page.png).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

import provledger as pl
from provledger._note import NoteVerifier
from provledger._status_page import render_status_page
from provledger._web_paths import BUNDLE, PAGE, item_path

from .conftest import key
from .forge import WITNESS_NAME
from .test_status_page import HEADLINES, HOSTILE, KEYS, LOG, RTL, Pages, build_histories
from .witnesses import CLI, run_cli

CHROMIUM = os.environ.get("PROVLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PROVLEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")
WIDTH, HEIGHT = 390, 844
INSTALL = ("install Debian's chromium and its driver: "
           "sudo apt-get install -y chromium chromium-driver (.ci/run does this)")

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"no headless browser: {CHROMIUM} or {CHROMEDRIVER} is missing; {INSTALL}",
                allow_module_level=True)

#: The verdict colours, as the browser computes them (words carry the verdict too).
COLOURS = {"active": "rgba(11, 107, 47, 1)", "stolen": "rgba(176, 0, 32, 1)",
           "lost": "rgba(138, 59, 0, 1)", "revoked": "rgba(106, 16, 32, 1)",
           "in escrow": "rgba(11, 79, 138, 1)"}


@dataclass
class Site:
    """A directory of rendered pages served by a static HTTP server."""

    pages: Pages
    root: Path
    url: str

    def page_url(self, name: str) -> str:
        return self.url + item_path(self.pages.histories[name].item) + PAGE


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    """A plain static HTTP server (Python's http.server) over ``root`` on
    loopback, as any web host would serve a publish directory; yields its URL."""
    def handler(*args: Any) -> _Quiet:
        return _Quiet(*args, directory=str(root))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Every test item's page and bundle at its web path, served on loopback."""
    root = tmp_path_factory.mktemp("site")
    pages = build_histories(root.parent / "ledger.db")
    try:
        for history in pages.histories.values():
            where = root / item_path(history.item)
            where.mkdir(parents=True)
            (where / PAGE).write_text(
                render_status_page(history, bundle_href=BUNDLE, now=pages.now), encoding="utf-8")
            (where / BUNDLE).write_bytes(pages.world.ledger.export(history.item))
        with static_server(root) as url:
            yield Site(pages, root, url)
    finally:
        pages.world.ledger.close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless chromium emulating a 390 x 844 phone (so the viewport meta counts)."""
    profile = tempfile.mkdtemp(prefix="provledger-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--hide-scrollbars",
                f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": WIDTH, "height": HEIGHT, "pixelRatio": 2, "touch": True}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        browser.set_page_load_timeout(30)
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def load(driver: Any, url: str) -> None:
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"


def assert_seen_as_a_phone_shows_it(driver: Any, headline: str) -> None:
    """The verdict is the headline, whole in the first screen, nothing scrolls
    sideways, no script exists and none ran (no alert), the CSS applied."""
    assert driver.execute_script("return window.innerWidth") == WIDTH
    assert driver.find_element(By.ID, "verdict-title").text == headline
    rect = driver.execute_script(
        "return document.getElementById('verdict-title').getBoundingClientRect().toJSON()")
    height = driver.execute_script("return window.innerHeight")
    assert rect["top"] >= 0
    assert rect["bottom"] < height, (rect, height)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    assert driver.find_elements(By.TAG_NAME, "script") == []
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (reading it is the check)
    # The hashed inline style applied under the page's CSP: the headline is large.
    size = driver.execute_script(
        "return getComputedStyle(document.getElementById('verdict-title')).fontSize")
    assert float(size.removesuffix("px")) >= 36  # 2.4rem; a browser default h1 is 32px
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.parametrize("name", ["ring", "stolen", "lost", "revoked", "escrow"])
def test_a_phone_shows_the_verdict_first(site: Site, driver: Any, name: str) -> None:
    history = site.pages.histories[name]
    load(driver, site.page_url(name))
    assert_seen_as_a_phone_shows_it(driver, HEADLINES[history.status])
    verdict = driver.find_element(By.ID, "verdict")
    assert verdict.value_of_css_property("background-color") == COLOURS[history.status]
    assert verdict.value_of_css_property("color") == "rgba(255, 255, 255, 1)"
    if name == "ring":
        assert driver.find_element(By.ID, "ownership-changes").text == \
            "Changed hands 2 times since certification."
        assert "Maison Rose" in driver.find_element(By.ID, "piece").text
        shot = os.environ.get("PROVLEDGER_SCREENSHOT")
        if shot:
            assert driver.save_screenshot(shot)
    if name == "stolen":
        assert "Reported stolen on 2027-01-15 by Insurer" in \
            driver.find_element(By.ID, "verdict-detail").text


def test_hostile_texts_are_shown_not_run(site: Site, driver: Any) -> None:
    load(driver, site.page_url("hostile"))
    assert_seen_as_a_phone_shows_it(driver, "VERIFIED")
    piece = driver.find_element(By.ID, "piece").text
    assert HOSTILE in piece
    assert '"><img src=x onerror=alert(2)>' in piece
    assert driver.find_elements(By.TAG_NAME, "img") == []
    # The bidi override is written out, not obeyed: the text reads as it was signed.
    assert pl.safe_text(RTL) + HOSTILE in piece
    assert "\u202e" not in driver.page_source
    assert f"{HOSTILE} Lab, as appraiser" in driver.find_element(By.ID, "attestations").text


def test_the_page_hides_every_key(site: Site, driver: Any) -> None:
    load(driver, site.page_url("ring"))
    shown = driver.find_element(By.TAG_NAME, "body").text
    for k in KEYS:
        assert k.public_key.hex() not in shown
        assert pl.format_public_key(k.public_key) not in shown


def test_the_download_link_serves_the_bundle_that_verifies(site: Site, driver: Any) -> None:
    load(driver, site.page_url("ring"))
    href = driver.find_element(By.ID, "bundle").get_attribute("href")
    assert href == site.page_url("ring").removesuffix(PAGE) + BUNDLE
    with urllib.request.urlopen(href, timeout=10) as answer:
        data = answer.read()
    ring = site.pages.histories["ring"]
    assert ring.checkpoint is not None
    policy = pl.Policy(logs=(NoteVerifier(ring.checkpoint.origin, LOG.public_key),),
                       roots=(key("root").public_key,))
    again = pl.verify_bundle(data, policy=policy, now=site.pages.now, item=ring.item)
    assert again.status == "active"
    assert again.certificate == ring.certificate


# -- published with `provledger publish`, served statically and by `provledger serve` --


@dataclass
class Published:
    """A ledger published to a directory, served two ways."""

    pages: Pages
    static_url: str
    serve_url: str


def _serve(db: Path, policy: Path, out: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `provledger serve` on a free loopback port; returns it and its URL."""
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [*CLI, "--db", str(db), "serve", "--policy", str(policy), "--listen",
             "127.0.0.1:0", "--log-level", "warning"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (lines := out.read_text(errors="replace").splitlines()) or \
            not lines[0].startswith("http://"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(f"serve did not start: {out.read_text()}")
        time.sleep(0.05)
    return proc, lines[0]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """The test ledger, its log clock hours behind the real one (serve verifies
    at its own now), published by `provledger publish` into a directory served
    by a static server, and served live by `provledger serve`."""
    tmp = tmp_path_factory.mktemp("published")
    db = tmp / "ledger.db"
    pages = build_histories(db, t0=int(time.time()) - 4 * 3600)
    pages.world.ledger.close()
    policy = tmp / "trust.policy"
    policy.write_text(pages.policy.to_text(), encoding="utf-8")
    run_cli("--db", str(db), "publish", str(tmp / "www"), "--policy", str(policy),
            env=os.environ)
    proc, url = _serve(db, policy, tmp / "serve.out")
    try:
        with static_server(tmp / "www") as static:
            yield Published(pages, static, url)
    finally:
        _stop(proc)


@pytest.mark.parametrize("name", ["ring", "stolen", "lost", "revoked", "hostile"])
def test_published_and_served_pages_show_the_same_verdict(
        published: Published, driver: Any, name: str) -> None:
    """The QR code's URL (no trailing slash) opened on the static publish and on
    `provledger serve`: the same verdict, seen as a phone shows it."""
    history = published.pages.histories[name]
    path = item_path(history.item).rstrip("/")
    for base in (published.static_url, published.serve_url):
        load(driver, base + path)
        assert_seen_as_a_phone_shows_it(driver, HEADLINES[history.status])
        assert history.item in driver.find_element(By.ID, "piece").text


def test_both_download_links_give_a_bundle_that_verifies(
        published: Published, driver: Any) -> None:
    ring = published.pages.histories["ring"]
    for base in (published.static_url, published.serve_url):
        load(driver, base + item_path(ring.item).rstrip("/"))
        href = driver.find_element(By.ID, "bundle").get_attribute("href")
        with urllib.request.urlopen(href, timeout=10) as answer:
            data = answer.read()
        again = pl.verify_bundle(data, policy=published.pages.policy, now=int(time.time()),
                                 item=ring.item)
        assert again.status == "active", base
        assert again.checkpoint is not None
        assert [w.name for w in again.checkpoint.witnesses] == [WITNESS_NAME]
