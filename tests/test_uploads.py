"""Reading uploaded files (``loop.uploads``): what new users' files look like."""

import json
import re

import pytest

from loop.errors import BadUpload
from loop.uploads import detect_format, parse_items


def test_a_windows_file_is_refused_with_its_line_and_how_to_save_it():
    data = "id,text\n1,plain\n2,caf\u00e9 cr\u00e8me\n".encode("cp1252")
    with pytest.raises(BadUpload) as e:
        parse_items(data, "csv", ["a", "b"], id_field="id")
    assert "not UTF-8 text (line 3" in str(e.value) and "0xe9" in str(e.value)
    assert "CSV UTF-8" in str(e.value)


def test_a_nul_character_is_refused_with_where_it_is():
    """Operator's trial: a NUL byte in an item's text was stored and written raw
    into the CSV export."""
    with pytest.raises(BadUpload, match="line 3 holds a NUL character"):
        parse_items(b"id,text\n1,plain\n2,bro\x00ken\n", "csv", ["a", "b"], id_field="id")
    with pytest.raises(BadUpload, match=r"item 2 holds a NUL character \(\\u0000\)"):
        parse_items(b'{"text": "fine"}\n{"text": "bro\\u0000ken"}\n', "jsonl", ["a", "b"])
    # the six characters of the escape, escaped themselves, are text
    out = parse_items(b'{"text": "say \\\\u0000"}\n', "jsonl", ["a", "b"])
    assert out.items[0]["text"] == "say \\u0000"


def test_excel_columns_without_a_name_or_a_value_are_left_out():
    data = b"Category,Message,,\nham,hello there,,\nspam,WIN a prize,,\n"
    out = parse_items(data, "csv", ["ham", "spam"], text_field="Message",
                      gold_field="Category")
    assert [i["text"] for i in out.items] == ["hello there", "WIN a prize"]
    assert all(i["fields"] == {} for i in out.items)
    # with a value in such a column, it is a column the user must name
    with pytest.raises(BadUpload, match="more than once"):
        parse_items(b"Category,Message,,\nham,hi,x,y\n", "csv", ["ham", "spam"],
                    text_field="Message", gold_field="Category")


def test_gold_labels_in_another_case_are_the_projects():
    data = b"id,text,label\n1,hi,HAM\n2,win,Spam\n3,yo,ham\n"
    out = parse_items(data, "csv", ["ham", "spam"], id_field="id", gold_field="label")
    assert out.gold == {"1": 0, "2": 1, "3": 0}
    with pytest.raises(BadUpload, match="did you mean 'spam'"):
        parse_items(b"id,text,label\n1,hi,spma\n", "csv", ["ham", "spam"], id_field="id",
                    gold_field="label")


def test_a_gold_column_is_read_one_way_names_or_indices_never_both():
    """New-user trial: with classes named "1".."5", a column of 0-4 was read value by
    value (0 as an index, 1-4 as names), so 0 and 1 both became class "1"."""
    stars = ["1", "2", "3", "4", "5"]
    rows = "".join(f"a{i},t {i},{i}\n" for i in range(5)).encode()
    out = parse_items(b"id,text,stars\n" + rows, "csv", stars, id_field="id",
                      gold_field="stars")
    assert out.gold == {f"a{i}": i for i in range(5)} and out.by_index == 5
    # every value a class name: names, though they are numbers below 5 too
    out = parse_items(b"id,text,stars\nb1,x,1\nb4,y,4\n", "csv", stars, id_field="id",
                      gold_field="stars")
    assert out.gold == {"b1": 0, "b4": 3} and out.by_index == 0
    # 0 can only be an index and 5 only a name: refused, naming both
    with pytest.raises(BadUpload, match=r"mix class names and class indices: '0' \(item 1"
                       r" \(line 2\)\) can only be a class index .* '5' \(item 2"):
        parse_items(b"id,text,stars\nc0,x,0\nc5,y,5\n", "csv", stars, id_field="id",
                    gold_field="stars")
    # names and indices of named classes mixed
    with pytest.raises(BadUpload, match="mix class names and class indices"):
        parse_items(b"id,text,label\n1,hi,ham\n2,win,1\n", "csv", ["ham", "spam"],
                    id_field="id", gold_field="label")


