"""JSON API blueprint: projects, uploads, jobs, LF stats, metrics, the expert queue.

Thin: each view checks the request shape, calls one service function and
returns its result; domain errors become 4xx answers in ``create_app``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed

from loop.errors import (
    BadRequest,
    BadUpload,
    JobNotFound,
    LoopError,
    NotReady,
    TooLarge,
    TooManyRequests,
    shorten,
)
from loop.service import browse, items, jobs, projects, queue, reports, rules
from loop.service import export as exports
from loop.service.settings import Settings
from loop.storage.projects import old_schema
from loop.uploads import detect_format, lone_surrogate, once_each, preview
from loop.web.auth import ADMIN, admin_required, annotator_required, bearer_token, identify
from loop.web.openapi import query_params

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def _known_query_args() -> None:
    """A query parameter the route does not take is a 400 naming it, as an upload's
    and ``/items``' are (data scientist's trial: ``/export?fromat=jsonl`` sent CSV
    without a word, which ``pd.read_json`` then failed on); what each route takes is
    what ``/openapi.json`` lists."""
    rule = request.url_rule
    if rule is None or not request.args or rule.rule == "/api/projects/<pid>/items":
        return  # an upload checks its form fields too, and /items' reads are the service's
    known_query_args(rule.rule)


def known_query_args(route: str) -> None:
    """400 naming a query parameter ``route`` (as Flask writes it) does not take, as
    ``/openapi.json`` lists them; also ``/healthz``'s (new-user trial: a probe's
    ``/healthz?worker=2`` was a 200 whatever the workers, the typo unseen)."""
    taken = query_params(route, request.method)
    unknown = sorted(set(request.args) - set(taken or ())) if taken is not None else []
    if unknown:
        raise BadRequest(f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(shorten(u)) for u in unknown)}; this request "
                         + (f"takes {', '.join(taken or ())}" if taken else
                            "takes no query parameters"))


def _ext() -> dict[str, Any]:
    return current_app.extensions["loop"]  # type: ignore[no-any-return]


def _store() -> Any:
    return _ext()["store"]


def _settings() -> Settings:
    return _ext()["settings"]  # type: ignore[no-any-return]


def _body(*keys: str) -> dict[str, Any]:
    """The request's JSON object; with ``keys``, a key outside them is a 400 naming
    it (a misspelt ``"guideline"`` or ``"answer_per_item"`` silently ignored would
    store something else than was asked for)."""
    data = _json_object()
    unknown = sorted(set(data) - set(keys)) if keys else []
    if unknown:
        raise BadRequest(f"unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; this request takes "
                         f"{', '.join(keys)}")
    return data


def _no_body() -> None:
    """A request that takes no fields: a body, if sent, must be an empty JSON object
    (a malformed one is refused as everywhere else, before anything changes)."""
    data = _json_object()
    if data:
        raise BadRequest(f"this request takes no body; got {', '.join(map(repr, sorted(data)))}")


def _json_object() -> dict[str, Any]:
    limit = request.max_content_length
    if request.content_length is None and limit and len(request.get_data()) >= limit:
        # a chunked body is cut at the limit, not refused: say so, not "invalid JSON"
        raise TooLarge(limit, upload=False)
    raw = request.get_data()
    if not raw:
        return {}
    if not request.is_json:
        raise BadRequest("send the body as a JSON object with "
                         "'Content-Type: application/json'")
    try:  # a key given twice is refused, as in uploads (security trial: the second
        # of two "guidelines" was stored without a word)
        data = json.loads(raw, object_pairs_hook=once_each, parse_constant=_no_constant,
                          parse_float=_finite)
    except BadUpload as exc:
        raise BadRequest(str(exc).replace("the field", "the key")) from None
    except (ValueError, RecursionError) as exc:
        reason = f": {exc}"
        if isinstance(exc, RecursionError):
            reason = ": it is nested too deeply"
        elif "integer string conversion" in reason:  # not sys.set_int_max_str_digits()
            reason = ": a number in it has more than 4300 digits"
        raise BadRequest(f"body is not valid JSON{reason}") from None
    if data is None:
        raise BadRequest("body must be a JSON object, got null")  # valid JSON, no object
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    bad = lone_surrogate(data)
    if bad is not None:
        raise BadRequest(f"body holds {bad}, half of a UTF-16 surrogate pair and not a "
                         "character; send the whole pair or the character itself")
    return data


def _no_constant(name: str) -> None:
    """NaN, Infinity and -Infinity in a body: refused (security trial: JSON has no
    such values, yet Python's reader took them; a rule of value NaN was stored and
    every /rules answer then held it, which JSON.parse refuses: the dashboard could
    show no rule)."""
    raise ValueError(f"{name} is no JSON number; send a finite number")


def _finite(text: str) -> float:
    """A body's number with a fraction or exponent; one too big for a float (1e999,
    read as inf) is refused as :func:`_no_constant` refuses Infinity."""
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"{shorten(text)} is too big for a number; send a finite number")
    return x


def _float_arg(name: str, default: float, args: Any = None) -> float:
    """A float query argument (of ``args``, default the query string), or ``default``
    when absent; 400 when not a number."""
    raw = (request.args if args is None else args).get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None


def whole_arg(name: str, default: str, what: str) -> int:
    """A whole-number query argument (``default`` when absent); 400 naming ``what``
    it must be otherwise. ASCII digits only ("²".isdigit(), yet int("²") fails) and
    at most 9 of them (int() refuses thousands of digits)."""
    raw = request.args.get(name, default)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadRequest(f"{name} must be {what}, got {shorten(raw)!r}")
    return int(raw)


def _bool_arg(name: str, args: Any = None) -> bool:
    """A yes/no query argument (of ``args``, default the query string: 1 / true or 0 /
    false; absent: false); 400 otherwise (``maybe`` must not mean yes)."""
    raw = (request.args if args is None else args).get(name, "0").strip().lower()
    if raw not in ("0", "", "false", "1", "true"):
        raise BadRequest(f"{name} must be 1 / true or 0 / false, got {shorten(raw)!r}")
    return raw in ("1", "true")


# -- projects and annotators -----------------------------------------------------------------
@bp.post("/projects")
@admin_required
def create_project() -> Any:
    """Create a project (its LF module is checked in a subprocess)."""
    b = _body("name", "labels", "lf_module", "text_field", "answers_per_item", "guidelines",
              "blind")
    p = projects.create_project(
        _store(), b.get("name"), b.get("labels"), b.get("lf_module"), b.get("text_field", "text"),
        b.get("answers_per_item", _settings().answers_per_item), b.get("guidelines", ""),
        blind=b.get("blind", False), lf_import_timeout=_settings().lf_import_timeout)
    return jsonify(p), 201


@bp.get("/projects")
@admin_required
def list_projects() -> Any:
    """List projects with their progress (items, gold, queue, latest scores)."""
    store = _store()
    return jsonify({"projects": [{**p, "old_schema": why} if (why := old_schema(p))
                                 else {**p, **reports.summary(store, p["id"])}
                                 for p in store.list_projects()]})


@bp.get("/me")
def whoami() -> Any:
    """Who the bearer token is: an admin, or an annotator of one project."""
    who = identify(bearer_token())
    if who is ADMIN:
        return jsonify({"role": "admin", "name": "admin", "projects": None})
    return jsonify({"role": "annotator", "name": who["name"],
                    "projects": [reports.summary(_store(), who["project"])]})


@bp.get("/projects/<pid>")
@admin_required
def get_project(pid: str) -> Any:
    """One project with its counts; ``lfs`` as last applied (the module may have grown);
    ``has_lfs``: whether there is an LF to apply (a module, uploaded votes or an
    enabled rule); ``votes``: the column of uploaded LF votes ``{field, n}``, or null."""
    store = _store()
    project = store.get_project(pid)
    applied = store.L_meta(pid).get("lf_names")
    return jsonify({**project, "lfs": applied or project["lfs"],
                    "has_lfs": rules.has_lfs(store, pid), "votes": store.votes_spec(pid),
                    "guidelines": store.guidelines(pid), "n_items": store.n_items(pid),
                    "remaining": store.pool_size(pid), "queue_size": store.queue_size(pid)})


@bp.delete("/projects/<pid>")
@admin_required
def delete_project(pid: str) -> Any:
    """Delete a project for good (``{"confirm": "<its name>"}``)."""
    store = _store()
    running = store.recent_jobs(pid)  # read before the delete takes the list
    out = projects.delete_project(store, pid, _body("confirm").get("confirm"))
    jobs.after_delete(_ext()["queue"], store, pid, running)
    return jsonify(out)


@bp.put("/projects/<pid>/guidelines")
@admin_required
def set_guidelines(pid: str) -> Any:
    """Replace the labeling guidelines (plain text or Markdown)."""
    store = _store()
    store.get_project(pid)
    body = _body("guidelines")
    if "guidelines" not in body:
        raise BadRequest('send {"guidelines": "..."} (an empty string clears them)')
    if body["guidelines"] is None:  # not a way to clear them by accident
        raise BadRequest('guidelines must be text; send {"guidelines": ""} to clear them')
    text = projects.check_guidelines(body["guidelines"])
    store.set_guidelines(pid, text)
    return jsonify({"guidelines": text})


@bp.get("/projects/<pid>/annotators")
@admin_required
def list_annotators(pid: str) -> Any:
    """The project's annotators and their progress; ``pairs``: agreement of each two
    who answered items both (answers_per_item > 1)."""
    store = _store()
    return jsonify({"annotators": reports.annotators(store, pid),
                    "pairs": reports.annotator_pairs(store, pid),
                    "labels": store.get_project(pid)["labels"]})


@bp.post("/projects/<pid>/annotators")
@admin_required
def add_annotator(pid: str) -> Any:
    """Create an annotator token (shown once; re-adding a name revokes the old one,
    unless ``"replace": false``); ``expires_in_days``: it stops working by itself
    after that long."""
    body = _body("name", "expires_in_days", "replace", "replaces_made_at")
    return jsonify(projects.add_annotator(_store(), pid, body.get("name"),
                                          body.get("expires_in_days"),
                                          body.get("replace", True),
                                          body.get("replaces_made_at"))), 201


@bp.delete("/projects/<pid>/annotators/<name>")
@admin_required
def revoke_annotator(pid: str, name: str) -> Any:
    """Revoke an annotator's token (``{"made_at"}``: only the token made then)."""
    # a malformed body is refused before the token is (operator's trial)
    made_at = _body("made_at").get("made_at")
    return jsonify(projects.revoke_annotator(_store(), pid, name, made_at))


