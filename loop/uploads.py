"""Parse uploaded item files (CSV or JSON lines) into validated item dicts.

Everything is checked before anything is written: a bad file raises
:class:`~loop.errors.BadUpload` naming the row and the problem.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loop.core.text import hidden_char, readable
from loop.errors import MAX_ROW_ERRORS, BadUpload, TooLarge, shorten

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "text/tab-separated-values")
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


@dataclass
class ParsedUpload:
    items: list[dict[str, Any]]
    gold: dict[str, int] = field(default_factory=dict)
    #: How many gold labels were given as a class index (a number), not a name.
    by_index: int = 0
    #: What the reading of the file left out or read otherwise, for the reply's note.
    notes: list[str] = field(default_factory=list)


def lone_surrogate(obj: Any) -> str | None:
    """The first lone UTF-16 surrogate (``\\ud800``) in the strings of a parsed
    JSON value, written as its escape, or None. JSON's ``\\uXXXX`` escapes can
    spell one; it is no character, cannot be stored or written out as UTF-8, and
    would fail every export and rule scan that meets it."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"\\u{ord(str(exc.object)[exc.start]):04x}"
    return None


def _no_lone_surrogate(obj: Any, text: str, where: str = "") -> None:
    """Refuse a lone UTF-16 surrogate in ``obj``, parsed from ``text`` (``where``
    prefixes the error). Only a ``\\uD800``-``\\uDFFF`` escape spells one (UTF-8
    decoding refused the rest): a scan of the text spares most rows the check (a
    third of the parse)."""
    if "\\ud" in text or "\\uD" in text:
        bad = lone_surrogate(obj)
        if bad is not None:
            raise BadUpload(f"{where}{bad} is half of a UTF-16 surrogate pair, not a "
                            "character; write the whole pair or the character itself")


#: Files that are not text: named in the error, with what to save them as.
BINARY_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers", ".parquet", ".feather",
                   ".zip", ".gz", ".bz2", ".xz", ".7z", ".pdf", ".doc", ".docx", ".pkl")


def detect_format(content_type: str | None, filename: str | None = None) -> str:
    """``"csv"``, ``"jsonl"`` or ``"json"`` (JSON lines, or one JSON array of
    objects) from a content type or a file name.

    A file with no known name and no content type (a browser sends
    ``application/octet-stream`` for a file without an extension, such as the UCI
    ``SMSSpamCollection``) is read as text: JSON if it starts with ``{`` or ``[``,
    else CSV with its separator taken from the header (tab-separated included)."""
    ct = (content_type or "").split(";")[0].strip().lower()
    name = (filename or "").lower()
    if ct in JSONL_TYPES or name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if ct == "application/json" or name.endswith(".json"):
        return "json"
    if ct in CSV_TYPES or name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    suffix = next((x for x in BINARY_SUFFIXES if name.endswith(x)), None)
    if suffix is not None:
        raise BadUpload(f"a {suffix} file is not read: save it as CSV (UTF-8) or JSON lines "
                        "and upload that")
    if ct in ("", "application/octet-stream"):
        return "csv"  # sniffed in _rows: JSON if it starts with { or [
    raise BadUpload(
        f"unsupported content type {ct or '(none)'!r}: send text/csv, application/x-ndjson "
        "(JSON lines) or application/json (JSON lines, an array of objects, or one object "
        "of rows keyed by id as WRENCH's train.json)"
    )


#: A text that is only a number (an id or a count, not something to label).
_NUMBER = re.compile(r"\s*[-+]?[\d.,]+\s*")
#: A gold value read as a class index: digits, or a whole number written as a
#: float (``1.0``), as pandas writes an int column that has missing values.
_WHOLE_INDEX = re.compile(r"([0-9]+)(?:\.0*)?")
#: Longest item id (characters).
MAX_ID_CHARS = 200
#: Most columns a CSV file may have.
MAX_COLUMNS = 1000
#: Longest column or field name (characters): every item stores its fields' names
#: (security trial: a header naming a column of 100,000 characters made a 112 kB
#: upload of 500 rows 48 MB of Redis).
MAX_NAME_CHARS = 200
#: Column separators a CSV header may use instead of commas.
DELIMITERS = ";\t|"


def csv_delimiter(text: str, sample_rows: int = 50) -> str:
    """A CSV's column separator: of the tab, comma, ``;`` and ``|`` that its first
    line holds (a spreadsheet in a European locale writes ``;``), the first that
    splits the first ``sample_rows`` rows into as many fields as that line (a tab
    first, which texts rarely hold, then a comma, then the commoner in the line); a
    comma for a file of one column.

    A text in the first line may hold a comma (a tab-separated file without the
    usual quoting, such as UCI's ``SMSSpamCollection``): the rows show which
    separator is meant.

    >>> csv_delimiter("id;text;gold"), csv_delimiter("text"), csv_delimiter("a,b;c")
    (';', ',', ',')
    >>> csv_delimiter("ham\\tOk, see you\\nspam\\tWin now\\nham\\tSo, so, so\\n")
    '\\t'
    """
    header = text.split("\n", 1)[0]
    present = sorted((d for d in "\t," + DELIMITERS if d in header),
                     key=lambda d: ("\t,".find(d) % 3, -header.count(d)))
    if not present:
        return ","
    sample = text[:1 << 16]
    whole = len(sample) == len(text)
    for d in present:
        try:
            rows = [r for r in itertools.islice(
                csv.reader(io.StringIO(sample, newline=""), delimiter=d), sample_rows) if r]
        except csv.Error:
            continue
        if not whole and len(rows) > 1:
            rows = rows[:-1]  # the sample may end inside a row
        if all(len(r) == len(rows[0]) for r in rows):
            return d
    return present[0]


