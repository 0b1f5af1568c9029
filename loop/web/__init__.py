"""Flask app factory: the JSON API, the pages and ``/healthz`` over one Redis."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import asdict
from typing import Any

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from loop.errors import LoopError, TooLarge, shorten
from loop.service.export import dumps_finite
from loop.service.settings import Settings

#: Longest error message (characters) an API answer carries.
MAX_ERROR_CHARS = 2000
#: Bytes of a body refused for its size read before the 413, so the connection can
#: carry the next request and the client sees the answer (see ``_drain_refused_body`` in
#: :func:`create_app`): an API body's, and an upload's beyond twice its limit.
DRAIN_MAX_BYTES = 16 << 20

#: The endpoints that take files (their 413 says to split the file).
UPLOAD_ENDPOINTS = ("api.upload_items", "api.preview_items")
#: Largest body of any other request (a rule, guidelines, an answer: a few kB).
MAX_API_BODY = 1 << 20

log = logging.getLogger("loop.web")

#: Sent with every response: item text is untrusted, so no inline script, nothing
#: from elsewhere, and no content sniffing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class _JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with NaN and infinities written as null: JSON has no such
    values, and a browser's JSON.parse refuses a whole answer holding one (security
    trial: an uploaded 1e999, stored as inf by a version before the upload's check,
    stopped an annotator's labeling page on that item for good, and a rule of value
    NaN the dashboard's rule table). Bodies and uploads refuse or null them on the
    way in; this is for values stored before, written by whatever path.

    Keys in the order they were put in, not sorted: a project's per-class numbers
    (class balance, a preview's ``gold_counts``) in its labels' order, and an
    item's fields in its file's (sorted, a ``spam, ham`` project's counts came
    ``ham`` first to every API reader)."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps_finite(obj, super().dumps, **kwargs)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``LOOP_*`` environment, then ``test_config``."""
    from rq import Queue

    from loop.redis_server import (
        connect,
        disk_full,
        disk_refused,
        embedded_dir,
        memory_full,
        with_password,
    )
    from loop.service.jobs import enqueuer
    from loop.service.recalibration import RecalibrationPolicy, Recalibrator
    from loop.storage import RedisStore
    from loop.storage.base import claim_format
    from loop.web import api, idempotency, openapi, pages

    app = Flask(__name__)
    app.json = _JSONProvider(app)
    # "//x" is no path of ours: Werkzeug's redirect to the merged path is absolute,
    # built from the request's Host header (security trial: "Host: evil.com" on
    # /p//evil.com got "Location: http://evil.com/p/evil.com"); a 404 instead
    app.url_map.merge_slashes = False
    app.config.from_mapping(Settings().as_config())
    app.config.from_prefixed_env("LOOP")
    if test_config:
        app.config.from_mapping(test_config)
    settings = Settings.from_mapping(app.config)
    if settings.demo and not settings.admin_keys:
        key = secrets.token_urlsafe(16)
        settings = Settings.from_mapping({**settings.as_config(), "API_KEYS": key})
        log.warning("demo mode: generated admin key %s", key)
    app.config.update(settings.as_config())
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + 1024 * 1024

    url = with_password(settings.redis_url, settings.redis_password)
    conn = connect(url or None, data_dir=f"{settings.data_dir}/redis")
    store = RedisStore(conn.client)
    # a Redis a newer loop wrote is refused; one that cannot be checked yet is
    # checked by the workers (and /healthz says what is wrong with it)
    unchecked = claim_format(conn.client)
    if unchecked:
        log.warning("%s; the workers will", unchecked)
    queue = Queue(settings.queue_name, connection=conn.client)

    policy = RecalibrationPolicy.from_settings(settings)
    app.extensions["loop"] = {
        "redis": conn.client, "connection": conn, "store": store, "queue": queue,
        "settings": settings, "policy": asdict(policy),
        "recalibrator": Recalibrator(store, enqueuer(queue, store), policy,
                                     settings.queue_size),
        # export files being sent now (loop.web.api.FILE_SLOTS)
        "file_slots": threading.BoundedSemaphore(api.FILE_SLOTS),
    }

    @app.errorhandler(LoopError)
    def loop_error(exc: LoopError) -> Any:
        # however much of a request a message quotes, the answer stays small
        body: dict[str, Any] = {"error": shorten(str(exc), MAX_ERROR_CHARS)}
        if exc.code:
            body["code"] = exc.code
        if isinstance(getattr(exc, "label", None), int):  # already answered: as what
            body["label"] = exc.label  # type: ignore[attr-defined]
        if isinstance(getattr(exc, "rule", None), str):  # a suggestion that is a rule now
            body["rule"] = exc.rule  # type: ignore[attr-defined]
        if getattr(exc, "ids_stored", False):  # a duplicate upload importing cannot add
            body["ids_stored"] = True
        errors = getattr(exc, "errors", None)
        if errors:  # row by row, for an upload, and what they add up to
            body["errors"] = [shorten(str(e), MAX_ERROR_CHARS) for e in errors]
            if summary := getattr(exc, "summary", None):
                body["summary"] = str(summary)
        resp = jsonify(body)
        if (retry := getattr(exc, "retry_after", None)) is not None:
            resp.headers["Retry-After"] = str(retry)
        if exc.status == 413:
            _drain_refused_body(resp)
        return resp, exc.status

    def _drain_refused_body(resp: Any) -> Any:
        """A body refused for its size is read to its end before the answer (up to
        :data:`DRAIN_MAX_BYTES`; an upload's up to twice its limit), so the connection
        can carry the next request: gunicorn reads on 64 KB of what a request left and
        then closes the connection after answering "keep-alive" (operator's trial: the
        client's next request on it got no answer at all), and a client still sending
        a file it closed on sees a broken pipe, not the 413 that says to split it
        (re-trial: 55 MB). A bigger body still has the connection closed after the
        answer; gunicorn drops the ``Connection: close`` set here (a hop-by-hop header)
        and says "keep-alive" all the same, which other servers do not."""
        limit = DRAIN_MAX_BYTES
        if request.endpoint in UPLOAD_ENDPOINTS:
            limit = max(limit, 2 * app.extensions["loop"]["settings"].max_upload_bytes)
        length = request.content_length  # None: sent chunked
        want = limit if length is None else min(limit, length)
        stream = request.environ["wsgi.input"]
        try:
            while want > 0:
                chunk = stream.read(min(1 << 16, want))
                if not chunk:
                    return resp  # the body ended
                want -= len(chunk)
            if length is not None and length <= limit:
                return resp  # read to its end
        except OSError:  # the client went away
            pass
        resp.headers["Connection"] = "close"
        return resp

    @app.before_request
    def body_limit() -> None:
        # operator's trial: any annotator token could send 50 MB to /queue/answer
        if request.endpoint not in UPLOAD_ENDPOINTS:  # not by path: .../rules/items
            request.max_content_length = _api_body_limit()

    idempotency.init_app(app, store)  # after body_limit: a body too big is refused first

    def _api_body_limit() -> int:
        return min(MAX_API_BODY, app.config.get("MAX_CONTENT_LENGTH") or MAX_API_BODY)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code == 413:
            upload = request.endpoint in UPLOAD_ENDPOINTS
            too = TooLarge(app.extensions["loop"]["settings"].max_upload_bytes
                           if upload else _api_body_limit(), upload=upload)
            return _drain_refused_body(jsonify({"error": str(too)})), too.status
        if (exc.code == 404 and not request.path.startswith("/api/")
                and request.accept_mimetypes.accept_html):
            # a browser at an address with no page (annotators' trial: a raw JSON
            # error for a guessed /p/<pid>/disputes)
            from flask import render_template

            return render_template("not_found.html", title="Not found",
                                   path=request.path[:200]), 404
        resp = jsonify({"error": exc.description or exc.name})
        for key, value in exc.get_headers():  # e.g. a 405's Allow
            if key.lower() != "content-type":
                resp.headers[key] = value
        return resp, exc.code

    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import OutOfMemoryError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeout

    @app.errorhandler(RedisDown)
    @app.errorhandler(RedisTimeout)
    def redis_unavailable(exc: Exception) -> Any:
        # Redis restarting (the supervisor brings it back in about a second) or
        # unreachable: the client should retry; answers are idempotent.
        log.warning("Redis unavailable: %s: %s", type(exc).__name__, exc)
        resp = jsonify({"error": f"the database is unavailable ({type(exc).__name__}"
                                 f"{_full_disk()}); retry in a moment" + _retry_note()})
        resp.headers["Retry-After"] = "1"
        return resp, 503

    def _full_disk() -> str:
        """``"; its disk is full: ..."`` when the embedded Redis's disk is (nearly)
        full (operator's re-trial: clients were told only "ConnectionError" while
        `loop serve` waited for room)."""
        where = embedded_dir(conn.url)
        full = disk_full(where) if where else None
        return f"; its disk is full, {full}: an operator must free space there" if full else ""

    def _retry_note() -> str:
        """What a retry does, for the request at hand (operator's trial: an upload was
        told about answers)."""
        path = request.path
        if path.endswith("/queue/answer"):
            return " (a repeated answer is stored once)"
        if request.method in ("POST", "PUT", "DELETE", "PATCH"):
            return (" (an upload is all or nothing: a retry of a file that was stored "
                    "is refused as a duplicate)") if path.endswith("/items") else ""
        return ""

    @app.errorhandler(ResponseError)
    def redis_refused(exc: ResponseError) -> Any:
        # redis-py raises OutOfMemoryError for a command; inside a script it is a
        # ResponseError naming OOM
        if "MISCONF" in str(exc):  # also "Command # 1 (SET ...) of pipeline caused error"
            # a snapshot failed to save (a full disk): Redis refuses every write
            log.error("Redis cannot save to its disk: %s", exc)
            resp = jsonify({"error": "the database cannot write to its disk (Redis: "
                                     "MISCONF, a full disk?): nothing was stored; an "
                                     "operator must free space on the Redis host, then "
                                     "retry"})
            resp.headers["Retry-After"] = "30"
            return resp, 503
        if not isinstance(exc, OutOfMemoryError) and "OOM" not in str(exc):
            return unexpected(exc)  # a bug of ours: as any other
        # maxmemory reached: Redis refuses every write that would add memory (an
        # answer's script refuses before its first write); the client may retry
        log.error("Redis is out of memory: %s", exc)
        resp = jsonify({"error": "the database is full (Redis reached its maxmemory): "
                                 "nothing was stored; an operator must free memory or raise "
                                 "maxmemory, then retry"})
        resp.headers["Retry-After"] = "30"
        return resp, 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        return jsonify({"error": f"internal error ({type(exc).__name__}); see the "
                                 "server log"}), 500

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith("/api/"):  # tokens, answers, exports: never cached
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/healthz")
    def healthz() -> Any:
        """Redis answers, and how many workers are alive (no key needed).

        ``?workers=N``: also 503 while fewer than ``N`` workers are alive (killed,
        frozen, never started): the API still takes answers then, but nothing
        carries them into the models, and a probe of the status code alone would
        not see it."""
        from loop.service.worker import alive_workers, older_workers

        api.known_query_args("/healthz")
        need = (api.whole_arg("workers", "0", "a whole number >= 0")
                if "workers" in request.args else None)
        try:
            alive = alive_workers(conn.client)
            older = older_workers(conn.client)
            full = memory_full(conn.client)
            disk = disk_refused(conn.client)
        except Exception as exc:  # Redis down: say so, with 503
            return jsonify({"ok": False, "redis": f"unreachable: {type(exc).__name__}"
                                                  f"{_full_disk()}", "workers": None}), 503
        if full:  # writes are refused: answers, the loop's models
            return jsonify({"ok": False, "redis": f"full: {full}", "workers": alive}), 503
        if disk:  # operator's trial: Redis refused every write, /healthz said ok
            return jsonify({"ok": False, "redis": f"cannot write to disk: {disk}",
                            "workers": alive}), 503
        if need is not None and alive < need:
            return jsonify({"ok": False, "redis": "ok", "workers": alive,
                            "error": f"{alive} of the {need} workers asked for are alive: "
                                     + ("answers are kept but do not reach the models"
                                        if not alive else "the loop runs, more slowly")}), 503
        if older:  # compose upgrade trial: `up -d --build web` left them on the old code
            return jsonify({"ok": True, "redis": "ok", "workers": alive,
                            "older_workers": older,
                            "note": f"{older} of the workers run an older version of loop: "
                                    "build and start them from this one (docker compose "
                                    "up -d --build); started again as they are, they "
                                    "refuse the data"})
        return jsonify({"ok": True, "redis": "ok", "workers": alive})

    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    return app
