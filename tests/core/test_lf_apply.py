import warnings

import numpy as np
import pandas as pd
import pytest

from loop import ABSTAIN, LabelingFunction, apply_lfs, labeling_function
from loop.core.apply import chunk_bounds, merge_errors


@labeling_function()
def has_link(x):
    return 1 if "http" in x.text else ABSTAIN


@labeling_function(name="short", resources={"limit": 10})
def short_comment(x, limit):
    return 0 if len(x["text"]) < limit else ABSTAIN


@labeling_function()
def broken(x):
    return 1 if x.missing_field else ABSTAIN


@labeling_function()
def out_of_range(x):
    return 7


def test_decorator_names_and_resources():
    assert has_link.name == "has_link"
    assert short_comment.name == "short"
    assert isinstance(short_comment, LabelingFunction)


def test_preprocessor_runs_before_lf():
    def lower(x):
        return {**x, "text": x["text"].lower()}

    @labeling_function(pre=[lower])
    def shouts(x):
        return 1 if "buy" in x["text"] else ABSTAIN

    assert shouts({"text": "BUY NOW"}) == 1


def test_apply_dicts_and_dataframe_give_the_same_compact_matrix():
    rows = [{"text": "see http://x"}, {"text": "hi"}, {"text": "a long comment here"}]
    L1, errors = apply_lfs([has_link, short_comment], rows, n_classes=2)
    L2, _ = apply_lfs([has_link, short_comment], pd.DataFrame(rows), n_classes=2)
    assert L1.dtype == np.int8
    assert L1.tolist() == [[1, -1], [-1, 0], [-1, -1]]
    assert np.array_equal(L1, L2)
    assert errors == {}


def test_errors_become_abstains_counted_per_lf_with_an_example():
    rows = [{"text": "a"}, {"text": "b"}]
    L, errors = apply_lfs([broken, out_of_range, has_link], rows, n_classes=2, ids=["r1", "r2"],
                          warn=False)
    assert (L[:, :2] == ABSTAIN).all()
    assert errors["broken"].count == 2
    assert errors["broken"].example_id == "r1"
    assert "AttributeError" in errors["broken"].example_error
    assert errors["out_of_range"].count == 2
    assert "outside the label space" in errors["out_of_range"].example_error
    assert "has_link" not in errors


def test_progress_is_reported():
    seen = []
    apply_lfs([has_link], [{"text": "x"}] * 5, progress=lambda d, t: seen.append((d, t)),
              progress_every=2)
    assert seen[-1] == (5, 5)
    assert (2, 5) in seen


def test_chunks_cover_everything_and_merge_errors():
    rows = [{"text": str(i)} for i in range(7)]
    parts = [apply_lfs([broken], rows[a:b], ids=list(range(a, b)), warn=False)
             for a, b in chunk_bounds(7, 3)]
    L = np.vstack([p.L for p in parts])
    assert L.shape == (7, 1)
    merged = merge_errors(p.errors for p in parts)
    assert merged["broken"].count == 7
    assert merged["broken"].example_id == 0


def test_duplicate_lf_names_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        apply_lfs([has_link, has_link], [{"text": ""}])


def test_a_plain_function_is_told_to_be_wrapped():
    def has_word(x):
        return 1
    with pytest.raises(TypeError, match=r"has_word is not a labeling function: wrap it with "
                                        r"@labeling_function\(\)"):
        apply_lfs([has_link, has_word], [{"text": ""}])


def test_a_rule_is_a_labeling_function_and_the_result_indexes_as_its_pair():
    """New-user trial: a Rule passed to apply_lfs was told to be wrapped with
    @labeling_function(), and apply_lfs(...)[0] (as a docstring said) raised."""
    from loop import Rule

    rule = Rule("says_free", 1, "keywords", keywords=("free",))
    res = apply_lfs([has_link, rule], [{"text": "FREE http://x"}, {"text": "freedom"}],
                    n_classes=2)
    assert res[0].tolist() == [[1, 1], [-1, -1]] and res[1] == {} and len(res) == 2
    L, errors = res
    assert L is res.L and errors is res.errors


