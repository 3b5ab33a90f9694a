"""The trigger catalogue served by ``GET /actions/triggers``.

This is Auth0's live catalogue as recorded in August 2026 (contract §4.2), including its
quirks: deprecated versions advertise a ``default_runtime`` that their ``runtimes`` no
longer list. ``login-post-identifier``, ``signup-post-identifier`` (the spec's enum) and
``post-credential-validation`` (the official SDKs' enum) are trigger ids of the API
that the live catalogue does not serve: paths and filters accept them, no action can
target them (docs/compatibility.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TRIGGER_BOUND = "trigger-bound"
ENTITY_BOUND = "entity-bound"

# The path enum accepted by /triggers/{triggerId}/bindings and the triggerId filter:
# the spec's 14 values, ``mcp-tool`` (Auth0 serves it although its spec omits it) and
# ``post-credential-validation`` (in the enum of Node SDK 6.4+/7 and auth0-python 6.4+,
# generated from a later spec).
TRIGGER_IDS: tuple[str, ...] = (
    "post-login",
    "credentials-exchange",
    "pre-user-registration",
    "post-user-registration",
    "post-change-password",
    "send-phone-message",
    "custom-phone-provider",
    "custom-email-provider",
    "password-reset-post-challenge",
    "custom-token-exchange",
    "event-stream",
    "password-hash-migration",
    "login-post-identifier",
    "signup-post-identifier",
    "mcp-tool",
    "post-credential-validation",
)


@dataclass(frozen=True)
class TriggerVersion:
    id: str
    version: str
    status: str
    runtimes: tuple[str, ...]
    default_runtime: str
    binding_policy: str = TRIGGER_BOUND
    compatible_triggers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def creation_runtime(self) -> str:
        """Runtime given to an action created without one.

        Auth0 documents ``default_runtime`` for this, but deprecated versions advertise a
        retired one (node12/node16); an action must run, so we fall back to the newest
        runtime the version still supports.
        """
        if self.default_runtime in self.runtimes:
            return self.default_runtime
        return self.runtimes[-1]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "version": self.version,
            "status": self.status,
            "runtimes": list(self.runtimes),
            "default_runtime": self.default_runtime,
            "compatible_triggers": [{"id": i, "version": v} for i, v in self.compatible_triggers],
            "binding_policy": self.binding_policy,
        }


_MODERN = ("node18-actions", "node22")
_LEGACY = ("node22",)


def _pair(trigger_id: str, current: str) -> list[TriggerVersion]:
    return [
        TriggerVersion(trigger_id, current, "CURRENT", _MODERN, "node22"),
        TriggerVersion(trigger_id, "v1", "DEPRECATED", _LEGACY, "node12"),
    ]


CATALOG: tuple[TriggerVersion, ...] = (
    TriggerVersion(
        "post-login",
        "v3",
        "CURRENT",
        _MODERN,
        "node22",
        compatible_triggers=(("post-login", "v2"),),
    ),
    TriggerVersion("post-login", "v2", "DEPRECATED", ("node18", "node22"), "node16"),
    TriggerVersion("post-login", "v1", "DEPRECATED", _LEGACY, "node12"),
    *_pair("credentials-exchange", "v2"),
    *_pair("pre-user-registration", "v2"),
    *_pair("post-user-registration", "v2"),
    *_pair("post-change-password", "v2"),
    *_pair("send-phone-message", "v2"),
    TriggerVersion("password-reset-post-challenge", "v1", "CURRENT", _MODERN, "node22"),
    TriggerVersion("custom-phone-provider", "v1", "CURRENT", _MODERN, "node22"),
    TriggerVersion("custom-email-provider", "v1", "CURRENT", _MODERN, "node22"),
    TriggerVersion(
        "custom-token-exchange", "v1", "CURRENT", ("node18", "node22"), "node22", ENTITY_BOUND
    ),
    TriggerVersion("event-stream", "v1", "CURRENT", ("node22",), "node22", ENTITY_BOUND),
    TriggerVersion("password-hash-migration", "v1", "CURRENT", ("node22",), "node22", ENTITY_BOUND),
    TriggerVersion("mcp-tool", "v1", "CURRENT", ("node22",), "node22", ENTITY_BOUND),
)

_BY_KEY = {(t.id, t.version): t for t in CATALOG}
_CURRENT = {t.id: t for t in CATALOG if t.status == "CURRENT"}


def find(trigger_id: str, version: str | None) -> TriggerVersion | None:
    """The catalogue entry for ``(id, version)``; without a version, the CURRENT one."""
    if version is None:
        return _CURRENT.get(trigger_id)
    return _BY_KEY.get((trigger_id, version))


def is_served(trigger_id: str) -> bool:
    """Whether the catalogue has the trigger at all (some ids of the API it does not)."""
    return trigger_id in _CURRENT


def binding_policy(trigger_id: str) -> str | None:
    """The binding policy of a trigger id, or None for an id the catalogue does not serve."""
    current = _CURRENT.get(trigger_id)
    return current.binding_policy if current else None
