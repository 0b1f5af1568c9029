"""Reading uploaded files (``loop.uploads``): what new users' files look like."""

import pytest

from loop.errors import BadUpload
from loop.uploads import parse_items


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