def test_non_dict_records_are_rejected():
    with pytest.raises(TypeError, match="dicts or a pandas DataFrame"):
        apply_lfs([has_link], ["just a string"])


def test_an_interrupt_stops_the_run_naming_the_lf_and_record():
    from loop.core.apply import LFInterrupted

    class TimeLimit(Exception):
        pass

    @labeling_function()
    def buggy(x):
        raise ValueError("a bug: counted, the run goes on")

    @labeling_function()
    def slow(x):
        if x.text == "stuck":
            raise TimeLimit
        return 1

    recs = [{"text": "fine"}, {"text": "stuck"}]
    with pytest.raises(LFInterrupted) as hit:
        apply_lfs([buggy, slow], recs, n_classes=2, ids=["a", "b"], interrupts=(TimeLimit,))
    assert (hit.value.lf, hit.value.item) == ("slow", "b")
    assert isinstance(hit.value.__cause__, TimeLimit)
    res = apply_lfs([buggy, slow], recs[:1], n_classes=2, warn=False)  # no interrupts: as before
    assert res.L.tolist() == [[-1, 1]] and res.errors["buggy"].count == 1


def test_an_lf_failing_on_most_records_warns_with_how_many():
    """Library trial: an LF failing on 74% of the records said so only in ``errors``."""
    @labeling_function()
    def needs_title(x):
        return 1 if "sale" in x.title else ABSTAIN

    rows = [{"text": "a", "title": "sale"}] + [{"text": "b"}] * 3
    with pytest.warns(UserWarning, match=r"LF 'needs_title' failed on 3 of 4 records \(75%\), "
                      r"which count as abstentions; first \(record 1\): "):
        L, errors = apply_lfs([needs_title], rows, n_classes=2)
    assert L.ravel().tolist() == [1, -1, -1, -1] and errors["needs_title"].count == 3
    with warnings.catch_warnings():  # 1 of 3: counted in errors, no warning
        warnings.simplefilter("error")
        _, errors = apply_lfs([needs_title], rows[:1] * 2 + rows[1:2], n_classes=2)
    assert errors["needs_title"].count == 1

def test_an_lf_failing_on_every_record_warns_and_names_the_fields():
    @labeling_function()
    def wrong_field(x):
        return 1 if "buy" in x.text else ABSTAIN

    @labeling_function()
    def returns_float(x):
        return 1.0

    rows = [{"CONTENT": "buy"}, {"CONTENT": "hello"}]
    with pytest.warns(UserWarning) as seen:
        L, errors = apply_lfs([wrong_field, returns_float], rows, n_classes=2)
    assert [str(w.message).split(",")[0] for w in seen] == [
        "LF 'wrong_field' failed on all 2 records", "LF 'returns_float' failed on all 2 records"]
    assert (L == ABSTAIN).all()
    assert "no field 'text' in this record; its fields: 'CONTENT'" in (
        errors["wrong_field"].example_error)
    assert "returned 1.0 (float); an LF returns an int class id in 0..1" in (
        errors["returns_float"].example_error)
    # WRENCH's nested "data" object, uploaded, is dotted fields: x.data.entity2 reads
    # them as the JSON was written; x.entity2 names them (new-user trial)
    @labeling_function()
    def container(x):
        return 1 if x.data.entity2 in ("box", "bottle") else ABSTAIN

    @labeling_function()
    def short(x):
        return 1 if x.entity2 == "box" else ABSTAIN

    rows2 = [{"text": "a", "data.entity1": "tea", "data.entity2": "box"},
             {"text": "b", "data.entity1": "car", "data.entity2": "road"}]
    L2, errors2 = apply_lfs([container, short], rows2, n_classes=2, warn=False)
    assert L2[:, 0].tolist() == [1, ABSTAIN]
    assert "no field 'entity2' in this record; its fields: 'text', 'data.entity1', " \
        "'data.entity2'; did you mean x['data.entity2'] or x.data.entity2?" in (
            errors2["short"].example_error)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_lfs([wrong_field], rows, warn=False)
        apply_lfs([wrong_field], rows + [{"text": "buy"}] * 3)  # fails on 2 of 5: no warning
    with pytest.warns(UserWarning, match="failed on 2 of 3 records"):
        apply_lfs([wrong_field], rows + [{"text": "buy"}])


