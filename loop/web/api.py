"""JSON API blueprint: projects, uploads, jobs, LF stats, metrics, the expert queue."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from loop import services, tasks
from loop.errors import BadRequest, JobNotFound
from loop.uploads import detect_format
from loop.web.auth import admin_required, annotator_required

bp = Blueprint("api", __name__, url_prefix="/api")


def _ext() -> dict[str, Any]:
    return current_app.extensions["loop"]  # type: ignore[no-any-return]


def _store() -> Any:
    return _ext()["store"]


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise BadRequest("body must be a JSON object")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _float_arg(name: str, default: float) -> float:
    """A float query argument, or ``default`` when absent; 400 when not a number."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None


def _cfg(name: str) -> Any:
    return current_app.config[name]


@bp.post("/projects")
@admin_required
def create_project() -> Any:
    """Create a project."""
    b = _body()
    p = services.create_project(_store(), b.get("name"), b.get("labels"), b.get("lf_module"),
                                b.get("text_field", "text"),
                                b.get("answers_per_item", _cfg("ANSWERS_PER_ITEM")))
    return jsonify(p), 201


@bp.get("/projects")
@admin_required
def list_projects() -> Any:
    """List projects."""
    return jsonify({"projects": _store().list_projects()})


@bp.get("/projects/<pid>")
@admin_required
def get_project(pid: str) -> Any:
    """One project with its counts; ``lfs`` as last applied (the module may have grown)."""
    store = _store()
    project = store.get_project(pid)
    applied = store.L_meta(pid).get("lf_names")
    return jsonify({**project, "lfs": applied or project["lfs"],
                    "answers_per_item": store.answers_per_item(pid),
                    "n_items": store.n_items(pid), "queue_size": store.queue_size(pid)})


@bp.post("/projects/<pid>/annotators")
@admin_required
def add_annotator(pid: str) -> Any:
    """Create an annotator token for the project."""
    name = _body().get("name")
    if not isinstance(name, str) or not name.strip() or name == "admin":
        raise BadRequest("name must be a non-empty string other than 'admin'")
    _store().get_project(pid)
    token = secrets.token_urlsafe(24)
    _store().add_annotator(pid, name.strip(), token)
    return jsonify({"name": name.strip(), "token": token}), 201


@bp.post("/projects/<pid>/items")
@admin_required
def upload_items(pid: str) -> Any:
    """Upload items as CSV or JSON lines (raw body or multipart field ``file``)."""
    _store().get_project(pid)
    if request.files:
        f = request.files.get("file")
        if f is None:
            raise BadRequest("multipart upload needs a field named 'file'")
        fmt = detect_format(f.mimetype, f.filename)
        data = f.read()
    else:
        fmt = detect_format(request.content_type)
        data = request.get_data()
    out = services.import_items(
        _store(), pid, data, fmt, id_field=request.args.get("id_field"),
        text_field=request.args.get("text_field"), gold_field=request.args.get("gold_field"),
        eval_fraction=_float_arg("eval_fraction", float(_cfg("EVAL_FRACTION"))),
        max_bytes=int(_cfg("MAX_UPLOAD_BYTES")), max_items=int(_cfg("MAX_ITEMS")))
    return jsonify(out), 201


@bp.post("/projects/<pid>/jobs")
@admin_required
def start_job(pid: str) -> Any:
    """Enqueue a background job."""
    job = tasks.enqueue(_ext()["queue"], _store(), pid, str(_body().get("type")),
                        current_app.config)
    return jsonify({"job_id": job.id}), 202


@bp.get("/projects/<pid>/jobs")
@admin_required
def list_jobs(pid: str) -> Any:
    """Recent jobs of the project, newest first."""
    store = _store()
    store.get_project(pid)
    out = []
    for jid in store.recent_jobs(pid):
        try:
            out.append(tasks.job_status(store.r, jid))
        except JobNotFound:  # expired from RQ
            continue
    return jsonify({"jobs": out})


@bp.get("/jobs/<job_id>")
@admin_required
def get_job(job_id: str) -> Any:
    """Status, progress and result of one job."""
    return jsonify(tasks.job_status(_store().r, job_id))


@bp.get("/projects/<pid>/lfs")
@admin_required
def lfs(pid: str) -> Any:
    """Per-LF statistics."""
    return jsonify(services.lf_stats(_store(), pid))


@bp.get("/projects/<pid>/metrics")
@admin_required
def metrics(pid: str) -> Any:
    """Project metrics and their history."""
    return jsonify(services.metrics(_store(), pid))


@bp.post("/projects/<pid>/queue/next")
@annotator_required
def queue_next(pid: str) -> Any:
    """Lease the next item (204 when the queue is empty)."""
    store = _store()
    out, remaining = services.lease_item(store, pid, g.annotator, float(_cfg("LEASE_SECONDS")))
    tasks.maybe_refill(_ext()["queue"], store, pid, remaining, current_app.config)
    if out is None:
        return Response(status=204)
    return jsonify(out)


@bp.post("/projects/<pid>/queue/answer")
@annotator_required
def queue_answer(pid: str) -> Any:
    """Store a gold label; may trigger a recalibration."""
    b = _body()
    store = _store()
    out = services.answer(store, pid, g.annotator, b.get("item_id"), b.get("label"),
                          b.get("lease_id"))
    if not out["duplicate"]:
        tasks.maybe_recalibrate(_ext()["queue"], store, pid, out["since_recal"],
                                int(_cfg("RECALIBRATE_EVERY")), float(_cfg("RECALIBRATE_SECONDS")),
                                current_app.config)
    return jsonify({"stored": True, "duplicate": out["duplicate"]})


@bp.post("/projects/<pid>/queue/skip")
@annotator_required
def queue_skip(pid: str) -> Any:
    """Give the item back without an answer."""
    b = _body()
    return jsonify(services.skip(_store(), pid, g.annotator, b.get("item_id"), b.get("lease_id")))


@bp.post("/projects/<pid>/queue/undo")
@annotator_required
def queue_undo(pid: str) -> Any:
    """Undo this annotator's last answer."""
    return jsonify(services.undo(_store(), pid, g.annotator))


@bp.get("/projects/<pid>/queue/me")
@annotator_required
def queue_me(pid: str) -> Any:
    """This annotator's counts and recent history."""
    return jsonify(services.me(_store(), pid, g.annotator))


@bp.get("/projects/<pid>/export")
@admin_required
def export(pid: str) -> Any:
    """Download labels as CSV or JSON lines."""
    fmt = request.args.get("format", "csv")
    data = services.export_bytes(_store(), pid, fmt)
    mime = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename={pid}.{fmt}"})
