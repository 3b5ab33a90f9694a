"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from actionsd.api.deps import State

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=HealthOut, operation_id="actionsd_healthz")
async def healthz() -> Any:
    """The process is up and serving (it says nothing of the database)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=HealthOut,
    operation_id="actionsd_readyz",
    responses={503: {"model": HealthOut, "description": "A dependency is down"}},
)
def readyz(state: State) -> Any:
    """Ready to serve: the database answers and the action workers are alive."""
    checks: dict[str, str] = {}
    try:
        with state.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", with its reason
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if state.runtime is not None:
        alive = state.runtime.pool.alive_count()
        checks["runtime"] = "ok" if alive > 0 else "no live action worker"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return body if ready else JSONResponse(body, status_code=503)