def _csv_rows(text: str, delimiter: str, quoted: bool = True
              ) -> tuple[list[dict[str, Any]], list[int | None], list[str] | None]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter,
                            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
    rows: list[dict[str, Any]] = []
    lines: list[int | None] = []
    last = 1
    try:
        for r in reader:
            rows.append(r)
            lines.append(last + 1)
            last = reader.line_num
    except csv.Error as exc:
        shown = str(exc).replace("\t", "\\t")  # a tab in the message is read as a space
        raise BadUpload(f"malformed CSV at line {reader.line_num + 1}: {shown} (a field that "
                        'starts with a quote must end with one; write a quote inside a '
                        'quoted field as two, "")') from None
    names = list(reader.fieldnames) if reader.fieldnames else None
    if names and any(c != c.strip() for c in names) and (
            len({c.strip() for c in names}) == len(names)):
        # "id, text, likes" (a header typed with spaces after its commas): the columns
        # were " text" and " likes", and a field rule, its name trimmed by the editor,
        # could never name " likes" (new-user trial); names as ids are, trimmed
        names = [c.strip() for c in names]
        rows = [{k.strip() if isinstance(k, str) else k: v for k, v in r.items()}
                for r in rows]
    return rows, lines, names


def _rows(data: bytes, fmt: str, notes: list[str] | None = None, text_field: str | None = None,
          ) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The rows of a file and the line each starts on (a CSV's header is line 1, a
    quoted text may span lines; blank JSON lines are skipped; in a JSON array, the
    element's number is the item's: None). At most :data:`MAX_COLUMNS` fields a row.
    ``notes`` gets what the reading left out (a pandas index column); ``text_field``,
    where known, tells pandas' columns from rows keyed by id (:func:`_by_row`)."""
    rows, lines = _all_rows(data, fmt, [] if notes is None else notes, text_field)
    nul = b"\\u0000" in data  # JSON spells one so too
    named: set[tuple[str, ...]] = set()  # the sets of field names checked already
    for n, r in enumerate(rows, start=1):
        if len(r) > MAX_COLUMNS:  # every field goes out with each lease of the item
            raise BadUpload(f"item {n} has {len(r):,} fields; at most {MAX_COLUMNS:,} are "
                            "read: keep the text, id and label fields")
        if nul and any(isinstance(v, str) and "\x00" in v for v in r.values()):
            raise BadUpload(f"item {n} holds a NUL character (\\u0000); remove it and "
                            "upload again")
        if n == 1 or fmt != "csv":  # a CSV's rows share the header's names
            names = tuple(r)
            if names not in named:  # speed trial: each JSON row's names, 1 s in 200,000
                _check_names(r, n, fmt)
                named.add(names)
    return rows, lines


def _check_names(row: dict[str, Any], n: int, fmt: str) -> None:
    """A field needs a name the labeling page, rules and exports can show: not empty,
    no control or invisible character (they were stored as given)."""
    csv_ = fmt == "csv"
    for k, v in row.items():
        if not k.strip():
            raise BadUpload(("the header names a column without a name (item 1's value: "
                             if csv_ else f"item {n} has a field without a name ({k!r}: ")
                            + f"{_short(v)}); name it, or leave it out of the file")
        odd = hidden_char(k)
        if odd is not None:
            raise BadUpload(f"{'the header names a column' if csv_ else f'item {n} has a field'}"
                            f" {k!r} whose name holds the control or invisible character "
                            f"{odd}; rename it")
        if len(k) > MAX_NAME_CHARS:
            raise BadUpload(f"{'the header names a column' if csv_ else f'item {n} has a field'}"
                            f" {shorten(k, 40)!r} whose name is longer than {MAX_NAME_CHARS} "
                            f"characters ({len(k):,}): is the first line a header? Rename it")


def _refuse_utf16_without_mark(data: bytes) -> None:
    """Refuse, saying so, a file of UTF-16 text without its byte-order mark (about
    every other byte 0x00 in its first 2,000): as UTF-8 it is NULs or undecodable."""
    head = data[:2000]
    if head.count(0) * 3 > len(head):
        raise BadUpload("file looks like UTF-16 text without a byte-order mark (every "
                        "other byte is 0x00): save it as UTF-8 (in Excel: Save As, 'CSV "
                        "UTF-8'; or iconv -f utf-16le -t utf-8) and upload it again")


