"""Request bodies of the Management API in the two formats Auth0's spec lists for every
write: JSON, and ``application/x-www-form-urlencoded``.

A form body is read as Auth0's gateway (hapi) reads one: flat ``name=value`` pairs, every
value a string, a repeated name a list of strings. It is handed on as the equivalent
JSON, so the same schema validates it with the same messages: ``name=x&code=y`` edits an
action, while members that are objects or arrays (``supported_triggers``, ``bindings``)
cannot be written as a form and are refused for their type. Two mistakes get an answer
of their own: a JSON document sent as a form (curl's ``-d`` without a content type), and
a body in any other format (415)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actionsd import errors
from actionsd.api.errors import error_response

FORM = "application/x-www-form-urlencoded"
PREFIX = "/api/v2/"
WRITES = ("POST", "PATCH", "PUT")


def media_type(value: str | None) -> str | None:
    return value.split(";", 1)[0].strip().lower() if value is not None else None


def is_json(kind: str | None) -> bool:
    return kind is None or kind == "application/json" or kind.endswith("+json")


def form_to_json(body: bytes) -> bytes:
    """The JSON object a form body stands for; raises the error a client should see."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise errors.MalformedJson("Invalid request payload form format") from None
    if text.lstrip()[:1] in ("{", "["):
        raise errors.InvalidBody(
            "Payload validation error: 'The body is JSON but its Content-Type is "
            f"{FORM}: send it with Content-Type: application/json'."
        )
    fields: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        held = fields.get(name)
        if held is None:
            fields[name] = value
        elif isinstance(held, list):
            held.append(value)
        else:
            fields[name] = [held, value]
    return json.dumps(fields).encode()


class FormBodyMiddleware:
    """Turns form bodies of ``/api/v2`` writes into JSON and refuses other formats;
    JSON bodies (or none) pass untouched. Sits inside the body size limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITES
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        kind = media_type(
            next((v.decode("latin-1") for k, v in headers if k == b"content-type"), None)
        )
        if is_json(kind):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        try:
            if kind == FORM:
                body = form_to_json(body)
            elif body:
                raise errors.UnsupportedMediaType(
                    f"Unsupported Media Type: {kind}. Send the body as application/json "
                    f"(or {FORM})."
                )
        except errors.DomainError as exc:
            await error_response(exc)(scope, receive, send)
            return
        replaced = [(k, v) for k, v in headers if k not in (b"content-type", b"content-length")]
        replaced += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": replaced}, replay, send)


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
