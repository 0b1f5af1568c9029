"""Flask app factory."""

from __future__ import annotations

import secrets
import sys
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from loop.errors import LoopError
from loop.web.config import DEFAULTS, admin_keys


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``LOOP_*`` environment, then ``test_config``."""
    from rq import Queue

    from loop.redis_server import connect
    from loop.storage.redis import RedisStore
    from loop.web import api, openapi

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("LOOP")
    if test_config:
        app.config.from_mapping(test_config)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_BYTES"]) + 1024 * 1024
    if app.config["DEMO"] and not admin_keys(app.config["API_KEYS"]):
        key = secrets.token_urlsafe(16)
        app.config["API_KEYS"] = key
        print(f"loop: demo admin key: {key}", file=sys.stderr, flush=True)

    conn = connect(app.config["REDIS_URL"], data_dir=f"{app.config['DATA_DIR']}/redis")
    app.extensions["loop"] = {
        "redis": conn.client,
        "connection": conn,
        "store": RedisStore(conn.client),
        "queue": Queue(app.config["QUEUE_NAME"], connection=conn.client),
    }

    @app.errorhandler(LoopError)
    def loop_error(exc: LoopError) -> Any:
        return jsonify({"error": str(exc)}), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return jsonify({"error": exc.description or exc.name}), exc.code

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness: the app answers and Redis pings."""
        app.extensions["loop"]["redis"].ping()
        return jsonify({"ok": True})

    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    from loop.web import pages; app.register_blueprint(pages.bp)  # noqa: E702, I001
    return app