def test_lfs_with_a_batch_vote_as_they_would_record_by_record():
    """Rules and uploaded votes vote on all records at once (one scan of the texts
    for every rule); their matrix is the one calling them record by record gives."""
    from loop.core.rules import Rule
    from loop.core.votes import votes_lfs

    rules = [Rule("kw", 1, "keywords", keywords=("free", "win money")),
             Rule("rx", 0, "regex", pattern=r"^hi\b"),  # anchors: text by text
             Rule("fld", 1, "field", field="n", op=">", value=3)]
    lfs = [r.as_lf() for r in rules] + votes_lfs("wl", 2) + [has_link]
    recs = [{"text": "FREE stuff http://x", "n": 5, "wl": [1, -1]},
            {"text": "hi there\nwin money", "n": 1},
            {"text": None, "wl": [0, 0]}, {"text": "", "n": "7"}]
    fast = apply_lfs(lfs, recs, n_classes=2)
    slow = apply_lfs([LabelingFunction(lf.name, lf.f) for lf in lfs], recs, n_classes=2)
    assert fast.L.tolist() == slow.L.tolist() == [
        [1, -1, 1, 1, -1, 1], [1, 0, -1, -1, -1, -1], [-1, -1, -1, 0, 0, -1],
        [-1, -1, 1, -1, -1, -1]]
    assert set(fast.errors) == set(slow.errors) == {"has_link"}  # None has no "in"


def test_a_batch_that_fails_or_votes_outside_the_classes_runs_record_by_record():
    def boom(records, shared):
        raise RuntimeError("no batch today")

    def seven(records, shared):
        return np.full(len(records), 7)

    lfs = [LabelingFunction("a", lambda x: 1, batch=boom),
           LabelingFunction("b", lambda x: 7, batch=seven)]
    res = apply_lfs(lfs, [{"text": "x"}, {"text": "y"}], n_classes=2, warn=False)
    assert res.L.tolist() == [[1, -1], [1, -1]]
    assert res.errors["b"].count == 2 and "outside the label space" in res.errors["b"].example_error


def test_nested_records_read_as_the_services_dotted_fields():
    """An LF written as the README says (WRENCH's data.entity1 is x.data.entity1 or
    x["data.entity1"]) failed on every nested record in the library, WRENCH's rows
    as json.load reads them: x.data was a plain dict."""
    from loop.core.lf import Record

    @labeling_function()
    def by_attr(x):
        return 1 if x.data.entity1 == "a" else 0

    @labeling_function()
    def by_key(x):
        return 1 if x["data.entity1"] == "a" else 0

    nested = [{"data": {"entity1": "a"}}, {"data": {"entity1": "b"}}]
    flat = [{"data.entity1": "a"}, {"data.entity1": "b"}]
    for records in (nested, flat):
        out = apply_lfs([by_attr, by_key], records, n_classes=2)
        assert out.L.tolist() == [[1, 1], [0, 0]] and not out.errors
    with pytest.raises(KeyError, match="no field 'data.y'"):
        Record(nested[0])["data.y"]
    # a preprocessor that writes into a nested object: the LF after it sees it
    r = Record({"data": {"entity1": "a"}})
    r.data["entity2"] = "b"
    assert r.data is r.data and r.data.entity2 == "b" and r["data.entity2"] == "b"


def test_one_lf_or_bare_texts_are_refused_saying_what_to_pass():
    """``apply_lfs(lf, df)`` said "'LabelingFunction' object is not iterable"; a
    list of texts, "records must be dicts" without how to make them."""
    @labeling_function()
    def says_free(x):
        return 1 if "free" in x.text else ABSTAIN

    with pytest.raises(TypeError, match=r"got the one LF 'says_free': pass \[says_free\]"):
        apply_lfs(says_free, [{"text": "free"}])
    with pytest.raises(TypeError, match=r"\[\{'text': t\} for t in texts\]"):
        apply_lfs([says_free], ["free stuff", "hi"])