@bp.delete("/projects/<pid>/annotators/<name>/answers")
@admin_required
def discard_answers(pid: str, name: str) -> Any:
    """Take back every answer an annotator gave (``{"confirm": "<their name>"}``)."""
    out = projects.discard_answers(_store(), pid, name, _body("confirm").get("confirm"))
    if out["discarded"]:
        _answers_changed(pid)
    return jsonify(out)


# -- items -------------------------------------------------------------------------------
def _upload() -> tuple[bytes, str]:
    """The uploaded file: raw body or multipart field ``file``; and its format."""
    if request.files or request.mimetype == "multipart/form-data":
        f = request.files.get("file")
        if f is None:
            raise BadRequest("multipart upload needs a file field named 'file'")
        return f.read(), detect_format(f.mimetype, f.filename)
    return request.get_data(), detect_format(request.content_type)


def _upload_args() -> MultiDict[str, str]:
    """An upload's parameters: the query string's, and those a multipart upload sends
    as form fields beside its file (``curl -F id_field=id``, ``requests.post(...,
    files=..., data={"id_field": "id"})``: new-user trial, they were ignored without
    a word, the ids made up and the gold labels left as a field). A form field the
    upload does not take, or one the query string gives another value, is a 400."""
    args = MultiDict(request.args)
    if not (request.files or request.mimetype == "multipart/form-data"):
        return args
    for name in request.form:
        if name not in UPLOAD_ARGS:
            raise BadRequest(f"unknown form field {name!r}; an upload takes the file (field "
                             f"'file') and {', '.join(UPLOAD_ARGS)}")
        values = request.form.getlist(name)
        given = request.args.getlist(name)
        if given and name != "drop" and set(given) != set(values):
            raise BadRequest(f"{name} is given twice, {given[0]!r} in the query string and "
                             f"{values[0]!r} as a form field; give it once")
        args.setlist(name, list(dict.fromkeys(given + values)))
    return args


