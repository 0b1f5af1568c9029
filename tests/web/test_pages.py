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