def test_a_dataframes_errors_name_its_rows_by_its_own_index():
    # After df.sample() or a filter, the example was named by position (0), and
    # df.loc[0] is another row: the user looked at a text the LF never failed on.
    df = pd.DataFrame({"text": ["fine", None, "also fine"]}, index=[40, 7, 13])

    @labeling_function()
    def shouts(x):
        return 1 if x.text.isupper() else ABSTAIN

    L, errors = apply_lfs([shouts], df, n_classes=2, warn=False)
    assert errors["shouts"].count == 1
    assert errors["shouts"].example_id == 7
    assert pd.isna(df.loc[errors["shouts"].example_id, "text"])
    assert apply_lfs([shouts], df, n_classes=2, ids=["a", "b", "c"], warn=False
                     ).errors["shouts"].example_id == "b"


def test_a_module_level_lf_pickles_by_reference():
    # pickle.dumps([has_link]) failed: "Can't pickle <function has_link>: it's not the
    # same object as ...has_link" (the decorator puts the LF in the function's place),
    # so LFs could not be saved with joblib or sent to a process pool.
    import pickle

    again = pickle.loads(pickle.dumps([has_link, short_comment]))
    assert again[0] is has_link and again[1] is short_comment
    rows = [{"text": "see http://x"}, {"text": "a much longer comment"}]
    assert np.array_equal(apply_lfs(again, rows, n_classes=2).L,
                          apply_lfs([has_link, short_comment], rows, n_classes=2).L)
def test_a_field_rule_on_a_field_no_record_has_is_warned_about():
    """Library trial: a rule on a misspelt field abstained on every record without a
    word (an LF failing the same way is warned about); a field some record has, or
    one the rule votes on, is not."""
    from loop.core.rules import Rule

    recs = [{"text": "a", "stars": 5}, {"text": "b", "stars": 1}]
    typo = Rule("typo", 1, "field", field="star", op=">=", value=4)
    with pytest.warns(UserWarning, match=r"rule 'typo' reads the field 'star', which none "
                                         r"of the 2 records has.*'stars'"):
        L, _ = apply_lfs([typo], recs, n_classes=2)
    assert (L == -1).all()
    never = Rule("never", 1, "field", field="stars", op=">", value=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L, _ = apply_lfs([never, Rule("ok", 1, "field", field="stars", op=">=", value=4)],
                         recs, n_classes=2)
    assert L.tolist() == [[-1, 1], [-1, -1]]


def test_an_lf_comparing_a_csv_value_as_a_number_is_told_the_value_is_text():
    """Data scientist's trial: ``x.n_digits >= 10`` ran in the library on a
    DataFrame (an int column) and failed on every item of the same rows uploaded as
    CSV, whose cells reach the LFs as text: "TypeError: '>=' not supported between
    instances of 'str' and 'int'" said nothing of why, nor what to write."""
    @labeling_function()
    def many_digits(x):
        return 1 if x.n_digits >= 10 else ABSTAIN

    @labeling_function()
    def plus_one(x):
        return 1 if x.n_digits + 1 > 10 else ABSTAIN

    rows = [{"text": "call 0800 123 4567", "n_digits": "11"}, {"text": "hi", "n_digits": "0"}]
    _, errors = apply_lfs([many_digits, plus_one], rows, n_classes=2, warn=False)
    for name in ("many_digits", "plus_one"):
        msg = errors[name].example_error
        assert msg.startswith("TypeError: "), msg
        assert "is text (a CSV's cells are): convert it, e.g. int(x.n_digits)" in msg, msg
    L, errors = apply_lfs([many_digits], pd.DataFrame({"text": ["a", "b"], "n_digits": [11, 0]}),
                          n_classes=2)
    assert L[:, 0].tolist() == [1, ABSTAIN] and not errors
    @labeling_function()
    def other_type_error(x):
        return len(5)

    _, errors = apply_lfs([other_type_error], rows, n_classes=2, warn=False)
    assert "CSV" not in errors["other_type_error"].example_error