def test_an_excel_unicode_text_file_is_read_and_one_without_its_mark_is_named():
    """New-user trial: Excel's "Unicode Text" (tab-separated UTF-16) was refused as not
    UTF-8, with advice (iconv -f cp1252) that turned it into NULs."""
    table = "id\ttext\tlabel\n1\tcafé crème\tham\n2\tWIN £1000\tspam\n"
    out = parse_items(table.encode("utf-16"), "csv", ["ham", "spam"], id_field="id",
                      gold_field="label")
    assert [i["text"] for i in out.items] == ["café crème", "WIN £1000"]
    assert out.gold == {"1": 0, "2": 1}
    with pytest.raises(BadUpload, match="UTF-16 text without a byte-order mark.*utf-16le"):
        parse_items(table.encode("utf-16-le"), "csv", ["ham", "spam"], id_field="id")


def test_a_wrench_split_on_one_line_with_a_row_missing_a_field_is_read_row_by_row():
    """Operator's trial: WRENCH writes a split as one JSON object on one line; a row
    without ``weak_labels`` made the whole file one row whose columns were
    ``0.data.text``, ``1.label``, ... and the error named none of the rows."""
    import json

    split = {"0": {"label": 1, "weak_labels": [1, -1], "data": {"text": "win cash"}},
             "1": {"label": 0, "weak_labels": [0, -1], "data": {"text": "see you"}},
             "2": {"label": 0, "data": {"text": "no votes here"}}}
    out = parse_items(json.dumps(split).encode(), "json", ["ham", "spam"],
                      id_field="id", text_field="data.text")
    assert [i["text"] for i in out.items] == ["win cash", "see you", "no votes here"]
    split["2"] = {"label": 0, "data": {"body": "the text is elsewhere"}}
    with pytest.raises(BadUpload, match="item 3: text field 'data.text' must be a string"):
        parse_items(json.dumps(split).encode(), "json", ["ham", "spam"],
                    id_field="id", text_field="data.text")


def test_a_text_that_shows_as_nothing_is_refused_as_empty():
    """New-user trial: ``<b></b>``, ``<br><br>``, ``&nbsp;`` and a zero-width space
    were stored and shown to annotators as blank boxes."""
    data = "id,text\nh1,<b></b>\nh2,<br><br>\nh3,&nbsp;\nh4,\u200b\nok,<3 this\n".encode()
    with pytest.raises(BadUpload) as e:
        parse_items(data, "csv", ["a", "b"], id_field="id")
    said = str(e.value) + " ".join(getattr(e.value, "errors", []) or [])
    assert "4 problems" in said and "(id 'h1'): text field 'text' is empty" in said, said
    out = parse_items(b"id,text\nok,<3 this\n", "csv", ["a", "b"], id_field="id")
    assert out.items[0]["text"] == "<3 this"


def test_a_broken_json_body_says_where_the_document_breaks():
    """Trial: a body sent as JSON that broke on its first line was "JSONL line 1:
    invalid JSON", as if it had been sent as JSON lines."""
    for data, said in [(b'{"a": ', "invalid JSON (line 1, column 7: Expecting value)"),
                       (b'{"0": {"text": "a"},\n "1": }', "invalid JSON (line 2, column 7:")]:
        with pytest.raises(BadUpload, match=re.escape(said)):
            parse_items(data, "json", ["ham", "spam"])
    # JSON lines (named .json or not) broken on a later line: that line, as before
    for fmt in ("json", "jsonl"):
        with pytest.raises(BadUpload, match="JSONL line 2: invalid JSON"):
            parse_items(b'{"text": "a"}\n{"text": ', fmt, ["ham", "spam"])


def test_json_errors_say_the_column_and_nan_is_read_as_null():
    """Fault trial: a one-line array broken at character 85,306 said only "line 1",
    a control character's message ended in a dangling "at", and NaN (Python's json
    writes it; JSON has none) was stored, then exported where no strict parser reads it."""
    rows = json.dumps([{"id": f"x{k}", "text": f"t {k}"} for k in range(50)])
    at = rows.index("t 25")
    with pytest.raises(BadUpload, match=re.escape(  # the column of the comma
            f"invalid JSON (line 1, column {at - 2}: Expecting ':' delimiter)")):
        parse_items((rows[:at - 3] + "," + rows[at - 3:]).encode(), "json", ["ham", "spam"])
    with pytest.raises(BadUpload, match=r"Invalid control character\)$"):
        parse_items((rows[:at] + "\x01" + rows[at:]).encode(), "json", ["ham", "spam"])
    for data, fmt in [(b'[{"text": "a", "x": NaN}, {"text": "b", "y": -Infinity}]', "json"),
                      (b'{"text": "a", "x": NaN}\n{"text": "b", "y": -Infinity}\n', "jsonl")]:
        got = parse_items(data, fmt, ["ham", "spam"])
        assert [i["fields"] for i in got.items] == [{"x": None}, {"y": None}]


