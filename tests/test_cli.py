import json
import subprocess
import sys

import pytest

from loop.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "loop.cli", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_evaluate_prints_one_json_object(shared_data):
    out = run("evaluate", str(shared_data / "youtube"), "--metric", "acc", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["dataset"] == "youtube" and res["metric"] == "acc"
    assert res["n_train"] == 1686 and res["n_test"] == 250
    assert set(res["models"]) == {"majority_vote", "label_model", "label_model_gold"}
    for m in res["models"].values():
        assert 0.0 <= m["score"] <= 1.0 and m["seconds"] >= 0


@pytest.mark.slow
def test_evaluate_single_file_set_has_no_gold_variant(shared_data):
    out = run("evaluate", str(shared_data / "crowd_bluebirds"), "--json")
    res = json.loads(out.stdout)
    assert "label_model_gold" not in res["models"]
    assert res["n_train"] == res["n_test"] == 108


@pytest.mark.slow
def test_simulate_end_to_end_on_real_data_is_deterministic(shared_data):
    args = ("simulate", str(shared_data / "sms"), "--budget", "30", "--batch-size", "10",
            "--seed", "1", "--metric", "f1", "--json")
    a, b = run(*args), run(*args)
    assert a.returncode == 0, a.stderr
    res = json.loads(a.stdout)
    assert a.stdout == b.stdout
    assert [p["n_gold"] for p in res["curve"]] == [0, 10, 20, 30]
    assert res["strategy"] == "loop" and res["seed"] == 1 and res["metric"] == "f1"
    for p in res["curve"]:
        assert 0 <= p["label_model"] <= 1 and 0 <= p["end_model"] <= 1
    assert "n_gold=0" in a.stderr  # progress goes to stderr


@pytest.mark.slow
def test_simulate_without_text_has_null_end_model(shared_data):
    out = run("simulate", str(shared_data / "crowd_bluebirds"), "--budget", "10", "--json")
    res = json.loads(out.stdout)
    assert all(p["end_model"] is None for p in res["curve"])


def test_missing_or_malformed_dataset_exits_non_zero_with_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope"), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("loop: error:") and "\n" not in err
    (tmp_path / "label.json").write_text('{"0": "a", "1": "b"}')
    (tmp_path / "train.json").write_text('{"0": {"label": 0}}')
    (tmp_path / "test.json").write_text("not json")
    assert main(["simulate", str(tmp_path), "--budget", "10", "--json"]) == 2
    assert "loop: error:" in capsys.readouterr().err


def test_f1_on_more_than_two_classes_and_a_negative_budget_are_refused(tmp_path, capsys):
    row = {"label": 2, "weak_labels": [2, -1], "data": {"text": "x"}}
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.json").write_text(json.dumps({"0": row, "1": row}))
    (tmp_path / "label.json").write_text('{"0": "a", "1": "b", "2": "c"}')
    assert main(["evaluate", str(tmp_path), "--metric", "f1"]) == 2
    assert "3 classes: use --metric acc" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["simulate", str(tmp_path), "--budget", "-5"])
    assert stop.value.code == 2
    assert "--budget: must be 0 or more, got -5" in capsys.readouterr().err


def test_python_m_loop_is_the_loop_command():
    """Trial: ``python -m loop serve`` said "No module named loop.__main__; 'loop' is a
    package and cannot be directly executed"."""
    out = subprocess.run([sys.executable, "-m", "loop", "--help"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: loop ") and "serve" in out.stdout, out.stdout
