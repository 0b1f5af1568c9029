"""LF modules are checked in a subprocess: whatever a module does on import, the
web process stays up and the request gets a 400 naming the cause."""

from __future__ import annotations

import os

import pytest
from svc_helpers import auth

from loop.errors import BadRequest
from loop.service.lf_modules import check_lf_module, load_lfs

LF = "from loop import labeling_function\n\n@labeling_function()\ndef lf(x):\n    return 1\n"

MODULES = {
    "lfs_exits": ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
    "lfs_hard_exit": ("import os\nos._exit(4)\n", "exited with code 4"),
    "lfs_raises": ("raise RuntimeError('boom')\n", "RuntimeError on import: boom"),
    "lfs_hangs": ("import time\ntime.sleep(60)\n", "within 2 s"),
    "lfs_none": ("X = 1\n", "defines no labeling functions"),
    "lfs_bad_list": ("LFS = [1, 2]\n", "non-LFs"),
    "lfs_dup": (LF + "\nLFS = [lf, lf]\n", "unique"),
    "lfs_syntax": ("def (:\n", "SyntaxError"),
    # security trial: an LF named with "/" was taken and could never be switched off
    "lfs_slash_name": (LF.replace("function()", "function(name='../x/pwn')"),
                       "the LF name '../x/pwn' has a '/'"),
}


@pytest.fixture
def lf_dir(tmp_path, monkeypatch):
    for name, (src, _) in MODULES.items():
        (tmp_path / f"{name}.py").write_text(src)
    (tmp_path / "lfs_ok.py").write_text(LF)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    return tmp_path


@pytest.mark.slow
def test_every_way_a_module_can_fail_is_a_clear_400(lf_dir, client, app):
    from svc_helpers import configure

    configure(app, LF_IMPORT_TIMEOUT=2)
    for name, (_, why) in MODULES.items():
        r = client.post("/api/projects", headers=auth(), json={
            "name": "x", "labels": ["a", "b"], "lf_module": name})
        assert r.status_code == 400, name
        assert why in r.json["error"], (name, r.json["error"])
    assert client.get("/healthz").status_code == 200  # this process never imported them
    r = client.post("/api/projects", headers=auth(), json={
        "name": "x", "labels": ["a", "b"], "lf_module": "lfs_ok"})
    assert r.status_code == 201 and r.json["lfs"] == ["lf"]


def test_the_check_never_imports_in_this_process(lf_dir):
    import sys

    assert check_lf_module("lfs_ok") == ["lf"]
    assert "lfs_ok" not in sys.modules
    with pytest.raises(BadRequest, match="dotted module path"):
        check_lf_module("../lfs_ok")
    with pytest.raises(BadRequest, match="a module's name, not its file: 'lfs_ok' for "):
        check_lf_module("lfs_ok.py")
    with pytest.raises(BadRequest, match="'lfs_ok' for 'lfs_ok.PY'"):
        check_lf_module("lfs_ok.PY")
    with pytest.raises(BadRequest, match="'yo' for 'lfs/yo.py' .with the folder 'lfs' on "
                       "PYTHONPATH, or 'lfs.yo' where it is a package"):
        check_lf_module("lfs/yo.py")
    # a module not on the path: where modules are looked for, and the way without one
    # (new-user trial: "my_lfs" against the running demo said only "No module named")
    with pytest.raises(BadRequest) as missing:
        check_lf_module("my_lfs")
    told = str(missing.value)
    assert "No module named 'my_lfs'" in told and f"working directory ({os.getcwd()})" in told
    assert f"PYTHONPATH ({os.environ['PYTHONPATH']})" in told, told
    # rules are a section of the dashboard, not a page of their own (trial)
    assert "in the Rules section of the project's dashboard" in told, told


def test_load_lfs_in_a_worker(lf_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(lf_dir))
    assert [lf.name for lf in load_lfs("lfs_ok")] == ["lf"]
    with pytest.raises(BadRequest, match="no labeling functions"):
        load_lfs("lfs_none")


def test_a_modules_version_is_found_without_running_its_package(tmp_path, monkeypatch):
    """A worker notes the version of each project's module in its own process, which
    must never run a project's code (an ``__init__`` that exits would stop it)."""
    import sys

    from loop.service.lf_modules import module_version

    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "__init__.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "team" / "lfs.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = module_version("team.lfs")
    assert first is not None and "team" not in sys.modules
    (tmp_path / "team" / "lfs.py").write_text("X = 2\n")
    assert module_version("team.lfs") not in (None, first)
    assert module_version("team.nope") is None and module_version("nowhere_lfs") is None
    assert module_version("loop.demo.youtube_lfs") is not None
