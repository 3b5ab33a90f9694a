"""Schemas of the Actions Modules endpoints (Auth0 Early Access)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from actionsd.actions.models import PackageName, PackageVersion, StrictModel

NoNul = Field(pattern=r"^[^\x00]*$")


class ModuleSecretIn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
    value: Annotated[str, Field(max_length=4096, pattern=r"^[^\x00]*$")]


class ModuleDependencyIn(StrictModel):
    name: PackageName
    version: PackageVersion


class CreateModuleIn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
    code: Annotated[str, Field(max_length=65536, pattern=r"^[^\x00]*$")]
    secrets: Annotated[list[ModuleSecretIn], Field(max_length=30)] = []
    dependencies: Annotated[list[ModuleDependencyIn], Field(max_length=10)] = []
    api_version: Annotated[str, Field(max_length=20)] | None = None
    publish: bool = False


class UpdateModuleIn(StrictModel):
    code: Annotated[str, Field(max_length=65536, pattern=r"^[^\x00]*$")] | None = None
    secrets: Annotated[list[ModuleSecretIn], Field(max_length=30)] | None = None
    dependencies: Annotated[list[ModuleDependencyIn], Field(max_length=10)] | None = None


class RollbackModuleIn(StrictModel):
    module_version_id: Annotated[str, Field(min_length=1)]


class ModuleSecretOut(BaseModel):
    name: str
    updated_at: str


class ModuleDependencyOut(BaseModel):
    name: str
    version: str


class ModuleVersionRefOut(BaseModel):
    id: str
    version_number: int
    code: str
    dependencies: list[ModuleDependencyOut]
    secrets: list[ModuleSecretOut]
    created_at: str | None = None


class ModuleListItemOut(BaseModel):
    id: str
    name: str
    code: str
    dependencies: list[ModuleDependencyOut]
    secrets: list[ModuleSecretOut]
    actions_using_module_total: int
    all_changes_published: bool
    latest_version_number: int | None = None
    created_at: str
    updated_at: str


class ModuleOut(ModuleListItemOut):
    latest_version: ModuleVersionRefOut | None = None


class ModuleListOut(BaseModel):
    modules: list[ModuleListItemOut]
    total: int
    page: int
    per_page: int


class ModuleVersionOut(BaseModel):
    id: str
    module_id: str
    version_number: int
    code: str
    secrets: list[ModuleSecretOut]
    dependencies: list[ModuleDependencyOut]
    created_at: str


class ModuleVersionListOut(BaseModel):
    versions: list[ModuleVersionOut]
    total: int
    page: int
    per_page: int


class ModuleActionOut(BaseModel):
    action_id: str
    action_name: str
    module_version_id: str
    module_version_number: int
    supported_triggers: list[dict[str, Any]] | None = None


class ModuleActionListOut(BaseModel):
    actions: list[ModuleActionOut]
    total: int | None = None
    page: int | None = None
    per_page: int | None = None