#: The query parameters of an upload.
UPLOAD_ARGS = ("id_field", "text_field", "gold_field", "eval_fraction", "dry_run",
               "allow_duplicate", "skip_stored", "stored_labels", "drop", "votes_field",
               "votes_names")


@bp.post("/projects/<pid>/items")
@admin_required
def upload_items(pid: str) -> Any:
    """Upload items as CSV or JSON lines (``dry_run=1``: check, store nothing). In a
    project whose LFs were applied before, the LFs are applied to the new items and
    the models recalibrated (``apply_job``); so they are after the first upload with
    LF votes (``votes_field``) or to a project with rules, LFs ready to apply."""
    _store().get_project(pid)
    unknown = sorted(set(request.args) - set(UPLOAD_ARGS))
    if unknown:  # a typo (idfield) would otherwise upload with made-up ids
        raise BadRequest(f"unknown query parameter {unknown[0]!r}; an upload takes "
                         f"{', '.join(UPLOAD_ARGS)}")
    data, fmt = _upload()
    args = _upload_args()
    s = _settings()
    dry = _bool_arg("dry_run", args)
    out = items.import_items(
        _store(), pid, data, fmt, id_field=args.get("id_field") or None,
        text_field=args.get("text_field") or None,
        gold_field=args.get("gold_field") or None,
        eval_fraction=_float_arg("eval_fraction", s.eval_fraction, args),
        max_bytes=s.max_upload_bytes, max_items=s.max_items, dry_run=dry,
        allow_duplicate=_bool_arg("allow_duplicate", args), drop=args.getlist("drop"),
        skip_stored=_bool_arg("skip_stored", args), votes_field=args.get("votes_field") or None,
        votes_names=args.get("votes_names") or None,
        stored_labels=_bool_arg("stored_labels", args))
    # votes and rules are LFs ready to apply now (new-user trial: rules written before
    # the first upload waited for a press of Apply, with nothing saying so)
    ready = rules.has_enabled_rule(_store(), pid) or (
        (bool(_store().L_meta(pid)) or "votes" in out) and rules.has_lfs(_store(), pid))
    if not dry and out["n_items"] and ready:
        # a project in use: the new items get their LF votes and join the queue (the
        # first apply of an LF module is the user's to start; fault trial: items
        # uploaded to a running project stopped every recalibration until someone
        # applied)
        out["apply_job"] = _reapply(pid)
    elif not dry and (out.get("stored_labels") or {}).get("n_labeled"):
        out["stored_labels"]["job_id"] = _recalibrate_if_ready(pid)
    return jsonify(out), 200 if dry else 201


