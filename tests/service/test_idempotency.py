"""Writes sent again with their ``Idempotency-Key``: done once, answered as the first.

Client's retry trial: a script between whose requests and replies a flaky network
cut connections retried each write once; a retried POST /projects made a second
project, a retried export job ran twice, a retried rule was a 409 without the
``job_id`` of the apply run its first send had started, and a retried undo ``{}``
took back one more answer.
"""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from svc_helpers import (
    HELD_OUT_QUERY,
    annotator_token,
    answer_n,
    auth,
    held_out_csv,
    prepare_project,
    run_burst,
)

from loop.web.idempotency import KEEP_SECONDS


def _key(key, headers=None):
    return {**(headers or auth()), "Idempotency-Key": key}


def test_a_project_created_again_with_its_key_is_made_once(client):
    body = {"name": "sms", "labels": ["ham", "spam"]}
    first = client.post("/api/projects", headers=_key("create-sms-1"), json=body)
    again = client.post("/api/projects", headers=_key("create-sms-1"), json=body)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    listed = client.get("/api/projects", headers=auth()).json["projects"]
    assert [p["id"] for p in listed] == [first.json["id"]]
    # the key with another request: refused, nothing made
    other = client.post("/api/projects", headers=_key("create-sms-1"),
                        json={**body, "name": "other"})
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"
    # another caller's same key is theirs alone
    assert client.post("/api/projects", headers=_key("create-sms-1", auth("a-second-admin-key")),
                       json=body).status_code in (401, 403)
    # without a key, as before: each send makes one
    client.post("/api/projects", headers=auth(), json=body)
    assert len(client.get("/api/projects", headers=auth()).json["projects"]) == 2
    spec = client.get("/openapi.json").json["paths"]
    assert "Idempotency-Key" in [p["name"] for p in spec["/api/projects"]["post"]["parameters"]]
    for bad in ("", "has space", "x" * 256, "caf\u00e9"):
        r = client.post("/api/projects", headers=_key(bad), json=body)
        assert r.status_code == 400 and "Idempotency-Key" in r.json["error"], bad


def test_a_job_and_a_rule_sent_again_with_their_key_run_once(client, rconn, project):
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    jobs = f"/api/projects/{project}/jobs"
    first = client.post(jobs, headers=_key("export-1"), json={"type": "export"})
    again = client.post(jobs, headers=_key("export-1"), json={"type": "export"})
    assert first.status_code == again.status_code == 202
    assert again.json["job_id"] == first.json["job_id"]
    run_burst(rconn)
    listed = client.get(f"{jobs}?auto=false", headers=auth()).json["jobs"]
    assert [j["type"] for j in listed] == ["export"] and listed[0]["status"] == "finished"
    # a rule: the retry gets the first reply, its job_id, not "exists already"
    rule = {"name": "says_check", "label": "spam", "kind": "keywords", "keywords": ["check"]}
    url = f"/api/projects/{project}/rules"
    made = client.post(url, headers=_key("rule-1"), json=rule)
    again = client.post(url, headers=_key("rule-1"), json=rule)
    assert made.status_code == again.status_code == 201, again.json
    assert again.json["job_id"] == made.json["job_id"]
    assert [r["name"] for r in client.get(url, headers=auth()).json["rules"]] == ["says_check"]
    # a reply that is an error is not kept: once what stood in the way is gone, the
    # same request with its key is done
    client.post(url, headers=auth(), json={**rule, "name": "Dup2"})
    clash = client.post(url, headers=_key("rule-3"), json={**rule, "name": "dup2"})
    assert clash.status_code == 409 and "Idempotent-Replayed" not in clash.headers
    client.delete(f"{url}/Dup2", headers=auth())
    assert client.post(url, headers=_key("rule-3"), json={**rule, "name": "dup2"}
                       ).status_code == 201


def test_an_upload_sent_again_with_its_key_gets_its_first_reply(client, project):
    """A multipart upload's retry is a new body (a new boundary, as requests makes
    at each send) with the same file: the same request."""
    url = f"/api/projects/{project}/items?{HELD_OUT_QUERY}"

    def send(data=None):
        return client.post(url, headers=_key("upload-1"), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data or held_out_csv()), "items.csv")})

    first, again = send(), send()
    assert first.status_code == again.status_code == 201, again.json
    assert again.json == first.json and first.json["n_items"] == 350
    assert client.get(f"/api/projects/{project}", headers=auth()).json["n_items"] == 350
    other = send(held_out_csv()[:-200])
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"


