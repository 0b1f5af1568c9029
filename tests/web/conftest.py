"""Browser-test fixtures: a real server thread on loopback, a real embedded Redis,
the demo project built through the API, and Debian's Chromium via Playwright.

Without ``/usr/bin/chromium`` the browser tests skip, unless
``LOOP_REQUIRE_BROWSER=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SERVICE_TESTS = HERE.parent / "service"
sys.path[:0] = [str(HERE), str(SERVICE_TESTS)]  # web_helpers, svc_helpers

from svc_helpers import ADMIN  # noqa: E402
from web_helpers import CHROMIUM, CHROMIUM_ARGS, XSS_TEXTS, LiveServer  # noqa: E402


def _require_browser() -> bool:
    return os.environ.get("LOOP_REQUIRE_BROWSER", "") == "1"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not os.path.exists(CHROMIUM):
        msg = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if _require_browser():
            pytest.fail(msg + " and LOOP_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(msg)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - dev extra missing
        if _require_browser():
            pytest.fail(f"playwright not importable: {exc}", pytrace=False)
        pytest.skip(f"playwright not importable: {exc}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A fresh embedded Redis and app per test module, served on 127.0.0.1:<random>."""
    from loop.redis_server import connect
    from loop.web import create_app

    conn = connect(None, data_dir=str(tmp_path_factory.mktemp("redis")))
    app = create_app({"TESTING": True, "REDIS_URL": conn.url, "API_KEYS": ADMIN,
                      "CHUNK_SIZE": 1000, "QUEUE_SIZE": 60, "RECALIBRATE_EVERY": 0})
    server = LiveServer(app)
    yield server
    server.close()
    app.extensions["loop"]["redis"].close()
    conn.client.close()
    conn.shutdown()


@pytest.fixture(scope="module")
def demo_project(live: LiveServer) -> dict[str, str]:
    """The demo project (two of the five CSVs, to stay quick) and an annotator token."""
    from loop.demo.client import add_annotator, create_demo_project

    pid = create_demo_project(live.admin, files=("Youtube01-Psy.csv", "Youtube02-KatyPerry.csv"),
                              on_idle=live.run_jobs)
    return {"pid": pid, "token": add_annotator(live.admin, pid, "alice")}


def _tiny_project(live: LiveServer, name: str, texts: list[str], annotator: str,
                  **settings: Any) -> dict[str, str]:
    """A project of ``texts`` (each with an AUTHOR field and a nested object's
    ``data.entity1``, as WRENCH's are stored), its LFs applied and its queue filled,
    and an annotator's token; ``settings``: more of the project's settings."""
    import csv
    import io

    from loop.demo.client import LF_MODULE, add_annotator

    api = live.admin
    p = api.call("POST", "/api/projects", {"name": name, "labels": ["ham", "spam"],
                                           "lf_module": LF_MODULE, **settings})
    pid = str(p["id"])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["text", "AUTHOR", "data.entity1"])
    for t in texts:
        w.writerow([t, "<svg onload=alert(2)>", "<i>e1</i>"])
    api.call("POST", f"/api/projects/{pid}/items", data=buf.getvalue().encode(),
             content_type="text/csv")
    for job in ("apply_lfs", "fit_label_model", "refill_queue"):
        api.run_job(pid, job, on_idle=live.run_jobs)
    return {"pid": pid, "token": add_annotator(live.admin, pid, annotator)}


@pytest.fixture
def pair_project(live: LiveServer) -> dict[str, str]:
    """A new project of three items that each want two answers, none answered yet."""
    return _tiny_project(live, "pairs", ["one", "two", "three"], "tina", answers_per_item=2)


@pytest.fixture
def three_label_pairs(live: LiveServer) -> dict[str, str]:
    """A new project of two items, three labels, two answers an item, none yet."""
    return _tiny_project(live, "three", ["one", "two"], "tina", answers_per_item=2,
                         labels=["ham", "spam", "other"])


@pytest.fixture(scope="module")
def xss_project(live: LiveServer) -> dict[str, str]:
    """A tiny project whose only items carry HTML/script payloads as text."""
    return _tiny_project(live, "<b>xss</b>", XSS_TEXTS, "mallory")


@pytest.fixture
def tiny_project(live: LiveServer) -> dict[str, str]:
    """A new project of three items for each test, none answered yet."""
    return _tiny_project(live, "tiny", ["first comment", "check out my channel",
                                        "great song"], "tess")


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh 1280x800 page that records dialogs and console errors.

    The page's CSP is bypassed: Playwright's ``wait_for_function`` needs eval, and the
    XSS test must prove the scripts are safe without that second line of defence.
    ``test_pages_send_strict_csp`` checks the header itself."""
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    pg = ctx.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.console_errors = []  # type: ignore[attr-defined]

    def on_dialog(d: Any) -> None:
        pg.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    pg.set_default_timeout(45000)  # shared 2-core machines: be patient, not flaky
    yield pg
    ctx.close()


@pytest.fixture(scope="module")
def ten_label_project(live: LiveServer) -> dict[str, str]:
    """Ten labels (keys 1..9 and 0) over a few demo comments."""
    from loop.demo.client import LF_MODULE, add_annotator, demo_csv

    api = live.admin
    p = api.call("POST", "/api/projects", {"name": "ten", "labels": [f"c{i}" for i in range(10)],
                                           "lf_module": LF_MODULE, "text_field": "CONTENT"})
    pid = str(p["id"])
    api.call("POST", f"/api/projects/{pid}/items", data=demo_csv(("Youtube01-Psy.csv",), 20),
             content_type="text/csv")
    for job in ("apply_lfs", "fit_label_model", "refill_queue"):
        api.run_job(pid, job, on_idle=live.run_jobs)
    return {"pid": pid, "token": add_annotator(api, pid, "tess")}


@pytest.fixture(autouse=True)
def _lf_modules_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test LF modules (tests/service) importable in the LF-module check subprocess."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(SERVICE_TESTS), str(HERE.parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]))


@pytest.fixture
def new_project(live: LiveServer) -> Any:
    """Makes a project of the given texts: ``new_project(name, texts, annotator)``
    (as :func:`_tiny_project`)."""
    return lambda name, texts, annotator: _tiny_project(live, name, texts, annotator)
