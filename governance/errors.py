"""Domain errors: each carries a message a person can act on.

The portal shows ``message`` (next to ``field`` when there is one); the API answers with
``http_status`` and ``code`` in a Graph-style error body.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domainError"
    http_status = 409

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """The object does not exist *or the actor may not see it* (never leak which)."""

    code = "notFound"
    http_status = 404


class NotRequestable(NotFound):
    """A package's link opened by someone no policy allows, where the package is no secret
    (not Hidden, in a catalog they could browse): the portal may say why, in plain words.
    Anywhere else it is the 404 it derives from."""

    def __init__(self, message: str, *, package: Any, **details: Any) -> None:
        super().__init__(message, **details)
        self.package = package


class ValidationFailed(DomainError):
    """Bad input: a form error, or a 400 in the API."""

    code = "invalidRequest"
    http_status = 400


class InvalidTransition(DomainError):
    """The object is in a state where this change is not allowed."""

    code = "invalidState"
    http_status = 409


class AlreadyDecided(InvalidTransition):
    code = "alreadyDecided"


class DecisionTooLate(InvalidTransition):
    """The approval stage's time ran out; the beat job will cancel the request (rule 4)."""

    code = "approvalTimedOut"


class DuplicateRequest(DomainError):
    code = "duplicateRequest"
    http_status = 409


class NotAllowed(DomainError):
    """The actor may see the object but not take this action on it."""

    code = "forbidden"
    http_status = 403


class NotResourceOwner(DomainError):
    """Rule 17: the actor manages the catalog but may not add this resource to it. Unlike
    :class:`NotAllowed`, the portal says so on the page: the catalog is theirs to see."""

    code = "forbidden"
    http_status = 403


class StillInUse(DomainError):
    code = "stillInUse"
    http_status = 409


class NotSupported(DomainError):
    """A Graph feature this server does not have (yet): refused by name, never dropped."""

    code = "notSupported"
    http_status = 400


class IncompatibleAccess(DomainError):
    """Rule 13: the person has, has requested, or belongs to something the package cannot
    be combined with; the message names it."""

    code = "incompatibleAccess"
    http_status = 409
