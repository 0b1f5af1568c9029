"""docker-compose.yml: valid, and run for real where a Docker engine runs.

The real run builds the image, brings up redis + web + 2 workers, takes a project
through the API (upload, apply LFs, recalibrate, answers), kills every container
with SIGKILL, brings them up again and finds every acknowledged answer. Without a
usable Docker engine it is skipped with a message, except in CI
(``LOOP_REQUIRE_DOCKER=1``, set by ``.ci/run`` when it could start one), where it
fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEY, REDIS_PASSWORD = "compose-test-key", "compose/test@redis#:1"  # any characters


def _compose_cmd() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def test_compose_file_is_valid():
    exe = _compose_cmd()
    if exe is None:
        if os.environ.get("LOOP_REQUIRE_BROWSER"):  # CI installs it with chromium
            pytest.fail("docker-compose is not installed (CI must validate the compose file)")
        pytest.skip("docker-compose not installed: apt-get install docker-compose")
    env = {**os.environ, "LOOP_API_KEYS": "ci-check-key-only", "LOOP_REDIS_PASSWORD": "ci-check"}
    out = subprocess.run([*exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr



@pytest.mark.parametrize(("secret", "written"), [("p@ss #1$x", "'p@ss #1$x'"),
                                                ("it's #1", "'it\\'s #1'")])
def test_a_single_quoted_secret_in_env_reaches_the_containers_whole(tmp_path, secret, written):
    """Operator's trial: .env's `LOOP_REDIS_PASSWORD=a #b` reached the containers as
    `a` (compose reads an unquoted ' #' as a comment), unsaid; README and .env.example
    say to single-quote such a value (a ' in it written \\'), and this checks that
    compose then passes it whole (README's examples)."""
    exe = _compose_cmd()
    if exe is None:
        pytest.skip("docker-compose not installed: apt-get install docker-compose")
    (tmp_path / ".env").write_text("LOOP_API_KEYS=ci-check-key-only\n"
                                   f"LOOP_REDIS_PASSWORD={written}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    out = subprocess.run([*exe, "--env-file", str(tmp_path / ".env"), "-f",
                          str(ROOT / "docker-compose.yml"), "config"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    # web, worker (LOOP_REDIS_PASSWORD) and redis (REDISCLI_AUTH); config writes $ as $$
    got = re.findall(r"^ +(?:LOOP_REDIS_PASSWORD|REDISCLI_AUTH): (.*)$", out.stdout, re.M)
    assert len(got) == 3, out.stdout
    # (as YAML: in single quotes, a ' written twice)
    assert {g.strip()[1:-1].replace("''", "'").replace("$$", "$") if g.strip()[:1] == "'"
            else g.strip().replace("$$", "$") for g in got} == {secret}, got


def test_compose_is_hardened():
    text = (ROOT / "docker-compose.yml").read_text()
    start = (ROOT / "docker" / "redis-start.sh").read_text()  # the redis container's command
    assert "--appendfsync always" in start and '--save ""' in start
    assert text.count("<<: *app") == 2  # web and worker: same image, differ in command
    assert '--requirepass "$REDISCLI_AUTH"' in start and "LOOP_REDIS_PASSWORD" in text
    redis_block = text.split("\n  redis:\n")[1].split("\n  web:")[0]
    assert "./docker/redis-start.sh:/usr/local/bin/loop-redis-start:ro" in redis_block
    assert "ports" not in redis_block  # Redis is not published
    assert "USER loop" in (ROOT / "Dockerfile").read_text()  # web and worker not as root
    assert (ROOT / ".env.example").exists()
    # operator's trial: the password was in the worker's command line (ps shows it to
    # every user of the host), and in a URL a password with '/' or '@' broke it
    assert "@redis" not in text and "--url" not in text
    # operator's trials: web and workers raced a Redis still loading its append-only
    # file, and web kept no access log
    assert "redis-cli ping" in redis_block and "REDISCLI_AUTH" in redis_block
    assert text.count("condition: service_healthy") == 1  # in x-app: web and worker
    assert '"--access-logfile", "-"' in text
    # a worker scaled down finishes its job (Docker's 10 s default killed a retrain)
    assert "stop_grace_period: 2m" in text.split("\n  worker:\n")[1]
    # operator's trial: Docker's json-file logs grew without end (web's access log,
    # ~100 KB a minute for two annotators); each container's is capped
    assert "max-size:" in text and "max-file:" in text
    assert "logging: *logging" in redis_block and text.count("logging: *logging") == 2


def test_every_setting_reaches_the_containers():
    """Operator's trial: .env only fed the compose file's own ${...}, so no setting
    of the README (LEASE_SECONDS, RECALIBRATE_EVERY, ...) reached web or worker."""
    from dataclasses import fields

    from loop.service.settings import Settings

    app = (ROOT / "docker-compose.yml").read_text().split("\nservices:")[0]
    passed = set(re.findall(r"^    (LOOP_[A-Z_]+):", app, re.M))
    # not for compose: where an embedded Redis keeps data, demo mode, and the queue
    # that the workers' command names
    left = {"LOOP_DATA_DIR", "LOOP_DEMO", "LOOP_QUEUE_NAME"}
    wanted = {f"LOOP_{f.name.upper()}" for f in fields(Settings)} - left
    assert passed == wanted, (sorted(wanted - passed), sorted(passed - wanted))


def _docker_usable() -> bool:
    return (shutil.which("docker") is not None and _compose_cmd() is not None
            and subprocess.run(["docker", "info"], capture_output=True,
                               timeout=30).returncode == 0)


def _call(base, method, path, body=None, data=None, ctype="application/json", token=KEY):
    req = urllib.request.Request(base + path, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": ctype},
        data=data if data is not None else (None if body is None else json.dumps(body).encode()))
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
        is_json = r.headers.get("Content-Type", "").startswith("application/json")
        return r.status, (json.loads(raw) if raw and is_json else None), raw


def _wait(pred, timeout, every=0.5):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        time.sleep(every)
    return False


@pytest.mark.slow
def test_compose_up_survives_kill_9_of_every_container(tmp_path):
    if not _docker_usable():
        msg = ("no usable Docker engine (run ../shared/tools/docker-standins.sh as root, or "
               "install Docker)")
        if os.environ.get("LOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(msg + " and LOOP_REQUIRE_DOCKER=1", pytrace=False)
        pytest.skip(msg)
    from loop.demo.client import demo_csv

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = f"looptest{os.getpid()}"
    env = {**os.environ, "LOOP_API_KEYS": KEY, "LOOP_REDIS_PASSWORD": REDIS_PASSWORD,
           "LOOP_PORT": str(port), "COMPOSE_PROJECT_NAME": project}
    dc = [*(_compose_cmd() or []), "-f", str(ROOT / "docker-compose.yml"), "-p", project]

    def run(*args, timeout=900):
        out = subprocess.run([*dc, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=timeout)
        assert out.returncode == 0, f"{args}: {out.stdout[-2000:]} {out.stderr[-3000:]}"
        return out.stdout

    base = f"http://127.0.0.1:{port}"
    try:
        run("up", "-d", "--build", "--scale", "worker=2", timeout=1500)
        assert _wait(lambda: _call(base, "GET", "/healthz")[1]["workers"] == 2, 180), \
            run("logs", "--tail", "50")
        _, p, _ = _call(base, "POST", "/api/projects", {
            "name": "yt", "labels": ["ham", "spam"], "lf_module": "loop.demo.youtube_lfs",
            "text_field": "CONTENT"})
        pid = p["id"]
        _call(base, "POST", f"/api/projects/{pid}/items", data=demo_csv(limit=400),
              ctype="text/csv")
        for kind in ("apply_lfs", "recalibrate"):
            _, j, _ = _call(base, "POST", f"/api/projects/{pid}/jobs", {"type": kind})
            assert _wait(lambda j=j: _call(base, "GET", f"/api/jobs/{j['job_id']}")[1][
                "status"] == "finished", 300), _call(base, "GET", f"/api/jobs/{j['job_id']}")
        _, tok, _ = _call(base, "POST", f"/api/projects/{pid}/annotators", {"name": "ann"})
        acked = {}
        for _ in range(20):
            st, got, _ = _call(base, "POST", f"/api/projects/{pid}/queue/next",
                               token=tok["token"])
            assert st == 200
            label = len(acked) % 2
            st, _, _ = _call(base, "POST", f"/api/projects/{pid}/queue/answer", {
                "item_id": got["item"]["id"], "label": label,
                "lease_id": got["lease"]["id"]}, token=tok["token"])
            assert st == 200
            acked[got["item"]["id"]] = ["ham", "spam"][label]
        run("kill", "-s", "SIGKILL")
        run("up", "-d", "--scale", "worker=2")
        assert _wait(lambda: _call(base, "GET", "/healthz")[1]["workers"] == 2, 180)
        _, _, raw = _call(base, "GET", f"/api/projects/{pid}/export?format=jsonl")
        gold = {r["id"]: r["gold"] for r in map(json.loads, raw.decode().splitlines())
                if r["source"] == "gold"}
        assert gold == acked
        user = subprocess.run(["docker", "exec", f"{project}_web_1", "id", "-u"],
                              capture_output=True, text=True)
        if user.returncode == 0:  # compose v1 container name
            assert user.stdout.strip() != "0"

            def health():
                return subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}",
                                       f"{project}_web_1"], capture_output=True,
                                      text=True).stdout.strip()

            assert _wait(lambda: health() == "healthy", 60), health()
    finally:
        subprocess.run([*dc, "down", "-v", "--remove-orphans", "--rmi", "local"], cwd=ROOT, env=env,
                       capture_output=True, timeout=300)


REDIS_START = ROOT / "docker" / "redis-start.sh"


def _run_redis(docker, name: str, data) -> None:
    """The compose file's redis container (its start script) on the folder ``data``."""
    docker("run", "-d", "--name", name, "-v", f"{data}:/data", "-v",
           f"{REDIS_START}:/usr/local/bin/loop-redis-start:ro", "-e", "REDISCLI_AUTH=pw",
           "-e", "LOOP_REDIS_MAXMEMORY=0", "redis:7", "sh", "/usr/local/bin/loop-redis-start")


@pytest.mark.slow
def test_compose_redis_cuts_a_transaction_a_kill_left_unfinished(tmp_path):
    """Operator's trial (on the embedded Redis; Redis 7.0 does the same): Redis killed
    while it wrote a transaction kept its unfinished start, and at the restart after
    next dropped a write acknowledged in between. The compose file's redis command
    cuts it off first."""
    if not _docker_usable():
        msg = "no usable Docker engine (run ../shared/tools/docker-standins.sh as root)"
        if os.environ.get("LOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(msg + " and LOOP_REQUIRE_DOCKER=1", pytrace=False)
        pytest.skip(msg)
    name = f"loop-aof-test-{os.getpid()}"
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)

    def docker(*args: str, check: bool = True) -> str:
        out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
        assert not check or out.returncode == 0, out.stderr
        return out.stdout + out.stderr

    def cli(*args: str) -> str:
        deadline = time.time() + 60
        while True:
            out = docker("exec", name, "redis-cli", *args, check=False)
            if "LOADING" not in out and "Could not connect" not in out and "not running" \
                    not in out and "No such" not in out:
                return out.strip()
            assert time.time() < deadline, out
            time.sleep(0.3)

    _run_redis(docker, name, data)
    try:
        assert cli("set", "a", "1") == "OK"
        assert cli("rpush", "ids", "x0") == "1"
        docker("kill", name)  # SIGKILL
        incr = next((data / "appendonlydir").glob("*.incr.aof"))
        with incr.open("ab") as f:  # what a kill in the middle of MULTI ... EXEC leaves
            f.write(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
                    b"*3\r\n$5\r\nRPUSH\r\n$3\r\nids\r\n$200\r\nyyyyyy")
        docker("start", name)
        assert cli("get", "b") == "" and cli("lrange", "ids", "0", "-1") == "x0"
        assert cli("set", "c", "3") == "OK"  # acknowledged after the restart
        docker("kill", name)
        docker("start", name)
        assert cli("get", "c") == "3" and cli("get", "a") == "1" and cli("get", "b") == ""
        assert "loop: cutting an unfinished transaction" in docker("logs", name)
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.slow
def test_compose_redis_restores_a_backup_into_an_empty_volume_only(tmp_path):
    """``loop backup`` of the compose file's Redis 7 (by URL, as ``docker compose exec
    web loop backup`` does), copied to ``/data/restore.rdb`` of an empty volume, is
    the data at the next start, and stays so; into a volume with data it is refused
    and nothing changes."""
    from loop.service.backup import BackupError, backup, rdb_version
    from loop.service.restore import restore

    if not _docker_usable():
        msg = "no usable Docker engine (run ../shared/tools/docker-standins.sh as root)"
        if os.environ.get("LOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(msg + " and LOOP_REQUIRE_DOCKER=1", pytrace=False)
        pytest.skip(msg)

    def docker(*args: str, check: bool = True) -> str:
        out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
        assert not check or out.returncode == 0, out.stderr
        return out.stdout + out.stderr

    def cli(name: str, *args: str) -> str:
        deadline = time.time() + 60
        while True:
            out = docker("exec", name, "redis-cli", *args, check=False)
            if not any(s in out for s in ("LOADING", "Could not connect", "not running",
                                          "No such")):
                return out.strip()
            assert time.time() < deadline, out
            time.sleep(0.3)

    names = [f"loop-restore-test-{os.getpid()}-{i}" for i in range(5)]
    folders = []
    for i in range(3):
        folders.append(tmp_path / f"data{i}")
        folders[-1].mkdir()
        folders[-1].chmod(0o777)
    try:
        first, again, refused = names[:3]
        docker("run", "-d", "--name", first, "-p", "127.0.0.1::6379", "-v",
               f"{folders[0]}:/data", "-v", f"{REDIS_START}:/usr/local/bin/loop-redis-start:ro",
               "-e", "REDISCLI_AUTH=pw", "redis:7", "sh", "/usr/local/bin/loop-redis-start")
        assert cli(first, "sadd", "loop:projects", "p1") == "1"
        assert cli(first, "rpush", "answers", *[f"a{i}" for i in range(500)]) == "500"
        port = docker("port", first, "6379").split(":")[-1].split()[0]
        got = backup(tmp_path / "b.rdb", redis_url=f"redis://:pw@127.0.0.1:{port}/0")
        assert got.projects == 1 and rdb_version(got.path) >= 10  # Redis 7's format
        with pytest.raises(BackupError, match="Redis 7"):  # not for the embedded 6.2
            restore(got.path, tmp_path / "embedded")

        shutil.copy(got.path, folders[1] / "restore.rdb")
        _run_redis(docker, again, folders[1])
        assert cli(again, "llen", "answers") == "500"
        assert cli(again, "smembers", "loop:projects") == "p1"
        assert "loop: restored" in docker("logs", again)
        assert not (folders[1] / "restore.rdb").exists()
        assert cli(again, "rpush", "answers", "after") == "501"
        docker("kill", again)  # SIGKILL: the restored data and the write since are on disk
        docker("start", again)
        assert cli(again, "llen", "answers") == "501"
        assert docker("logs", again).count("loop: restored") == 1

        docker("kill", first)
        before = sorted(p.name for p in (folders[0] / "appendonlydir").iterdir())
        shutil.copy(got.path, folders[0] / "restore.rdb")
        docker("run", "--name", refused, "-v", f"{folders[0]}:/data", "-v",
               f"{REDIS_START}:/usr/local/bin/loop-redis-start:ro", "-e", "REDISCLI_AUTH=pw",
               "redis:7", "sh", "/usr/local/bin/loop-redis-start", check=False)
        said = docker("logs", refused)
        assert "not restoring /data/restore.rdb: this volume holds data already" in said, said
        assert docker("inspect", "-f", "{{.State.ExitCode}}", refused).strip() == "1"
        assert sorted(p.name for p in (folders[0] / "appendonlydir").iterdir()) == before

        # a backup cut short is refused, saying how to go on, and nothing is restored
        cut = tmp_path / "data-cut"
        cut.mkdir()
        cut.chmod(0o777)
        whole = got.path.read_bytes()
        (cut / "restore.rdb").write_bytes(whole[: len(whole) // 2])
        docker("run", "--name", names[4], "-v", f"{cut}:/data", "-v",
               f"{REDIS_START}:/usr/local/bin/loop-redis-start:ro", "-e", "REDISCLI_AUTH=pw",
               "redis:7", "sh", "/usr/local/bin/loop-redis-start", check=False)
        said = docker("logs", names[4])
        assert "could not be loaded: it is cut short, damaged" in said, said
        assert "--entrypoint rm redis /data/restore.rdb" in said, said
        assert docker("inspect", "-f", "{{.State.ExitCode}}", names[4]).strip() == "1"
        assert not (cut / "appendonlydir").exists()

        # a loop serve's backup (the embedded Redis 6.2's format) restores here too
        from loop.redis_server import connect

        embedded = connect(None, data_dir=str(tmp_path / "embedded-redis"))
        try:
            embedded.client.sadd("loop:projects", "p9")
            embedded.client.rpush("answers", *[f"b{i}" for i in range(300)])
            old = backup(tmp_path / "embedded.rdb", redis_url=embedded.url)
        finally:
            embedded.client.close()
            embedded.shutdown()
        assert rdb_version(old.path) < 10
        shutil.copy(old.path, folders[2] / "restore.rdb")
        _run_redis(docker, names[3], folders[2])
        assert cli(names[3], "llen", "answers") == "300"
        assert cli(names[3], "smembers", "loop:projects") == "p9"
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)
