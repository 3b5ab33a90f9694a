"""The one place where failures become HTTP responses, in Auth0's body format:
``{"statusCode", "error", "message", "errorCode"?}``."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from actionsd import errors, jsontext

log = logging.getLogger("actionsd")

MALFORMED_JSON = "Invalid request payload JSON format"
FASTAPI_PARSE_ERROR = "There was an error parsing the body"
# Offending values are quoted in messages, but never more than this much of them.
QUOTE_LIMIT = 64


JSON = "application/json; charset=utf-8"  # the content type Auth0 sends


def json_body(value: Any) -> bytes:
    """``value`` as the compact UTF-8 JSON a response model would have rendered."""
    return jsontext.dumps(value)


class Auth0JSONResponse(JSONResponse):
    """JSON with the content type Auth0 sends."""

    media_type = JSON


# Reason phrases as hapi (and so Auth0) writes them, whatever Python's version calls them.
PHRASES = {413: "Request Entity Too Large", 422: "Unprocessable Entity"}


def body_for(status: int, message: str, error_code: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statusCode": status,
        "error": PHRASES.get(status) or HTTPStatus(status).phrase,
        "message": message,
    }
    if error_code:
        body["errorCode"] = error_code
    return body


def response_for(err: errors.DomainError, headers: dict[str, str] | None = None) -> JSONResponse:
    return Auth0JSONResponse(
        body_for(err.status, err.message, err.error_code), status_code=err.status, headers=headers
    )


def error_response(exc: Exception) -> JSONResponse:
    """The Auth0-style answer to any failure of a request; ``install`` routes every
    exception here."""
    if isinstance(exc, errors.DomainError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return response_for(exc, headers)
    if isinstance(exc, RequestValidationError):
        return response_for(translate(exc.errors()))
    if isinstance(exc, StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 400 and message == FASTAPI_PARSE_ERROR:
            # Undecodable bytes, nesting too deep for the parser: hapi's one wording.
            return response_for(errors.MalformedJson(MALFORMED_JSON))
        return Auth0JSONResponse(
            body_for(exc.status_code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
    # A lost connection, a disk error, a lock not had in time.
    if isinstance(exc, OperationalError):
        log.error("database unavailable: %s", getattr(exc, "orig", None) or exc)
        return response_for(errors.ServiceUnavailable("The database is unavailable; try again."))
    log.exception("unhandled error", exc_info=exc)
    return Auth0JSONResponse(body_for(500, "An internal server error occurred"), status_code=500)


# The specific kinds are answered inside the middlewares (Starlette's exception layer);
# ``Exception`` is Starlette's last resort, answered by its outermost layer.
HANDLED = (
    errors.DomainError,
    RequestValidationError,
    StarletteHTTPException,
    OperationalError,
    Exception,
)


def install(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    for kind in HANDLED:
        app.add_exception_handler(kind, handle)


# ---- request validation errors, worded as Auth0's gateway words them ----------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_EXPECTED = {
    "string_type": "string",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "float_parsing": "number",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT] + "…"


def _detail(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    name = str(err["loc"][-1]) if err["loc"] else ""
    if kind == "missing":
        return f"Missing required property: {name}"
    if kind == "extra_forbidden":
        return f"Additional properties not allowed: {name}"
    if kind in _EXPECTED:
        return f"Expected type {_EXPECTED[kind]} but found type {_json_type(value)}"
    if kind in ("literal_error", "enum"):
        return f"No enum match for: {_quote(json.dumps(value, default=str))}"
    if kind == "string_too_short":
        return f"String is too short ({len(str(value))} chars), minimum {ctx.get('min_length')}"
    if kind == "string_too_long":
        return f"String is too long ({len(str(value))} chars), maximum {ctx.get('max_length')}"
    if kind == "too_short":
        return f"Array is too short ({ctx.get('actual_length')}), minimum {ctx.get('min_length')}"
    if kind == "too_long":
        return f"Array is too long ({ctx.get('actual_length')}), maximum {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"String does not match pattern {ctx.get('pattern')}: {_quote(value)}"
    if kind == "greater_than_equal":
        return f"Value {_quote(value)} is less than minimum {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"Value {_quote(value)} is greater than maximum {ctx.get('le')}"
    return str(err.get("msg", "invalid value"))


def _property(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def translate(errs: Any) -> errors.DomainError:
    """The first validation error as Auth0 reports it (it reports one at a time)."""
    err = dict(errs[0])
    if err["type"] in ("json_invalid", "json_type"):
        return errors.MalformedJson(MALFORMED_JSON)
    source, *rest = err["loc"]
    path = tuple(p for p in rest if not (isinstance(p, str) and "[" in p))
    detail = _detail(err)
    if source == "body":
        if err["type"] in ("missing", "extra_forbidden"):
            path = path[:-1]  # reported on the object that lacks or has the member
        where = f" on property {_property(path)}" if path else ""
        if not rest and err["type"] == "missing":
            detail = "Expected type object but found type null"
        return errors.InvalidBody(f"Payload validation error: '{detail}'{where}.")
    name = _property(path)
    if source == "path":
        return errors.InvalidUri(f"Path validation error: '{detail}' on property {name}.")
    return errors.InvalidQuery(f"Query validation error: '{detail}' on property {name}.")
