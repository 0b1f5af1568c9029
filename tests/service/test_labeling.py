"""Applying LFs incrementally: after an upload only the new rows are computed;
after an LF changes only its column; the result always equals a full re-apply."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from svc_helpers import apply_lfs_in_process, auth, youtube_csv

from loop.core.apply import apply_lfs
from loop.core.lf import Record

LF_SRC = '''
from loop import ABSTAIN, labeling_function

@labeling_function()
def has_link(x):
    return 1 if "http" in x.text.lower() else ABSTAIN

@labeling_function()
def short(x):
    return 0 if len(x.text.split()) < {words} else ABSTAIN

@labeling_function()
def says_song(x):
    return 0 if "song" in x.text.lower() else ABSTAIN
'''


@pytest.fixture
def editable(tmp_path, monkeypatch, client):
    """A project on an LF module in a temp folder that the test can edit."""
    mod = tmp_path / "lfs_editable.py"
    mod.write_text(LF_SRC.replace("{words}", "5"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "e", "labels": ["ham", "spam"], "lf_module": "lfs_editable",
        "text_field": "CONTENT"}).json["id"]

    def edit(words):
        mod.write_text(LF_SRC.replace("{words}", str(words)))
        sys.modules.pop("lfs_editable", None)  # as in a fresh work horse

    yield pid, edit
    sys.modules.pop("lfs_editable", None)


def _upload(client, pid, data):
    r = client.post(f"/api/projects/{pid}/items", data=data,
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json


def _full(store, pid):
    """L by applying the module's LFs to every item in one process."""
    import importlib

    mod = importlib.import_module("lfs_editable")
    lfs = [mod.has_link, mod.short, mod.says_song]
    recs = [Record({**i["fields"], "id": i["id"], "text": i["text"], "CONTENT": i["text"]})
            for i in store.items(pid)]
    return apply_lfs(lfs, recs, n_classes=2).L


def test_reapply_after_an_upload_computes_only_the_new_rows(client, store, editable):
    pid, _ = editable
    data = youtube_csv().decode().splitlines(keepends=True)
    _upload(client, pid, "".join(data[:201]).encode())
    first = apply_lfs_in_process(store, pid, chunk_size=64)
    assert first["rows_computed"] == 200 and not first["incremental"]
    _upload(client, pid, "".join(data[:1] + data[201:]).encode())
    again = apply_lfs_in_process(store, pid, chunk_size=64)
    assert again["incremental"] and again["rows_computed"] == 150
    assert again["lfs_recomputed"] == []
    L, meta = store.load_L(pid)
    assert np.array_equal(L, _full(store, pid))
    # nothing new: nothing computed, the published chunks reused as they are
    before = store.L_meta(pid)["chunks"]
    none = apply_lfs_in_process(store, pid, chunk_size=64)
    assert none["rows_computed"] == 0 and store.L_meta(pid)["chunks"] == before


def test_editing_one_lf_recomputes_only_its_column(client, store, editable):
    pid, edit = editable
    _upload(client, pid, youtube_csv())
    apply_lfs_in_process(store, pid, chunk_size=100)
    edit(words=8)  # `short` changes; the other two do not
    out = apply_lfs_in_process(store, pid, chunk_size=100)
    assert out["lfs_recomputed"] == ["short"] and out["rows_computed"] == 350
    L, meta = store.load_L(pid)
    assert np.array_equal(L, _full(store, pid))
    assert meta["lf_names"] == ["has_link", "short", "says_song"]


def test_an_apply_runs_progress_never_goes_back_when_a_unit_runs_again(store, project):
    """Operator's trial: a unit run again after its worker was killed counted from 0,
    and the run's progress went from 3,342 rows back to 1,114."""
    store.set_apply_progress(project, 7, 0, 3342)
    store.set_apply_progress(project, 7, 1, 500)
    store.set_apply_progress(project, 7, 0, 1114)  # the unit again, from the start
    done, at = store.apply_progress(project, 7)
    assert done == 3842 and at is not None
    store.set_apply_progress(project, 7, 0, 5000)
    assert store.apply_progress(project, 7)[0] == 5500
