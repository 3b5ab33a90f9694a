"""Domain errors.

Every failure the service can report is one of these classes. Each carries a stable
``code`` (our own, for logs and tests) and the HTTP status it maps to; the single place
that turns them into Auth0-style bodies is :mod:`actionsd.api.errors` (429 and 413 are
answered by their middlewares, 404/405 for unknown routes by the framework, all with
the same body builder).

``error_code`` is Auth0's optional ``errorCode`` member. Auth0's Actions service leaves it
out of its own business errors ("That action does not exist.") and its API gateway adds it
to validation, scope and rate-limit errors; the subclasses follow that split.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    error_code: ClassVar[str | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidBody(DomainError):
    """The request body failed validation (Auth0 gateway: ``invalid_body``)."""

    code = "invalid_body"
    error_code = "invalid_body"


class InvalidQuery(DomainError):
    code = "invalid_query_string"
    error_code = "invalid_query_string"


class InvalidUri(DomainError):
    code = "invalid_uri"
    error_code = "invalid_uri"


class MalformedJson(DomainError):
    """The body is not JSON at all (hapi's wording, no errorCode)."""

    code = "malformed_json"


class UnsupportedMediaType(DomainError):
    """A body in a format the API does not read (hapi's 415, no errorCode)."""

    status = 415
    code = "unsupported_media_type"


class BusinessRule(DomainError):
    """A valid request that the Actions service refuses (400, no errorCode)."""

    code = "business_rule"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "insufficient_scope"
    error_code = "insufficient_scope"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"


# Texts Auth0 returns verbatim (see docs/compatibility.md for sources).
ACTION_NOT_FOUND = "That action does not exist."
VERSION_NOT_FOUND = "The action version does not exist."
EXECUTION_NOT_FOUND = "That execution does not exist."
ACTION_BOUND = "Unable to delete an action bound to a trigger."
DRAFT_NOT_BUILT = "A draft must be in the 'built' state before it can be deployed."
BINDING_NOT_DEPLOYED = "Trying to create a binding for an action that has not been deployed yet"
BINDING_INCOMPATIBLE = "Trying to create a binding between an incompatible action and trigger."
TRIGGER_UPGRADE = "can't upgrade to this trigger."
RUNTIME_UNSUPPORTED = "runtime is not supported"
RATE_LIMITED = "Global limit has been reached"
