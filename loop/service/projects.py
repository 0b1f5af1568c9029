"""Projects and their annotators."""

from __future__ import annotations

from typing import Any

from loop.errors import BadRequest, NotFound
from loop.service.lf_modules import check_lf_module
from loop.storage import RedisStore

#: Upper bound on a project's ``answers_per_item``.
MAX_ANSWERS_PER_ITEM = 20
#: Longest guidelines text accepted (characters).
MAX_GUIDELINES = 20_000


def create_project(
    store: RedisStore, name: Any, labels: Any, lf_module: Any, text_field: Any = "text",
    answers_per_item: Any = 1, guidelines: Any = "", lf_import_timeout: float = 20.0,
) -> dict[str, Any]:
    """Create a project after checking every argument (400 naming what to send).

    The LF module is imported in a subprocess with a time limit, never here.
    ``answers_per_item`` (k): how many different annotators answer each item.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise BadRequest("name must be a non-empty string of at most 200 characters")
    if (not isinstance(labels, list) or len(labels) < 2
            or not all(isinstance(x, str) and x.strip() for x in labels)):
        raise BadRequest("labels must be a list of at least two non-empty strings")
    if len(set(labels)) != len(labels):
        raise BadRequest(f"labels must be unique, got {labels}")
    if not isinstance(text_field, str) or not text_field:
        raise BadRequest("text_field must be a non-empty string")
    if (not isinstance(answers_per_item, int) or isinstance(answers_per_item, bool)
            or not 1 <= answers_per_item <= MAX_ANSWERS_PER_ITEM):
        raise BadRequest(f"answers_per_item must be an integer from 1 to "
                         f"{MAX_ANSWERS_PER_ITEM}, got {answers_per_item!r}")
    text = check_guidelines(guidelines)
    lf_names = check_lf_module(lf_module, timeout=lf_import_timeout)
    project = store.create_project({"name": name.strip(), "labels": labels,
                                    "lf_module": lf_module, "text_field": text_field,
                                    "lfs": lf_names, "answers_per_item": answers_per_item})
    if text:
        store.set_guidelines(project["id"], text)
    return project


def check_guidelines(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str) or len(text) > MAX_GUIDELINES:
        raise BadRequest(f"guidelines must be text of at most {MAX_GUIDELINES} characters")
    return text


def add_annotator(store: RedisStore, pid: str, name: Any) -> dict[str, Any]:
    """A new token for annotator ``name`` (shown once; an earlier token of the same
    name stops working)."""
    if not isinstance(name, str) or not name.strip() or name.strip() == "admin" \
            or len(name) > 100:
        raise BadRequest("name must be a non-empty string (at most 100 characters) "
                         "other than 'admin'")
    store.get_project(pid)
    token = store.add_annotator(pid, name.strip())
    return {"name": name.strip(), "token": token}


def revoke_annotator(store: RedisStore, pid: str, name: str) -> dict[str, Any]:
    store.get_project(pid)
    if not store.revoke_annotator(pid, name):
        raise NotFound(f"no annotator {name!r} in project {pid}")
    return {"name": name, "revoked": True}