def _all_rows(data: bytes, fmt: str, notes: list[str], text_field: str | None = None,
              ) -> tuple[list[dict[str, Any]], list[int | None]]:
    """:func:`_rows` before its check of the number of fields."""
    # Excel's "Unicode Text" (tab-separated UTF-16): new-user trial, refused as "not
    # UTF-8" with advice (iconv -f cp1252) that made it NULs
    utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as exc:
        if utf16:
            raise BadUpload(f"file starts as UTF-16 text but is not UTF-16 at byte "
                            f"{exc.start:,}: save it again (as 'CSV UTF-8' in Excel)"
                            ) from None
        _refuse_utf16_without_mark(data)
        # new-user trials: an Excel / Windows file got "byte 14" and nothing more
        at_line = data[:exc.start].count(b"\n") + 1
        raise BadUpload(f"file is not UTF-8 text (line {at_line}, byte {exc.start:,}: "
                        f"0x{data[exc.start]:02x}); save it as UTF-8 (in Excel: Save As, "
                        "'CSV UTF-8'; or iconv -f cp1252 -t utf-8) and upload it again"
                        ) from None
    if not text.strip():
        raise BadUpload("file is empty")
    if "\x00" in text:  # operator's trial: stored, then written raw into the CSV export
        at_line = text[:text.index("\x00")].count("\n") + 1
        _refuse_utf16_without_mark(data)
        raise BadUpload(f"line {at_line} holds a NUL character (byte 0x00): the file is "
                        "binary or damaged there; remove it and upload again")
    if fmt == "csv" and text.lstrip()[:1] in ("{", "["):  # JSON in a .txt / text/plain
        fmt = "json"
    if fmt == "json":
        start = text.lstrip()[:1]
        if start == "[":
            rows, lines = _json_array(text)
            return [_flat_at(r, f"item {n}") for n, r in enumerate(rows, start=1)], lines
        keyed = _keyed_rows(text, text_field) if start == "{" else None
        if keyed is not None:
            return keyed, [None] * len(keyed)
        fmt = "jsonl"  # JSON lines named .json
        whole_json = True
    else:
        whole_json = False
    if fmt == "csv":
        # a field as long as the upload may be (the csv module's default, 131,072
        # characters, refused a long text that JSON lines took)
        csv.field_size_limit(max(csv.field_size_limit(), len(text)))
        delimiter = csv_delimiter(text)
        try:
            rows, lines, names = _csv_rows(text, delimiter)
        except BadUpload as quoted:
            if delimiter != "\t":
                raise
            # tab-separated values as IANA defines them have no quoting: a text may
            # start with a quote it does not close (UCI's SMSSpamCollection)
            rows, lines, names = _csv_rows(text, delimiter, quoted=False)
            if any(None in r or None in r.values() for r in rows):
                raise quoted from None
        if not names:
            raise BadUpload("CSV has no header row")
        if not rows:  # new-user trial: the page said "0 rows, columns ."
            shown = ", ".join(repr(c) for c in names[:6]) + (", ..." if len(names) > 6 else "")
            raise BadUpload(f"the file has its header line ({shown}) and no rows below it: "
                            "nothing to import")
        if len(names) > MAX_COLUMNS:  # 200,000 held a web worker 2 minutes (quadratic)
            raise BadUpload(f"the CSV header names {len(names):,} columns; at most "
                            f"{MAX_COLUMNS:,} are read: keep the text, id and label columns")
        if names[0] == "" and names.count("") == 1 and _row_numbers(rows):
            # pandas' to_csv (and R's write.csv) write an index so, a first column
            # without a name
            # (new-user trial: refused, "name it, or leave it out of the file")
            names = names[1:]
            for r in rows:
                del r[""]
            notes.append("the first column, which has no name and holds row numbers (an "
                         "index, as pandas' to_csv writes it without index=False and R's "
                         "write.csv without row.names=FALSE), is left out")
        if "" in names and all(not r.get("") for r in rows):
            # columns without a name or a value (Excel's "Category,Message,,"): left out
            names = [c for c in names if c != ""]
            for r in rows:
                r.pop("", None)
        twice = sorted(c for c, n in Counter(names).items() if n > 1)
        if twice:  # csv.DictReader keeps the last of them, silently
            raise BadUpload(f"CSV header names {', '.join(map(repr, twice))} more than once; "
                            "give every column its own name")
        for n, r in zip(lines, rows, strict=True):
            if None in r or any(v is None for v in r.values()):
                shown = ", ".join(repr(c) for c in names[:6]) + (", ..." if len(names) > 6 else "")
                raise BadUpload(f"CSV line {n}: wrong number of fields (line 1, the header "
                                f"naming the columns, has {len(names)}: {shown})"
                                + _looks_like_data(names))
        return rows, lines
    rows, lines = [], []
    # lines end at \n only: JSON strings may hold U+2028, U+2029 and U+0085 raw
    # (json.dumps(ensure_ascii=False) writes them so), which str.splitlines splits at
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = _loads(line)
        except json.JSONDecodeError as exc:
            if whole_json and not rows:
                # sent as JSON, and its first line is no object of JSON lines either:
                # say where the document breaks (trial: "JSONL line 1" for a JSON body)
                try:
                    json.loads(text)
                except json.JSONDecodeError as doc:
                    raise BadUpload(f"invalid JSON (line {doc.lineno}, column {doc.colno}: "
                                    f"{_json_msg(doc)}); JSON lines have one object per line"
                                    ) from None
                except (ValueError, RecursionError):
                    pass
            raise BadUpload(f"JSONL line {n}: invalid JSON (column {exc.colno}: "
                            f"{_json_msg(exc)})") from None
        except RecursionError:
            raise BadUpload(f"JSONL line {n}: nested too deeply") from None
        except BadUpload as exc:
            raise BadUpload(f"JSONL line {n}: {exc}") from None
        except ValueError:  # Python reads integers of at most 4,300 digits
            raise BadUpload(f"JSONL line {n}: a number has more than 4,300 digits; "
                            "write it as a string") from None
        if not isinstance(obj, dict):
            raise BadUpload(f"JSONL line {n}: expected an object, got {type(obj).__name__}")
        _no_lone_surrogate(obj, line, f"JSONL line {n}: ")
        rows.append(_flat_at(obj, f"JSONL line {n}"))
        lines.append(n)
    return rows, lines


def _flat_at(row: dict[str, Any], where: str) -> dict[str, Any]:
    """:func:`_flat`, its refusal saying where in the file the row is."""
    try:
        return _flat(row)
    except BadUpload as exc:
        raise BadUpload(f"{where}: {exc}") from None