@bp.post("/projects/<pid>/labels")
@admin_required
def add_labels(pid: str) -> Any:
    """Known labels for items stored already (``{"labels": {id: label}}``), held out
    in part as an upload's are; the models then recalibrate (``job_id``)."""
    body = _body("labels", "eval_fraction")
    fraction = body.get("eval_fraction", _settings().eval_fraction)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise BadRequest(f"eval_fraction must be a number from 0 to 1, got {fraction!r}")
    out = items.add_known_labels(_store(), pid, body.get("labels"), float(fraction))
    out["job_id"] = _recalibrate_if_ready(pid) if out["n_labeled"] else None
    return jsonify(out), 201 if out["n_labeled"] else 200


def _recalibrate_if_ready(pid: str) -> str | None:
    """A recalibration that fits new known labels; None while the LFs have not been
    applied to every item (the run that applies them recalibrates after)."""
    try:  # jobs.enqueue checks that the LFs were applied to every item
        return str(jobs.enqueue(_ext()["queue"], _store(), _settings(), pid, "recalibrate").id)
    except NotReady:
        return None


@bp.post("/projects/<pid>/items/preview")
@admin_required
def preview_items(pid: str) -> Any:
    """The columns and first rows of a file (nothing is checked or stored)."""
    project = _store().get_project(pid)
    data, fmt = _upload()
    if len(data) > _settings().max_upload_bytes:
        raise TooLarge(_settings().max_upload_bytes)
    return jsonify(preview(data, fmt, labels=project["labels"],
                           text_field=project["text_field"]))