def test_an_undo_sent_again_with_its_key_takes_back_one_answer(client, store, project):
    pid = prepare_project(store, client, project)
    token = annotator_token(client, pid, "ann")
    answer_n(client, pid, token, 3, "spam")
    url = f"/api/projects/{pid}/queue/undo"
    first = client.post(url, headers=_key("undo-1", auth(token)), json={})
    again = client.post(url, headers=_key("undo-1", auth(token)), json={})
    assert first.status_code == again.status_code == 200 and again.json == first.json
    me = client.get(f"/api/projects/{pid}/queue/me", headers=auth(token)).json
    assert me["answers_total"] == 2
    # an answer's key is the annotator's own: the admin's same key is another request
    r = client.post(url, headers=_key("undo-1"), json={})
    assert r.status_code == 400 and "nothing to undo" in r.json["error"]
    assert "no answer in this project left" in r.json["error"]  # (API audit: it said no more)


def test_a_send_still_being_answered_is_a_409_and_tokens_are_never_kept(client, rconn,
                                                                        project):
    body = json.dumps({"guidelines": "be brief"}).encode()
    url = f"/api/projects/{project}/guidelines"
    r = client.put(url, headers=_key("g-1"), data=body, content_type="application/json")
    assert r.status_code == 200
    # as while the first send runs: its record says running
    name = (f"loop:idem:{hashlib.sha256(auth()['Authorization'].encode()).hexdigest()}:"
            f"{hashlib.sha256(b'g-1').hexdigest()}")
    kept = json.loads(rconn.get(name))
    assert kept["status"] == 200 and 0 < rconn.ttl(name) <= KEEP_SECONDS
    rconn.set(name, json.dumps({"fingerprint": kept["fingerprint"], "state": "running"}))
    busy = client.put(url, headers=_key("g-1"), data=body, content_type="application/json")
    assert busy.status_code == 409 and busy.json["code"] == "request_in_progress"
    assert busy.headers["Retry-After"] == "1"
    # an annotator token is stored nowhere in clear: its creation is never replayed;
    # sent again it makes a new token, which revokes the unseen first one
    add = f"/api/projects/{project}/annotators"
    one = client.post(add, headers=_key("ann-1"), json={"name": "pat"}).json
    two = client.post(add, headers=_key("ann-1"), json={"name": "pat"}).json
    assert one["token"] != two["token"]
    assert not any(one["token"].encode() in (rconn.get(k) or b"")
                   for k in rconn.keys("loop:idem:*"))
    nxt = f"/api/projects/{project}/queue/next"
    assert client.post(nxt, headers=auth(one["token"]), json={}).status_code == 401
    assert client.post(nxt, headers=auth(two["token"]), json={}).status_code in (200, 204)
    # an unknown caller's key keeps nothing
    before = len(rconn.keys("loop:idem:*"))
    assert client.post("/api/projects", headers=_key("x", auth("no-such-key-at-all")),
                       json={"name": "x", "labels": ["a", "b"]}).status_code == 401
    assert len(rconn.keys("loop:idem:*")) == before


def test_a_claim_the_service_cannot_drop_lapses_within_a_minute(app, client, rconn, project,
                                                                monkeypatch):
    """Redis gone between a write's error and the dropping of its claim (its reply a
    503, say): the reply stands, not a 500, and the claim lapses by itself within
    RUNNING_SECONDS, its retries told 409 with Retry-After until then."""
    from redis.exceptions import ConnectionError as RedisDown

    from loop.web.idempotency import RUNNING_SECONDS

    store = app.extensions["loop"]["store"]

    def down(*args):
        raise RedisDown("gone")

    url = f"/api/projects/{project}/rules"
    rule = {"name": "r", "label": 1, "kind": "keywords", "keywords": ["x"]}
    client.post(url, headers=auth(), json=rule)
    monkeypatch.setattr(store, "forget_request", down)
    r = client.post(url, headers=_key("rule-x"), json=rule)  # exists already: a 409
    assert r.status_code == 409 and "exists already" in r.json["error"], r.json
    monkeypatch.undo()
    (name,) = rconn.keys("loop:idem:*")
    assert 0 < rconn.pttl(name) <= RUNNING_SECONDS * 1000
    busy = client.post(url, headers=_key("rule-x"), json=rule)
    assert busy.status_code == 409 and busy.json["code"] == "request_in_progress"
    rconn.delete(name)  # as RUNNING_SECONDS later
    assert client.post(url, headers=_key("rule-x"), json=rule).json["error"].endswith(
        "edit it or pick another name")


