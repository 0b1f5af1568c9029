"""``loop backup`` / ``loop restore``: a snapshot taken while annotators answer, and a
data directory made from it that serves the same project."""

from __future__ import annotations

import threading

import pytest
from svc_helpers import (
    annotator_token,
    answer_n,
    auth,
    prepare_project,
    wait_until,
    worker_env,
)
from test_service_cli import _free_port

from loop.service.backup import BackupError, backup
from loop.service.restore import restore


def _export(client, pid: str) -> bytes:
    r = client.get(f"/api/projects/{pid}/export?format=csv", headers=auth())
    assert r.status_code == 200, r.data
    return r.data


def _answered(client, pid: str) -> set[str]:
    """The ids of the items an annotator answered, as the export lists them."""
    import json

    r = client.get(f"/api/projects/{pid}/export?format=jsonl", headers=auth())
    assert r.status_code == 200, r.data
    rows = [json.loads(line) for line in r.data.decode().splitlines() if line]
    return {str(row["id"]) for row in rows if row.get("annotator")}


def _restored_app(data_dir):
    """The web app on the embedded Redis of a restored data directory, as ``loop
    serve --data-dir`` runs it (its append-only file loaded)."""
    from svc_helpers import ADMIN

    from loop.redis_server import connect
    from loop.web import create_app

    conn = connect(None, data_dir=str(data_dir / "redis"))
    app = create_app({"TESTING": True, "REDIS_URL": conn.url, "API_KEYS": ADMIN})
    return conn, app


@pytest.mark.slow
def test_a_backup_taken_while_annotators_answer_restores_every_acknowledged_answer(
        store, client, project, redis_url, tmp_path):
    pid = prepare_project(store, client, project)
    token = annotator_token(client, pid, "ann")
    acked: list[tuple[float, str]] = []  # (when acknowledged, item id)
    stop = threading.Event()
    import time

    def answer() -> None:
        while not stop.is_set():
            got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token)).json
            if not got.get("item"):
                return
            r = client.post(f"/api/projects/{pid}/queue/answer", headers=auth(token), json={
                "item_id": got["item"]["id"], "label": "spam", "lease_id": got["lease"]["id"]})
            assert r.status_code == 200, r.json
            acked.append((time.monotonic(), str(got["item"]["id"])))

    worker = threading.Thread(target=answer)
    worker.start()
    try:
        while len(acked) < 5:
            time.sleep(0.01)
        began = time.monotonic()
        got = backup(tmp_path / "b.rdb", redis_url=redis_url)
    finally:
        stop.set()
        worker.join()
    assert got.projects == 1 and got.size > 0
    before = {item for t, item in acked if t < began}
    assert before, "no answer was acknowledged before the backup began"

    restored = restore(tmp_path / "b.rdb", tmp_path / "new")
    assert restored.projects == 1
    conn, app = _restored_app(tmp_path / "new")
    try:
        back = _answered(app.test_client(), pid)
        assert _answered(client, pid) == {item for _, item in acked}  # the export's ids
        assert before <= back  # every answer acknowledged before the backup began
        assert back <= {item for _, item in acked}  # and nothing nobody answered
    finally:
        conn.client.close()
        conn.shutdown()


def test_a_restored_project_exports_exactly_what_the_backed_up_one_did(
        store, client, project, redis_url, tmp_path):
    pid = prepare_project(store, client, project)
    token = annotator_token(client, pid, "ann")
    for label in ("spam", "ham", "spam"):
        got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token)).json
        client.post(f"/api/projects/{pid}/queue/answer", headers=auth(token), json={
            "item_id": got["item"]["id"], "label": label, "lease_id": got["lease"]["id"]})
    before = _export(client, pid)
    backup(tmp_path / "b.rdb", redis_url=redis_url)
    restore(tmp_path / "b.rdb", tmp_path / "new")
    conn, app = _restored_app(tmp_path / "new")
    try:
        again = app.test_client()
        assert _export(again, pid) == before
        # the annotator's token works on the restored service
        r = again.post(f"/api/projects/{pid}/queue/next", headers=auth(token))
        assert r.status_code == 200 and r.json["item"], r.json
    finally:
        conn.client.close()
        conn.shutdown()