# -- jobs --------------------------------------------------------------------------------
@bp.post("/projects/<pid>/jobs")
@admin_required
def start_job(pid: str) -> Any:
    """Enqueue a background job."""
    body = _body("type", "recalibrate", "format")
    after = body.get("recalibrate", False)
    if not isinstance(after, bool):
        raise BadRequest(f"recalibrate must be true or false, got {json.dumps(after)}")
    if after and body.get("type") != "apply_lfs":
        raise BadRequest("recalibrate: true goes with type apply_lfs only")
    if "format" in body and body.get("type") != "export":  # not dropped without a word
        raise BadRequest("format goes with type export only (an export's file: csv or jsonl)")
    job = jobs.enqueue(_ext()["queue"], _store(), _settings(), pid, body.get("type"),
                       recalibrate_after=after, fmt=body.get("format", "jsonl"))
    return jsonify({"job_id": job.id}), 202


@bp.get("/projects/<pid>/jobs")
@admin_required
def list_jobs(pid: str) -> Any:
    """Recent jobs of the project, scheduled ones first, then newest first: the last
    50 someone asked for and the last 50 automatic ones (``?auto=false`` /
    ``?auto=true``: only those)."""
    store = _store()
    store.get_project(pid)
    flag = request.args.get("auto")
    if flag not in (None, "true", "false"):
        raise BadRequest(f"auto must be true or false, got {flag!r}")
    out = []
    for jid in store.recent_jobs(pid, None if flag is None else flag == "true"):
        try:
            out.append(jobs.job_status(store.r, jid, stall_seconds=_settings().stall_seconds))
        except JobNotFound:  # expired from RQ
            continue
    # a scheduled job (not enqueued yet) comes first, as the next to run; the others
    # newest first (a trial found the time rule's run, sorted by when it was asked
    # for, between finished jobs)
    out.sort(key=lambda j: (j["status"] == "scheduled",
                            j["enqueued_at"] or j["started_at"] or j["created_at"] or ""),
             reverse=True)
    return jsonify({"jobs": out})


@bp.get("/jobs/<job_id>")
@admin_required
def get_job(job_id: str) -> Any:
    """Status, progress and result of one job."""
    return jsonify(jobs.job_status(_store().r, job_id, stall_seconds=_settings().stall_seconds))


@bp.get("/jobs/<job_id>/download")
@admin_required
def download_export(job_id: str) -> Any:
    """The file a finished export job built (kept a day; gone with its project)."""
    return _sending(lambda: exports.download(_store().r, job_id))


#: Export files one web process sends at once. Each holds one of its threads until
#: the reader has taken the whole file (slow-reader trial: 20 scripts reading a
#: 60,000-item export at 40 KB/s held every thread of both web processes, and
#: /healthz, the pages and the annotators' answers waited 20 s and more: minutes);
#: one more is a 429 with Retry-After, the rest of the threads stay free.
FILE_SLOTS = 2
#: Seconds a reader may take none of a :data:`SEND_CHUNK` before it is cut off (a
#: reader that stopped reading held its slot for as long as its connection lived).
SEND_STALL_SECONDS = 60
#: Bytes written at a time (the stall limit is per write).
SEND_CHUNK = 256 * 1024


def _sending(build: Callable[[], tuple[bytes, str, str]]) -> Response:
    """The export file ``build()`` returns (``(data, format, project)``), sent while
    holding one of the process's :data:`FILE_SLOTS` (429 when none is free), given
    back once it is sent or the reader is gone."""
    slots = _ext()["file_slots"]
    if not slots.acquire(blocking=False):
        raise TooManyRequests(
            f"{FILE_SLOTS} export files are being sent by this web process, the most at "
            "once (each holds a thread until its reader has taken it all, and the others "
            "answer the pages and the annotators): try again in a moment", retry_after=2)
    held = [True]

    def release() -> None:  # once: when the file is all sent, or the reader gone
        if held[0]:
            held[0] = False
            slots.release()

    try:
        resp = _file(*build(), sent=release)
    except BaseException:
        release()
        raise
    resp.call_on_close(release)  # a reply never sent (HEAD) or cut off
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:  # gunicorn makes it blocking again at the next request
        sock.settimeout(SEND_STALL_SECONDS)
    return resp