def test_a_number_too_big_for_a_float_is_read_as_null_as_infinity_is():
    """Security trial: 1e999 (a valid JSON number, read by Python as inf) was stored
    as it was read, then written as Infinity into the JSON lines export and the
    labeling page's item (JSON.parse refuses it), where the spelled-out Infinity is
    read as null."""
    for data, fmt in [(b'[{"text": "a", "x": 1e999}, {"text": "b", "y": -1E+999}]', "json"),
                      (b'{"text": "a", "x": 1e999}\n{"text": "b", "y": -1E+999}\n', "jsonl")]:
        got = parse_items(data, fmt, ["ham", "spam"])
        assert [i["fields"] for i in got.items] == [{"x": None}, {"y": None}]
    got = parse_items(b'{"text": "a", "x": 1.5e300, "y": 0.1}\n', "jsonl", ["ham", "spam"])
    assert got.items[0]["fields"] == {"x": 1.5e300, "y": 0.1}


def test_a_column_name_longer_than_200_characters_is_refused():
    """Security trial: every item stores its fields' names, so a header naming a column
    of 100,000 characters made a 112 kB upload of 500 rows 48 MB of Redis (a 50 MB
    upload could ask for terabytes). A name is at most 200 characters, as an id is."""
    long = "c" * 201
    for data, fmt in [(f"text,{long}\na,1\n".encode(), "csv"),
                      (json.dumps({"text": "a", long: 1}).encode(), "jsonl"),
                      (json.dumps([{"text": "a", "d": {long[:199]: 1}}]).encode(), "json")]:
        with pytest.raises(BadUpload, match="longer than 200 characters"):
            parse_items(data, fmt, ["ham", "spam"])
    got = parse_items(f"text,{long[:200]}\na,1\n".encode(), "csv", ["ham", "spam"])
    assert got.items[0]["fields"] == {long[:200]: "1"}


def test_a_column_given_twice_as_written_and_nested_is_refused():
    """Fault trial: {"a.b": "flat", "a": {"b": "nested"}} kept "flat" and dropped the
    other without a word. The same value twice is no conflict."""
    with pytest.raises(BadUpload, match="the column 'a.b' is given twice"):
        parse_items(b'[{"a.b": "flat", "a": {"b": "nested"}, "text": "t"}]', "json",
                    ["ham", "spam"])
    got = parse_items(b'[{"a.b": "same", "a": {"b": "same"}, "text": "t"}]', "json",
                      ["ham", "spam"])
    assert got.items[0]["fields"] == {"a.b": "same"}


def test_a_field_twice_in_one_object_is_refused():
    """A JSON reader keeps the last of a field given twice and drops the other
    without a word (left alone since session 50). The same value twice is kept."""
    with pytest.raises(BadUpload, match=re.escape(
            "the field 'label' is given twice in one object, with different values "
            '("spam" and "ham")')):
        parse_items(b'[{"text": "t", "label": "spam", "label": "ham"}]', "json",
                    ["ham", "spam"])
    with pytest.raises(BadUpload, match="^JSONL line 2: the field 'text' is given twice"):
        parse_items(b'{"text": "a"}\n{"text": "b", "text": "c"}\n', "jsonl", ["ham", "spam"])
    with pytest.raises(BadUpload, match="the field 'x' is given twice"):  # nested, WRENCH
        parse_items(b'{"0": {"label": 0, "data": {"text": "a", "x": 1, "x": 2}},\n'
                    b' "1": {"label": 1, "data": {"text": "b"}}}', "json", ["ham", "spam"])
    got = parse_items(b'[{"text": "t", "label": "ham", "label": "ham"}]', "json",
                      ["ham", "spam"])
    assert got.items[0]["text"] == "t"