def _flat(row: dict[str, Any], inside: str | None = None) -> dict[str, Any]:
    """A row with its nested objects spread into dotted columns (WRENCH's
    ``{"data": {"text": ...}}`` -> ``data.text``), as pandas' ``json_normalize``
    names them; lists stay values. A name given twice with two values, as written
    (``"a.b"``) and from a nested object (``"a": {"b": ...}``), is refused: one of
    them was dropped without a word (fault trial).

    >>> _flat({"label": 1, "data": {"text": "hi", "meta": {"n": 2}}, "votes": [0, -1]})
    {'label': 1, 'data.text': 'hi', 'data.meta.n': 2, 'votes': [0, -1]}
    """
    if inside is not None:  # a nested object's field needs a name, as a column does
        blank = next((k for k in row if not k.strip()), None)
        if blank is not None:
            raise BadUpload(f"a field without a name inside {inside!r} ({blank!r}: "
                            f"{_short(row[blank])}); name it, or leave it out of the file")
    if not any(isinstance(v, dict) for v in row.values()):
        return row
    out: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if name in out and out[name] != value:
            raise BadUpload(f"the column {name!r} is given twice with different values, as "
                            "written and from a nested object; rename one of them")
        out.setdefault(name, value)

    for k, v in row.items():
        if isinstance(v, dict) and v:
            for kk, vv in _flat(v, k if inside is None else f"{inside}.{k}").items():
                put(f"{k}.{kk}", vv)
        else:
            put(k, v)
    return out


def _keyed_rows(text: str, text_field: str | None = None) -> list[dict[str, Any]] | None:
    """The rows of one JSON object of objects keyed by id (WRENCH's ``train.json``:
    ``{"0": {"label": 1, "data": {"text": ...}}, ...}``), each with its key as
    ``id`` (``_key`` if the row has an ``id``); None when the text is not such an
    object (then it is read as JSON lines). On one line it must hold several rows
    with the same fields, or several keyed by numbers; else it is one row of JSON
    lines. pandas' ``to_json()`` (an object per column, :func:`_by_row`) is read by
    row, its index as ``id`` where the rows have no ``id`` (``set_index("id")``), else
    left out (the row numbers of ``to_csv``'s index)."""
    try:
        obj = _loads(text)
    except (ValueError, RecursionError):
        return None
    split = _split_rows(obj)
    if split is not None:
        _no_lone_surrogate(obj, text)
        return split
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, dict)
                                                       for v in obj.values()):
        return None
    by_row = _by_row(obj, text_field)
    if by_row is not None:
        obj = by_row
    elif "\n" not in text.strip() and (len(obj) < 2 or (
            len({frozenset(v) for v in obj.values()}) > 1
            and not all(k.strip().isdigit() for k in obj))):
        return None  # one line: a row whose fields are objects ({"data": {...}}), unless
        # it holds several rows alike or is keyed by numbers as WRENCH writes its splits
        # (then a row missing a field is that row's problem, not a reason to read the
        # whole file as one row)
    _no_lone_surrogate(obj, text)
    if by_row is not None:  # pandas' index: the ids if it is all there is, else noise
        return [_flat_at(row if "id" in row else {"id": key, **row}, f"row {key!r}")
                for key, row in obj.items()]
    return [_flat_at({("_key" if "id" in row else "id"): key, **row}, f"row {key!r}")
            for key, row in obj.items()]


def _split_rows(obj: Any) -> list[dict[str, Any]] | None:
    """The rows of pandas' ``to_json(orient="split")`` (``{"columns": [...],
    "index": [...], "data": [[...], ...]}``, ``index`` left out with
    ``index=False``), its index as ``id`` where the rows have no ``id`` (as
    :func:`_by_row`); None for other values (new-user trial: read as one row whose
    fields were columns, index and data).

    >>> _split_rows({"columns": ["text"], "index": [7, 9], "data": [["hi"], ["yo"]]})
    [{'id': 7, 'text': 'hi'}, {'id': 9, 'text': 'yo'}]
    """
    if not isinstance(obj, dict) or set(obj) not in ({"columns", "index", "data"},
                                                     {"columns", "data"}):
        return None
    columns, data = obj["columns"], obj["data"]
    index = obj.get("index", [None] * len(data) if isinstance(data, list) else None)
    if (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
            or not isinstance(data, list) or not isinstance(index, list)
            or len(index) != len(data)
            or not all(isinstance(r, list) and len(r) == len(columns) for r in data)):
        return None
    keep = "id" not in columns and "index" in obj
    return [_flat_at({**({"id": i} if keep else {}), **dict(zip(columns, r, strict=True))},
                     f"item {n}") for n, (i, r) in enumerate(zip(index, data, strict=True),
                                                              start=1)]


