"""Every setting of the service, with its default, in one place.

Each can be overridden by a ``LOOP_<NAME>`` environment variable (the web app also
takes a test mapping); :meth:`Settings.from_mapping` checks and converts them and
names the variable when a value is wrong.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

#: Log levels a worker takes (``LOOP_WORKER_LOG_LEVEL``).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: How the secrets in ``.env.example`` start: refused, so a copied file is never live.
PLACEHOLDER = "change-me"
#: Shortest admin key accepted (security trial: a one-letter key was).
MIN_KEY_LENGTH = 12


@dataclass(frozen=True)
class Settings:
    """Service settings (``LOOP_<NAME>`` in the environment, upper case)."""

    #: Redis URL; empty: an embedded Redis in ``<data_dir>/redis``.
    redis_url: str = ""
    #: The password of the Redis at ``redis_url``, if it is not in the URL: any
    #: characters (in a URL, ``/ @ # ? :`` would have to be percent-encoded).
    redis_password: str = ""
    #: Where the embedded Redis and the demo keep their data.
    data_dir: str = "var"
    #: Comma-separated admin API keys.
    api_keys: str = ""
    #: Demo mode: create (and print) an admin key when ``api_keys`` is empty.
    demo: bool = False
    #: The RQ queue the web app enqueues on and the workers listen to.
    queue_name: str = "loop"
    #: Items per apply-LFs unit of work (and per stored chunk of ``L``): big enough
    #: that RQ's per-job cost is small beside the LFs' work.
    chunk_size: int = 10000
    #: Items ranked into the expert queue by each recalibration.
    queue_size: int = 1000
    #: Share of ``queue_size`` below which ``/next`` enqueues a refill (0: never).
    queue_low_water: float = 0.25
    #: Seconds an item stays leased to an annotator (the labeling page renews the
    #: leases it holds at half this while its annotator is there).
    lease_seconds: float = 300.0
    #: Seconds without a key, click, pointer move or scroll after which the labeling
    #: page counts its annotator as gone and stops renewing its leases (as it does
    #: while the tab is hidden): they lapse ``lease_seconds`` later at most, and the
    #: items go to the others.
    label_idle_seconds: float = 600.0
    #: Default ``answers_per_item`` of new projects.
    answers_per_item: int = 1
    #: Recalibrate after this many answers (0: never).
    recalibrate_every: int = 10
    #: ... or after this many seconds with at least one new answer (0: never): the
    #: answers that stop short of ``recalibrate_every`` are in the models by then.
    recalibrate_seconds: float = 60.0
    #: At most one automatic recalibration per this many seconds.
    recalibrate_min_seconds: float = 5.0
    #: Default share of uploaded gold labels held out to score the models.
    eval_fraction: float = 0.3
    #: Largest upload accepted (bytes).
    max_upload_bytes: int = 50 * 1024 * 1024
    #: Most items in one upload.
    max_items: int = 1_000_000
    #: Seconds an LF module may take to import when a project is created.
    lf_import_timeout: float = 20.0
    #: Seconds one apply-LFs chunk may take (``chunk_size`` items x every LF); past
    #: it the run fails naming the LF and the item (a normal chunk of 1,000 items
    #: takes well under a second).
    lf_chunk_timeout: int = 300
    #: A running job that has reported no progress for this many seconds is flagged
    #: (``stalled`` in the jobs API, a note on the dashboard): its worker may be
    #: frozen or overloaded. Time limits still decide when it is given up.
    stall_seconds: float = 120.0
    #: Different refused tokens one client address may send in any 60 s (0: no
    #: limit); past it its unknown tokens and admin keys get 429 until the count is
    #: under it again, so a guesser learns nothing more (several hundred guesses a second were
    #: answered before); annotator tokens go on (see ``loop.web.auth.identify``).
    refused_tokens_per_minute: int = 300
    #: The workers' log level (RQ's; INFO logs four lines per job). The demo uses
    #: WARNING, so its sign-in links stay in view; failures are logged at any level.
    worker_log_level: str = "INFO"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from upper-case names (``{"QUEUE_SIZE": "500", ...}``); unknown
        names are ignored, wrong values raise ``ValueError`` naming the variable."""
        kw: dict[str, Any] = {}
        for f in fields(cls):
            name = f.name.upper()
            if name not in values or values[name] is None:
                continue
            kw[f.name] = _convert(name, values[name], type(f.default))
        out = cls(**kw)
        out.check()
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``LOOP_*`` environment variables."""
        env = os.environ if environ is None else environ
        return cls.from_mapping({k[5:]: v for k, v in env.items() if k.startswith("LOOP_")})

    def as_config(self) -> dict[str, Any]:
        """Upper-case mapping (a Flask config)."""
        return {k.upper(): v for k, v in asdict(self).items()}

    def check(self) -> None:
        for name in (f.name for f in fields(self)):  # "nan" and "inf" broke every lease
            v = getattr(self, name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"LOOP_{name.upper()} must be a finite number, got {v}")
        for name in ("chunk_size", "queue_size", "answers_per_item", "max_upload_bytes",
                     "max_items", "lf_chunk_timeout"):
            if getattr(self, name) < 1:
                raise ValueError(f"LOOP_{name.upper()} must be >= 1, got {getattr(self, name)}")
        for name in ("lease_seconds", "label_idle_seconds", "lf_import_timeout",
                     "stall_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"LOOP_{name.upper()} must be > 0, got {getattr(self, name)}")
        for name in ("queue_low_water", "eval_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"LOOP_{name.upper()} must be in [0, 1], "
                                 f"got {getattr(self, name)}")
        for name in ("recalibrate_every", "recalibrate_seconds", "recalibrate_min_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"LOOP_{name.upper()} must be >= 0, got {getattr(self, name)}")
        if self.recalibrate_every == 0 and self.recalibrate_seconds == 0:
            raise ValueError("LOOP_RECALIBRATE_EVERY and LOOP_RECALIBRATE_SECONDS are both 0: "
                             "answers would never recalibrate the models. Set one of them "
                             "(0 turns that rule off: by time only, or by count only)")

        if self.worker_log_level.upper() not in LOG_LEVELS:
            raise ValueError(f"LOOP_WORKER_LOG_LEVEL must be one of {list(LOG_LEVELS)}, "
                             f"got {self.worker_log_level!r}")
        placeholder = [k for k in self.admin_keys if k.lower().startswith(PLACEHOLDER)]
        if placeholder:
            raise ValueError(
                f"LOOP_API_KEYS holds the placeholder {placeholder[0]!r} from .env.example: "
                "anyone who has read it could sign in. Set your own key, e.g. "
                "python3 -c \"import secrets; print(secrets.token_urlsafe(24))\"")
        if self.api_keys and not self.admin_keys:  # " " or "," (re-trial: served, with
            raise ValueError(                     # no key that could ever sign in)
                "LOOP_API_KEYS is set but holds no key (only spaces or commas): set a key, "
                "or unset it to have one generated")
        short = [k for k in self.admin_keys if len(k) < MIN_KEY_LENGTH]
        if short:  # never quote a key: it may be the real one, one character short
            raise ValueError(
                f"LOOP_API_KEYS holds a key of {len(short[0])} character"
                f"{'' if len(short[0]) == 1 else 's'}: an admin key needs "
                f"{MIN_KEY_LENGTH} or more (the API answers hundreds of wrong keys a second, "
                "so a short one can be guessed). Make one with python3 -c \"import secrets; "
                "print(secrets.token_urlsafe(24))\"")
        url = urlsplit(self.redis_url)
        try:
            url.port  # noqa: B018 - parses the URL's host part
        except ValueError:  # never quote the URL: it may hold the password
            raise ValueError(
                "LOOP_REDIS_URL is not a valid Redis URL. A password in it must have its "
                "/ @ # ? : characters percent-encoded; or give the password on its own in "
                "LOOP_REDIS_PASSWORD") from None
        password = self.redis_password or url.password or ""
        if password.lower().startswith(PLACEHOLDER):
            raise ValueError(
                f"the Redis password is the placeholder {password!r} from "
                ".env.example: set LOOP_REDIS_PASSWORD to a secret of your own")

    @property
    def admin_keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def low_water(self) -> int:
        """Queue length below which ``/next`` asks for a refill (0: never)."""
        return int(self.queue_low_water * self.queue_size)


def _convert(name: str, value: Any, kind: type) -> Any:
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
                raise ValueError(text)
            return text in ("1", "true", "yes", "on")
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)  # "nan" and "inf" parse: check() refuses them
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"LOOP_{name} must be {kind.__name__}, got {value!r}") from None


__all__ = ["Settings"]
