"""Labeling functions: small Python functions that vote a class or abstain."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import io
import sys
import textwrap
import tokenize
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ABSTAIN = -1


class Record(dict):  # type: ignore[type-arg]
    """A data point: a dict whose keys can also be read as attributes.

    LFs may write ``x.text`` or ``x["text"]`` for the same field, whether the
    records came from dicts, JSON lines or a pandas DataFrame. Nested objects of an
    upload are stored as dotted fields (``data.entity1``); ``x.data`` is then a
    record of those, so ``x.data.entity1`` reads as the JSON was written. Records
    still nested (WRENCH's rows as ``json.load`` reads them, in the library) read
    the same way: ``x.data.entity1`` and ``x["data.entity1"]``, so one LF module
    votes alike in the library and in the service.

    >>> Record(text="hi").text
    'hi'
    >>> Record({"data.entity1": "canons", "text": "..."}).data.entity1
    'canons'
    >>> r = Record({"data": {"entity1": "canons"}})
    >>> r.data.entity1, r["data.entity1"]
    ('canons', 'canons')
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and numpy probe for these
            raise AttributeError(name)
        try:
            value = self[name]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None
        if type(value) is dict:
            # a nested object: x.data.entity1 (it was a plain dict, whose .entity1
            # failed on every record, so an LF module written for the service
            # abstained here); kept in the record, so that x.data is x.data and a
            # preprocessor's x.data["k"] = v is seen by the LF after it
            value = Record(value)
            self[name] = value
        return value

    def __missing__(self, name: Any) -> Any:
        if isinstance(name, str):
            prefix = name + "."
            inner = {k[len(prefix):]: v for k, v in self.items()
                     if isinstance(k, str) and k.startswith(prefix)}
            if inner:  # "data" of "data.entity1", "data.entity2"
                return Record(inner)
            head, dot, rest = name.partition(".")
            if dot and isinstance(self.get(head), dict):  # "data.entity1" of nested data
                try:
                    return Record(self[head])[rest]
                except KeyError:
                    pass  # named as a field of this record, below
        fields = ", ".join(repr(k) for k in list(self)[:20]) or "none"
        near = [k for k in self if isinstance(k, str) and k.endswith(f".{name}")][:3]
        hint = "".join(f"; did you mean x[{k!r}]{_as_attributes(k)}?" for k in near)
        raise KeyError(f"no field {name!r} in this record; its fields: {fields}{hint}")


def _as_attributes(field: str) -> str:
    """`` or x.data.entity1`` for ``data.entity1`` when each part is a name."""
    return f" or x.{field}" if all(p.isidentifier() for p in field.split(".")) else ""


def _lookup(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _import_lf(module: str, qualname: str) -> Any:
    """The LF a module's top level names ``qualname`` (see ``__reduce_ex__``)."""
    return _lookup(importlib.import_module(module), qualname)


class LabelingFunction:
    """A named function from one record to a class id or ``ABSTAIN``.

    Parameters
    ----------
    name
        Unique name, shown in LF analysis and error reports.
    f
        ``f(x, **resources) -> int``.
    resources
        Keyword arguments passed to ``f`` on every call (lexicons, models).
    pre
        Preprocessors applied to the record, in order, before ``f`` sees it.
        Each takes a record and returns a record.
    batch
        ``batch(records, shared) -> (n,) int votes``: the same votes as calling the
        LF on each record, for all of them at once (a rule scans every text in one
        pass; uploaded votes are read as columns). :func:`~loop.core.apply.apply_lfs`
        uses it where given; ``shared`` is a dict the LFs of one call share (the
        texts prepared once for every rule).
    """

    def __init__(
        self,
        name: str,
        f: Callable[..., int],
        resources: Mapping[str, Any] | None = None,
        pre: Sequence[Callable[[Any], Any]] | None = None,
        batch: Callable[[Sequence[Any], dict[Any, Any]], Any] | None = None,
    ) -> None:
        if not name:
            raise ValueError("name must be a non-empty string")
        self.name = name
        self.f = f
        self.resources = dict(resources or {})
        self.pre = list(pre or [])
        self.batch = batch

    def __call__(self, x: Any) -> int:
        for p in self.pre:
            x = p(x)
        return self.f(x, **self.resources)

    def __repr__(self) -> str:
        return f"LabelingFunction({self.name!r})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        """An LF made by ``@labeling_function()`` at a module's top level pickles as
        that module's name for it, as a plain function does: by value it failed
        ("Can't pickle <function has_link>: it's not the same object as
        lfs.has_link", the decorator having put the LF in the function's place), so
        ``pickle.dumps(lfs)``, ``joblib.dump`` and a process pool's workers could not
        take them. Any other LF pickles by value."""
        module = sys.modules.get(getattr(self.f, "__module__", None) or "")
        qualname = getattr(self.f, "__qualname__", "")
        if module is not None and "<" not in qualname and _lookup(module, qualname) is self:
            return _import_lf, (module.__name__, qualname)
        return super().__reduce_ex__(protocol)

    def fingerprint(self) -> str:
        """A hash of what decides this LF's votes: its name, the source (or, where
        there is none, the bytecode) of its function and preprocessors, the rest of
        the module that defines its function (constants and helpers decide its
        votes too: an operator's trial edited a module-level regex and no LF was
        applied again; the other LFs' definitions are left out, so editing one LF
        changes only its fingerprint), and its resources. Two applies with equal
        fingerprints vote the same, so only LFs whose fingerprint changed need to
        run again. (An edit to another module that this one imports is not seen.)

        >>> def vote(x):
        ...     return 1
        >>> LabelingFunction("a", vote).fingerprint() == LabelingFunction("a", vote).fingerprint()
        True
        >>> LabelingFunction("a", vote).fingerprint() == LabelingFunction("b", vote).fingerprint()
        False
        """
        h = hashlib.sha256(self.name.encode())
        for fn in (self.f, *self.pre):
            h.update(_code_text(fn).encode())
        h.update(_module_text(self.f).encode())
        h.update(repr(sorted(self.resources.items(), key=lambda kv: kv[0])).encode())
        return h.hexdigest()[:16]


def _tokens(source: str) -> str:
    """``source`` as its Python tokens, without comments and blank lines (editing a
    comment changes no vote, and recomputed every column of a big project); the
    text as it is where it does not tokenize."""
    skip = (tokenize.COMMENT, tokenize.NL)
    try:
        toks = tokenize.generate_tokens(io.StringIO(textwrap.dedent(source)).readline)
        return "\x00".join(f"{t.type}:{t.string}" for t in toks if t.type not in skip)
    except (tokenize.TokenError, SyntaxError):
        return source


def _code_text(fn: Any) -> str:
    """The source of ``fn`` (as tokens, :func:`_tokens`) if Python can find it,
    else its bytecode and constants."""
    try:
        return _tokens(inspect.getsource(fn))
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return repr(fn)
        return code.co_code.hex() + repr(code.co_consts) + repr(code.co_names)


def _module_text(fn: Any) -> str:
    """The source of the module that defines ``fn`` without the definitions of its
    labeling functions ("" where Python has none: a function typed into a shell):
    what they share, constants and helpers. Editing one LF changes its own
    fingerprint only; editing what they share changes them all."""
    module = inspect.getmodule(fn)
    return "" if module is None else _shared_text(module)


@functools.lru_cache(maxsize=64)
def _shared_text(module: Any) -> str:
    """:func:`_module_text` of one module object, read once: every LF of a module
    shares it (200 LFs took 2.8 s to fingerprint, reading it for each), and the
    LFs in memory are those of the source as it was when first read."""
    try:
        lines = inspect.getsourcelines(module)[0]
    except (OSError, TypeError):
        return ""
    drop: set[int] = set()
    for value in list(vars(module).values()):
        f = value.f if isinstance(value, LabelingFunction) else None
        if f is None or inspect.getmodule(f) is not module:
            continue
        try:
            src, start = inspect.getsourcelines(f)  # from its decorator on
        except (OSError, TypeError):
            continue
        drop.update(range(max(start, 1) - 1, max(start, 1) - 1 + len(src)))
    return _tokens("".join(line for i, line in enumerate(lines) if i not in drop))


def labeling_function(
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Callable[[Any], Any]] | None = None,
) -> Callable[[Callable[..., int]], LabelingFunction]:
    """Decorator that turns a function into a :class:`LabelingFunction`.

    >>> @labeling_function()
    ... def has_link(x):
    ...     return 1 if "http" in x.text else ABSTAIN
    >>> has_link(Record(text="see http://x.y")), has_link.name
    (1, 'has_link')
    """
    if callable(name):
        raise TypeError("use @labeling_function() with parentheses")

    def decorator(f: Callable[..., int]) -> LabelingFunction:
        return LabelingFunction(name or f.__name__, f, resources=resources, pre=pre)

    return decorator