def _by_row(obj: dict[str, Any], text_field: str | None = None,
            ) -> dict[str, dict[str, Any]] | None:
    """The rows of pandas' ``DataFrame.to_json()`` as it writes by default
    (``orient="columns"``: an object per column, ``{"text": {"0": "hi", "1":
    "yo"}}``) keyed by row, as WRENCH's splits are; None for other objects. Such a
    column lists the same row numbers as every other (the index) and holds no object;
    the columns are named, not numbered as WRENCH's rows are (new-user trial: its 500
    rows were read as 3 items whose fields were the row numbers). An index of ids
    (``set_index("id")``, ids such as ``sms00001``) is told from rows keyed by id by
    the text field: one of the columns, not a field of the rows (data scientist's
    trial: 5,574 rows read as 3 items of 5,574 fields each), by more rows than a
    row may have fields, or, the text field being no field of the rows either, by
    more rows than columns.

    >>> _by_row({"text": {"a7": "hi", "b9": "yo"}, "label": {"a7": "ham", "b9": None}},
    ...         text_field="text")
    {'a7': {'text': 'hi', 'label': 'ham'}, 'b9': {'text': 'yo', 'label': None}}
    >>> _by_row({"text": {"0": "hi", "1": "yo"}, "label": {"0": "ham", "1": None}})
    {'0': {'text': 'hi', 'label': 'ham'}, '1': {'text': 'yo', 'label': None}}
    >>> _by_row({"0": {"text": "hi"}, "1": {"text": "yo"}}) is None
    True
    """
    columns = list(obj.values())
    index = list(columns[0])
    ids = ((text_field is not None and text_field in obj and text_field not in columns[0])
           or len(index) > MAX_COLUMNS
           # nor a field of rows keyed by id: more rows than columns, as a frame has
           # (new-user trial: on the Data page of a project whose text field is not the
           # file's, 30 rows of text and author were previewed as 2 rows of 30 fields)
           or (text_field not in columns[0] and len(index) > len(obj)))
    if (not index or not (ids or all(k.isascii() and k.strip().isdigit() for k in index))
            or all(k.strip().isdigit() for k in obj)
            or any(c.keys() != columns[0].keys() for c in columns[1:])
            or any(isinstance(v, dict) for c in columns for v in c.values())):
        return None
    return {i: {name: column[i] for name, column in obj.items()} for i in index}


def _shows_nothing(text: str) -> bool:
    r"""Whether ``text`` shows as nothing on the labeling page: markup it reads as
    formatting (``<b></b>``, ``<br>``), ``&nbsp;``, control and invisible characters
    (a zero-width space) only. A new-user trial's such items were stored and shown
    as blank boxes.

    >>> [_shows_nothing(t) for t in ("<b></b>", "&nbsp;", "\u200b", "\x00", "<3", "a")]
    [True, True, True, True, False, False]
    """
    # the first character that shows decides (speed trial: joining a filtered copy
    # of every short text took 1.5 s of a 200,000-row upload)
    return not any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf")
                   for ch in readable(text))


#: What to do about a CSV whose first line is a row of data, not column names.
NO_HEADER = ("the first line of a CSV names its columns, and this one looks like data: "
             "add a line of column names at the top, separated as the rows are (label "
             "and text with a tab between them in a tab-separated file; label,text in a "
             "comma-separated one)")


