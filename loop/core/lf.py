"""Labeling functions: small Python functions that vote a class or abstain."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

ABSTAIN = -1


class Record(dict):  # type: ignore[type-arg]
    """A data point: a dict whose keys can also be read as attributes.

    LFs may write ``x.text`` or ``x["text"]`` for the same field, whether the
    records came from dicts, JSON lines or a pandas DataFrame.

    >>> Record(text="hi").text
    'hi'
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


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
    """

    def __init__(
        self,
        name: str,
        f: Callable[..., int],
        resources: Mapping[str, Any] | None = None,
        pre: Sequence[Callable[[Any], Any]] | None = None,
    ) -> None:
        if not name:
            raise ValueError("name must be a non-empty string")
        self.name = name
        self.f = f
        self.resources = dict(resources or {})
        self.pre = list(pre or [])

    def __call__(self, x: Any) -> int:
        for p in self.pre:
            x = p(x)
        return self.f(x, **self.resources)

    def __repr__(self) -> str:
        return f"LabelingFunction({self.name!r})"


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
