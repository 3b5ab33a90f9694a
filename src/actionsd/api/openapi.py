"""The OpenAPI document, made to say what the server really answers: Auth0's error body
for every failure status, and no 422 (validation failures are Auth0's 400s)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["statusCode", "error", "message"],
    "properties": {
        "statusCode": {"type": "integer"},
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errorCode": {"type": "string"},
    },
    "description": "Auth0's error body.",
}
ERRORS = {
    "400": "Invalid request (body, query or path), or a rule of the Actions service refused it.",
    "401": "Missing or invalid bearer token.",
    "403": "The token lacks the scope this operation needs.",
    "404": "Not found.",
    "405": "Method not allowed on this path.",
    "409": "Conflict with the current state.",
    "412": "Precondition failed (If-Match, modules in use or at their limit).",
    "413": "Request body too large.",
    "429": "Too many requests; see the x-ratelimit-* headers.",
    "503": "The database is unavailable; retry.",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            spec["components"]["schemas"].pop(name, None)
        spec["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in spec["paths"].items():
            api = path.startswith(("/api/v2/", "/actionsd/"))
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                if not api:
                    continue
                operation["security"] = [{"bearerAuth": []}]
                for status, text in ERRORS.items():
                    responses.setdefault(status, {"description": text, "content": error_ref})
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
