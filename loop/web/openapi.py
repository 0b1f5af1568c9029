"""``/openapi.json``: the API description (a test checks it covers every route)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from loop.core.rules import MAX_CONDITIONS
from loop.service.browse import MAX_LIMIT
from loop.service.projects import MAX_TOKEN_DAYS

bp = Blueprint("openapi", __name__)

_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def _op(summary: str, status: str = "200", body: dict[str, Any] | None = None,
        auth: bool = True, extra: dict[str, Any] | None = None,
        required: tuple[str, ...] = (), also: dict[str, str] | None = None) -> dict[str, Any]:
    """``also``: the other statuses it answers besides ``status`` and 4xx errors (API
    audit: /next's 204 and a dry run's 200 were only in the summaries)."""
    op: dict[str, Any] = {"summary": summary, "responses": {status: {"description": "ok"},
                                                             "4XX": _ERR}}
    for code, what in (also or {}).items():
        op["responses"][code] = {"description": what}
    if body is not None:
        schema: dict[str, Any] = {"type": "object", "properties": body}
        if required:
            schema["required"] = list(required)
        op["requestBody"] = {"required": bool(required),
                             "content": {"application/json": {"schema": schema}}}
    if not auth:
        op["security"] = []
    if extra:
        op.update(extra)
    return op


S = {"type": "string"}
INT = {"type": "integer"}
UPLOAD = {"requestBody": {"content": {
    "text/csv": {"schema": S}, "application/x-ndjson": {"schema": S},
    "application/json": {"schema": {}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}},
    "parameters": [*({"name": n, "in": "query", "schema": S}
                     for n in ("id_field", "text_field", "gold_field")),
                   {"name": "eval_fraction", "in": "query", "description":
                    "share of the uploaded gold held out to score the models (default "
                    "LOOP_EVAL_FRACTION, 0.3); the rest is fitted on",
                    "schema": {"type": "number", "minimum": 0, "maximum": 1}}]}

RULE = {"name": S, "label": {"oneOf": [S, INT], "description": "a label name or a class index"},
        "kind": {"type": "string", "enum": ["keywords", "regex", "field"]},
        "keywords": {"type": "array", "items": S}, "whole_word": {"type": "boolean"},
        "case_sensitive": {"type": "boolean"},
        "ignore_accents": {"type": "boolean", "description": "keyword rules: é, è, ẹ and e "
                           "match one another"}, "pattern": S, "field": S,
        "op": {"type": "string", "enum": ["==", "!=", ">", ">=", "<", "<=", "in"]},
        "value": {"oneOf": [S, {"type": "number"}, {"type": "array", "items": {
            "oneOf": [S, {"type": "number"}]}, "description": "op in: the values"}]},
        "reads": {"type": "string", "default": "text", "description": "keyword and regex "
                  "rules: what they read, \"text\" the item's text, \"between\" the "
                  "words between a relation item's two entities (entity1, entity2), else "
                  "the uploaded field of that name; an item without it: no match"}}
#: One of a rule's extra conditions: a rule's own fields but no name or label, and not.
CONDITION = {"type": "object", "properties": {
    **{k: v for k, v in RULE.items() if k not in ("name", "label")},
    "not": {"type": "boolean", "default": False, "description": "\"and not\": the "
            "condition must not hold"}}, "required": ["kind"]}
RULE["conditions"] = {"type": "array", "maxItems": MAX_CONDITIONS, "items": CONDITION,
                      "description": "more conditions that must all hold too"}
#: GET /items' query parameters (loop.service.browse.PARAMS).
BROWSE = [{"name": n, "in": "query", "description": d, "schema": sch} for n, d, sch in (
    ("q", "text in the item (any case) or its whole id", S),
    ("label", "the item's label, as the export gives it", S),
    ("known", "yes / no: an answer or uploaded label", {"type": "string", "enum": [
        "yes", "no"]}),
    ("disagree", "1: the models' label is not the known one", {"type": "string", "enum": [
        "0", "1"]}),
    ("lf", "an LF's name: the items it votes on", S),
    ("covered", "yes / no: some LF votes on it / none does", {"type": "string", "enum": [
        "yes", "no"]}),
    ("sort", "confidence: the least sure label first (else the import order)",
     {"type": "string", "enum": ["confidence"]}),
    ("offset", "items to pass over", {"type": "integer", "minimum": 0, "default": 0}),
    ("limit", "items on the page", {"type": "integer", "minimum": 1,
                                    "maximum": MAX_LIMIT, "default": 50}))]

PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": _op("Redis answers and how many workers are alive; 503 when Redis "
                            "is unreachable, full (95% of maxmemory) or refusing writes, "
                            "or with ?workers=N while fewer than N workers are alive",
                            auth=False, also={"503": "Redis unreachable or full, or fewer "
                                                     "workers alive than ?workers asks"},
                            extra={"parameters": [
                                {"name": "workers", "in": "query",
                                 "schema": {"type": "integer", "minimum": 0}}]})},
    "/openapi.json": {"get": _op("this document", auth=False)},
    "/api/projects": {
        "post": _op("create a project", "201", {"name": S, "labels": {
            "type": "array", "minItems": 2, "maxItems": 100, "items": {
                "oneOf": [S, {"type": "object", "properties": {"name": S, "color": S, "key": S}}]}},
                                               "lf_module": S,
                                               "text_field": {**S, "maxLength": 200},
                                               "answers_per_item": {
                                                   "type": "integer", "minimum": 1,
                                                   "maximum": 20, "default": 1},
                                               "guidelines": S,
                                               "blind": {"type": "boolean",
                                                         "default": False}},
                    required=("name", "labels")),
        "get": _op("list projects")},
    "/api/projects/{pid}": {
        "get": _op("one project"),
        "delete": _op("delete the project for good: items, answers, rules, models, "
                      "annotators (their tokens stop working), export files; its jobs "
                      "are stopped",
                      body={"confirm": S}, required=("confirm",))},
    "/api/projects/{pid}/rules": {
        "get": _op("the project's rules (keywords, regex, field conditions) and history"),
        "post": _op("add a rule (enabled unless enabled is false; unknown keys are a 400), "
                    "or several at once, all or none, with {rules: [...]}: each as this takes "
                    "one or as GET lists it (a file of another project's rules; labels by "
                    "label_name), names taken here a 409 naming them; their columns are "
                    "applied and the models recalibrated (job_id; null while the project has "
                    "no item or no enabled LF)", "201", extra={"requestBody": {
                        "required": True, "content": {"application/json": {"schema": {
                            "oneOf": [
                                {"type": "object", "required": ["name", "label", "kind"],
                                 "properties": {**RULE, "enabled": {"type": "boolean"}}},
                                {"type": "object", "required": ["rules"], "properties": {
                                    "rules": {"type": "array", "minItems": 1,
                                              "items": {"type": "object"}}}}]}}}}})},
    "/api/projects/{pid}/rules/{name}": {
        "put": _op("edit, rename, enable or disable a rule (history kept); re-applies; "
                   "409 when if_unchanged_since is not the rule's updated_at any more",
                   body={**RULE, "enabled": {"type": "boolean"},
                         "if_unchanged_since": {"type": "number", "description":
                                                "the rule's updated_at as you read it"}}),
        "delete": _op("delete a rule; re-applies")},
    "/api/projects/{pid}/lfs/{name}": {
        "put": _op("switch an LF of the module or of the uploaded votes off or on (rules: "
                   "PUT /rules/{name}); re-applies and recalibrates when it changed (job_id); "
                   "409 for the last LF on", body={"enabled": {"type": "boolean"}},
                   required=("enabled",))},
    "/api/projects/{pid}/rules/preview": {"post": _op(
        "what a rule would do, nothing stored: coverage, overlaps and conflicts with the "
        "LFs, precision/recall on the gold so far, matched items with the model's guess and "
        "where the rule matched (marks: [start, end] offsets into each item's text); 400 "
        "past a 10 s time limit, 429 (Retry-After) while 2 previews run in the web process",
        body={**RULE, "replacing": S, "examples": {
            "type": "integer", "minimum": 1, "maximum": 100, "default": 8,
            "description": "matched items to return"}})},
    "/api/projects/{pid}/rules/readable": {"get": _op(
        "what a keyword or regex rule can read besides the text: {fields: the uploaded "
        "fields holding a text or a number, between: whether items name a pair of "
        "entities}")},
    "/api/projects/{pid}/rules/suggestions": {"get": _op(
        "rule candidates mined from the gold labels, with supporting and contradicting "
        "gold items", extra={"parameters": [{"name": "k", "in": "query", "schema": INT}]})},
    "/api/projects/{pid}/rules/suggestions/accept": {"post": _op(
        "turn a suggestion into a rule (re-applies)", "201", {"key": S}, required=("key",))},
    "/api/projects/{pid}/rules/suggestions/reject": {"post": _op(
        "never propose a suggestion again", body={"key": S}, required=("key",))},
    "/api/me": {"get": _op("who the token is: admin, or an annotator with their project")},
    "/api/projects/{pid}/labels": {"post": _op(
        "known labels for items stored already (each by name or class index), all or "
        "none: a seeded eval_fraction held out to score the models (default "
        "LOOP_EVAL_FRACTION), the rest fitted on; an item with an answer keeps it; "
        "another uploaded label, an unknown id or label is a 4xx; then a recalibration "
        "(job_id)", "201",
        {"labels": {"type": "object", "additionalProperties": {"oneOf": [S, {"type": "integer"}]}},
         "eval_fraction": {"type": "number", "minimum": 0, "maximum": 1}},
        required=("labels",))},
    "/api/projects/{pid}/items/preview": {"post": _op(
        "columns and first rows of a file (nothing checked or stored)", extra={
            "requestBody": UPLOAD["requestBody"]})},
    "/api/projects/{pid}/guidelines": {"put": _op("replace the labeling guidelines",
                                                  body={"guidelines": S},
                                                  required=("guidelines",))},
    "/api/projects/{pid}/annotators": {
        "post": _op("create an annotator token (shown once; re-adding a name revokes its "
                    "old token, or with replace: false is a 409 while that token works, "
                    "and with replaces_made_at a 409 if the working token is another; "
                    "expires_in_days: it stops working by itself after that many days, "
                    "null or absent: when revoked)", "201",
                    {"name": S, "replace": {"type": "boolean"},
                     "replaces_made_at": {"type": "number", "nullable": True},
                     "expires_in_days": {"type": "number", "nullable": True, "minimum": 0,
                                         "exclusiveMinimum": True,
                                         "maximum": MAX_TOKEN_DAYS}},
                    required=("name",)),
        "get": _op("the project's annotators")},
    "/api/projects/{pid}/annotators/{name}": {"delete": _op(
        "revoke an annotator's token; with made_at (the token's created_at) only that "
        "token: a 409 if the name's working token is another, revoked: false when that "
        "token works no more", body={"made_at": {"type": "number", "nullable": True}})},
    "/api/projects/{pid}/annotators/{name}/answers": {"delete": _op(
        "take back every answer an annotator gave: the other answers decide each item; "
        "items nobody else answered need answers again", body={"confirm": S},
        required=("confirm",))},
    "/api/projects/{pid}/items": {"post": _op(
        "upload items (CSV, JSON lines, a JSON array, or a JSON object of rows keyed by "
        "id such as WRENCH's; nested objects become dotted columns, data.text); "
        "dry_run=1 checks and stores nothing (200); errors list the bad rows; a file "
        "uploaded before (its rows, or all its texts) is a 409 (code duplicate_upload) "
        "unless allow_duplicate=1; skip_stored=1 (with id_field) leaves out the rows "
        "whose id is stored already (n_skipped, skipped_ids); stored_labels=1 (with "
        "id_field and gold_field) leaves them out too and gives those items their rows' "
        "known labels (stored_labels in the reply, as POST /labels answers); the reply "
        "counts known labels per class (gold_counts) and may carry a note", "201",
        also={"200": "dry_run=1: the file checked, nothing stored"},
        extra={**UPLOAD, "parameters": [*UPLOAD["parameters"], *(
            {"name": n, "in": "query", "schema": {"type": "boolean"}}
            for n in ("dry_run", "allow_duplicate", "skip_stored", "stored_labels")),
            {"name": "drop", "in": "query", "description": "a column not kept as a field "
             "(repeatable)", "schema": {"type": "array", "items": S}, "explode": True},
            {"name": "votes_field", "in": "query", "description": "a column of LF votes "
             "computed elsewhere (WRENCH's weak_labels: a list per row, one class index "
             "per LF, -1 to abstain); each position becomes an LF, applied at once",
             "schema": S},
            {"name": "votes_names", "in": "query", "description": "the LFs' names, in "
             "the order of the votes, separated by commas (first upload with votes only; "
             "default weak_labels[0], weak_labels[1], ...)", "schema": S}]}),
        "get": _op(
        "(admin) items searched and filtered, a page at a time: query q (text in the "
        "item, any case, or its whole id), label, known (yes / no), disagree (1: the "
        "models' label is not the known one), lf (the LF votes on it), covered (yes / no: "
        "some LF votes on it / none does), sort (confidence: the least sure first), offset, "
        "limit (1 to "
        "200, 50 by default); total, items (id, text (2,000 characters at most; "
        "text_truncated), label, source, confidence, known, model_label, held_out, "
        "votes), labels, lfs", extra={"parameters": BROWSE})},
    "/api/projects/{pid}/jobs": {
        "post": _op("enqueue a job", "202", {"type": {"type": "string", "enum": [
            "apply_lfs", "fit_label_model", "refill_queue", "train_end_model", "recalibrate",
            "export"]}, "format": {"type": "string", "enum": ["jsonl", "csv"],
                                   "default": "jsonl", "description": "export jobs"},
            "recalibrate": {"type": "boolean", "default": False, "description":
                            "apply_lfs: recalibrate (label model, queue, end model) once "
                            "the new votes are in"}}),
        "get": _op("recent jobs, newest first: the last 50 requested and the last 50 "
                   "automatic ones", extra={"parameters": [{
                       "name": "auto", "in": "query", "description": "true: only automatic "
                       "jobs; false: only requested ones", "schema": {"type": "boolean"}}]})},
    "/api/jobs/{job_id}": {"get": _op("job status, progress, result, error, times")},
    "/api/jobs/{job_id}/cancel": {"post": _op("stop a queued or running job")},
    "/api/jobs/{job_id}/download": {"get": _op(
        "the file of a finished export job (kept a day, gone with its project); 409 "
        "before it finished")},
    "/api/projects/{pid}/lfs": {"get": _op(
        "per-LF statistics; gold_use: the random gold the label model was fitted with "
        "and what its last check on that gold found (the way kept, held-out rows right "
        "each way)")},
    "/api/projects/{pid}/metrics": {"get": _op(
        "metrics and history; agreement of the two models on the n_agreement items an "
        "LF votes on; annotator_agreement (observed pairwise agreement, Fleiss' "
        "kappa, n_items_multi) over items with 2+ answers, null if none; unseen: per "
        "model, right of n exploration answers it predicted before it learned them, "
        "with a 95% Wilson interval (low, high) and the newest 50 (recent_n, "
        "recent_right); the label model's where an LF votes, the end model's also "
        "split into covered and silent ({n, right} where an LF voted and where none "
        "did)")},
    "/api/projects/{pid}/queue/next": {"post": _op(
        "lease the next item (a lease you already hold first, except items in shown); "
        "204 if nothing is left for you; with answers_per_item > 1 an item someone has "
        "answered comes with guess null and guess_hidden true",
        body={"shown": {"type": "array", "items": S, "maxItems": 20},
              "page": {"type": "string", "minLength": 1, "maxLength": 64}},
        also={"204": "nothing is left for you"})},
    "/api/projects/{pid}/queue/answer": {"post": _op("store a gold label", body={
        "item_id": S, "label": {"oneOf": [S, INT]}, "lease_id": S},
        required=("item_id", "label", "lease_id"))},
    "/api/projects/{pid}/queue/skip": {"post": _op("give an item back", body={
        "item_id": S, "lease_id": S}, required=("item_id", "lease_id"))},
    "/api/projects/{pid}/queue/release": {"post": _op(
        "give back leases a closed page held, unanswered and not skipped (released and "
        "not_held list item ids; page: also the leases that page's /next asked for last, "
        "except items in shown)",
        body={"page": {"type": "string", "minLength": 1, "maxLength": 64},
              "shown": {"type": "array", "items": S, "maxItems": 20}, "leases": {
            "type": "array", "minItems": 0, "maxItems": 21, "items": {
                "type": "object", "properties": {"item_id": S, "lease_id": S},
                "required": ["item_id", "lease_id"]}}}, required=("leases",))},
    "/api/projects/{pid}/queue/renew": {"post": _op(
        "extend leases you hold now to LEASE_SECONDS from now (renewed: item_id, "
        "expires_at; not_renewed: item_id, reason: expired, answered, settled, taken or "
        "not_held); an expired lease is never brought back",
        body={"leases": {
            "type": "array", "minItems": 1, "maxItems": 21, "items": {
                "type": "object", "properties": {"item_id": S, "lease_id": S},
                "required": ["item_id", "lease_id"]}}}, required=("leases",))},
    "/api/projects/{pid}/queue/undo": {"post": _op(
        "undo my last answer; with item_id only if it is that item's (safe to retry: "
        "undone false once it was), 409 if another answer is last; item_status says what "
        "became of the item (queued, leased, settled, resolved), with other_answers and "
        "answers_needed; queued, it is held for you (lease: id, expires_at; your next "
        "/next serves it, or answer with that lease)", body={"item_id": S})},
    "/api/projects/{pid}/queue/relabel": {"post": _op("change my earlier answer", body={
        "item_id": S, "label": {"oneOf": [S, INT]}}, required=("item_id", "label"))},
    "/api/projects/{pid}/disputes": {"get": _op(
        "(admin) answers_per_item > 1: answered items whose answers tie (no gold label; "
        "waiting_for answer or admin) and the items the admin resolved, with every "
        "answer")},
    "/api/projects/{pid}/resolve": {"post": _op(
        "(admin) settle an answered item's gold label whatever its answers; label null "
        "takes the resolution back; if_answers ({annotator: label}, the answers you "
        "read): only if those are still its answers, else a 409 answers_changed", body={
            "item_id": S, "label": {"oneOf": [S, INT], "nullable": True},
            "if_answers": {"type": "object", "additionalProperties": {"oneOf": [S, INT]}}},
        required=("item_id", "label"))},
    "/api/projects/{pid}/queue/me": {"get": _op(
        "my counts, my last answers, remaining (items that still need answers), disputed, "
        "leased", extra={"parameters": [
            {"name": "history", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20}},
            {"name": "done", "in": "query", "description": "adds disputed_for_admin, "
             "waiting_for_others, leased_for_you and n_items (the labeling page when "
             "nothing is left for you)",
             "schema": {"type": "boolean"}}]})},
    "/api/projects/{pid}/export": {"get": _op(
        "download labels: id, text, p_<label> per class, label, gold, source, annotator, "
        "answered_at, held_out, random_gold (the known label is random gold to the label "
        "model: an exploration pick's answer, an uploaded label not held out), and the "
        "other uploaded fields (JSONL: an object; CSV: a "
        "column each, field:<name> where the name is taken) (answers_per_item > 1 adds "
        "answers, answers_at, n_answers, agreement, disputed, resolved_by)",
        extra={"parameters": [
        {"name": "format", "in": "query",
         "schema": {"type": "string", "enum": ["csv", "jsonl"], "default": "csv"}}]})},
}


#: The header of every write (loop.web.idempotency).
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "a new key (a UUID, say) for each request, sent again with its "
                   "retries: a 2xx reply is kept a day and given again "
                   "(Idempotent-Replayed: true) instead of doing the request twice; 422 "
                   "with another request, 409 while the first send is answered"}
#: ... which POST /annotators takes but never replays (its reply is a token).
NOT_REPLAYED = {**IDEMPOTENCY_KEY, "description": "not kept here: the reply is a token, "
                "stored nowhere in clear; sent again, the request makes a new token, "
                "which revokes the unseen one"}


def spec() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, ops in PATHS.items():
        params = [{"name": n, "in": "path", "required": True, "schema": S}
                  for n in ("pid", "job_id", "name") if "{" + n + "}" in path]
        paths[path] = {m: {**op, "parameters": params + op.get("parameters", []) + (
                           [] if m not in ("post", "put", "delete") else [NOT_REPLAYED]
                           if path == "/api/projects/{pid}/annotators" else [IDEMPOTENCY_KEY])}
                       for m, op in ops.items()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "loop", "version": "0.1.0"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": S, "code": S}}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


_QUERY: dict[tuple[str, str], list[str]] = {}


def query_params(rule: str, method: str) -> list[str] | None:
    """The query parameters a route takes, as this document lists them (``rule`` as
    Flask writes it, ``/api/projects/<pid>/export``); None for a route it does not
    describe."""
    if not _QUERY:  # built whole, then published: a thread never reads half of it
        _QUERY.update({(path, m): [p["name"] for p in op["parameters"] if p["in"] == "query"]
                       for path, ops in spec()["paths"].items() for m, op in ops.items()})
    path = rule.replace("<", "{").replace(">", "}")
    return _QUERY.get((path, "get" if method == "HEAD" else method.lower()))


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI document."""
    return jsonify(spec())
