"""Request and response schemas of the actions and versions endpoints.

Requests mirror Auth0's schemas, ``additionalProperties: false`` included, in strict
mode: a number where a string belongs is refused, as Auth0's gateway refuses it.
Responses leave out absent members (``response_model_exclude_none``), as Auth0 does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from actionsd.builds import registry
from actionsd.triggers.catalog import TRIGGER_IDS

TriggerId = Literal[TRIGGER_IDS]  # type: ignore[valid-type]

# Auth0: "Action code size should not exceed 100 kB"; secret name 128, value 4096 chars.
MAX_CODE_CHARS = 100 * 1024
NoNul = Annotated[str, Field(pattern=r"^[^\x00]*$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CompatibleTriggerIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: TriggerId
    version: str


class TriggerIn(StrictModel):
    """An element of ``supported_triggers``. Clients send ``{id, version}``; the other
    members of Auth0's ActionTrigger schema are accepted and ignored."""

    id: TriggerId
    version: str | None = Field(default=None, max_length=16)
    status: str | None = None
    runtimes: list[str] | None = None
    default_runtime: str | None = None
    compatible_triggers: list[CompatibleTriggerIn] | None = None
    binding_policy: Literal["trigger-bound", "entity-bound"] | None = None


def _registry_name(name: str) -> str:
    problem = registry.name_problem(name)
    if problem:
        raise PydanticCustomError("npm_package_name", "{problem}", {"problem": problem})
    return name


def _registry_version(version: str) -> str:
    problem = registry.version_problem(version)
    if problem:
        raise PydanticCustomError("npm_package_version", "{problem}", {"problem": problem})
    return version


# Registry packages only (builds/registry.py says why); shared with Actions Modules.
PackageName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_registry_name)]
PackageVersion = Annotated[
    str, Field(min_length=1, max_length=50), AfterValidator(_registry_version)
]


class DependencyIn(StrictModel):
    name: PackageName
    version: PackageVersion
    # Accepted as Auth0 does, never used: every build installs from npm's registry.
    registry_url: str | None = None


class SecretIn(BaseModel):
    # Auth0 accepts extra members here (the Go SDK echoes ``updated_at`` back on PATCH).
    model_config = ConfigDict(extra="allow", strict=True)
    name: Annotated[str, Field(min_length=1, max_length=128)]
    value: Annotated[str, Field(max_length=4096)] | None = None


class ModuleRefIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    module_id: str
    module_version_id: str


class CreateActionIn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
    supported_triggers: Annotated[list[TriggerIn], Field(min_length=1, max_length=1)]
    code: Annotated[str, Field(max_length=MAX_CODE_CHARS)] = ""
    dependencies: Annotated[list[DependencyIn], Field(max_length=10)] = []
    runtime: str | None = None
    secrets: Annotated[list[SecretIn], Field(max_length=30)] = []
    modules: Annotated[list[ModuleRefIn], Field(max_length=3)] = []
    deploy: bool = False


class UpdateActionIn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")] | None = None
    supported_triggers: Annotated[list[TriggerIn], Field(min_length=1, max_length=1)] | None = None
    code: Annotated[str, Field(max_length=MAX_CODE_CHARS)] | None = None
    dependencies: Annotated[list[DependencyIn], Field(max_length=10)] | None = None
    runtime: str | None = None
    secrets: Annotated[list[SecretIn], Field(max_length=30)] | None = None
    modules: Annotated[list[ModuleRefIn], Field(max_length=3)] | None = None


class DeployVersionIn(StrictModel):
    update_draft: bool = False


# ---- responses -------------------------------------------------------------------------


class TriggerRefOut(BaseModel):
    id: str
    version: str | None = None


class DependencyOut(BaseModel):
    name: str
    version: str
    registry_url: str | None = None


class SecretOut(BaseModel):
    name: str
    updated_at: str


class ModuleRefOut(BaseModel):
    module_id: str
    module_name: str | None = None
    module_version_id: str
    module_version_number: int | None = None


class BuildErrorOut(BaseModel):
    id: str
    msg: str
    url: str | None = None


class CurrentVersionOut(BaseModel):
    """Undocumented by Auth0 but present on every deployed action: the deployed version
    in brief, with an UPPERCASE status."""

    id: str
    code: str
    runtime: str
    status: str
    number: int
    build_time: str | None = None
    created_at: str
    updated_at: str


class ActionBaseOut(BaseModel):
    id: str
    name: str
    supported_triggers: list[TriggerRefOut]
    created_at: str
    updated_at: str
    all_changes_deployed: bool


class VersionOut(BaseModel):
    id: str
    code: str
    dependencies: list[DependencyOut]
    deployed: bool
    number: int
    built_at: str | None = None
    secrets: list[SecretOut]
    status: str
    created_at: str
    updated_at: str
    runtime: str
    supported_triggers: list[TriggerRefOut]
    modules: list[ModuleRefOut] | None = None
    errors: list[BuildErrorOut] | None = None
    action: ActionBaseOut | None = None


class ActionOut(BaseModel):
    id: str
    name: str
    supported_triggers: list[TriggerRefOut]
    created_at: str
    updated_at: str
    code: str
    dependencies: list[DependencyOut]
    runtime: str
    status: str
    secrets: list[SecretOut]
    modules: list[ModuleRefOut] | None = None
    current_version: CurrentVersionOut | None = None
    deployed_version: VersionOut | None = None
    all_changes_deployed: bool


class ActionListOut(BaseModel):
    actions: list[ActionOut]
    total: int | None = None
    page: int | None = None
    per_page: int | None = None


class VersionListOut(BaseModel):
    versions: list[VersionOut]
    total: int | None = None
    page: int | None = None
    per_page: int | None = None
