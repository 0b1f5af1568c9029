"""``Idempotency-Key``: a write sent again with the key of its first send is answered
with the first send's reply, and done once (client's retry trial: a script whose
connection was cut after its request was sent retried, and got a second project, a
second export job, or a 409 for the rule its first send had made, without the
``job_id``).

A request under ``/api/`` with method POST, PUT or DELETE and the header claims the
key for its caller (the bearer token, hashed): a 2xx reply is kept for
:data:`KEEP_SECONDS` and given again, with ``Idempotent-Replayed: true``, to the
same request sent with that key; any other reply (an error: nothing was changed)
is not kept, so a retry runs again. The same key with another request is a 422
(``code: idempotency_key_reused``); while the first send is being answered, a 409
(``code: request_in_progress``) with Retry-After. POST ``/annotators`` keeps
nothing (its reply is a token, stored nowhere in clear): sent again it makes a new
token, which revokes the unseen one (``replace``, the default).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Flask, Response, g, request
from redis.exceptions import RedisError

from loop.errors import BadRequest, IdempotencyKeyReused, RequestInProgress
from loop.web.auth import bearer_token, identify

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
#: Seconds a reply is kept for a retry (as Stripe's keys, a day).
KEEP_SECONDS = 86400
#: Seconds a request is taken to be running at most; a retry past it runs again.
#: Short, as a claim the service could not drop stays this long (the web process
#: died while answering, or Redis went away before the answer: a 503 whose retry
#: is told 409, request_in_progress, until then). A longer request (a big upload)
#: sent again past it runs again beside it: an upload is refused as a duplicate.
RUNNING_SECONDS = 60
#: Longest key, in characters (visible ASCII).
MAX_KEY = 255
#: Largest reply kept, in bytes (a bigger one is not kept: a retry runs again).
MAX_KEPT = 1_000_000
#: Endpoints whose reply is never kept (see the module's docstring).
NOT_KEPT = frozenset({"api.add_annotator"})
WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def _fingerprint() -> str:
    """What makes two sends the same request: method, path, query string, content
    type and body; a multipart body by its fields and files, not its bytes (a
    client builds a new boundary at each send: ``requests.post(files=...)``)."""
    h = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        h.update(part.encode() + b"\0")
    if request.mimetype == "multipart/form-data":
        h.update(b"multipart\0")
        for name, value in sorted(request.form.items(multi=True)):
            h.update(f"{name}={value}".encode() + b"\0")
        for name, f in sorted(request.files.items(multi=True), key=lambda x: x[0]):
            h.update(f"{name}:{f.filename}:{f.mimetype}".encode() + b"\0")
            h.update(hashlib.sha256(f.stream.read()).digest())
            f.stream.seek(0)
    else:
        h.update(request.mimetype.encode() + b"\0")
        h.update(hashlib.sha256(request.get_data(cache=True)).digest())
    return h.hexdigest()


def init_app(app: Flask, store: Any) -> None:
    """Register the hooks (after the body limit's, which must refuse a body first)."""

    @app.before_request
    def claim() -> Any:
        key = request.headers.get(HEADER)
        if (key is None or request.method not in WRITES
                or not request.path.startswith("/api/") or request.endpoint in NOT_KEPT):
            return None
        if not 1 <= len(key) <= MAX_KEY or not all("!" <= c <= "~" for c in key):
            raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY} visible ASCII characters "
                             "(a UUID, say), made anew for each request and sent again "
                             "only with its retries")
        # a caller the service knows, before anything is kept for it (and a reply is
        # given again only to a credential that still works)
        identify(bearer_token())
        scope = hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()
        name = hashlib.sha256(key.encode()).hexdigest()
        fingerprint = _fingerprint()
        kept = store.claim_request(scope, name, fingerprint, RUNNING_SECONDS)
        if kept is None:
            g.idempotency = (scope, name, fingerprint)
            return None
        if kept["fingerprint"] != fingerprint:
            raise IdempotencyKeyReused(
                f"this {HEADER} was sent before with another request (another path, "
                "query or body); make a new key for each request, and send one again "
                "only with the same request")
        if kept["state"] != "done":
            raise RequestInProgress(
                f"the request first sent with this {HEADER} is still being answered; "
                "try again in a moment for its reply", retry_after=1)
        resp = Response(kept["body"], status=kept["status"], mimetype=kept["mimetype"])
        resp.headers["Idempotent-Replayed"] = "true"
        return resp

    @app.after_request
    def keep(resp: Response) -> Response:
        claimed = g.pop("idempotency", None)
        if claimed is None:
            return resp
        scope, name, fingerprint = claimed
        body = None if resp.is_streamed else resp.get_data()
        text = None
        if 200 <= resp.status_code < 300 and body is not None and len(body) <= MAX_KEPT:
            try:
                text = body.decode()
            except UnicodeDecodeError:
                pass
        try:
            if text is not None:
                store.answer_request(scope, name, {
                    "fingerprint": fingerprint, "state": "done", "status": resp.status_code,
                    "mimetype": resp.mimetype, "body": text}, KEEP_SECONDS)
            else:
                store.forget_request(scope, name)
        except RedisError as exc:  # the reply stands; the claim lapses by itself
            log.warning("could not keep or drop the reply of %s %s for its %s (%s: %s); "
                        "its claim lapses within %d s", request.method, request.path,
                        HEADER, type(exc).__name__, exc, RUNNING_SECONDS)
        return resp

    @app.teardown_request
    def give_up(exc: BaseException | None) -> None:
        claimed = g.pop("idempotency", None)  # an error no handler answered
        if claimed is not None:
            try:
                store.forget_request(claimed[0], claimed[1])
            except RedisError:  # lapses by itself
                pass