def test_restore_refuses_what_it_cannot_restore_and_changes_nothing(tmp_path, redis_url):
    backup(tmp_path / "b.rdb", redis_url=redis_url)
    restore(tmp_path / "b.rdb", tmp_path / "one")
    aof = tmp_path / "one" / "redis" / "appendonly.aof"
    kept = aof.read_bytes()
    with pytest.raises(BackupError, match="holds data already.*new --data-dir"):
        restore(tmp_path / "b.rdb", tmp_path / "one")
    assert aof.read_bytes() == kept

    (tmp_path / "notes.txt").write_text("not a backup")
    with pytest.raises(BackupError, match="not a loop backup"):
        restore(tmp_path / "notes.txt", tmp_path / "two")
    newer = tmp_path / "redis7.rdb"
    newer.write_bytes(b"REDIS0011" + (tmp_path / "b.rdb").read_bytes()[9:])
    with pytest.raises(BackupError, match="Redis 7.*docker compose"):
        restore(newer, tmp_path / "two")
    with pytest.raises(BackupError, match="no backup file"):
        restore(tmp_path / "missing.rdb", tmp_path / "two")
    assert not (tmp_path / "two").exists()


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_loop_backup_of_a_running_and_of_a_stopped_service(tmp_path, capsys):
    """``loop backup --data-dir`` reaches the running ``loop serve``'s Redis through its
    socket (no copy of the data left on its disk), and starts one on a data directory
    at rest; ``loop restore`` makes a data directory ``loop serve`` starts on."""
    import json
    import urllib.request

    from loop.cli import main
    from loop.service_cli import run_service, stop_service

    env = {k: v for k, v in worker_env("x").items() if k == "PYTHONPATH"}
    data = tmp_path / "var"

    def serve() -> dict:
        info = run_service(workers=1, port=_free_port(), data_dir=str(data),
                           api_keys="k1-long-enough", web_workers=1, wait=False, env=env)
        assert wait_until(lambda: _up(info["url"]), timeout=60), "the service did not come up"
        return info

    def projects(info: dict) -> list[str]:
        req = urllib.request.Request(f"{info['url']}/api/projects",
                                     headers={"Authorization": "Bearer k1-long-enough"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return [p["name"] for p in json.load(r)["projects"]]

    info = serve()
    try:
        req = urllib.request.Request(
            f"{info['url']}/api/projects", method="POST",
            data=json.dumps({"name": "kept", "labels": ["a", "b"]}).encode(),
            headers={"Authorization": "Bearer k1-long-enough",
                     "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).close()
        assert main(["backup", str(tmp_path / "live.rdb"), "--data-dir", str(data)]) == 0
        assert "backed up 1 project" in capsys.readouterr().out
        assert not (data / "redis" / "loop.db").exists()  # sent, not saved on its disk
    finally:
        stop_service(info)
    assert main(["backup", str(tmp_path / "rest.rdb"), "--data-dir", str(data)]) == 0
    assert main(["restore", str(tmp_path / "rest.rdb"), "--data-dir", str(tmp_path / "new")]) == 0
    said = capsys.readouterr()
    assert "restored 1 project" in said.out and "loop serve --data-dir" in said.out, said
    assert main(["restore", str(tmp_path / "live.rdb"), "--data-dir", str(tmp_path / "new")]) == 1
    assert "holds data already" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "x.rdb"), "--data-dir", str(tmp_path / "none")]) == 1
    assert "no data in" in capsys.readouterr().err

    data = tmp_path / "new"
    info = serve()
    try:
        assert projects(info) == ["kept"]
    finally:
        stop_service(info)


def _data_dir_at_rest(tmp_path, redis_url):
    """A data directory at rest holding the test Redis's data, and its backup."""
    backup(tmp_path / "b.rdb", redis_url=redis_url)
    restore(tmp_path / "b.rdb", tmp_path / "var")
    return tmp_path / "var"


def test_a_backup_into_a_folder_it_cannot_write_says_so_and_writes_nothing(
        tmp_path, redis_url, capsys):
    from loop.cli import main

    (tmp_path / "a-file").write_text("not a folder")
    assert main(["backup", str(tmp_path / "a-file" / "b.rdb"), "--redis-url", redis_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("loop: error: cannot write the backup into"), err
    assert "Traceback" not in err
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_a_data_directory_another_backup_holds_is_named_not_taken_for_a_restarting_redis(
        tmp_path, redis_url, capsys):
    """Two ``loop backup`` of one data directory at rest, or a ``loop serve`` started
    during one: the second is told to wait for the first, which it names."""
    from loop.cli import main
    from loop.service.supervisor import Supervisor, claim_data_dir

    data = _data_dir_at_rest(tmp_path, redis_url)
    held = claim_data_dir(data, "", "loop backup")  # as a backup at rest holds it
    try:
        assert main(["backup", str(tmp_path / "second.rdb"), "--data-dir", str(data)]) == 1
        err = capsys.readouterr().err
        assert "loop backup (pid" in err and "wait until it is done" in err, err
        assert not (tmp_path / "second.rdb").exists()
        with pytest.raises(ValueError, match=r"loop backup \(pid \d+\) is using .*wait until"):
            Supervisor(data_dir=str(data))
    finally:
        held.close()
    assert main(["backup", str(tmp_path / "second.rdb"), "--data-dir", str(data)]) == 0


def test_a_damaged_backup_is_refused_and_leaves_no_data_directory(tmp_path, redis_url):
    whole = backup(tmp_path / "b.rdb", redis_url=redis_url).path.read_bytes()
    (tmp_path / "cut.rdb").write_bytes(whole[: len(whole) // 2])
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF
    (tmp_path / "flipped.rdb").write_bytes(bytes(flipped))
    for name in ("cut.rdb", "flipped.rdb"):
        with pytest.raises(BackupError, match="could not be loaded: it is cut short or damaged"):
            restore(tmp_path / name, tmp_path / "new")
        assert not (tmp_path / "new").exists()  # no empty directory to start on by mistake


@pytest.mark.slow
def test_a_restore_killed_midway_is_refused_by_loop_serve_and_runs_again(
        store, client, project, redis_url, tmp_path):
    """kill -9 of ``loop restore`` leaves no data ``loop serve`` would start on as an
    empty service (it is refused, saying what to do), no Redis running, and the same
    ``loop restore`` run again restores the backup whole."""
    import os
    import signal
    import subprocess
    import sys

    from svc_helpers import ROOT

    from loop.service.supervisor import Supervisor

    pid = prepare_project(store, client, project)
    before = _export(client, pid)
    backup(tmp_path / "b.rdb", redis_url=redis_url)
    data = tmp_path / "new"
    cmd = [sys.executable, "-m", "loop.cli", "restore", str(tmp_path / "b.rdb"),
           "--data-dir", str(data)]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        assert wait_until(lambda: (data / "redis.restoring").exists() or proc.poll() is not None,
                          timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert (data / "redis.restoring").exists()
    assert not (data / "redis" / "appendonly.aof").exists()

    def redis_on(folder) -> bool:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return str(folder) in ps

    assert wait_until(lambda: not redis_on(data), timeout=10)
    with pytest.raises(ValueError, match="loop restore.*was cut short.*run it again"):
        Supervisor(data_dir=str(data))

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "restored 1 project" in again.stdout
    assert not (data / "redis.restoring").exists()
    conn, app = _restored_app(data)
    try:
        assert _export(app.test_client(), pid) == before
    finally:
        conn.client.close()
        conn.shutdown()


def test_a_restore_whose_append_only_file_cannot_be_written_stops_with_the_reason(tmp_path):
    """Redis retries a failed append-only-file write for ever: a restore onto a disk
    without room for it waited an hour; it stops at the first failure, saying so."""
    import os
    import resource

    import redis

    from loop.service.backup import start_redis, stop_redis
    from loop.service.restore import _wait_rewritten

    folder = tmp_path / "redis.restoring"
    folder.mkdir()
    proc, url = start_redis(folder, "--appendonly", "no")
    client = redis.Redis.from_url(url)
    try:
        client.set("answers", os.urandom(300_000))  # incompressible
        # files of 64 KB at most, as on a disk that has no more room
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
        client.config_set("appendonly", "yes")
        with pytest.raises(BackupError, match="could not write the append-only file.*disk full"):
            _wait_rewritten(client, tmp_path, timeout=120)
    finally:
        stop_redis(proc, url, ask=False)
        client.close()


def test_a_data_dir_given_is_backed_up_whatever_loop_redis_url_says(
        tmp_path, redis_url, monkeypatch, capsys):
    """Drill: with LOOP_REDIS_URL set in the shell, `loop backup --data-dir var` backed
    up that Redis instead of the directory, unsaid."""
    from loop.cli import main

    backup(tmp_path / "b.rdb", redis_url=redis_url)
    restore(tmp_path / "b.rdb", tmp_path / "var")
    monkeypatch.setenv("LOOP_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    assert main(["backup", str(tmp_path / "again.rdb"), "--data-dir",
                 str(tmp_path / "var")]) == 0
    assert (tmp_path / "again.rdb").stat().st_size > 0
    assert main(["backup", str(tmp_path / "x.rdb"), "--data-dir", str(tmp_path / "var"),
                 "--redis-url", redis_url]) == 2
    assert "not both" in capsys.readouterr().err


def test_loop_serve_and_loop_backup_say_alike_why_the_embedded_redis_did_not_start(tmp_path):
    """Both start the embedded Redis on a data directory and wait for it in one way
    (``loop.redis_server.wait_until_up``): a Redis that exits during start-up (here
    on an append-only file that is not one) is named with the same reason."""
    from loop.cli import main
    from loop.service.supervisor import Supervisor, SupervisorGaveUp

    data = tmp_path / "var"
    (data / "redis").mkdir(parents=True)
    (data / "redis" / "appendonly.aof").write_bytes(b"these are not Redis commands\n")
    reason = f"the embedded Redis exited during start-up; is {data / 'redis'} readable?"

    sup = Supervisor(data_dir=str(data), workers=0, port=_free_port())
    try:
        with pytest.raises(SupervisorGaveUp) as gave_up:
            sup.start()
    finally:
        sup.stop()
    assert str(gave_up.value) == f"{reason} (its output is above)"

    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["backup", str(tmp_path / "b.rdb"), "--data-dir", str(data)]) == 1
    said = err.getvalue()
    assert said.startswith(f"loop: error: {reason}; Redis said: "), said
    assert "append only file" in said, said  # Redis's own words: "Bad file format ..."
    assert not (tmp_path / "b.rdb").exists() and not list(tmp_path.glob(".b.rdb.*"))


def _replica_waiting(rconn) -> bool:
    """A backup (redis-cli --rdb, a replica) connected, its snapshot not forked yet."""
    info = rconn.info("replication")
    return any(isinstance(v, dict) and v.get("state") == "wait_bgsave"
               for k, v in info.items() if k.startswith("slave"))


def test_a_backup_counts_what_its_file_holds_not_the_server_as_it_began(
        store, client, project, rconn, redis_url, tmp_path, capsys):
    """A project made after the backup began but before Redis took its snapshot is in
    the file: the backup says 2 projects, as the restore of that file does (it said
    what the server held when the backup began: 1)."""
    from loop.cli import main

    prepare_project(store, client, project)
    rconn.config_set("repl-diskless-sync-delay", "3")  # the snapshot taken 3 s after
    try:
        said: dict[str, int] = {}
        run = threading.Thread(target=lambda: said.update(code=main(
            ["backup", str(tmp_path / "b.rdb"), "--redis-url", redis_url])))
        run.start()
        try:
            assert wait_until(lambda: _replica_waiting(rconn), timeout=30)
            r = client.post("/api/projects", headers=auth(),
                            json={"name": "made during the backup", "labels": ["a", "b"]})
            assert r.status_code in (200, 201), r.json
            made_before_snapshot = _replica_waiting(rconn)
        finally:
            run.join()
    finally:
        rconn.config_set("repl-diskless-sync-delay", "0")
    if not made_before_snapshot:
        pytest.skip("the machine was too slow: the snapshot was taken before the project")
    assert said["code"] == 0
    out = capsys.readouterr().out
    assert out.startswith("backed up 2 projects, 0 answers (") and "counted in the file" in out
    assert main(["restore", str(tmp_path / "b.rdb"), "--data-dir", str(tmp_path / "new")]) == 0
    assert capsys.readouterr().out.startswith("restored 2 projects, 0 answers (")


def test_loop_backup_to_stdout_is_the_snapshot_itself(
        store, client, project, redis_url, tmp_path):
    """``loop backup -`` streams the snapshot (no copy written first): what lands in
    the shell's file restores the project, and ends where the snapshot ends (redis-cli
    --rdb - leaves 40 more bytes after it, which loop backup cuts off)."""
    import subprocess
    import sys

    from svc_helpers import ROOT

    pid = prepare_project(store, client, project)
    before = _export(client, pid)
    with open(tmp_path / "b.rdb", "wb") as f:
        done = subprocess.run([sys.executable, "-m", "loop.cli", "backup", "-", "--redis-url",
                               redis_url], cwd=ROOT, stdout=f, stderr=subprocess.PIPE,
                              text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("backed up 1 project, ") and "to stdout" in done.stderr
    data = (tmp_path / "b.rdb").read_bytes()
    assert data.startswith(b"REDIS0009") and data[-9] == 0xFF  # EOF, then the checksum
    restore(tmp_path / "b.rdb", tmp_path / "new")
    conn, app = _restored_app(tmp_path / "new")
    try:
        assert _export(app.test_client(), pid) == before
    finally:
        conn.client.close()
        conn.shutdown()


@pytest.mark.slow
def test_a_backup_killed_midway_leaves_a_part_file_that_is_no_backup_and_the_next_removes(
        store, client, project, rconn, redis_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from svc_helpers import ROOT

    prepare_project(store, client, project)
    cmd = [sys.executable, "-m", "loop.cli", "backup", str(tmp_path / "b.rdb"),
           "--redis-url", redis_url]
    rconn.config_set("repl-diskless-sync-delay", "3")  # a transfer under way, for the kill
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT)
        try:
            assert wait_until(lambda: _replica_waiting(rconn), timeout=30)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
    finally:
        rconn.config_set("repl-diskless-sync-delay", "0")
    left = list(tmp_path.glob(".b.rdb.*.part"))
    assert len(left) == 1 and not (tmp_path / "b.rdb").exists()

    with pytest.raises(BackupError, match="is no backup but what a backup cut short left"):
        restore(left[0], tmp_path / "new")
    assert not (tmp_path / "new").exists()

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"removed {left[0].name} from {tmp_path}" in again.stderr, again.stderr
    assert again.stdout.startswith("backed up 1 project, ")
    assert not list(tmp_path.glob(".b.rdb.*.part"))
    restored = restore(tmp_path / "b.rdb", tmp_path / "new")
    assert restored.projects == 1


def test_a_backup_holding_keys_about_to_expire_restores_and_counts_alike(
        store, client, project, rconn, redis_url, tmp_path):
    """A running service always holds keys that expire within seconds (workers'
    liveness, locks, leases): loading a snapshot drops those expired since, so two
    loads of one file a moment apart held different numbers of keys, and a restore
    that compared them could stop with "keep the backup, and report this". Counted
    are projects, answers and the keys that do not expire: the same in the backup
    and its restore."""
    pid = prepare_project(store, client, project)
    answer_n(client, pid, annotator_token(client, pid, "ann"), 3, "spam")
    with rconn.pipeline() as p:  # one key expiring every 20 ms for the next 30 s
        for i in range(1500):
            p.set(f"test:expiring:{i}", "x", px=500 + 20 * i)
        p.execute()
    got = backup(tmp_path / "b.rdb", redis_url=redis_url)
    restored = restore(tmp_path / "b.rdb", tmp_path / "new")
    assert (got.projects, got.answers) == (restored.projects, restored.answers) == (1, 3)
    assert got.keys == restored.keys


def test_a_project_id_without_its_record_is_backed_up_and_counted_without_answers(
        rconn, redis_url, tmp_path):
    """As a project deleted while the snapshot was taken, or the bare ids of
    tests/test_compose.py: counting its answers fails, and the backup must not."""
    rconn.sadd("loop:projects", "p1")
    got = backup(tmp_path / "b.rdb", redis_url=redis_url)
    assert (got.projects, got.answers) == (1, 0)
    restored = restore(tmp_path / "b.rdb", tmp_path / "new")
    assert (restored.projects, restored.answers) == (1, 0)
