"""The dashboard in a real browser (Debian's chromium driven by Playwright) against the real
daemon: sign in, create a workspace, see it run, use its console, logs and files, see its
metrics drawn, pause, resume and destroy it; the network graph, the events feed and an anomaly
flag. Screenshots go to test-artifacts/ to be looked at."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.conftest import ROOT, Daemon

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CORRAL_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/install.sh test)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True,
                                  bypass_csp=True)  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def shot(page: Page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"))


def sign_in(page: Page, server: Daemon) -> None:
    page.goto(f"{server.url}/")
    page.fill("input[name=api-key]", server.api_key)
    page.click("[data-signin] button[type=submit]")
    expect(page.locator("[data-table=workspaces]")).to_be_visible()


def row(page: Page, workspace_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f"tr[data-id='{workspace_id}']")


def test_sign_in_needs_a_valid_key(page: Page, server: Daemon) -> None:
    page.goto(f"{server.url}/")
    expect(page.locator("[data-signin]")).to_be_visible()
    shot(page, "signin")
    page.fill("input[name=api-key]", "crl_not-a-real-key")
    page.click("[data-signin] button[type=submit]")
    expect(page.locator("[data-signin] [role=alert]")).to_contain_text("not valid")
    page.fill("input[name=api-key]", server.api_key)
    page.click("[data-signin] button[type=submit]")
    expect(page.locator("[data-table=workspaces]")).to_be_visible()
    page.click("[data-action=sign-out]")
    expect(page.locator("[data-signin]")).to_be_visible()
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0


def test_workspace_from_create_to_destroy(page: Page, server: Daemon, http: httpx.Client,
                                          unique_name: str) -> None:  # fmt: skip
    sign_in(page, server)
    page.click("[data-action=new-workspace]")
    page.fill("dialog input[name=name]", unique_name)
    page.fill("dialog input[name=command]", "while :; do echo tick $(date +%s); sleep 1; done")
    page.fill("dialog input[name=memory_mib]", "256")
    page.fill("dialog input[name=ttl_seconds]", "900")
    page.fill("dialog input[name=rootfs_mib]", "64")
    shot(page, "create")
    page.click("dialog button[type=submit]")

    # The page of the new workspace, running.
    expect(page.locator("[data-workspace] h1 [data-state=running]")).to_be_visible()
    workspace_id = page.locator("[data-workspace]").get_attribute("data-workspace")
    made = http.get(f"/v1/workspaces/{workspace_id}").json()
    assert made["state"] == "running" and made["rootfs_mib"] == 64 and not made["internet"]

    # The console runs a command and shows its output, stderr apart, and the exit code.
    console = page.locator("[data-console-input]")
    console.fill("echo hello-from-the-browser; echo oops >&2; python3 -c 'print(6 * 7)'")
    console.press("Enter")
    output = page.locator("[data-console-output]")
    expect(output.locator("[data-exit-code='0']")).to_be_visible()
    expect(output).to_contain_text("hello-from-the-browser")
    expect(output).to_contain_text("42")
    expect(output.locator("[data-stream=stderr]")).to_contain_text("oops")
    console.fill("exit 3")
    console.press("Enter")
    expect(output.locator("[data-exit-code='3']")).to_be_visible()

    # A metrics chart is drawn: the CPU and memory lines have several points.
    for chart in ("cpu", "memory"):
        page.wait_for_function(
            f"""() => {{
                const line = document.querySelector("[data-chart={chart}] path.line");
                const d = line?.getAttribute("d");
                return d && (d.match(/L/g) || []).length >= 2;
            }}""",
            timeout=20_000,
        )
    expect(page.locator(".tile").first).not_to_contain_text("–")
    shot(page, "workspace")

    # The log tail follows the main command's output live.
    page.click("[data-tab=logs]")
    expect(page.locator("[data-logs]")).to_contain_text("tick")
    first = page.locator("[data-logs]").inner_text().count("tick")
    page.wait_for_function(
        f"document.querySelector('[data-logs]').innerText.split('tick').length - 1 > {first}"
    )
    shot(page, "logs")

    # The file browser lists directories and downloads files.
    http.put(f"/v1/workspaces/{workspace_id}/files", params={"path": "/srv/report.txt"},
             content=b"made for the browser test\n")  # fmt: skip
    page.click("[data-tab=files]")
    page.click("[data-files] tr[data-path='/srv']")
    expect(page.locator("[data-files] tr[data-path='/srv/report.txt']")).to_be_visible()
    shot(page, "files")
    with page.expect_download() as download:
        page.click("[data-files] tr[data-path='/srv/report.txt']")
    assert Path(download.value.path()).read_bytes() == b"made for the browser test\n"

    # Links degrade gracefully when the daemon has none; the events tab shows its history.
    page.click("[data-tab=links]")
    expect(page.locator("[data-links]")).to_contain_text(re.compile("private links", re.I))
    page.click("[data-tab=events]")
    expect(page.locator(".feed")).to_contain_text("creating → running")

    # The list: the workspace with its state, TTL countdown and sparklines.
    page.click("nav a[href='#/']")
    expect(row(page, workspace_id)).to_contain_text("running")
    expect(row(page, workspace_id).locator(".ttl")).to_have_text(re.compile(r"^1[45]m \d\ds$"))
    page.wait_for_function(
        f"""() => document.querySelector("tr[data-id='{workspace_id}'] svg.spark path.line")
                 ?.getAttribute("d")?.includes("L")"""
    )
    shot(page, "overview")

    # Pause and resume from the list.
    row(page, workspace_id).locator("[data-action=pause]").click()
    expect(row(page, workspace_id).locator(".state")).to_have_text("paused")
    assert http.get(f"/v1/workspaces/{workspace_id}").json()["state"] == "paused"
    row(page, workspace_id).locator("[data-action=resume]").click()
    expect(row(page, workspace_id).locator(".state")).to_have_text("running")

    # Destroy from its page, after confirming.
    row(page, workspace_id).click()
    page.click("[data-workspace] [data-action=destroy]")
    expect(page.locator("dialog")).to_contain_text("cannot be undone")
    shot(page, "destroy-confirm")
    page.click("dialog [data-confirm]")
    expect(page.locator("[data-table=workspaces]")).to_be_visible()
    expect(row(page, workspace_id)).to_have_count(0)
    assert http.get(f"/v1/workspaces/{workspace_id}").json()["state"] == "destroyed"


def test_network_graph_and_events_feed(page: Page, server: Daemon, http: httpx.Client,
                                       unique_name: str) -> None:  # fmt: skip
    ids = []
    for role in ("agent", "db"):
        response = http.post("/v1/workspaces", json={"name": f"{unique_name}-{role}"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    try:
        link = {"from": ids[0], "to": ids[1], "port": 5432, "protocol": "tcp"}
        if http.get("/v1/links").status_code == 404:
            # A daemon without private links: draw the graph from a link handed to the page.
            given = {**link, "from_name": f"{unique_name}-agent", "to_name": f"{unique_name}-db"}
            page.route("**/v1/links", lambda route: route.fulfill(json={"links": [given]}))
        else:
            assert http.post("/v1/links", json=link).status_code == 201
        sign_in(page, server)
        page.click("nav a[href='#/graph']")
        for wid in ids:
            expect(page.locator(f"[data-node='{wid}']")).to_be_visible()
        expect(page.locator("svg.graph path.edge")).to_have_count(1)
        expect(page.locator("svg.graph .edge-label")).to_have_text(":5432")
        time.sleep(0.5)
        shot(page, "graph")
        page.locator(f"[data-node='{ids[1]}']").click()
        expect(page.locator(f"[data-workspace='{ids[1]}']")).to_be_visible()
        page.click("[data-tab=links]")
        expect(page.locator("[data-links]")).to_contain_text("reached by")
        expect(page.locator("[data-links]")).to_contain_text(f"{unique_name}-agent")
        expect(page.locator("[data-links]")).to_contain_text("5432/tcp")

        page.click("nav a[href='#/events']")
        expect(page.locator(".feed")).to_contain_text(f"{unique_name}-db: creating → running")
        http.post(f"/v1/workspaces/{ids[1]}/pause")  # arrives live, over the stream
        expect(page.locator(".feed .event").first).to_contain_text(
            f"{unique_name}-db: running → paused"
        )
        time.sleep(0.5)  # let the new row finish sliding in
        shot(page, "events")
    finally:
        for wid in ids:
            http.delete(f"/v1/workspaces/{wid}")


def test_anomaly_is_flagged(page: Page, server: Daemon, http: httpx.Client,
                            unique_name: str) -> None:  # fmt: skip
    wid = http.post("/v1/workspaces", json={"name": unique_name}).json()["id"]
    try:
        deadline = time.monotonic() + 30  # the baseline's warm-up: 12 samples at 1 s
        while len(http.get(f"/v1/workspaces/{wid}/metrics").json()["history"]) < 14:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        burn = "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &"
        http.post(f"/v1/workspaces/{wid}/exec", json={"command": burn})
        sign_in(page, server)
        expect(row(page, wid).locator(".flag")).to_have_text("cpu", timeout=30_000)
        expect(page.locator(".card.alert")).to_be_visible()
        shot(page, "anomaly-list")
        row(page, wid).click()
        expect(page.locator("[data-anomalies]")).to_contain_text("CPU anomaly")
        shot(page, "anomaly-workspace")
    finally:
        http.delete(f"/v1/workspaces/{wid}")
