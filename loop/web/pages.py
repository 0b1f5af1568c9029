"""Blueprint: HTML pages (sign-in, labeling, dashboard) that call the JSON API.

The pages are static shells; all data arrives through ``/api/...`` with an
``Authorization: Bearer`` token kept in the browser. Item text is untrusted:
the scripts only ever put it in the DOM with ``textContent``, and a strict
Content-Security-Policy (no inline script, same-origin only) backs that up.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from loop.service.rules import has_lfs
from loop.web.auth import annotator_required

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/pages",
)


@bp.get("/")
def home() -> str:
    """Sign in once; then the projects (an annotator sees theirs)."""
    return render_template("home.html", title="Projects")


@bp.get("/signin")
def signin() -> str:
    """Paste an annotator token or admin key (one-click links land here)."""
    return render_template("signin.html", title="Sign in")


@bp.get("/new")
def new_project() -> str:
    """Create a project (admin)."""
    return render_template("new_project.html", title="New project")


@bp.get("/p/<pid>/data")
def data(pid: str) -> str:
    """Import items: preview, pick columns, check, upload; then apply the LFs."""
    return render_template("data.html", pid=pid, title="Data")


@bp.get("/p/<pid>/items")
def items(pid: str) -> str:
    """Search and filter the items: labels, known labels, the models' label, LF votes."""
    return render_template("items.html", pid=pid, title="Items")


@bp.get("/p/<pid>/annotators")
def annotators(pid: str) -> str:
    """Create and revoke annotator tokens; their progress."""
    return render_template("annotators.html", pid=pid, title="Annotators")


@bp.get("/p/<pid>")
def project_home(pid: str) -> BaseResponse:
    """A project's root goes to its labeling page."""
    return redirect(url_for("pages.label", pid=pid))


@bp.get("/p/<pid>/label")
def label(pid: str) -> str:
    """Label one item at a time."""
    return render_template("label.html", pid=pid, title="Label")


@bp.get("/p/<pid>/dashboard")
def dashboard(pid: str) -> str:
    """LF table, learning curve, queue, jobs and exports."""
    return render_template("dashboard.html", pid=pid, title="Dashboard")


@bp.get("/p/<pid>/label/session")
@annotator_required
def label_session(pid: str) -> Any:
    """What the labeling page needs and an annotator token may read: the project's
    name, labels and guidelines, and when the model was last recalibrated."""
    store = current_app.extensions["loop"]["store"]
    settings = current_app.extensions["loop"]["settings"]
    project = store.get_project(pid)
    return jsonify({"id": pid, "name": project.get("name"), "labels": project["labels"],
                    "label_style": project.get("label_style") or [],
                    "answers_per_item": project.get("answers_per_item", 1),
                    "blind": bool(project.get("blind", False)),
                    "guidelines": store.guidelines(pid),
                    "last_recalibrated_at": store.get_value(pid, "last_recalibrated_at"),
                    # the page renews its leases at half this while its annotator is
                    # there (a key, a click or a scroll within idle_seconds, the tab shown)
                    "lease_seconds": settings.lease_seconds,
                    "idle_seconds": settings.label_idle_seconds,
                    # none yet: the page says so where it lists an item's LF votes
                    "has_lfs": has_lfs(store, pid)})