def _wrapped(rows: list[dict[str, Any]], text_field: str) -> str:
    """A hint when the file was one JSON object holding the items as a list under a
    key (``{"items": [{...}, ...]}``, as many APIs return them): read as one row whose
    field is that list (new-user trial: "text field 'items' must be a string"). Of
    several such lists, the one whose objects hold ``text_field``, else the longest
    (pandas' ``to_json(orient="table")`` lists its columns in ``schema.fields``
    before its rows in ``data``: the hint named the columns' list)."""
    if len(rows) != 1:
        return ""
    lists = [(k, v) for k, v in rows[0].items()
             if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if not lists:
        return ""
    k, v = max(lists, key=lambda kv: (any(text_field in x for x in kv[1]), len(kv[1])))
    return (f"; the file is one object holding a list of {len(v):,} objects in "
            f"{k!r}: upload that list itself (a JSON array of objects, one per "
            "item) or JSON lines")


#: The columns loop's export writes after ``id``, ``text`` and a ``p_<label>`` per
#: class, before the items' own fields (:mod:`loop.service.export` writes these
#: lists); then, with several answers per item, :data:`EXPORT_MULTI`.
EXPORT_OWN = ("label", "gold", "source", "model_label", "annotator", "answered_at",
              "held_out", "random_gold")
EXPORT_MULTI = ("answers", "answers_at", "n_answers", "agreement", "disputed", "resolved_by")


def export_columns(names: list[str]) -> list[str] | None:
    """The columns of loop's own export among a file's column ``names`` (its first
    row's, in order) when the file is one, else None: what the export computed
    (probabilities, the models' label, source, who answered and when...), as against
    the items' text, id and uploaded fields.

    >>> export_columns(["id", "text", "p_ham", "p_spam", *EXPORT_OWN, "field:label"])[:3]
    ['p_ham', 'p_spam', 'label']
    >>> export_columns(["id", "text", "label"]) is None
    True
    """
    if names[:2] != ["id", "text"] or not set(EXPORT_OWN) <= set(names):
        return None
    probs = names[2:names.index("label")]
    if not probs or not all(n.startswith("p_") for n in probs):
        return None
    return probs + list(EXPORT_OWN) + [n for n in names if _multi_column(n)]


def _multi_column(name: str) -> bool:
    """Whether ``name`` is a column of an export with several answers per item
    (:data:`EXPORT_MULTI`; in JSON lines the answers' objects are spread into dotted
    columns, ``answers.<annotator>``, as any object, and differ row by row)."""
    return name in EXPORT_MULTI or name.startswith(("answers.", "answers_at."))


def _field_name(name: str, json_: bool) -> str:
    """An uploaded field's name as it was before loop's export wrote it: in CSV
    ``field:<name>`` where the name is taken or would start a formula, in JSON lines
    (``json_``) inside the object ``fields`` (read as ``fields.<name>``).

    >>> _field_name("field:label", False), _field_name("fields.x", False)
    ('label', 'fields.x')
    >>> _field_name("fields.field:x", True), _field_name("field:x", True)
    ('field:x', 'field:x')
    """
    return name.removeprefix("fields." if json_ else "field:")


def _row_numbers(rows: list[dict[str, Any]]) -> bool:
    """Whether every row's value in the column without a name is a row number, each
    its own (pandas' index, ``0..n-1``, or what a filter or a sort left of it)."""
    values = [r.get("") for r in rows]
    return (all(isinstance(v, str) and v.isascii() and v.isdigit() for v in values)
            and len(set(values)) == len(values))


def _looks_like_data(names: list[str]) -> str:
    """A hint when a CSV's first line, read as column names, looks like a row of data
    (a name longer than any column name: a file without a header line)."""
    return f"; {NO_HEADER}" if any(len(str(c)) > 40 for c in names) else ""


def _json_msg(exc: json.JSONDecodeError) -> str:
    """The decoder's message without its dangling "at" ("Invalid control character
    at": the position is said beside it)."""
    return exc.msg.removesuffix(" at")


def once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object's fields; a field given twice with different values is a
    :class:`BadUpload` (JSON readers keep the last value and drop the other without
    a word; an operator's trial). API bodies are read with it too."""
    out = dict(pairs)
    if len(out) != len(pairs):
        for k, v in pairs:
            if out[k] != v:
                raise BadUpload(f"the field {k!r} is given twice in one object, with "
                                f"different values ({_short(v)} and {_short(out[k])}); "
                                "give it once")
    return out


def _short(v: Any) -> str:
    """A value as JSON, cut to a length an error message can quote."""
    return shorten(json.dumps(v, ensure_ascii=False), 40)


def _loads(text: str) -> Any:
    """``json.loads`` as uploads read JSON: NaN and Infinity as null, no field twice."""
    return json.loads(text, parse_constant=_null, parse_float=_finite,
                      object_pairs_hook=once_each)


def _finite(text: str) -> float | None:
    """A JSON number with a fraction or exponent; null where it is too big for a float
    (security trial: 1e999 was read as inf, stored, and written as Infinity into
    the JSON lines export and the labeling page's item, where NaN and Infinity
    spelled out are read as null)."""
    x = float(text)
    return x if math.isfinite(x) else None


def _null(name: str) -> None:
    """NaN, Infinity and -Infinity (Python's json writes them; JSON has no such
    values): read as null, so that no export holds them (fault trial: NaN stored, then
    written into JSON lines no strict parser reads)."""
    return None


def _json_array(text: str) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The objects of a JSON array (``[{...}, {...}]``) and their numbers."""
    try:
        obj = _loads(text)
    except json.JSONDecodeError as exc:
        # with the column: a file of one line holds every row on it (fault trial)
        raise BadUpload(f"invalid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{_json_msg(exc)})") from None
    except RecursionError:
        raise BadUpload("JSON nested too deeply") from None
    except ValueError:
        raise BadUpload("a number has more than 4,300 digits; write it as a string") from None
    if not isinstance(obj, list):
        raise BadUpload("a JSON file holds an array of objects, one per item, or one "
                        "object per line (JSON lines)")
    for n, row in enumerate(obj, start=1):
        if not isinstance(row, dict):
            raise BadUpload(f"JSON array element {n}: expected an object, got "
                            f"{type(row).__name__}")
    _no_lone_surrogate(obj, text)
    return obj, [None] * len(obj)  # an element's number is the item's


def parse_items(
    data: bytes,
    fmt: str,
    labels: list[str],
    *,
    id_field: str | None = None,
    text_field: str = "text",
    gold_field: str | None = None,
    first_row: int = 0,
    max_bytes: int | None = None,
    max_items: int | None = None,
    drop: Sequence[str] = (),
) -> ParsedUpload:
    """Validate an upload; ``gold_field`` values may be label names or indices.
    ``drop``: columns left out of the items' stored fields (never shown)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(max_bytes)  # len(data) may be a cut: do not quote it
    notes: list[str] = []
    rows, lines = _rows(data, fmt, notes, text_field)
    if not rows:
        raise BadUpload("file has no items")
    if max_items is not None and len(rows) > max_items:
        raise BadUpload(f"file has {len(rows)} items; the limit is {max_items}")
    cols = set(rows[0])
    # an export of loop uploaded again (round-trip trial: its probabilities, the
    # models' label and the rest were kept as fields, shown to annotators, blind
    # projects' included, and the uploaded fields came back as field:<name> or
    # fields.<name>)
    own = export_columns(list(rows[0]))
    # with several answers per item, JSON lines spread each row's answers into dotted
    # columns (answers.<annotator>; answers: {} where none), which differ row by row
    answers = own is not None and "n_answers" in own
    json_ = fmt != "csv" or data.lstrip()[:1] in (b"{", b"[")  # as _all_rows reads it
    if own is not None:
        own = [c for c in own if c not in (text_field, gold_field, id_field)]
        notes.append("the file is an export of loop: its own columns (" + ", ".join(
            c for c in own if "." not in c) + ") are left out, and the uploaded fields "
            "keep their names")
        if gold_field is not None and gold_field != "gold" and "gold" in cols:
            notes.append(f"its known labels are in 'gold', not {gold_field!r} ('label' is "
                         "the models' label where none is known); to carry over only the "
                         "known labels, upload with gold_field=gold")
    if text_field not in cols:
        raise BadUpload(f"no text field {text_field!r}; fields are {sorted(cols)}: pass "
                        "text_field naming the column with the text to label"
                        + (_wrapped(rows, text_field) or _looks_like_data(list(rows[0]))))
    if id_field is not None and id_field not in cols:
        raise BadUpload(f"no id field {id_field!r}; fields are {sorted(cols)}")
    if gold_field is not None and gold_field not in cols:
        raise BadUpload(f"no gold field {gold_field!r}; fields are {sorted(cols)}")
    missing = [c for c in drop if c not in cols]
    if missing:
        raise BadUpload(f"no column {missing[0]!r} to leave out (drop); fields are {sorted(cols)}")
    if text_field in drop:
        raise BadUpload(f"drop names the text column {text_field!r}: the text to label "
                        "cannot be left out")
    for name, other in (("gold_field", gold_field), ("id_field", id_field)):
        if other is not None and other == text_field:  # operator's trial: texts as labels
            raise BadUpload(f"{name} and text_field both name the column {other!r}: "
                            "the text to label and its " + ("known label" if name ==
                                                             "gold_field" else "id") +
                            " are two columns")
    index = {name: i for i, name in enumerate(labels)}
    # "HAM" for "ham": project labels never differ only in case, so this is one label
    folded = {name.casefold(): i for i, name in enumerate(labels)}
    items: list[dict[str, Any]] = []
    #: id -> (where the file has it first, that row)
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    gold: dict[str, int] = {}
    by_index = 0
    #: (id, value, as a class name, as a class index, where) of each gold value
    readings: list[tuple[str, str, int | None, int | None, str]] = []
    problems: list[str] = []
    n_problems = 0

    def bad(msg: str) -> None:
        nonlocal n_problems
        n_problems += 1
        if len(problems) < MAX_ROW_ERRORS:
            problems.append(msg)

    for n, (r, line) in enumerate(zip(rows, lines, strict=True), start=1):
        at_n = f"item {n}" if line is None else f"item {n} (line {line})"  # where the file has it
        if id_field is None:
            iid = str(first_row + n - 1)
        else:
            raw = r.get(id_field)
            if raw is not None and (isinstance(raw, bool) or not isinstance(raw, str | int)):
                bad(f"{at_n}: id field {id_field!r} must be a string or an integer, "
                    f"got {type(raw).__name__}")
                continue
            # surrounding spaces never tell two items apart (a CSV's "1, text")
            iid = "" if raw is None else str(raw).strip()
            if not iid:
                bad(f"{at_n}: empty id field {id_field!r}: give the row an id, or leave "
                    "it out of the file (or upload without id_field: rows numbered)")
                continue
            if len(iid) > MAX_ID_CHARS:  # an id is in every lease, answer and export row
                bad(f"{at_n}: id of {len(iid):,} characters in id field {id_field!r}; "
                    f"at most {MAX_ID_CHARS} (is it the text column?)")
                continue
            odd = hidden_char(iid)
            if odd is not None:
                bad(f"{at_n}: id {iid!r} holds the control or invisible character "
                    f"{odd}; ids are shown in URLs, exports and the labeling page")
                continue
        if iid in seen:
            # new-user trial: "duplicate id 'x'" named neither the other row nor what
            # to do, and real exports repeat whole rows (the UCI YouTube files do)
            where, first = seen[iid]
            if r == first:
                bad(f"{at_n}: duplicate id {iid!r}: the same row as {where}; leave the "
                    "copy out")
            else:
                bad(f"{at_n}: duplicate id {iid!r}, also {where} with other values; an "
                    "id names one item: give one of them another id, or leave one out")
            continue
        seen[iid] = (at_n, r)
        text = r.get(text_field)
        if not isinstance(text, str):
            bad(f"{at_n}: text field {text_field!r} must be a string" + _wrapped(rows, text_field))
            continue
        core = text.strip()
        if not core or (len(core) <= 200 and _shows_nothing(core)):
            # nothing for an expert to read or a rule to match: almost always a
            # broken row (a shifted column, a stray line)
            at = f" (id {iid!r})" if id_field is not None else ""
            bad(f"{at_n}{at}: text field {text_field!r} is empty; fill it or leave the "
                "row out")
            continue
        fields = {k: v for k, v in r.items()
                  if k not in (text_field, gold_field, id_field) and k not in drop}
        if own is not None:
            fields = {_field_name(k, json_): v for k, v in fields.items()
                      if k not in own and not (k == "fields" and v == {})
                      and not (answers and _multi_column(k))}
        items.append({"id": iid, "text": text, "fields": fields})
        if gold_field is not None:
            g = r.get(gold_field)
            if g in (None, ""):
                continue
            gs = str(g).strip()
            as_name = index.get(gs, folded.get(gs.casefold()))
            # "1.0" too: pandas writes a label column with empty cells (NaN) as
            # floats, 0.0 and 1.0 (a user's to_csv was refused, label by label)
            whole = _WHOLE_INDEX.fullmatch(gs)
            as_index = int(whole[1]) if whole and int(whole[1]) < len(labels) else None
            if as_name is not None or as_index is not None:
                readings.append((iid, gs, as_name, as_index, at_n))
            else:
                at = f" (id {iid!r})" if id_field is not None else ""
                # a typo: "Cause-Efect", or two letters swapped: "spma"
                near = [x for x in labels if len(x) == len(gs) and len(x) > 2
                        and sorted(x.casefold()) == sorted(gs.casefold())]
                near = near or difflib.get_close_matches(gs, labels, n=1, cutoff=0.8)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                if not hint and gs in ("-1", "-1.0"):  # Snorkel's and WRENCH's unknown
                    hint = ("; for an item whose label is unknown leave the cell empty "
                            "(or null in JSON): -1 is not read as unknown")
                elif not hint:
                    # new-user trial: "?" and "not sure" in a column of known labels
                    # were refused with nothing said of how to write "unknown"
                    hint = ("; where the label is unknown leave the cell empty (or null in "
                            "JSON)")
                bad(f"{at_n}{at}: gold label {g!r} is not one of {labels}{hint}")
    # One reading for the whole column: every value a class name, else every value a
    # class index from 0 (new-user trial: with classes named "1".."5", a column of 0-4
    # was read value by value, 0 as an index and 1-4 as names, and 0 and 1 both
    # became class "1")
    if readings and all(r[2] is not None for r in readings):
        gold.update((iid, c) for iid, _, c, _, _ in readings if c is not None)
    elif readings and all(r[3] is not None for r in readings):
        gold.update((iid, c) for iid, _, _, c, _ in readings if c is not None)
        by_index = len(readings)
    elif readings:
        only_pos = next(r for r in readings if r[2] is None)
        only_name = next(r for r in readings if r[3] is None)
        bad(f"the gold labels mix class names and class indices: {only_pos[1]!r} "
            f"({only_pos[4]}) can only be a class index (from 0), {only_name[1]!r} "
            f"({only_name[4]}) only a class name of {labels}; write every label "
            "one way")
    if problems:
        raise BadUpload.of_rows(problems, n_problems, "the file")
    if len(items) > 1 and all(_NUMBER.fullmatch(str(i["text"])) for i in items):
        # new-user trial: a file of one id column passed the Data page's check, its
        # ids to be stored as the texts to label
        raise BadUpload(f"every text in the column {text_field!r} is a number: is it the "
                        "text to label? Pass text_field naming the column with the text")
    if not json_ and _looks_like_data(list(cols)):
        # new-user trial: UCI's SMSSpamCollection as it is, no header line: the Data
        # page warned when the file was picked, and its Check then said "All 5573 rows
        # are fine": the first message would be no item, and the "ham" column of labels
        # a field the labeling page shows to annotators
        notes.append(NO_HEADER + " (without one, the first row is no item, and its "
                     "values name the columns)")
    return ParsedUpload(items, gold, by_index, notes)


#: Rows of a file read for a column of label names under another name.
LABEL_COLUMN_ROWS = 20_000


def _numeral(text: str) -> bool:
    """Is ``text`` a number as written ("0", "1", "2.5")?"""
    try:
        float(text)
    except ValueError:
        return False
    return True


def label_columns(rows: Sequence[dict[str, Any]], labels: Sequence[str],
                  skip: Sequence[str] = ()) -> list[tuple[str, int]]:
    """The columns of ``rows`` (but ``skip``) whose values, where there is one, are
    the label names ``labels`` that are not numbers (any case) on 3 rows or more and
    90% of them or more: known labels under a name of the user's own, with how many
    rows have one.

    >>> rows = [{"t": "x", "verdict": v} for v in ["Spam", "ok", "", "OK"]]
    >>> label_columns(rows, ["OK", "Spam"])
    [('verdict', 3)]
    """
    # labels named "0" / "1": a column of 0/1 is as likely a flag of the user's own
    # ("verified"); those are pointed out only by their column's name
    names = {x.casefold() for x in labels if not _numeral(x)}
    if not names:
        return []
    seen: dict[str, list[int]] = {}  # column -> [rows with a value, of them label names]
    for row in rows:
        for c, v in row.items():
            if c in skip or v is None or (isinstance(v, str) and not v.strip()):
                continue
            n = seen.setdefault(c, [0, 0])
            n[0] += 1
            n[1] += isinstance(v, str) and v.strip().casefold() in names
    return [(c, hits) for c, (filled, hits) in seen.items()
            if hits >= 3 and hits >= 0.9 * filled]


def preview(data: bytes, fmt: str, n: int = 5, labels: Sequence[str] = (),
            text_field: str | None = None) -> dict[str, Any]:
    """The columns and first ``n`` rows of a file, for picking the id, text and gold
    columns before an upload (no validation of the rows); with the project's
    ``labels``, ``label_columns``: the columns that hold those names
    (:func:`label_columns`), its known labels under a name of the user's own;
    ``text_field``, the project's, tells pandas' columns from rows (:func:`_by_row`)."""
    rows, _ = _rows(data, fmt, text_field=text_field)
    cols: list[str] = []
    for r in rows[:50]:
        cols += [c for c in r if c not in cols]
    out: dict[str, Any] = {"columns": cols, "rows": [{c: r.get(c) for c in cols}
                                                     for r in rows[:n]],
                           "n_rows": len(rows),
                           # rows with a value per column: a label column filled on every
                           # row would leave nothing to label (trial: WRENCH's train.json)
                           "filled": {c: sum(r.get(c) not in (None, "") for r in rows)
                                      for c in cols}}
    if data.lstrip()[:1] not in (b"{", b"[") and _looks_like_data(cols):
        out["warning"] = NO_HEADER[0].upper() + NO_HEADER[1:] + "."
    if labels:  # new-user trial: "known_label" was not offered, and imported as a field
        out["label_columns"] = [c for c, _ in label_columns(rows[:LABEL_COLUMN_ROWS], labels)]
    own = export_columns(list(rows[0])) if rows else None
    if own is not None:  # an export of loop: the columns the import leaves out
        out["export_columns"] = own
    return out