class _CuttingProxy:
    """A TCP proxy in front of the service that cuts the reply to the first send of
    each POST: the request reaches the service and is done, its reply never reaches
    the client (a flaky network, as the retry trial's)."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.upstream = ("127.0.0.1", port)
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.srv.getsockname()[1]}"
        self.seen: set[str] = set()
        self.cut: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c) -> None:
        import socket
        import threading

        first = c.recv(65536)
        method, path = first.split(b"\r\n", 1)[0].decode().split()[:2]
        cut = method == "POST" and path not in self.seen
        self.seen.add(path)
        u = socket.create_connection(self.upstream)
        u.sendall(first)

        def up() -> None:
            try:
                while data := c.recv(65536):
                    u.sendall(data)
            except OSError:
                pass

        threading.Thread(target=up, daemon=True).start()
        try:
            while data := u.recv(65536):
                if cut:  # the service has answered: the client never hears it
                    self.cut.append(path)
                    break
                c.sendall(data)
        except OSError:
            pass
        finally:
            for s in (c, u):  # shut down first: close alone leaves up()'s recv waiting,
                try:          # and the client hears nothing until its timeout
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.srv.close()


@pytest.mark.slow
def test_the_readmes_retrying_client_does_each_write_once(app, redis_url, tmp_path,
                                                          monkeypatch):
    """The README's Python client, run as written (its host and key aside) through
    a proxy that cuts the reply to the first send of each POST: one project, its
    items imported once, one rule, one export job, and the export's file."""
    import re
    import subprocess
    import threading

    from svc_helpers import ADMIN, ROOT, rq_worker_cmd, worker_env
    from werkzeug.serving import make_server

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"A client that retries.*?```python\n(.*?)```", readme, re.S).group(1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = _CuttingProxy(server.server_port)
    # two workers, as loop serve starts: the export can run beside the rule's apply run
    workers = [subprocess.Popen(rq_worker_cmd(redis_url), env=worker_env(redis_url),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    rows = [("1", "free entry to win a prize", "spam"), ("2", "see you at home", "ham"),
            ("3", "call now for your free ringtone", ""), ("4", "ok on my way", "")]
    (tmp_path / "items.csv").write_text(
        "id,text,label\n" + "".join(f"{i},{t},{g}\n" for i, t, g in rows))
    monkeypatch.chdir(tmp_path)
    try:
        code = (block.replace('"http://127.0.0.1:8000"', repr(proxy.url))
                .replace('"my-long-secret-key"', repr(ADMIN)))
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        proxy.close()
        server.shutdown()
    # every write's first reply was cut, and each was done once
    assert sorted(set(p.split("?")[0].rsplit("/", 1)[-1] for p in proxy.cut)) == [
        "items", "jobs", "projects", "rules"], proxy.cut
    client = app.test_client()
    (project,) = client.get("/api/projects", headers=auth()).json["projects"]
    pid = project["id"]
    assert client.get(f"/api/projects/{pid}", headers=auth()).json["n_items"] == 4
    rules = client.get(f"/api/projects/{pid}/rules", headers=auth()).json["rules"]
    assert [r["name"] for r in rules] == ["says_free"]
    asked = client.get(f"/api/projects/{pid}/jobs?auto=false", headers=auth()).json["jobs"]
    assert [j["type"] for j in asked].count("export") == 1
    exported = (tmp_path / "labels.csv").read_text().splitlines()
    assert exported[0].startswith("id,text,") and len(exported) == 5
    # data scientist's trial: the export, asked for right after the rule, ran before
    # the rule's apply run and recalibration, and held no label but the uploaded ones
    import csv

    labels = {r["id"]: (r["label"], r["source"]) for r in csv.DictReader(exported)}
    assert all(label and source for label, source in labels.values()), labels