def _file(data: bytes, fmt: str, pid: str, sent: Callable[[], None]) -> Response:
    """An export file as a download named after the project: its name, then its id
    (new-user trial: "4b37868d8b.csv" said nothing of what it held); ``sent()`` once
    it is all read out, or given up."""
    from werkzeug.utils import secure_filename

    mime = "text/csv" if fmt == "csv" else "application/x-ndjson"
    try:
        name = secure_filename(str(_store().get_project(pid).get("name") or ""))[:60]
    except LoopError:  # the project is gone; its export file is kept a while
        name = ""

    def chunks() -> Iterator[bytes]:
        try:
            for a in range(0, len(data), SEND_CHUNK):
                yield data[a : a + SEND_CHUNK]
        finally:
            sent()

    return Response(chunks(), mimetype=mime, headers={
        "Content-Length": str(len(data)),
        "Content-Disposition": f"attachment; filename={name + '-' if name else ''}{pid}.{fmt}"})


@bp.post("/jobs/<job_id>/cancel")
@admin_required
def cancel_job(job_id: str) -> Any:
    """Stop a queued or running job. A canceled recalibration or retrain frees its
    lock and is checked again a moment later: the answers it would have taken in
    still reach the models (the policy still wants them there)."""
    _no_body()
    out = jobs.cancel(_store().r, job_id)
    if out["canceled"]:
        view = jobs.job_status(_store().r, job_id)
        if view.get("project"):
            _ext()["recalibrator"].canceled(view["project"], view.get("type"), job_id)
    return jsonify(out)


# -- rules -------------------------------------------------------------------------------
def _reapply(pid: str) -> str | None:
    """After a rule changed: apply the LFs (only the changed column is computed),
    then recalibrate; the job id (None before any item is uploaded, or while the
    project has no LF to apply: the change is stored, and answering 409 would say
    it was not)."""
    if _store().n_items(pid) == 0 or not rules.has_lfs(_store(), pid):
        return None
    return str(jobs.enqueue(_ext()["queue"], _store(), _settings(), pid, "apply_lfs",
                            recalibrate_after=True).id)


@bp.put("/projects/<pid>/lfs/<name>")
@admin_required
def switch_lf(pid: str, name: str) -> Any:
    """Switch an LF of the module or of the uploaded votes on or off; re-applies
    and recalibrates when that changed anything."""
    out = rules.switch_lf(_store(), pid, name, _body())
    return jsonify({**out, "job_id": _reapply(pid) if out["changed"] else None})


@bp.get("/projects/<pid>/rules")
@admin_required
def list_rules(pid: str) -> Any:
    """The project's rules (enabled or not) with their history."""
    return jsonify({"rules": rules.list_rules(_store(), pid)})


@bp.post("/projects/<pid>/rules")
@admin_required
def create_rule(pid: str) -> Any:
    """Add a rule, or with ``{"rules": [...]}`` several at once (all or none: a file
    of rules saved from ``GET /rules``); applies their columns and recalibrates."""
    data = _body()
    if "rules" in data:
        added = rules.import_rules(_store(), pid, data)
        return jsonify({"rules": added, "job_id": _reapply(pid)}), 201
    out = rules.create_rule(_store(), pid, data)
    return jsonify({"rule": out, "job_id": _reapply(pid)}), 201


def _not_a_rule(name: str) -> None:
    """``/rules/preview`` and ``/rules/suggestions`` are not rules: a PUT or DELETE
    there is a 405 naming what the path takes, not "no rule 'preview'"."""
    if name in rules.RESERVED_NAMES:
        allowed = ["POST"] if name == "preview" else ["GET"]
        raise MethodNotAllowed(valid_methods=allowed, description=(
            f"/rules/{name} takes {allowed[0]} only"))


@bp.put("/projects/<pid>/rules/<name>")
@admin_required
def update_rule(pid: str, name: str) -> Any:
    """Edit, rename, disable or enable a rule; re-applies and recalibrates (unless
    the edit changes nothing: ``changed`` false, no job)."""
    _not_a_rule(name)
    out, changed = rules.update_rule(_store(), pid, name, _body())
    return jsonify({"rule": out, "changed": changed,
                    "job_id": _reapply(pid) if changed else None})


@bp.delete("/projects/<pid>/rules/<name>")
@admin_required
def delete_rule(pid: str, name: str) -> Any:
    """Delete a rule; re-applies and recalibrates."""
    _not_a_rule(name)
    _no_body()
    out = rules.delete_rule(_store(), pid, name)
    return jsonify({**out, "job_id": _reapply(pid)})


@bp.post("/projects/<pid>/rules/preview")
@admin_required
def preview_rule(pid: str) -> Any:
    """What a rule would do (nothing is stored): coverage, overlaps, conflicts,
    precision and recall on the gold so far, matched items."""
    return jsonify(rules.preview(_store(), pid, _body()))


