"""Page shells and headers, without a browser."""

from __future__ import annotations

import pytest
from web_helpers import ADMIN


@pytest.fixture
def app(tmp_path):
    from loop.web import create_app

    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "API_KEYS": ADMIN})
    yield app
    app.extensions["loop"]["redis"].close()
    app.extensions["loop"]["connection"].shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/signin", "/p/abc/label", "/p/abc/dashboard"])
def test_pages_send_strict_csp(app, path):
    r = app.test_client().get(path)
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in r.data  # no inline scripts
    assert b'data-pid="abc"' in r.data or path == "/signin"


@pytest.mark.slow
def test_pid_is_escaped_in_the_shell(app):
    r = app.test_client().get('/p/"><script>x<%2Fscript>/label')
    assert b"<script>x" not in r.data


@pytest.mark.slow
def test_session_view_needs_a_token(app):
    assert app.test_client().get("/p/abc/label/session").status_code == 401


@pytest.mark.slow
def test_an_address_with_no_page_gets_a_page_in_a_browser(app):
    """Annotators' trial: a guessed /p/<pid>/disputes showed a raw JSON error. A
    browser gets a page pointing home (the path escaped); the API keeps JSON."""
    client = app.test_client()
    html = {"Accept": "text/html,application/xhtml+xml"}
    r = client.get("/p/abc/disputes", headers=html)
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert b"No page here" in r.data and b'href="/"' in r.data
    r = client.get("/p/<script>x/disputes", headers=html)
    assert b"<script>x" not in r.data and b"&lt;script&gt;x" in r.data
    r = client.get("/api/projects/abc/nothing", headers=html)
    assert r.status_code == 404 and r.is_json
    assert client.get("/p/abc/disputes").is_json  # no browser: JSON


@pytest.mark.slow
def test_the_dashboards_way_to_load_an_export_into_pandas_keeps_its_ids(app, tmp_path):
    """Export trial: the dashboard's advice, ``pd.read_json(path, lines=True)``, read
    the ids 007, 0042 and 1e3 as the numbers 7.0, 42.0 and 1000.0 (pandas' default
    reads a column of number-like strings as numbers), so the labels could not be
    joined back to the user's rows."""
    import html
    import re

    import pandas as pd

    client, auth = app.test_client(), {"Authorization": f"Bearer {ADMIN}"}
    pid = client.post("/api/projects", headers=auth, json={
        "name": "ids", "labels": ["ham", "spam"]}).json["id"]
    ids, texts = ["007", "0042", "1e3", "12"], ["hello there", "None", "=1+2", "WIN a prize"]
    body = "id,text\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, texts, strict=True))
    r = client.post(f"/api/projects/{pid}/items?id_field=id", data=body.encode(),
                    headers={**auth, "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    path = tmp_path / "export.jsonl"
    path.write_bytes(client.get(f"/api/projects/{pid}/export?format=jsonl", headers=auth).data)
    page = client.get(f"/p/{pid}/dashboard").data.decode()
    advice = re.search(r"<code>(pd\.read_json\(path[^<]*\))</code>", page)
    assert advice, "the dashboard says how to load the export into pandas"
    df = eval(html.unescape(advice[1]), {"pd": pd, "path": path})  # noqa: S307 (our page)
    assert df["id"].tolist() == ids and df["text"].tolist() == texts
