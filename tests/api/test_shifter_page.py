"""The shifter page (GET /) in a real headless Chromium against a live ``vmsam serve``: the
status grid shows the stored statuses (and a current downtime), the grid is keyboard
navigable, a metric's drill-down shows the VM that produced its results and its view is a
link, the A/R charts have one column per day, the filters hide what they should, and a new
result appears without a reload. The API's conditional GETs (ETag, 304) are tested over
HTTP. Screenshots go to the test's own tmp_path (printed)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_page import Browser, texts
from tests.support.api import NOW, Server, populate, result, running_server
from vmsam.server.store import IdleSeen, Received, Store, VmSeen
from vmsam.shared.messages import encode

SPACES = 6
DAYS = 30


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The data set on SQLite with a downtime of dt.example now and one of vac01 two days
    ago, served; (server, database URL)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db')}/vmsam.db"
    populate(url)
    with Store(url) as store:
        store.add_downtime(
            "dt.example",
            "uk.ac.gridpp.vac",
            NOW - timedelta(hours=1),
            NOW + timedelta(days=2),
            description="hypervisor upgrade",
        )
        store.add_downtime(
            "vac01.a.example",
            "uk.ac.gridpp.vac",
            NOW - timedelta(days=3),
            NOW - timedelta(days=2),
            description="power cut",
        )
    with running_server(url, tmp_path_factory.mktemp("serve")) as running:
        yield running, url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "profile")
    try:
        opened.call("Page.enable")
        yield opened
    finally:
        opened.close()


def screenshot(browser: Browser, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    browser.screenshot(path)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")


def press(browser: Browser, key: str) -> None:
    codes = {"ArrowRight": 39, "ArrowLeft": 37, "ArrowDown": 40, "ArrowUp": 38, "Enter": 13}
    for kind in ("rawKeyDown", "keyUp"):
        browser.call(
            "Input.dispatchKeyEvent",
            type=kind,
            key=key,
            code=key,
            windowsVirtualKeyCode=codes[key],
        )


def grid(browser: Browser) -> dict[tuple[str, str], dict[str, Any]]:
    """Each space's row: its cells' texts and the status written in each metric cell."""
    rows: list[dict[str, Any]] = browser.evaluate(
        """[...document.querySelectorAll('tr.space')].map(r => ({
            cells: [...r.cells].map(c => c.textContent),
            status: r.querySelector('td.space-status .status').textContent,
            statusClass: r.querySelector('td.space-status .status').className,
            metrics: Object.fromEntries([...r.querySelectorAll('td.metric')]
                .filter(c => c.querySelector('.status'))
                .map(c => [c.dataset.metric, c.querySelector('.status').textContent])),
        }))"""
    )
    return {(row["cells"][0], row["cells"][2]): row for row in rows}


def open_page(browser: Browser, server: Server, fragment: str = "", query: str = "") -> None:
    browser.call("Page.navigate", url=f"{server.url}/{query}{fragment}")
    browser.wait_for("document.querySelectorAll('tr.space').length > 0")


# --- the API's conditional GETs ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sites",
        "/api/v1/results?endpoint=vac01.a.example&vo=lhcb&limit=5",
        "/api/v1/downtimes",
        "/api/v1/ar/sites/SITE-AR?vo=lhcb&start=2024-03-01&end=2024-03-10",
    ],
)
def test_polled_routes_answer_304_to_their_etag(live, path):
    server, _ = live
    with server.client() as client:
        first = client.get(path)
        assert first.status_code == 200
        tag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
        assert first.headers["cache-control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert client.get(path, headers={"If-None-Match": f'W/{tag}, "x"'}).status_code == 304
        other = client.get(path, headers={"If-None-Match": '"0123"'})
        assert other.status_code == 200
        assert other.json() == first.json()


def test_errors_carry_no_etag_and_the_tag_follows_the_data(tmp_path):
    url = f"sqlite:///{tmp_path}/vmsam.db"
    populate(url)
    with running_server(url, tmp_path / "serve") as server, server.client() as client:
        missing = client.get("/api/v1/results?site=NOWHERE")
        assert missing.status_code == 404
        assert "etag" not in missing.headers
        before = client.get("/api/v1/results?limit=1")
        fresh = result("vac01.a.example", "SITE-A", "cvmfs", datetime.now(UTC), vm="vm-etag")
        with Store(url) as store:
            store.save([Received.parse(encode(fresh), window=False)])
        after = client.get(
            "/api/v1/results?limit=1", headers={"If-None-Match": before.headers["etag"]}
        )
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        assert after.json()["results"][0]["vm_uuid"] == "vm-etag"


def test_freshness_says_which_sampling_keeps_a_space_defined(live):
    server, _ = live
    with server.client() as client:
        sites = client.get("/api/v1/sites").json()["sites"]
    spaces = {(s["endpoint"], s["vo"]): s["freshness"] for site in sites for s in site["endpoints"]}
    silent = spaces["vcycle.b.example", "lhcb"]
    needed = silent["tested_vm_starts_needed_per_hour"]
    assert needed == pytest.approx(-__import__("math").log(0.01) / 24)
    assert silent["sampling_factor_needed"] == pytest.approx(
        needed / silent["observed_vm_starts_per_hour"]
    )
    assert silent["sampling_factor_needed"] > 1
    # a space fresh today yet sampled less than the target needs also says by how much
    fresh = spaces["vac01.a.example", "lhcb"]
    assert fresh["sampling_factor_needed"] < silent["sampling_factor_needed"]


# --- the page ---------------------------------------------------------------------------


def test_the_grid_shows_the_stored_statuses(browser, live, tmp_path):
    server, _ = live
    with server.client() as client:
        sites = client.get("/api/v1/sites").json()["sites"]
    open_page(browser, server)
    browser.wait_for(f"document.querySelectorAll('tr.space').length === {SPACES}")
    shown = grid(browser)
    assert len(shown) == SPACES
    for site in sites:
        for space in site["endpoints"]:
            row = shown[space["endpoint"], space["vo"]]
            # every stored metric's newest status, written in its cell; a metric of the
            # profile that never reported (atlas has only cvmfs) is MISSING
            expected = {m: "MISSING" for m in space["freshness"]["metrics"]}
            expected |= {m["metric"]: m["status"] for m in space["metrics"]}
            assert row["metrics"] == expected
            if space["endpoint"] == "dt.example":  # in a downtime now: blue, status beside
                assert row["status"] == "DOWNTIME"
                assert row["cells"][3] == f"DOWNTIME {space['status']}"
            else:
                assert row["status"] == space["status"]
    assert shown["vac02.a.example", "lhcb"]["metrics"]["org.lhcb.WN-scratch"] == "CRITICAL"
    colours = browser.evaluate(
        "Object.fromEntries(['OK', 'WARNING', 'CRITICAL', 'UNKNOWN', 'MISSING', 'DOWNTIME'].map("
        "s => { const e = document.querySelector('.legend .status.' + s);"
        " return [s, getComputedStyle(e).backgroundColor]; }))"
    )
    assert colours["OK"] == "rgb(27, 127, 59)"
    assert colours["CRITICAL"] == "rgb(198, 40, 40)"
    assert colours["DOWNTIME"] == "rgb(21, 101, 192)"
    assert colours["WARNING"] == "rgb(240, 192, 0)"
    assert colours["UNKNOWN"] == "rgb(97, 97, 97)"
    # the silent space is flagged with the sampling that would keep it defined
    freshness = shown["vcycle.b.example", "lhcb"]["cells"][5]
    assert "at risk" in freshness
    assert re.search(r"sampling fraction \u00d7\d+(\.\d)? keeps it defined", freshness)
    assert shown["vac01.a.example", "lhcb"]["cells"][5] == "fresh"
    screenshot(browser, tmp_path, "grid")


def test_the_grid_is_keyboard_navigable(browser, live):
    server, _ = live
    open_page(browser, server)
    browser.wait_for(f"document.querySelectorAll('tr.space').length === {SPACES}")
    assert (
        browser.evaluate("document.querySelectorAll('#sites td.cell[tabindex=\"0\"]').length") == 1
    )
    browser.evaluate("document.querySelector('#sites td.cell[tabindex=\"0\"]').focus()")
    first = browser.evaluate("document.activeElement.dataset.cell")
    assert first.endswith("|")  # the first row's status cell
    press(browser, "ArrowRight")
    assert browser.evaluate("document.activeElement.dataset.metric") == "org.atlas.WN-cvmfs"
    press(browser, "ArrowDown")
    second_row = browser.evaluate("document.activeElement.closest('tr').dataset.key")
    assert second_row != first.split("|")[0]
    press(browser, "ArrowLeft")
    press(browser, "ArrowUp")
    assert browser.evaluate("document.activeElement.dataset.cell") == first
    press(browser, "Enter")
    browser.wait_for("!document.getElementById('detail').hidden")
    assert (
        browser.evaluate("document.getElementById('detail-title').textContent")
        == (first.split("endpoint=")[1].split("&")[0])
    )


def test_a_metric_drills_down_to_the_vms_and_its_view_is_a_link(browser, live, tmp_path):
    server, _ = live
    open_page(browser, server)
    browser.wait_for(f"document.querySelectorAll('tr.space').length === {SPACES}")
    browser.click(
        "tr.space[data-key*='vac02.a.example'] td.metric[data-metric='org.lhcb.WN-scratch']"
    )
    browser.wait_for("document.querySelectorAll('#metric-results article').length === 1")
    assert browser.evaluate("document.getElementById('metric-title').textContent") == (
        "org.lhcb.WN-scratch: recent results"
    )
    article = browser.evaluate(
        "(() => { const a = document.querySelector('#metric-results article');"
        " return ['.status', '.metric', '.vm-uuid', '.machinetype', '.hostname', '.summary']"
        ".map(s => a.querySelector(s).textContent); })()"
    )
    assert article == [
        "CRITICAL",
        "org.lhcb.WN-scratch",
        "vm-hostile",
        "pilot",
        "vm-hostile.vac02.a.example",
        "<img src=x onerror=alert(1)>",
    ]
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    link = browser.evaluate("document.getElementById('permalink').href")
    assert "metric=org.lhcb.WN-scratch" in link
    # the space's and its site's charts: one column per day, monthly figures beside
    browser.wait_for(f"document.querySelectorAll('#space-ar svg g.day').length === {DAYS}")
    assert browser.evaluate("document.querySelectorAll('#site-ar svg g.day').length") == DAYS
    assert browser.evaluate("document.querySelectorAll('#ar tbody tr').length") == DAYS
    assert texts(browser, "#ar thead th")[-1] == "Scheduled downtime"
    screenshot(browser, tmp_path, "drill-down")

    # the link reproduces the view in a fresh page
    browser.call("Page.navigate", url="about:blank")
    browser.call("Page.navigate", url=link)
    browser.wait_for("document.querySelectorAll('#metric-results article').length === 1")
    assert browser.evaluate("document.querySelector('tr.space.selected td').textContent") == (
        "vac02.a.example"
    )
    assert texts(browser, "#metric-results .vm-uuid") == ["vm-hostile"]


def test_days_without_data_read_n_a_and_downtimes_are_drawn(browser, live, tmp_path):
    server, _ = live
    # SITE-AR has results only in 2024: none of the last 30 days has a defined status
    open_page(
        browser, server, "#site=SITE-AR&endpoint=ar.example&service_type=uk.ac.gridpp.vac&vo=lhcb"
    )
    browser.wait_for(f"document.querySelectorAll('#space-ar svg g.day.nodata').length === {DAYS}")
    rows = browser.evaluate(
        "[...document.querySelectorAll('#ar tbody tr')].map(r => [...r.cells].slice(1)"
        ".map(c => c.textContent))"
    )
    assert len(rows) == DAYS
    assert all(cells == ["n/a"] * 5 for cells in rows)  # never 0.00 beside n/a
    monthly = texts(browser, "#space-ar table.monthly tbody td:not(:first-child)")
    assert monthly and set(monthly) == {"n/a"}
    assert "ARGO" in browser.evaluate("document.querySelector('#ar abbr.na').title")

    # vac01 had a scheduled downtime two days ago: a blue band on its chart
    browser.call("Page.navigate", url="about:blank")
    open_page(
        browser,
        server,
        "#site=SITE-A&endpoint=vac01.a.example&service_type=uk.ac.gridpp.vac&vo=lhcb",
    )
    browser.wait_for(
        "document.querySelectorAll('#space-ar svg rect.downtime.scheduled').length === 1"
    )
    assert browser.evaluate(
        "document.querySelector('#space-ar rect.downtime title').textContent"
    ).endswith("power cut")
    assert browser.evaluate(
        "!document.querySelector('#space-ar svg g.day:last-of-type').classList.contains('nodata')"
    )
    screenshot(browser, tmp_path, "chart")


def test_the_filters_narrow_the_grid_and_stay_in_the_link(browser, live):
    server, _ = live
    open_page(browser, server)
    browser.wait_for(f"document.querySelectorAll('tr.space').length === {SPACES}")
    browser.evaluate("document.getElementById('filter-problems').click()")
    browser.wait_for("location.hash.includes('problems=1')")
    shown = grid(browser)
    # vac02 CRITICAL, vcycle at risk, ar and dt CRITICAL, atlas on vac01 misses metrics;
    # vac01 for lhcb is fine
    assert set(shown) == {
        ("vac02.a.example", "lhcb"),
        ("vcycle.b.example", "lhcb"),
        ("ar.example", "lhcb"),
        ("dt.example", "lhcb"),
        ("vac01.a.example", "atlas"),
    }
    browser.evaluate("document.getElementById('filter-problems').click()")
    browser.evaluate(
        "(() => { const s = document.getElementById('filter-vo'); s.value = 'atlas';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    browser.wait_for("document.querySelectorAll('tr.space').length === 1")
    assert set(grid(browser)) == {("vac01.a.example", "atlas")}
    browser.evaluate(
        "(() => { const s = document.getElementById('filter-vo'); s.value = '';"
        " s.dispatchEvent(new Event('change'));"
        " const q = document.getElementById('filter-site'); q.value = 'site-b';"
        " q.dispatchEvent(new Event('input')); })()"
    )
    browser.wait_for("document.querySelectorAll('tr.space').length === 1")
    assert texts(browser, "tr.site th")[0].startswith("SITE-B")
    link = browser.evaluate("location.href")
    browser.call("Page.navigate", url="about:blank")
    browser.call("Page.navigate", url=link)
    browser.wait_for("document.querySelectorAll('tr.space').length === 1")
    assert browser.evaluate("document.getElementById('filter-site').value") == "site-b"


def test_a_new_result_appears_without_reload(browser, tmp_path):
    url = f"sqlite:///{tmp_path}/vmsam.db"
    populate(url)
    with running_server(url, tmp_path / "serve") as server:
        open_page(
            browser,
            server,
            "#site=SITE-A&endpoint=vac01.a.example&service_type=uk.ac.gridpp.vac&vo=lhcb",
            "?refresh=1",
        )
        browser.wait_for("document.querySelectorAll('#results article').length > 0")
        browser.evaluate("window.notReloaded = true")
        cell = (
            "tr.space[data-key*='vac01.a.example'][data-key*='lhcb']"
            " td[data-metric='org.lhcb.WN-cvmfs'] .status"
        )
        assert browser.evaluate(f"document.querySelector({json.dumps(cell)}).textContent") == "OK"
        # idle polls are answered 304 (the browser revalidates with If-None-Match)
        deadline = time.monotonic() + 30
        while "304" not in _sites_statuses(server):
            assert time.monotonic() < deadline, "no 304 for /api/v1/sites"
            time.sleep(0.2)

        new = result(
            "vac01.a.example",
            "SITE-A",
            "cvmfs",
            datetime.now(UTC).replace(microsecond=0),
            vm="vm-brand-new",
            status="WARNING",
            summary="cvmfs slow",
        )
        with Store(url) as store:
            store.save([Received.parse(encode(new), window=False)])
        browser.wait_for(f"document.querySelector({json.dumps(cell)}).textContent === 'WARNING'")
        # the opened space's panel follows too
        browser.wait_for(
            "document.querySelector('#results article .vm-uuid').textContent === 'vm-brand-new'"
        )
        assert texts(browser, "#results article:first-child .summary") == ["cvmfs slow"]
        assert browser.evaluate("window.notReloaded === true")
        screenshot(browser, tmp_path, "live")


def _sites_statuses(server: Server) -> set[str]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return set(re.findall(r'route="/api/v1/sites",status="(\d+)"', text))


def test_a_timeline_strip_per_space_matches_the_apis_pieces(browser, live, tmp_path):
    server, _ = live
    open_page(
        browser,
        server,
        "#site=SITE-A&endpoint=vac02.a.example&service_type=uk.ac.gridpp.vac&vo=lhcb",
    )
    # the site's strip, then one per space of the site for the VO
    browser.wait_for("document.querySelectorAll('#strips .strip').length === 3")
    drawn = browser.evaluate(
        """[...document.querySelectorAll('#strips .strip')].map(s => ({
            name: s.querySelector('.strip-name').textContent,
            pieces: [...s.querySelectorAll('rect.piece')].map(r => [
                r.dataset.start, r.dataset.end, r.dataset.status,
                r.classList.contains(r.dataset.status), r.querySelector('title').textContent]),
        }))"""
    )
    # the same question the page asked, from the page (its own idea of today)
    answer = browser.evaluate(
        "fetch(`/api/v1/status/sites/SITE-A?vo=lhcb&start=${utcDay(1 - AR_DAYS)}"
        "&end=${utcDay(0)}`).then(r => r.json())"
    )
    expected = [("SITE-A", answer["pieces"])] + [
        (space["endpoint"], space["pieces"]) for space in answer["endpoints"]
    ]
    assert [strip["name"] for strip in drawn] == [name for name, _ in expected]
    for strip, (_, pieces) in zip(drawn, expected, strict=True):
        # the last piece ends at now, which moved between the two requests
        assert [[p[0], p[2]] for p in strip["pieces"]] == [
            [p["start"], p["status"]] for p in pieces
        ]
        assert [p[1] for p in strip["pieces"]][:-1] == [p["end"] for p in pieces][:-1]
        assert all(p[3] for p in strip["pieces"])  # coloured by its status
    # the opened space's strip stands out
    assert texts(browser, "#strips .strip.selected .strip-name") == ["vac02.a.example"]
    # DAYS days of MISSING, carried or reported pieces: at least one a day
    assert all(len(strip["pieces"]) >= DAYS for strip in drawn)
    # the hostile VM's CRITICAL scratch result set vac02's last piece: its tooltip says so
    last = drawn[2]["pieces"][-1]
    assert last[2] == "CRITICAL"
    assert last[4].endswith("set by vm-hostile (pilot)")
    assert (
        browser.evaluate(
            "getComputedStyle(document.querySelector('#strips rect.piece.CRITICAL')).fill"
        )
        == "rgb(198, 40, 40)"
    )
    # the trends of the site: vac02's CRITICAL scratch is its most failing metric
    browser.wait_for("document.querySelectorAll('#trends-failing li').length > 0")
    assert texts(browser, "#trends-failing li")[0] == (
        "org.lhcb.WN-scratch on vac02.a.example: 1 of 1 [pilot 1]"
    )
    screenshot(browser, tmp_path, "timelines")


def test_missing_with_no_vms_is_drawn_apart_from_missing_with_vms(browser, live, tmp_path):
    """vac01 has results for the last 9 hours only: MISSING before. Its factory reported
    nothing running 10 to 8 days ago (hatched grey), a VM ran untested 6 to 5 days ago
    (light red); the other MISSING days nobody reported on (plain grey)."""
    server, url = live
    space = "vac01.a.example"
    with Store(url) as store:
        store.record_activity(
            [
                VmSeen(
                    space,
                    "vm-untested",
                    "SITE-A",
                    "f1",
                    "pilot",
                    NOW - timedelta(days=6),
                    NOW - timedelta(days=5),
                    "shutdown",
                    "300 done",
                )
            ],
            [
                IdleSeen(
                    space, "SITE-A", "f1", "", NOW - timedelta(days=10), NOW - timedelta(days=8)
                )
            ],
            [],
        )
    open_page(
        browser, server, f"#site=SITE-A&endpoint={space}&service_type=uk.ac.gridpp.vac&vo=lhcb"
    )
    strip = f"#strips .strip.space[data-endpoint='{space}']"
    browser.wait_for(f'document.querySelector("{strip} rect.piece.no-vms") !== null')
    drawn = browser.evaluate(
        f"""[...document.querySelectorAll("{strip} rect.piece")].map(r => [
            r.dataset.status, r.dataset.activity, getComputedStyle(r).fill,
            r.querySelector('title').textContent])"""
    )
    by_activity = {activity: (status, fill, title) for status, activity, fill, title in drawn}
    assert set(by_activity) >= {"no-vms", "vms-ran", "unknown"}
    assert all(status == "MISSING" for status, activity, *_ in drawn if activity)
    assert all(activity == "" for status, activity, *_ in drawn if status != "MISSING")
    assert 'url("#no-vms-hatch")' in by_activity["no-vms"][1]
    assert by_activity["vms-ran"][1] == "rgb(229, 115, 115)"
    assert by_activity["unknown"][1] == "rgb(158, 158, 158)"
    assert by_activity["no-vms"][2].endswith("no VMs ran: the factories reported none running")
    assert by_activity["vms-ran"][2].endswith("VMs ran: they failed or were not tested")
    assert by_activity["unknown"][2].endswith("nobody reported whether VMs ran")
    legend = texts(browser, "#activity-legend")[0]
    assert "no VMs ran" in legend and "VMs ran (failed or untested)" in legend
    screenshot(browser, tmp_path, "no-vms")
