"""The recomputations on the shifters' page, in a real headless Chromium: the VO's requests
listed with their state (read-only), and the time an applied one excluded drawn over the
timeline strips, named by its id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.api import test_shifter_page
from tests.api.test_page import Browser, texts
from tests.api.test_shifter_page import open_page, screenshot
from tests.support.api import NOW, Server, populate, running_server
from vmsam.server.recomputations import decide, request
from vmsam.server.store import Actor, Store

PERSON = Actor("tester", "127.0.0.1")
# the shifter page's browser fixture (DevTools Page events on)
browser = test_shifter_page.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[int]]]:
    """The data set on SQLite with an applied recomputation of SITE-A two to one days ago,
    a rejected one and a pending one; (server, their ids)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db')}/vmsam.db"
    populate(url)
    day = timedelta(days=1)
    with Store(url) as store:
        ids = []
        for offset, state, sites in (
            (2, "applied", ["SITE-A"]),
            (4, "rejected", []),
            (6, None, []),
        ):
            asked = request(
                store,
                vo="lhcb",
                reason=f"<b>broker</b> outage {offset}",
                requester="Ada",
                start=NOW - offset * day,
                end=NOW - (offset - 1) * day,
                sites=sites,
                by=PERSON,
            )
            if state is not None:
                decide(store, asked.id, state, by=PERSON)
            ids.append(asked.id)
    with running_server(url, tmp_path_factory.mktemp("serve")) as running:
        yield running, ids


def test_the_panel_lists_the_requests_and_the_strips_show_the_excluded_time(
    browser: Browser, served: tuple[Server, list[int]], tmp_path: Path
) -> None:
    server, (applied, rejected, pending) = served
    open_page(browser, server, "#site=SITE-A&vo=lhcb")
    browser.wait_for("document.querySelectorAll('#recomputations tbody tr').length === 3")
    rows = browser.evaluate(
        """[...document.querySelectorAll('#recomputations tbody tr')].map(r =>
            [...r.querySelectorAll('td')].map(c => c.textContent))"""
    )
    # oldest start first: the pending one (6 days ago), the rejected, the applied
    assert [(row[0], row[1]) for row in rows] == [
        (str(pending), "pending"),
        (str(rejected), "rejected"),
        (str(applied), "applied"),
    ]
    assert rows[2][4] == "SITE-A" and rows[0][4] == "all"
    assert rows[2][6] == "<b>broker</b> outage 2"  # text, never markup
    assert browser.evaluate("document.querySelector('#recomputations b')") is None
    assert (
        browser.evaluate("document.querySelector('#recomputations button, #recomputations input')")
        is None
    )
    # every strip (the site's, each space's) marks the applied one's time, and only it
    browser.wait_for("document.querySelectorAll('#strips .strip').length > 1")
    marks = browser.evaluate(
        """[...document.querySelectorAll('#strips .strip')].map(s =>
            [...s.querySelectorAll('rect.excluded')].map(r => r.dataset.recomputation))"""
    )
    assert marks and all(mark == [str(applied)] for mark in marks), marks
    title = texts(browser, "#strips rect.excluded title")[0]
    assert title.startswith(f"excluded by recomputation {applied} ")
    screenshot(browser, tmp_path, "recomputations")
