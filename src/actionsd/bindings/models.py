"""Schemas of the bindings endpoints (contract §5.6, §5.7)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from actionsd.actions.models import (
    ActionBaseOut,
    CurrentVersionOut,
    SecretIn,
    StrictModel,
    VersionOut,
)


class BindingRefIn(BaseModel):
    # Auth0's ActionBindingRef accepts extra members.
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["binding_id", "action_id", "action_name"] = "action_name"
    value: Annotated[str, Field(min_length=1, max_length=255)]


class BindingItemIn(StrictModel):
    ref: BindingRefIn
    display_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    secrets: Annotated[list[SecretIn], Field(max_length=30)] | None = None


class UpdateBindingsIn(StrictModel):
    # The 20-binding limit is configurable, so the service checks it (the body size
    # limit bounds the list before it is parsed).
    bindings: list[BindingItemIn] = []


class BoundActionOut(ActionBaseOut):
    current_version: CurrentVersionOut | None = None
    deployed_version: VersionOut | None = None


class BindingOut(BaseModel):
    id: str
    trigger_id: str
    action: BoundActionOut
    created_at: str
    updated_at: str
    display_name: str


class BindingListOut(BaseModel):
    bindings: list[BindingOut]
    total: int | None = None
    page: int | None = None
    per_page: int | None = None


class UpdatedBindingsOut(BaseModel):
    bindings: list[BindingOut]