@bp.get("/projects/<pid>/rules/readable")
@admin_required
def rules_readable(pid: str) -> Any:
    """What a keyword or regex rule can read besides the text: the uploaded fields,
    and whether the items name a pair of entities (``reads: "between"``)."""
    return jsonify(rules.readable(_store(), pid))


@bp.get("/projects/<pid>/rules/suggestions")
@admin_required
def rule_suggestions(pid: str) -> Any:
    """Rule candidates mined from the gold labels, with their evidence."""
    k = whole_arg("k", "10", "a whole number from 1 to 100")
    return jsonify(rules.suggestions(_store(), pid, k))


@bp.post("/projects/<pid>/rules/suggestions/accept")
@admin_required
def accept_suggestion(pid: str) -> Any:
    """Turn a suggestion into a rule; applies its column and recalibrates."""
    out = rules.accept_suggestion(_store(), pid, _body("key").get("key"))
    return jsonify({"rule": out, "job_id": _reapply(pid)}), 201


@bp.post("/projects/<pid>/rules/suggestions/reject")
@admin_required
def reject_suggestion(pid: str) -> Any:
    """Never propose a suggestion again."""
    return jsonify(rules.reject_suggestion(_store(), pid, _body("key").get("key")))


# -- reports -----------------------------------------------------------------------------
@bp.get("/projects/<pid>/lfs")
@admin_required
def lfs(pid: str) -> Any:
    """Per-LF statistics."""
    return jsonify(reports.lf_stats(_store(), pid))


@bp.get("/projects/<pid>/metrics")
@admin_required
def metrics(pid: str) -> Any:
    """Project metrics and their history."""
    return jsonify(reports.metrics(_store(), pid))


@bp.get("/projects/<pid>/items")
@admin_required
def list_items(pid: str) -> Any:
    """Items searched and filtered, a page at a time, with their labels and LF votes."""
    return jsonify(browse.browse(_store(), pid, request.args.to_dict(flat=True)))


@bp.get("/projects/<pid>/export")
@admin_required
def export(pid: str) -> Any:
    """Download labels as CSV or JSON lines."""
    fmt = request.args.get("format", "csv")
    if fmt not in exports.FORMATS:  # said before a slot is taken
        raise BadRequest(f"format must be csv or jsonl, got {fmt!r}")
    return _sending(lambda: (exports.export_bytes(_store(), pid, fmt), fmt, pid))


# -- the expert queue --------------------------------------------------------------------------
#: Seconds a refill stays asked for: until its job starts (it clears the flag), or
#: this long if the job is lost. (5 s, as it was, let busy or frozen workers collect
#: a refill job every 5 s per project.)
REFILL_PENDING_TTL = 60.0


@bp.post("/projects/<pid>/queue/next")
@annotator_required
def queue_next(pid: str) -> Any:
    """Lease the next item (204 when nothing is left for this annotator)."""
    store, s = _store(), _settings()
    out, queued = queue.lease_item(store, pid, g.annotator, s.lease_seconds,
                                   shown=(b := _body("shown", "page")).get("shown"),
                                   token=g.token_hash, page=b.get("page"))
    # Refill a short queue while the pool holds items it lacks; not when nothing is
    # left for this annotator (an idle page asks every few seconds).
    # (Before a label model exists, e.g. no rule yet, the queue hands out the pool
    # in random order and there is nothing to rank with; after an upload, until the
    # LFs are applied to the new items, the refill would fail: the apply re-ranks.)
    if (out is not None and queued < s.low_water and out["remaining"] > queued
            and store.refill_possible(pid)
            and store.set_flag(pid, "refill_pending", REFILL_PENDING_TTL)):
        jobs.enqueue_task(_ext()["queue"], store, "refill_queue", pid, s.queue_size,
                          meta={"type": "refill_queue", "project": pid, "auto": True},
                          job_timeout=600)
    if out is None:
        return Response(status=204)
    return jsonify(out)