@pytest.mark.parametrize(("data", "fmt", "says"), [
    (b"text,,label\nhello,x,ham\n", "csv",
     'the header names a column without a name (item 1\'s value: "x")'),
    (b'[{"text": "a", "": 1}]', "json", "item 1 has a field without a name ('': 1)"),
    (b'[{"text": "a", "data": {"m": {" ": 3}}}]', "json",
     "item 1: a field without a name inside 'data.m' (' ': 3)"),
    (b'{"text": "a", "data": {"": 3}}\n', "jsonl", "JSONL line 1: a field without a name"),
    (b'{"text": "a"}\n{"text": "b", "x\\u200by": 1}\n', "jsonl",
     "item 2 has a field 'x\\u200by' whose name holds the control or invisible character"),
    (b"text,a\x01b\nhi,1\n", "csv", "the header names a column 'a\\x01b' whose name"),
])
def test_a_field_without_a_usable_name_is_refused(data, fmt, says):
    """Left alone since session 50: a column named "" or with a NUL in its name was
    stored, and shown on the labeling page as a blank or garbled name."""
    with pytest.raises(BadUpload, match=re.escape(says)):
        parse_items(data, fmt, ["ham", "spam"])
    # a trailing separator's empty column, empty on every row, is no column; a name
    # may end with a dot
    assert parse_items(b'[{"text": "a", "No.": 1}]', "json", ["ham", "spam"]).items[0][
        "fields"] == {"No.": 1}
    got = parse_items(b"text,label,\nhello,ham,\n", "csv", ["ham", "spam"])
    assert got.items[0]["fields"] == {"label": "ham"}


def test_one_object_holding_the_items_in_a_list_says_to_upload_the_list():
    """New-user trial: {"items": [{...}, ...]} (as APIs return lists) was read as one
    row, and the refusal said only "text field 'items' must be a string"."""
    data = b'{"items": [{"text": "a"}, {"text": "b"}], "count": 2}'
    for text_field in ("text", "items"):
        with pytest.raises(BadUpload, match=re.escape(
                "the file is one object holding a list of 2 objects in 'items': upload "
                "that list itself")):
            parse_items(data, "json", ["ham", "spam"], text_field=text_field)
    with pytest.raises(BadUpload, match="; 1 problem in the file, nothing was stored$"):
        parse_items(data, "json", ["ham", "spam"], text_field="items")


def test_gold_indices_written_as_floats_by_pandas_are_read_as_indices():
    """A label column with empty cells is a float column in pandas, and ``to_csv``
    / ``to_json`` write 0.0 and 1.0: each was refused as "not one of the labels"."""
    data = b"id,text,label\n1,hi,0.0\n2,win,1.0\n3,yo,\n"
    out = parse_items(data, "csv", ["ham", "spam"], id_field="id", gold_field="label")
    assert out.gold == {"1": 0, "2": 1} and out.by_index == 2
    rows = b'{"id": 1, "text": "hi", "label": 1.0}\n{"id": 2, "text": "x", "label": null}\n'
    out = parse_items(rows, "jsonl", ["ham", "spam"], id_field="id", gold_field="label")
    assert out.gold == {"1": 1}
    for bad in (b"1.5", b"2.0"):  # not a whole number, or no such class
        with pytest.raises(BadUpload, match="is not one of"):
            parse_items(b"id,text,label\n1,hi," + bad + b"\n", "csv", ["ham", "spam"],
                        id_field="id", gold_field="label")


def test_minus_one_as_unknown_gold_says_to_leave_the_cell_empty():
    """Snorkel's and WRENCH's -1 for an unknown label: the refusal says what to do."""
    with pytest.raises(BadUpload, match="leave the cell empty"):
        parse_items(b"id,text,label\n1,hi,-1\n2,win,1\n", "csv", ["ham", "spam"],
                    id_field="id", gold_field="label")


