"""Bearer-token auth: admin keys from the settings, annotator tokens from Redis."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import current_app, g, request

from loop.errors import Forbidden, TooManyRequests, Unauthorized
from loop.storage.projects import token_expired, token_hash

#: An unknown token: mistyped, revoked or replaced since it was given out, or of a
#: deleted project (its tokens are deleted with it).
INVALID = ("invalid token: not one the service gave out, or revoked or replaced since, "
           "or its project was deleted; ask the project's admin for a new one")


#: The window the refused tokens of one client address are counted in (seconds).
REFUSED_WINDOW = 60


def _limit() -> int:
    return int(current_app.extensions["loop"]["settings"].refused_tokens_per_minute)


def _held_up() -> TooManyRequests | None:
    """The 429 for a client address over the refused-token limit, else None."""
    limit = _limit()
    if limit <= 0:
        return None
    store = current_app.extensions["loop"]["store"]
    n, left = store.refused_tokens(request.remote_addr or "-", REFUSED_WINDOW, limit)
    if n < limit:
        return None
    return TooManyRequests(
        f"{n} different refused tokens from this address in the last minute: wait "
        f"{left} s. "
        "Check the token the client sends (the limit is LOOP_REFUSED_TOKENS_PER_MINUTE; "
        "annotator tokens go on, admin keys from this address wait too)",
        retry_after=left)


def bearer_token() -> str:
    """The request's bearer token (401 without one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return token.strip()


def is_admin(token: str) -> bool:
    keys = current_app.extensions["loop"]["settings"].admin_keys
    return any(hmac.compare_digest(token.encode(), k.encode()) for k in keys)


#: What :func:`identify` returns for an admin key.
ADMIN = {"name": "admin", "project": None}


def _utc(t: float) -> str:
    return datetime.fromtimestamp(float(t), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def identify(token: str) -> dict[str, Any]:
    """Who ``token`` is: :data:`ADMIN`, or an annotator's ``{project, name}``; else
    the 401, or the 429 of an address over the refused-token limit.

    Annotator tokens are let through whatever their address sent before (operator's
    trial: under docker compose every client reaches the app from the Docker
    gateway's address, so one client retrying a stale token held up every annotator
    for the minute); a guesser learns nothing it could use from them: a token is 24
    random bytes. Admin keys are chosen by an operator and may be guessable, so they
    wait with the unknown tokens (security trial: 800 guesses at 900 a second found
    the key, the limit changing only the wrong guesses' status), and a key and a
    guess take the same steps to their 429 (re-trial: an admin key skipped the
    token lookup, and its 429 came sooner: the right key among 1,000 stood out by
    its time alone)."""
    admin = is_admin(token)
    who = current_app.extensions["loop"]["store"].annotator_for_token(token)
    if who is not None and not admin:
        if token_expired(who):  # a token the service gave out, not a guess: said as such
            raise Unauthorized(f"this token of annotator {who['name']!r} expired on "
                               f"{_utc(who['expires_at'])}; ask the project's admin "
                               "for a new one")
        return dict(who)
    held = _held_up()
    if held is not None:
        raise held
    if admin:
        return ADMIN
    if _limit() > 0:
        current_app.extensions["loop"]["store"].note_refused_token(
            request.remote_addr or "-", REFUSED_WINDOW, token)
    raise Unauthorized(INVALID)


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only admin keys."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if identify(bearer_token()) is not ADMIN:
            raise Forbidden("this needs an admin key")
        g.annotator, g.token_hash = "admin", ""
        if "pid" in kwargs:
            # read, not cached: another web worker may have deleted it a moment ago
            # (operator's trial: metrics and an export of a deleted project were a
            # 200 with nothing in them for the cache's 2 s)
            current_app.extensions["loop"]["store"].get_project(kwargs["pid"], fresh=True,
                                                                any_schema=True)
        return view(*args, **kwargs)

    return wrapped


def annotator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Admin keys, or an annotator token of the project in the URL (``g.annotator``)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = bearer_token()
        who = identify(token)
        if who is ADMIN:
            g.annotator, g.token_hash = "admin", ""
        else:
            if who["project"] != kwargs.get("pid"):
                raise Forbidden("this token belongs to another project")
            # the queue's scripts check it against the annotator's record: the token
            # lookup above is cached for a moment, a revocation takes effect at once
            g.annotator, g.token_hash = who["name"], token_hash(token)
        return view(*args, **kwargs)

    return wrapped