@bp.post("/projects/<pid>/queue/answer")
@annotator_required
def queue_answer(pid: str) -> Any:
    """Store a gold label; may trigger a recalibration."""
    b = _body("item_id", "label", "lease_id")
    out = queue.answer(_store(), pid, g.annotator, b.get("item_id"), b.get("label"),
                       b.get("lease_id"), token=g.token_hash)
    # A repeat asks too: the first send may have been stored and then cut off before
    # it asked (Redis paused, the process killed), leaving its answer out of the
    # models until another answer came (fault trial).
    if out["since_recal"] > 0:
        _ext()["recalibrator"].answer_arrived(pid, out["since_recal"])
    return jsonify({"stored": True, "duplicate": out["duplicate"]})


def _answers_changed(pid: str) -> None:
    """An answer was taken back or changed, or an item settled: a change the models
    have not seen, like a new answer (the recalibrator counts it as one)."""
    _ext()["recalibrator"].answer_arrived(pid, _store().since_recal(pid))


@bp.post("/projects/<pid>/queue/skip")
@annotator_required
def queue_skip(pid: str) -> Any:
    """Give the item back without an answer."""
    b = _body("item_id", "lease_id")
    return jsonify(queue.skip(_store(), pid, g.annotator, b.get("item_id"), b.get("lease_id"),
                              token=g.token_hash))


@bp.post("/projects/<pid>/queue/release")
@annotator_required
def queue_release(pid: str) -> Any:
    """Give back leases a closed page held, unanswered and not skipped."""
    b = _body("leases", "page", "shown")
    return jsonify(queue.release(_store(), pid, g.annotator, b.get("leases"),
                                 token=g.token_hash, page=b.get("page"), shown=b.get("shown")))


@bp.post("/projects/<pid>/queue/renew")
@annotator_required
def queue_renew(pid: str) -> Any:
    """Extend the live leases a page holds (the labeling page: while its annotator is
    there)."""
    b = _body("leases")
    return jsonify(queue.renew(_store(), pid, g.annotator, b.get("leases"),
                               _settings().lease_seconds, token=g.token_hash))


@bp.post("/projects/<pid>/queue/undo")
@annotator_required
def queue_undo(pid: str) -> Any:
    """Undo this annotator's last answer; like an answer, it may trigger a recalibration.
    ``{"item_id"}``: only if the last answer is to that item (a retry is safe)."""
    b = _body("item_id")
    out = queue.undo(_store(), pid, g.annotator, token=g.token_hash, item_id=b.get("item_id"),
                     hold_seconds=_settings().lease_seconds)
    _answers_changed(pid)
    return jsonify(out)


@bp.post("/projects/<pid>/queue/relabel")
@annotator_required
def queue_relabel(pid: str) -> Any:
    """Change this annotator's earlier answer to an item."""
    b = _body("item_id", "label")
    out = queue.relabel(_store(), pid, g.annotator, b.get("item_id"), b.get("label"),
                        token=g.token_hash)
    if out["changed"]:
        _answers_changed(pid)
    return jsonify(out)


@bp.get("/projects/<pid>/disputes")
@admin_required
def disputes(pid: str) -> Any:
    """Items whose answers tie (answers_per_item > 1) and the items the admin resolved."""
    return jsonify(queue.disputes(_store(), pid))


@bp.post("/projects/<pid>/resolve")
@admin_required
def resolve(pid: str) -> Any:
    """Settle an answered item's label (``label`` null: take the resolution back)."""
    b = _body("item_id", "label", "if_answers")
    if "label" not in b:
        raise BadRequest('send {"item_id": ..., "label": ...} (label null takes a '
                         "resolution back)")
    out = queue.resolve(_store(), pid, b.get("item_id"), b.get("label"), g.annotator,
                        b.get("if_answers"))
    _answers_changed(pid)
    return jsonify(out)


@bp.get("/projects/<pid>/queue/me")
@annotator_required
def queue_me(pid: str) -> Any:
    """This annotator's counts, recent answers (``?history=N``: the last N, 20 by
    default, at most 500) and what remains (``?done=1``: also what the labeling page
    says when nothing is left for them)."""
    n = whole_arg("history", "20", "a whole number of answers from 1 to "
                  f"{queue.MAX_HISTORY}")
    if not 1 <= n <= queue.MAX_HISTORY:
        raise BadRequest(f"history must be from 1 to {queue.MAX_HISTORY}, got {n}")
    return jsonify(queue.me(_store(), pid, g.annotator, n_history=n, done=_bool_arg("done")))