def test_the_index_column_pandas_to_csv_writes_is_left_out_and_said():
    """New-user trial: ``df.to_csv(path)`` (pandas' default, index=True) starts each
    row with the row number under a column without a name; the upload was refused,
    "name it, or leave it out of the file", whatever the user meant to import."""
    import pandas as pd

    df = pd.DataFrame({"id": [1000, 1001, 1002, 1003], "label": ["ham", None, "spam", None],
                       "text": ["Ok lar...", "WIN a prize, call now", "Free entry", "see u"]})
    for frame in (df, df.iloc[[3, 0, 2]]):  # as written, and after a filter and a sort
        out = parse_items(frame.to_csv().encode(), "csv", ["ham", "spam"], id_field="id",
                          gold_field="label")
        assert [i["id"] for i in out.items] == [str(i) for i in frame["id"]]
        assert [i["text"] for i in out.items] == list(frame["text"])
        assert all(i["fields"] == {} for i in out.items)
        assert out.notes == ["the first column, which has no name and holds row numbers (an "
                             "index, as pandas' to_csv writes it without index=False and R's "
                             "write.csv without row.names=FALSE), is left out"]
    assert parse_items(df.to_csv(index=False).encode(), "csv", ["ham", "spam"]).notes == []
    # R's write.csv: its row names 1..n, under a quoted empty name
    out = parse_items(b'"","id","text"\n"1","a","hi"\n"2","b","yo"\n', "csv", ["ham", "spam"],
                      id_field="id")
    assert [(i["id"], i["text"], i["fields"]) for i in out.items] == [("a", "hi", {}),
                                                                      ("b", "yo", {})]
    # a column without a name that holds anything else is still the user's to name
    for data in (b",text\na,hi\nb,yo\n", b",text\n1,hi\n1,yo\n", b"text,\nhi,1\nyo,2\n"):
        with pytest.raises(BadUpload, match="without a name"):
            parse_items(data, "csv", ["ham", "spam"])


def test_pandas_to_json_as_it_writes_by_default_is_read_by_row():
    """New-user trial: ``df.to_json(path)`` writes an object per column keyed by row
    (``orient="columns"``); its 500 rows were read as 3 items whose fields were the
    row numbers, and the refusal listed 500 of them as the fields to pick a text from."""
    import pandas as pd

    df = pd.DataFrame({"id": [1000, 1001, 1002], "text": ["hi \u05e9\u05dc\u05d5\u05dd", "WIN",
                                                          "ok \U0001f600"],
                       "label": ["ham", None, "spam"], "score": [0.5, 1.25, None]})
    want = [{"id": "1000", "text": "hi \u05e9\u05dc\u05d5\u05dd", "fields": {"score": 0.5}},
            {"id": "1001", "text": "WIN", "fields": {"score": 1.25}},
            {"id": "1002", "text": "ok \U0001f600", "fields": {"score": None}}]
    for frame in (df, df.iloc[[2, 0, 1]]):  # as written, and after a sort
        out = parse_items(frame.to_json().encode(), "json", ["ham", "spam"], id_field="id",
                          gold_field="label")
        assert out.items == [want[i] for i in frame.index]
        assert out.gold == {"1000": 0, "1002": 1}
    # the index is the ids where the frame has no id column (set_index("id"))
    out = parse_items(df.set_index("id").to_json().encode(), "json", ["ham", "spam"],
                      id_field="id", gold_field="label")
    assert out.items == want and out.gold == {"1000": 0, "1002": 1}
    # a WRENCH split (keyed by numbers) is read by row as before
    wrench = {"0": {"label": 1, "data": {"text": "a"}}, "1": {"label": 0, "data": {"text": "b"}}}
    out = parse_items(json.dumps(wrench).encode(), "json", ["ham", "spam"], id_field="id",
                      text_field="data.text", gold_field="label")
    assert [(i["id"], i["text"]) for i in out.items] == [("0", "a"), ("1", "b")]



def test_pandas_to_json_with_an_index_of_ids_that_are_not_numbers_is_read_by_row():
    """Data scientist's trial: ``df.set_index("id").to_json(path)`` with ids such as
    ``sms00001`` was refused, "item 1 has 5,575 fields": only an index of numbers
    was taken for pandas' row labels, so each column was read as one row. The text
    field tells the two apart: a column of pandas, a field of rows keyed by id."""
    import pandas as pd

    from loop.uploads import preview

    df = pd.DataFrame({"id": ["sms00001", "sms00002", "sms00003"],
                       "text": ["hi there", "WIN a prize", "ok"],
                       "label": ["ham", None, "spam"], "n_digits": [0, 12, 0]})
    data = df.set_index("id").to_json().encode()
    out = parse_items(data, "json", ["ham", "spam"], id_field="id", gold_field="label")
    assert [(i["id"], i["text"], i["fields"]) for i in out.items] == [
        ("sms00001", "hi there", {"n_digits": 0}), ("sms00002", "WIN a prize", {"n_digits": 12}),
        ("sms00003", "ok", {"n_digits": 0})]
    assert out.gold == {"sms00001": 0, "sms00003": 1}
    other = df.rename(columns={"text": "body"}).set_index("id").to_json().encode()
    out = parse_items(other, "json", ["ham", "spam"], id_field="id", text_field="body")
    assert [i["text"] for i in out.items] == ["hi there", "WIN a prize", "ok"]
    # rows keyed by ids that are not numbers (WRENCH's form) are read by row as before
    keyed = {"a1": {"text": "hi", "label": "ham"}, "b2": {"text": "yo", "label": "spam"}}
    out = parse_items(json.dumps(keyed).encode(), "json", ["ham", "spam"], id_field="id",
                      gold_field="label")
    assert [(i["id"], i["text"]) for i in out.items] == [("a1", "hi"), ("b2", "yo")]
    # a preview, before the text column is picked: by the project's text field, or by
    # more rows than a row may have fields
    assert preview(data, "json", text_field="text")["columns"] == ["id", "text", "label",
                                                                   "n_digits"]
    big = pd.DataFrame({"id": [f"s{i:05d}" for i in range(1500)], "body": ["hi"] * 1500})
    assert preview(big.set_index("id").to_json().encode(), "json", text_field="text"
                   )["columns"] == ["id", "body"]

