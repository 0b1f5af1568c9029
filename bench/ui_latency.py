"""UI latency: key press -> next item visible on the labeling page, over loopback.

Not a test. Starts the real service (embedded Redis, rq workers, gunicorn) on a
free port with a temporary data dir, builds the demo project through the API,
signs an annotator in with headless Chromium, labels N items by keyboard and
reports p50/p95 of two measures:

* in-page: the keydown event's timestamp -> the first animation frame after the
  next item was put in the DOM (what the annotator sees; no automation overhead);
* driver: Playwright ``keyboard.press`` -> the page reports the new item id
  (adds the DevTools round trips of the test driver).

Writes ``docs/benchmarks_ui.md``. Run: ``.venv/bin/python bench/ui_latency.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import free_port, percentile  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
#: Pause after an item appears, a (very fast) reader: the page ignores a key pressed
#: within 250 ms of an item appearing (a double press). 150 ms before session 38.
READ_MS = 300
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def measure(base: str, pid: str, token: str, n_items: int) -> tuple[list[float], list[float], int]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page = ctx.new_page()
        page.goto(f"{base}/signin?next=/p/{pid}/label")
        page.fill("#token", token)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda u: u.endswith(f"/p/{pid}/label"))
        page.wait_for_function("window.loopLabel && window.loopLabel.currentId() !== null")
        # Let the prefetch settle, as a person reading the first item would.
        page.wait_for_function("window.loopLabel.readyCount() >= 1")
        driver: list[float] = []
        waits = 0
        for i in range(n_items):
            old = page.evaluate("window.loopLabel.currentId()")
            if page.evaluate("window.loopLabel.readyCount()") < 1:
                waits += 1
            t0 = time.perf_counter()
            page.keyboard.press("1" if i % 3 else "2")
            page.wait_for_function("(o) => { const c = window.loopLabel.currentId();"
                                   " return c !== null && c !== o; }", arg=old, polling="raf")
            driver.append(1000 * (time.perf_counter() - t0))
            page.wait_for_timeout(READ_MS)  # a (very fast) human reading time
        page.evaluate("window.loopLabel.idle()")
        in_page = list(page.evaluate("window.loopLabel.stats.latencies"))
        browser.close()
    return in_page, driver, waits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks_ui.md"))
    args = ap.parse_args(argv)

    from loop.demo import _wait_healthy
    from loop.demo.client import ApiClient, add_annotator, create_demo_project
    from loop.service_cli import run_service, stop_service

    with tempfile.TemporaryDirectory() as tmp:
        info = run_service(workers=args.workers, port=free_port(), data_dir=tmp,
                           api_keys="bench-admin-key", wait=False)
        try:
            _wait_healthy(info["url"], info["processes"])
            api = ApiClient(info["url"], "bench-admin-key", timeout=120)
            pid = create_demo_project(api, log=lambda m: print("  " + m, file=sys.stderr))
            token = add_annotator(api, pid, "bench")
            in_page, driver, waits = measure(info["url"], pid, token, args.items)
        finally:
            stop_service(info)

    rows = [("in-page (keydown -> next frame)", in_page), ("driver (press -> new id seen)", driver)]
    lines = [
        "# UI latency: key press -> next item visible",
        "",
        f"`bench/ui_latency.py`, {args.items} items labeled by keyboard in headless Chromium "
        f"({platform.machine()}, Python {platform.python_version()}), against `loop serve` "
        f"(gunicorn gthread, {args.workers} rq workers, embedded Redis with appendfsync always) "
        "on 127.0.0.1, demo project (1,956 YouTube comments); recalibration every 10 answers "
        f"runs in the background during the run. {READ_MS} ms pause between items.",
        "",
        "| measure | n | p50 (ms) | p95 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, xs in rows:
        lines.append(f"| {name} | {len(xs)} | {percentile(xs, 0.5):.1f} | "
                     f"{percentile(xs, 0.95):.1f} | {max(xs) if xs else float('nan'):.1f} |")
    lines += [
        "",
        f"Items where the prefetched next item was not ready at the key press: {waits}.",
        "",
        "The next item is prefetched (leased) while the current one is on screen, so a key "
        "press swaps it in without waiting for the network; the answer is posted in the "
        "background. The in-page number is what an annotator experiences; the driver number "
        "adds Playwright's DevTools round trips.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text)
    print(f"mean in-page {statistics.fmean(in_page) if in_page else float('nan'):.1f} ms",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
