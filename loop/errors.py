"""Domain errors. The web layer maps each to an HTTP status (``status``)."""

from __future__ import annotations


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out: an error
    that quotes what a client sent must not grow with it."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class LoopError(Exception):
    """Base of every error ``loop`` raises on purpose. ``code``: a name a client can
    act on (in the error's JSON body), where the status alone does not say enough."""

    status = 400
    code: str | None = None


class BadRequest(LoopError):
    """A request or argument is malformed."""


class LFModuleNotOnWorker(BadRequest):
    """The worker running a job cannot import the project's LF module, or has
    another version of it than the worker that planned the apply run: a fault of
    that worker's machine, not of the module. The job goes to another worker
    (:func:`loop.service.tasks.try_elsewhere`) and fails once every live worker has
    missed it."""


class LFModulesDiffer(BadRequest):
    """The machines that run workers have different versions of a project's LF
    module: an apply run fails at once rather than publish one machine's version
    (never retried: it needs the operator)."""


class BadUpload(BadRequest):
    """An uploaded file is malformed, too large, or inconsistent. ``errors`` lists
    the problems found row by row (at most :data:`MAX_ROW_ERRORS`); ``summary``
    says what they add up to, without the first of them (the message has both)."""

    def __init__(self, message: str, errors: list[str] | None = None,
                 summary: str | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])
        self.summary = summary

    @classmethod
    def of_rows(cls, problems: list[str], count: int, where: str) -> BadUpload:
        """The refusal of a file with ``count`` row problems, the first ``problems``
        of them listed, found in ``where`` ("the file", "the column 'x'")."""
        more = "" if count <= len(problems) else f" (first {len(problems)} shown)"
        summary = (f"{count} problem{'s' if count != 1 else ''} in {where}{more}, "
                   "nothing was stored")
        return cls(f"{problems[0]}; {summary}", problems, summary)


#: Row problems an upload reports at most.
MAX_ROW_ERRORS = 20


class TooLarge(LoopError):
    """A body or file over the size limit."""

    status = 413

    def __init__(self, limit: int, upload: bool = True) -> None:
        what = "the file" if upload else "the request body"
        advice = ("split it into smaller files" if upload else "an API request other than "
                  "an upload is a few kilobytes at most: check what the client sends")
        setting = " (LOOP_MAX_UPLOAD_BYTES)" if upload else ""
        super().__init__(f"{what} is over the limit of {limit:,} bytes{setting}; {advice}")


class UnknownLabel(BadRequest):
    """A label name or index outside the project's label space."""


class TooManyRequests(LoopError):
    """Too many requests at once (refused tokens from one client address, rule
    previews in one web process): try again in ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(LoopError):
    status = 404


class ProjectNotFound(NotFound):
    """No project with that id."""


class ItemNotFound(NotFound):
    """No item with that id in the project."""


class JobNotFound(NotFound):
    """No job with that id."""


class Conflict(LoopError):
    status = 409


class RuleChanged(Conflict):
    """A rule's stored record changed between the read of an edit and its write."""

    code = "rule_changed"


class SuggestionIsRule(Conflict):
    """A suggestion rejected after it was accepted: it is the rule ``rule`` now."""

    code = "suggestion_is_rule"

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class OldProject(Conflict):
    """A project an old version of ``loop`` made, whose stored data this one cannot
    read (not migrated)."""

    code = "old_project"


class DuplicateUpload(Conflict):
    """A file whose items are all in the project already (the same rows, or the
    same texts): uploaded twice by mistake, most likely."""

    code = "duplicate_upload"

    def __init__(self, message: str, ids_stored: bool = False) -> None:
        super().__init__(message)
        #: its ids are stored already: ``allow_duplicate`` cannot import it either
        self.ids_stored = ids_stored


class RequestInProgress(Conflict):
    """A request sent with an ``Idempotency-Key`` whose first send is still being
    answered: try again in ``retry_after`` seconds."""

    code = "request_in_progress"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UploadCollided(Conflict):
    """Another upload to the project was written while this one was: nothing of
    this one was stored; send it again (``retry_after`` seconds)."""

    code = "upload_collided"
    retry_after = 1


class IdempotencyKeyReused(LoopError):
    """An ``Idempotency-Key`` sent before with another request (another path, query
    or body)."""

    status = 422
    code = "idempotency_key_reused"


class TokenExists(Conflict):
    """An annotator added with ``replace: false`` has a working token: adding the
    name again would revoke it."""

    code = "token_exists"


class LeaseConflict(Conflict):
    """The lease is unknown, expired, or held by someone else."""


class AlreadyAnswered(Conflict):
    """This annotator already answered the item with another label (``label``, a
    class index); the answer is changed by a relabel, not a second answer."""

    code = "already_answered"

    def __init__(self, message: str, label: int) -> None:
        super().__init__(message)
        self.label = label


class AnswersChanged(Conflict):
    """An item settled with ``if_answers`` whose answers are others now (a tie
    broken, an answer undone or changed since the admin read them)."""

    code = "answers_changed"


class NotReady(Conflict):
    """A step ran before the one it needs (e.g. fit before applying LFs)."""


class LFRunSuperseded(NotReady):
    """Another apply-LFs run published ``L`` while this one ran (its merge would
    overwrite newer columns); the worker plans a new run if LFs are still missing."""


class WorkHorseDied(LoopError):
    """The process running a job died under it (killed, out of memory): the job
    could not record its own failure, so its worker records this one."""


class LFTimeout(LoopError):
    """An LF ran past the time limit of its apply-LFs chunk (never retried)."""

    status = 500


class Unauthorized(LoopError):
    """Missing or invalid credentials."""

    status = 401


class Forbidden(LoopError):
    """Valid credentials without the right to do this."""

    status = 403


__all__ = [
    "BadRequest",
    "BadUpload",
    "Conflict",
    "Forbidden",
    "ItemNotFound",
    "JobNotFound",
    "LeaseConflict",
    "LFTimeout",
    "LoopError",
    "NotFound",
    "NotReady",
    "ProjectNotFound",
    "Unauthorized",
    "UnknownLabel",
]