def test_a_frame_indexed_by_ids_is_previewed_by_row_whatever_the_projects_text_field():
    """New-user trial: on the Data page of a project whose text field (``CONTENT``) is
    not the file's column, ``df.set_index("id").to_json()`` of 30 comments with text
    and author was previewed as 2 rows (``text``, ``author``) of 30 fields named by
    the ids, and "Check" found "All 2 rows are fine". More rows than columns, the text
    field a field of neither, is a frame; rows keyed by id that hold it stay rows."""
    import pandas as pd

    from loop.uploads import preview

    df = pd.DataFrame({"id": [f"z{i:03d}x" for i in range(30)],
                       "text": [f"comment {i}" for i in range(30)],
                       "author": [f"a{i}" for i in range(30)]})
    data = df.set_index("id").to_json().encode()
    got = preview(data, "json", text_field="CONTENT")
    assert got["columns"] == ["id", "text", "author"] and got["n_rows"] == 30, got["columns"]
    assert got["rows"][0] == {"id": "z000x", "text": "comment 0", "author": "a0"}
    out = parse_items(data, "json", ["ham", "spam"], id_field="id", text_field="text")
    assert len(out.items) == 30 and out.items[29]["id"] == "z029x"
    # rows keyed by id with fewer rows than fields, the text field among them: rows
    keyed = {"a1": {"text": "hi", "label": "ham", "src": "x"},
             "b2": {"text": "yo", "label": "spam", "src": "y"}}
    got = preview(json.dumps(keyed).encode(), "json", text_field="text")
    assert got["columns"] == ["id", "text", "label", "src"] and got["n_rows"] == 2


def test_pandas_table_json_is_told_to_upload_its_rows_not_its_columns():
    """New-user trial: ``df.to_json(orient="table")`` holds the columns' list in
    ``schema.fields`` and the rows in ``data``; the refusal said to upload
    ``schema.fields``, the list of columns."""
    import pandas as pd

    df = pd.DataFrame({"text": ["hi", "WIN", "ok", "yo", "so"], "label": ["ham"] * 5})
    with pytest.raises(BadUpload, match=re.escape(
            "a list of 5 objects in 'data': upload that list itself")):
        parse_items(df.to_json(orient="table").encode(), "json", ["ham", "spam"])
    # fewer rows than columns: the list whose objects hold the text is named
    with pytest.raises(BadUpload, match=re.escape(
            "a list of 2 objects in 'data': upload that list itself")):
        parse_items(df.head(2).to_json(orient="table").encode(), "json", ["ham", "spam"])


def test_pandas_split_json_is_read_by_row():
    """New-user trial: ``df.to_json(orient="split")`` was read as one row whose
    fields were columns, index and data, and refused for its missing text field."""
    import pandas as pd

    df = pd.DataFrame({"text": ["hi \U0001f600", "WIN", "ok"], "label": ["ham", None, "spam"],
                       "n": [1, 2, 3]}, index=[10, 11, 12])
    out = parse_items(df.to_json(orient="split").encode(), "json", ["ham", "spam"],
                      id_field="id", gold_field="label")
    assert [(i["id"], i["text"], i["fields"]) for i in out.items] == [
        ("10", "hi \U0001f600", {"n": 1}), ("11", "WIN", {"n": 2}), ("12", "ok", {"n": 3})]
    assert out.gold == {"10": 0, "12": 1}
    # without its index, the rows are numbered as any file's
    out = parse_items(df.to_json(orient="split", index=False).encode(), "json",
                      ["ham", "spam"], gold_field="label", first_row=5)
    assert [(i["id"], i["text"]) for i in out.items] == [("5", "hi \U0001f600"), ("6", "WIN"),
                                                         ("7", "ok")]


