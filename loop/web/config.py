"""Defaults of the web app; each can be overridden by a ``LOOP_<NAME>`` variable."""

from __future__ import annotations

DEFAULTS: dict[str, object] = {
    "REDIS_URL": None,  # None: embedded Redis in DATA_DIR/redis
    "DATA_DIR": "var",
    "API_KEYS": "",  # comma-separated admin keys
    "DEMO": False,  # create and print an admin key when API_KEYS is empty
    "QUEUE_NAME": "loop",
    "CHUNK_SIZE": 1000,  # items per apply-LFs job
    "QUEUE_SIZE": 1000,  # items ranked into the expert queue
    "QUEUE_LOW_WATER": 0.25,  # share of QUEUE_SIZE below which /next enqueues a refill; 0 off
    "LEASE_SECONDS": 300,
    "ANSWERS_PER_ITEM": 1,  # default k of new projects (POST /api/projects answers_per_item)
    "RECALIBRATE_EVERY": 10,  # answers; 0 disables
    "RECALIBRATE_SECONDS": 0,  # seconds; 0 disables
    "RECALIBRATE_MIN_SECONDS": 5,  # at most one automatic recalibration per this gap
    "EVAL_FRACTION": 0.3,  # share of uploaded gold held out for evaluation
    "MAX_UPLOAD_BYTES": 50 * 1024 * 1024,
    "MAX_ITEMS": 1_000_000,
}


def admin_keys(value: object) -> list[str]:
    """``LOOP_API_KEYS`` as a list (accepts a comma-separated string or a list)."""
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [k.strip() for k in str(value or "").split(",") if k.strip()]