def test_a_duplicate_id_names_the_other_row_and_what_to_do():
    """New-user trial: "duplicate id 'x'" said neither where the first one was nor
    what to do, and real files repeat whole rows (the UCI YouTube comments do)."""
    data = (b"id,text,likes\r\nz1,great song,3\r\nz2,\"sub to me, pls\",0\r\n"
            b"z1,great song,3\r\nz2,\"sub to me, pls\",7\r\n")
    with pytest.raises(BadUpload) as e:
        parse_items(data, "csv", ["ok", "spam"], id_field="id")
    errors = e.value.errors
    assert errors == [
        "item 3 (line 4): duplicate id 'z1': the same row as item 1 (line 2); leave the "
        "copy out",
        "item 4 (line 5): duplicate id 'z2', also item 2 (line 3) with other values; an "
        "id names one item: give one of them another id, or leave one out"]


def test_an_empty_id_says_what_to_do():
    """API audit: "empty id field 'id'" said what was wrong, not what to do."""
    with pytest.raises(BadUpload) as e:
        parse_items(b"id,text\nz1,great song\n ,no id here\n", "csv", ["ok", "spam"],
                    id_field="id")
    assert e.value.errors == [
        "item 2 (line 3): empty id field 'id': give the row an id, or leave it out of the "
        "file (or upload without id_field: rows numbered)"]


def test_a_header_typed_with_spaces_after_its_commas_names_its_columns_trimmed():
    """New-user trial: "id, text, likes" made the columns " text" and " likes": the
    text column was "missing" and a field rule on likes (the editor trims the field's
    name) could never name " likes". The names are trimmed, as ids are; values keep
    their spaces (a text is stored as uploaded)."""
    out = parse_items(b"id, text, likes\n20, hello there, 3\n", "csv", ["a", "b"],
                      id_field="id")
    assert out.items == [{"id": "20", "text": " hello there", "fields": {"likes": " 3"}}]
    # two names that trimming would make one are left as they are
    out = parse_items(b"id,text,likes, likes\n1,hi,3,4\n", "csv", ["a", "b"], id_field="id")
    assert out.items[0]["fields"] == {"likes": "3", " likes": "4"}


def test_a_file_without_a_header_line_is_said_so_when_it_passes():
    """New-user trial: UCI's SMSSpamCollection as it is (no header line) passed the
    Data page's Check, "All 5573 rows are fine", its first message taken as the
    column names; the warning shown when the file was picked was gone by then."""
    data = (b"ham\tGo until jurong point, crazy.. Available only in bugis n great world\n"
            b"ham\tOk lar... Joking wif u oni...\nspam\tFree entry in 2 a wkly comp\n")
    text = "Go until jurong point, crazy.. Available only in bugis n great world"
    out = parse_items(data, "csv", ["ham", "spam"], text_field=text)
    assert len(out.items) == 2
    assert any(n.startswith("the first line of a CSV names its columns, and this one looks "
                            "like data") and "the first row is no item" in n
               for n in out.notes), out.notes
    out = parse_items(b"label\ttext\nham\tOk lar\n", "csv", ["ham", "spam"])
    assert out.notes == []


def test_a_label_written_as_unknown_says_how_to_write_unknown():
    """New-user trial: "?" and "not sure" in a column of known labels were refused
    with nothing said of how to write that a label is unknown."""
    with pytest.raises(BadUpload) as e:
        parse_items(b"id,text,reviewed\n1,hi,spam\n2,yo,?\n3,hey,\n", "csv", ["ok", "spam"],
                    id_field="id", gold_field="reviewed")
    assert e.value.errors == [
        "item 2 (line 3) (id '2'): gold label '?' is not one of ['ok', 'spam']; where the "
        "label is unknown leave the cell empty (or null in JSON)"]


def test_an_unsupported_content_type_names_every_json_shape_read():
    """API audit: the 400 named JSON lines and arrays only, while one object of rows
    keyed by id (WRENCH's train.json) is read too."""
    with pytest.raises(BadUpload, match="keyed by id") as e:
        detect_format("application/pdf", "")
    assert "text/csv" in str(e.value) and "an array of objects" in str(e.value)
