"""Every `api` method of every trigger, with valid and invalid arguments, through the
Test endpoint and through a fired flow, checked against Auth0's harness (auth0/auth0-actions).

Each case is a JavaScript expression run inside one action; the action reports, per case,
what the call returned or the message it threw. The same action is run by
POST /actions/actions/{id}/test and, for triggers that have bindings, by a deployed,
bound flow, so the two entry points are held to the same answers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from actionsd.triggers.events import sample
from tests.helpers import create_action, wait_status
from tests.runtime_helpers import HANDLERS as HANDLER
from tests.runtime_helpers import VERSIONS, bind, deployed, fire, handler, root

ENTITY_BOUND = ("custom-token-exchange", "event-stream", "password-hash-migration", "mcp-tool")
ALL_VERSIONS = {**VERSIONS, **dict.fromkeys(ENTITY_BOUND, "v1")}

API = "api"  # the call returned the api object (Auth0's chainable methods)
UNDEFINED = "undefined"


def err(message: str) -> dict[str, str]:
    return {"error": message}


def ok(value: Any = UNDEFINED) -> dict[str, Any]:
    return {"ok": value}


@dataclass
class Case:
    label: str
    js: str  # an expression; may be async
    expect: dict[str, Any]
    commands: list[str] = field(default_factory=list)  # recorded by this case, in order


def action_code(trigger: str, cases: list[Case], epilogue: str = "") -> str:
    """One action that runs every case in order and logs one JSON line of answers."""
    steps = "\n".join(
        f"  await attempt({json.dumps(c.label)}, async () => ({c.js}));" for c in cases
    )
    return f"""
exports.{HANDLER[trigger]} = async (event, api) => {{
  const seen = {{}};
  const attempt = async (label, fn) => {{
    try {{
      const r = await fn();
      seen[label] = {{ ok: r === api ? 'api' : r === undefined ? 'undefined' : r }};
    }} catch (e) {{ seen[label] = {{ error: e.message }}; }}
  }};
{steps}
  {epilogue}
  console.log(JSON.stringify(seen));
}};
"""


def answers(logs: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(logs.strip().splitlines()[-1])
    return result


def run_test_endpoint(
    api: httpx.Client, trigger: str, code: str, event: dict[str, Any]
) -> dict[str, Any]:
    action = create_action(api, trigger=trigger, version=ALL_VERSIONS[trigger], code=code)
    assert wait_status(api, action["id"])["status"] == "built"
    response = api.post(f"/actions/actions/{action['id']}/test", json={"payload": {"event": event}})
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["payload"]
    assert "error" not in payload, payload["error"]
    return payload


def fire_one(api: httpx.Client, trigger: str, code: str, event: dict[str, Any]) -> dict[str, Any]:
    """A fired flow of one action: bound, or named (an entity-bound trigger's)."""
    if trigger in ENTITY_BOUND:
        return fire(api, trigger, event, deployed(api, trigger, code)["id"])
    bind(api, trigger, code)
    return fire(api, trigger, event)


def run_flow(api: httpx.Client, trigger: str, code: str, event: dict[str, Any]) -> dict[str, Any]:
    result = fire_one(api, trigger, code, event)
    assert "error" not in result, result["error"]
    (only,) = result["results"]
    return {
        "logs": only["response"]["logs"],
        "commands": only["response"]["commands"],
        "outcome": result["outcome"],
    }


def check(cases: list[Case], got: dict[str, Any]) -> None:
    seen = answers(got["logs"])
    for case in cases:
        assert seen[case.label] == case.expect, (case.label, seen[case.label])
    names = [c["name"] for c in got["commands"]]
    assert names == [name for case in cases for name in case.commands], names


def both(
    api: httpx.Client, trigger: str, cases: list[Case], event: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run the cases through /test and through a fired flow."""
    code = action_code(trigger, cases)
    runs = [run_test_endpoint(api, trigger, code, event), run_flow(api, trigger, code, event)]
    for got in runs:
        check(cases, got)
    assert all(r["outcome"] == runs[0]["outcome"] for r in runs)
    return runs


# ---- api.cache: the same on every trigger ---------------------------------------------------


def cache_cases() -> list[Case]:
    return [
        Case(
            "set.both",
            "(() => { const r = api.cache.set('k', 'v', { ttl: 600000, expires_at: Date.now() + 60000 }); return r.type === 'success' && r.record.expires_at <= Date.now() + 60000 && r.record.expires_at > Date.now() + 50000; })()",
            ok(True),
            ["cache.set"],
        ),
        Case(
            "set.default",
            "(() => { const r = api.cache.set('d', 'v'); return Math.round((r.record.expires_at - Date.now()) / 60000); })()",
            ok(15),
            ["cache.set"],
        ),
        Case(
            "set.key",
            "api.cache.set('k'.repeat(65), 'v')",
            ok({"type": "error", "code": "CacheKeySizeExceeded"}),
        ),
        Case(
            "set.value",
            "api.cache.set('k', 'x'.repeat(4097))",
            ok({"type": "error", "code": "CacheValueSizeExceeded"}),
        ),
        Case(
            "set.total",
            "[1, 2, 3, 4, 5].map((i) => api.cache.set('big' + i, 'x'.repeat(4096)).type)",
            ok(["success"] * 4 + ["error"]),
            ["cache.set"] * 4,
        ),
        Case(
            "set.ttl",
            "api.cache.set('k', 'v', { ttl: 'soon' })",
            ok({"type": "error", "code": "InvalidExpiry"}),
        ),
        Case(
            "set.expired",
            "api.cache.set('k', 'v', { expires_at: 1 })",
            ok({"type": "error", "code": "ItemAlreadyExpired"}),
        ),
        Case("get", "api.cache.get('k').value", ok("v"), ["cache.get"]),
        Case("get.missing", "api.cache.get('nope')", ok(), ["cache.get"]),
        Case("delete", "api.cache.delete('k')", ok({"type": "success"}), ["cache.delete"]),
        Case(
            "delete.missing",
            "api.cache.delete('k')",
            ok({"type": "error", "code": "CacheKeyDoesNotExist"}),
        ),
    ]


CACHE_ONLY = (
    "post-user-registration",
    "post-change-password",
    "send-phone-message",
    "event-stream",
    "password-hash-migration",
    "mcp-tool",
)


@pytest.mark.parametrize("trigger", CACHE_ONLY)
def test_cache_only_triggers(api: httpx.Client, trigger: str) -> None:
    cases = [*cache_cases(), Case("nothing.else", "Object.keys(api).join(',')", ok("cache"))]
    (first, *_) = both(api, trigger, cases, sample(trigger))
    assert first["outcome"] == {}


# ---- the side-effect limit (MaxSideEffectsExceeded) ---------------------------------------

EXHAUSTED = (
    "MaxSideEffectsExceeded: an action may make at most 2000 api calls that change the transaction."
)
REFUSED = ok({"type": "error", "code": "MaxSideEffectsExceeded"})


def side_effect_cases() -> list[Case]:
    return [
        Case(
            "fill",
            "(() => { let n = 0; for (let i = 0; i < 1999; i++) if (api.cache.set('k', 'v').type === 'success') n++; return n; })()",
            ok(1999),
            ["cache.set"] * 1999,
        ),
        Case(
            "last",
            "api.idToken.setCustomClaim('https://x/last', 1)",
            ok(API),
            ["idToken.setCustomClaim"],
        ),
        Case("cache.set", "api.cache.set('k', 'w')", REFUSED),
        Case("cache.delete", "api.cache.delete('k')", REFUSED),
        Case(
            "checks.first",
            "[api.cache.set('k'.repeat(65), 'v').code, api.cache.delete('nope').code]",
            ok(["CacheKeySizeExceeded", "CacheKeyDoesNotExist"]),
        ),
        Case("claim", "api.idToken.setCustomClaim('https://x/over', 1)", err(EXHAUSTED)),
        Case("deny", "api.access.deny('late')", err(EXHAUSTED)),
        Case("redirect", "api.redirect.sendUserTo('https://idp.example')", err(EXHAUSTED)),
        Case("render", "api.prompt.render('p')", err(EXHAUSTED)),
        Case(
            "reads",
            "[api.cache.get('k').value, api.redirect.canRedirect()]",
            ok(["v", True]),
            ["cache.get", "redirect.canRedirect"],
        ),
        Case(
            "reads.unrecorded",
            "(() => { for (let i = 0; i < 2100; i++) api.cache.get('k'); return api.cache.get('k').value; })()",
            ok("v"),
            ["cache.get"] * 1998,  # 2,000 reads are recorded, the rest still answer
        ),
    ]


def test_side_effects_are_capped_per_action(api: httpx.Client) -> None:
    """Auth0's MaxSideEffectsExceeded: past the limit the cache answers the error code (after
    its own checks) and changes nothing, every other state-changing call throws, reads still
    answer; the next action starts with a budget of its own."""
    cases = side_effect_cases()
    code = action_code("post-login", cases)
    event = sample("post-login")
    check(cases, run_test_endpoint(api, "post-login", code, event))
    bind(
        api,
        "post-login",
        code,
        handler(
            "post-login",
            "api.idToken.setCustomClaim('https://x/next', api.cache.get('k') === undefined);",
        ),
    )
    result = fire(api, "post-login", event)
    assert result["status"] == "final" and "error" not in result, result
    first, second = result["results"]
    check(cases, {"logs": first["response"]["logs"], "commands": first["response"]["commands"]})
    assert second["response"]["commands"][-1]["name"] == "idToken.setCustomClaim"
    assert result["outcome"] == {
        "idToken": {"claims": {"https://x/last": 1, "https://x/next": True}}
    }


# ---- post-login -------------------------------------------------------------------------

SAML_VALID = {
    "setAudience": "'urn:sp'",
    "setRecipient": "'https://sp.example/acs'",
    "setCreateUpnClaim": "false",
    "setPassthroughClaimsWithNoMapping": "false",
    "setMapUnknownClaimsAsIs": "true",
    "setMapIdentities": "false",
    "setSignatureAlgorithm": "'rsa-sha256'",
    "setDigestAlgorithm": "'sha256'",
    "setDestination": "'https://sp.example/acs'",
    "setLifetimeInSeconds": "600",
    "setSignResponse": "true",
    "setNameIdentifierFormat": "",
    "setNameIdentifierProbes": "['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']",
    "setAuthnContextClassRef": "'urn:oasis:names:tc:SAML:2.0:ac:classes:Password'",
    "setSigningCert": "'CERT'",
    "setIncludeAttributeNameFormat": "false",
    "setTypedAttributes": "false",
    "setEncryptionCert": "'ENC'",
    "setEncryptionPublicKey": "'PUB'",
    "setCert": "'CERT'",
    "setKey": "'KEY'",
    "setRelayState": "'relay'",
    "setIssuer": "'urn:acme'",
    "setEncryptionAlgorithm": "'aes256-gcm'",
}
SAML_KEYS = {
    "setRelayState": "RelayState",
    "setNameIdentifierFormat": "nameIdentifierFormat",
}


def saml_key(method: str) -> str:
    return SAML_KEYS.get(method, method[3].lower() + method[4:])


def saml_fits() -> int:
    """How many 2,000-character attributes ('big', 'big0', ...) fit in Auth0's 100 KiB."""
    attributes: dict[str, str] = {}
    for name in ["big", *(f"big{i}" for i in range(60))]:
        attributes[name] = "x" * 2000
        if len(json.dumps(attributes, separators=(",", ":"))) > 102400:
            return len(attributes) - 1
    raise AssertionError("the limit was never reached")


def post_login_cases() -> list[Case]:
    scope_errors = [
        Case(
            "scope.space",
            "api.accessToken.addScope('a b')",
            err("The value for the scope must not have whitespace."),
        ),
        Case(
            "scope.type",
            "api.accessToken.addScope(42)",
            err("The value for the scope must be a string."),
        ),
        Case(
            "scope.empty",
            "api.accessToken.removeScope('   ')",
            err("The value for the scope is required."),
        ),
        Case(
            "scope.long",
            "api.accessToken.addScope('s'.repeat(281))",
            err("The value for the scope exceeds the allowed maximum of 280 characters."),
        ),
    ]
    saml = [
        Case(f"saml.{m}", f"api.samlResponse.{m}({v})", ok(API), [f"samlResponse.{m}"])
        for m, v in SAML_VALID.items()
    ]
    return [
        Case(
            "claim.scope",
            "api.idToken.setCustomClaim('scope', 'admin')",
            err('The "scope" claim cannot be set.'),
        ),
        Case(
            "claim.sub",
            "api.idToken.setCustomClaim('sub', 'mine')",
            ok(API),
            ["idToken.setCustomClaim"],
        ),
        Case(
            "claim.at",
            "api.accessToken.setCustomClaim('https://x/tier', 'gold')",
            ok(API),
            ["accessToken.setCustomClaim"],
        ),
        Case(
            "claim.at.scope",
            "api.accessToken.setCustomClaim('scope', 'x')",
            err('The "scope" claim cannot be set.'),
        ),
        *scope_errors,
        Case("scope.add", "api.accessToken.addScope('  read:x  ')", ok(), ["accessToken.addScope"]),
        Case(
            "scope.remove",
            "api.accessToken.removeScope('write:x')",
            ok(),
            ["accessToken.removeScope"],
        ),
        Case(
            "challenge",
            "api.authentication.challengeWith({ type: 'otp' }, { additionalFactors: [{ type: 'email' }] })",
            ok(),
            ["authentication.challengeWith"],
        ),
        Case(
            "challenge.any",
            "api.authentication.challengeWithAny([{ type: 'otp' }, { type: 'phone' }])",
            ok(),
            ["authentication.challengeWithAny"],
        ),
        Case(
            "enroll",
            "api.authentication.enrollWith({ type: 'otp' })",
            ok(),
            ["authentication.enrollWith"],
        ),
        Case(
            "enroll.any",
            "api.authentication.enrollWithAny([{ type: 'webauthn-roaming' }])",
            ok(),
            ["authentication.enrollWithAny"],
        ),
        Case(
            "record.execute",
            "api.authentication.recordMethod('https://idp.example/mfa')",
            err("api.authentication.recordMethod() may only be called in onContinuePostLogin."),
        ),
        Case(
            "primary.empty",
            "api.authentication.setPrimaryUser('')",
            err("The provided primary_user_id must be a non-empty string"),
        ),
        Case(
            "primary.long",
            "api.authentication.setPrimaryUser('u'.repeat(129))",
            err("The provided primary_user_id exceeds the maximum length."),
        ),
        Case(
            "primary",
            "api.authentication.setPrimaryUser('auth0|primary')",
            ok(),
            ["authentication.setPrimaryUser"],
        ),
        Case(
            "primary.again",
            "api.authentication.setPrimaryUser('auth0|other')",
            err("The primary user can only be altered once per transaction"),
        ),
        Case(
            "groups.take",
            "api.groups.getUserGroups({ take: 0 })",
            err('The "take" parameter must be a positive integer if provided.'),
        ),
        Case(
            "groups.from",
            "api.groups.getUserGroups({ from: 1 })",
            err('The "from" parameter must be a string if provided.'),
        ),
        Case("groups", "api.groups.getUserGroups()", ok({"groups": []}), ["groups.getUserGroups"]),
        Case(
            "membership.empty",
            "api.groups.hasGroupMembership([])",
            err('The "groups" parameter must be a non-empty array of strings.'),
        ),
        Case(
            "membership",
            "api.groups.hasGroupMembership(['admins'])",
            ok({"memberships": {}}),
            ["groups.hasGroupMembership"],
        ),
        Case(
            "roles",
            "api.roles.getUserEffectiveRoles()",
            ok({"roles": [{"name": "billing-admin"}, {"name": "support"}]}),
            ["roles.getUserEffectiveRoles"],
        ),
        Case(
            "roles.page",
            "api.roles.getUserEffectiveRoles({ take: 1 })",
            ok({"roles": [{"name": "billing-admin"}], "next": "1"}),
            ["roles.getUserEffectiveRoles"],
        ),
        Case(
            "roles.next",
            "api.roles.getUserEffectiveRoles({ take: 1, from: '1' })",
            ok({"roles": [{"name": "support"}]}),
            ["roles.getUserEffectiveRoles"],
        ),
        Case(
            "roles.take",
            "api.roles.getUserEffectiveRoles({ take: 1.5 })",
            err('The "take" parameter must be a positive integer if provided.'),
        ),
        Case(
            "roles.ids.empty",
            "api.roles.getUserEffectiveRolesByIds([])",
            err('The "ids" parameter must be a non-empty array of strings.'),
        ),
        Case(
            "roles.ids",
            "api.roles.getUserEffectiveRolesByIds(['rol_1'])",
            ok({"roles": []}),
            ["roles.getUserEffectiveRolesByIds"],
        ),
        Case(
            "roles.names.empty",
            "api.roles.getUserEffectiveRolesByNames('support')",
            err('The "names" parameter must be a non-empty array of strings.'),
        ),
        Case(
            "roles.names",
            "api.roles.getUserEffectiveRolesByNames(['support', 'nobody'])",
            ok({"roles": [{"name": "support"}]}),
            ["roles.getUserEffectiveRolesByNames"],
        ),
        Case(
            "mfa",
            "api.multifactor.enable('duo', { allowRememberBrowser: true, providerOptions: { host: 'h', ikey: 'i', skey: 's' } })",
            ok(API),
            ["multifactor.enable"],
        ),
        Case(
            "saml.attr.object",
            "api.samlResponse.setAttribute('a', { x: 1 })",
            err("value must be string,number,boolean,null,array"),
        ),
        Case(
            "saml.attr.item",
            "api.samlResponse.setAttribute('a', ['x', { y: 1 }])",
            err("1 must be string,number,boolean"),
        ),
        Case(
            "saml.attr.long",
            "api.samlResponse.setAttribute('a', 'x'.repeat(2049))",
            err("value must NOT have more than 2048 characters"),
        ),
        Case(
            "saml.attr.name",
            "api.samlResponse.setAttribute('n'.repeat(1025), 'v')",
            err("attribute must NOT have more than 1024 characters"),
        ),
        Case(
            "saml.attr.total",
            "api.samlResponse.setAttribute('big', 'x'.repeat(2000)) && Array.from({ length: 60 }, (_, i) => api.samlResponse.setAttribute('big' + i, 'x'.repeat(2000)))",
            err("The total size of the SAML attributes exceeds the limit of 102400 bytes."),
            ["samlResponse.setAttribute"] * saml_fits(),
        ),
        Case(
            "saml.attr",
            "api.samlResponse.setAttribute('https://x/groups', ['a', 1, true])",
            ok(API),
            ["samlResponse.setAttribute"],
        ),
        Case(
            "saml.attr.null",
            "api.samlResponse.setAttribute('https://x/gone', undefined)",
            ok(API),
            ["samlResponse.setAttribute"],
        ),
        Case(
            "saml.lifetime",
            "api.samlResponse.setLifetimeInSeconds('60')",
            err("lifetimeInSeconds must be number"),
        ),
        Case(
            "saml.alg",
            "api.samlResponse.setSignatureAlgorithm('rsa-md5')",
            err("signatureAlgorithm must be equal to one of the allowed values"),
        ),
        Case(
            "saml.probes",
            "api.samlResponse.setNameIdentifierProbes(new Array(11).fill('p'))",
            err("nameIdentifierProbes must NOT have more than 10 items"),
        ),
        Case(
            "saml.relay",
            "api.samlResponse.setRelayState('r'.repeat(513))",
            err("RelayState must NOT have more than 512 characters"),
        ),
        Case(
            "saml.bool",
            "api.samlResponse.setSignResponse('yes')",
            err("signResponse must be boolean"),
        ),
        *saml,
        Case(
            "session.zero",
            "api.session.setExpiresAt(0)",
            err("Either inactivity or absolute expiration time must be provided"),
        ),
        Case(
            "session.type", "api.session.setIdleExpiresAt('soon')", err("inactivity must be number")
        ),
        Case(
            "session.exp", "api.session.setExpiresAt(2000000000000)", ok(), ["session.setExpiresAt"]
        ),
        Case(
            "session.exp.earlier",
            "api.session.setExpiresAt(1900000000000)",
            ok(),
            ["session.setExpiresAt"],
        ),
        Case(
            "session.exp.later",
            "api.session.setExpiresAt(2100000000000)",
            ok(),
            ["session.setExpiresAt"],
        ),
        Case(
            "session.idle",
            "api.session.setIdleExpiresAt(1800000000000)",
            ok(),
            ["session.setIdleExpiresAt"],
        ),
        Case("cookie.none", "api.session.setCookieMode()", err("Cookie mode must be provided")),
        Case(
            "cookie.bad",
            "api.session.setCookieMode('forever')",
            err(
                "Invalid cookie mode: forever. Valid values are 'persistent' and 'non-persistent'."
            ),
        ),
        Case(
            "cookie",
            "(api.session.setCookieMode('non-persistent'), event.session.cookie.mode)",
            ok("non-persistent"),
            ["session.setCookieMode"],
        ),
        Case(
            "smeta.key",
            "api.session.setMetadata('bad key', 'v')",
            err(
                "Failed to set session metadata: Invalid metadata: Metadata keys may only include letters, numbers, underscores, or hyphens"
            ),
        ),
        Case(
            "smeta.value",
            "api.session.setMetadata('k', 5)",
            err(
                "Failed to set session metadata: Invalid metadata: Metadata value must be a string"
            ),
        ),
        Case(
            "smeta.long",
            "api.session.setMetadata('k', 'v'.repeat(256))",
            err(
                "Failed to set session metadata: Invalid metadata: All metadata values must be at most 255 characters long"
            ),
        ),
        Case(
            "smeta.many",
            "Array.from({ length: 30 }, (_, i) => api.session.setMetadata('k' + i, 'v'))",
            err(
                "Failed to set session metadata: Invalid metadata: Metadata must not contain more than 25 entries"
            ),
            ["session.setMetadata"] * 24,
        ),
        Case(
            "smeta.evict",
            "(api.session.evictMetadata(), Object.keys(event.session.metadata).length)",
            ok(0),
            ["session.evictMetadata"],
        ),
        Case(
            "smeta.set",
            "(api.session.setMetadata('device', 'laptop'), api.session.setMetadata('tmp', 'x'), event.session.metadata.device)",
            ok("laptop"),
            ["session.setMetadata"] * 2,
        ),
        Case(
            "smeta.delete",
            "(api.session.deleteMetadata('tmp'), api.session.deleteMetadata('nope'), JSON.stringify(event.session.metadata))",
            ok('{"device":"laptop"}'),
            ["session.deleteMetadata"] * 2,
        ),
        Case(
            "rt.exp",
            "api.refreshToken.setExpiresAt(1950000000000)",
            ok(),
            ["refreshToken.setExpiresAt"],
        ),
        Case(
            "rt.idle",
            "api.refreshToken.setIdleExpiresAt(1850000000000)",
            ok(),
            ["refreshToken.setIdleExpiresAt"],
        ),
        Case(
            "rt.idle.zero",
            "api.refreshToken.setIdleExpiresAt()",
            err("Either inactivity or absolute expiration time must be provided"),
        ),
        Case(
            "rtmeta.value",
            "api.refreshToken.setMetadata('b', 2)",
            err(
                "Failed to set refresh token metadata: Invalid metadata: Metadata value must be a string"
            ),
        ),
        Case(
            "rtmeta",
            "(api.refreshToken.setMetadata('a', '1'), api.refreshToken.setMetadata('b', '2'), event.refresh_token)",
            ok(None),
            ["refreshToken.setMetadata"] * 2,
        ),
        Case(
            "rtmeta.delete",
            "api.refreshToken.deleteMetadata('a')",
            ok(),
            ["refreshToken.deleteMetadata"],
        ),
        Case(
            "rtmeta.evict",
            "(api.refreshToken.evictMetadata(), api.refreshToken.setMetadata('device', 'phone'))",
            ok(),
            ["refreshToken.evictMetadata", "refreshToken.setMetadata"],
        ),
        Case("can.redirect", "api.redirect.canRedirect()", ok(True), ["redirect.canRedirect"]),
        Case(
            "encode",
            "JSON.parse(Buffer.from(api.redirect.encodeToken({ secret: 's3cret', payload: { sub: 'override', foo: 'bar' } }).split('.')[1], 'base64url').toString())",
            ok("set by the test, which knows the event"),
            ["redirect.encodeToken"],
        ),
        Case(
            "validate.missing",
            "api.redirect.validateToken({ secret: 's3cret' })",
            err(
                "There is no parameter called 'session_token' available in either the POST body or query string."
            ),
            ["redirect.validateToken"],
        ),
        Case(
            "prompt.id",
            "api.prompt.render('p'.repeat(49))",
            err("promptId must NOT have more than 48 characters"),
        ),
        Case(
            "prompt.field",
            "api.prompt.render('pid', { fields: { 'bad-key': 1 } })",
            err("fields must NOT have additional properties"),
        ),
        Case(
            "prompt.option",
            "api.prompt.render('pid', { other: 1 })",
            err("promptOptions must NOT have additional properties"),
        ),
        Case(
            "prompt.size",
            "api.prompt.render('pid', { vars: { big: 'x'.repeat(25000) } })",
            err("The total size of the prompt options exceeds the limit of 24576 bytes."),
        ),
        Case(
            "meta.app", "api.user.setAppMetadata('plan', 'team')", ok(API), ["user.setAppMetadata"]
        ),
        Case(
            "meta.user",
            "(api.user.setUserMetadata('theme', null), event.user.user_metadata.theme)",
            ok("dark"),
            ["user.setUserMetadata"],
        ),
        Case(
            "valid.long",
            "api.validation.error('c'.repeat(101), 'm')",
            err("errorCode must NOT have more than 100 characters"),
        ),
        Case(
            "valid.types",
            "api.validation.error(1, 2)",
            err("errorCode must be string; errorMessage must be string"),
        ),
        Case("rules", "api.rules.wasExecuted('rul_1')", ok(False), ["rules.wasExecuted"]),
        Case(
            "tx.meta",
            "(api.transaction.setMetadata('step', 2), event.transaction.metadata.step)",
            ok(2),
            ["transaction.setMetadata"],
        ),
        Case(
            "tx.meta.type",
            "api.transaction.setMetadata('bad', {})",
            err("The transaction metadata value must be a string, number, boolean or null."),
        ),
        Case(
            "tx.scope",
            "(api.transaction.addTargetScope(' read:a '), event.transaction.target_scopes)",
            ok(["read:a"]),
            ["transaction.addTargetScope"],
        ),
        Case(
            "tx.scope.bad",
            "api.transaction.addTargetScope('a b')",
            err("The value for the scope must not have whitespace."),
        ),
        Case(
            "tx.scopes.type",
            "api.transaction.setTargetScopes('read:b')",
            err("The value for scopes must be an array."),
        ),
        Case(
            "tx.scopes",
            "(api.transaction.setTargetScopes(['read:b', ' read:b ', 'read:c']), event.transaction.target_scopes)",
            ok(["read:b", "read:c"]),
            ["transaction.setTargetScopes"],
        ),
        Case(
            "tx.scope.remove",
            "(api.transaction.removeTargetScope('read:c'), event.transaction.target_scopes)",
            ok(["read:b"]),
            ["transaction.removeTargetScope"],
        ),
        Case(
            "tx.scope.clear",
            "(api.transaction.clearTargetScopes(), api.transaction.addTargetScope('read:z'), event.transaction.target_scopes)",
            ok(["read:z"]),
            ["transaction.clearTargetScopes", "transaction.addTargetScope"],
        ),
        *cache_cases(),
    ]


def test_post_login_every_method(api: httpx.Client) -> None:
    event = sample("post-login")
    cases = post_login_cases()
    encoded = next(c for c in cases if c.label == "encode")
    # Auth0 builds {iat, iss, sub, exp, ip, ...payload}: the payload wins, ip is the request's.
    encoded.expect = ok(
        {
            "iat": "NOW",
            "iss": event["request"]["hostname"],
            "sub": "override",
            "exp": "NOW+900",
            "ip": event["request"]["ip"],
            "foo": "bar",
        }
    )
    code = action_code("post-login", cases)
    runs = [
        run_test_endpoint(api, "post-login", code, event),
        run_flow(api, "post-login", code, event),
    ]
    for got in runs:
        seen = answers(got["logs"])
        token = seen["encode"]["ok"]
        assert token["exp"] - token["iat"] == 900
        seen["encode"]["ok"] = {**token, "iat": "NOW", "exp": "NOW+900"}
        got["logs"] = json.dumps(seen)
        check(cases, got)
        out = got["outcome"]
        assert out["idToken"] == {"claims": {"sub": "mine"}}
        assert out["accessToken"] == {
            "claims": {"https://x/tier": "gold"},
            "added_scopes": ["read:x"],
            "removed_scopes": ["write:x"],
        }
        assert out["authentication"] == {
            "challenge": {"factors": [{"type": "otp"}, {"type": "phone"}]},
            "enroll": {"factors": [{"type": "webauthn-roaming"}]},
            "primary_user": "auth0|primary",
        }
        assert out["multifactor"] == {
            "provider": "duo",
            "allowRememberBrowser": True,
            "providerOptions": {"host": "h", "ikey": "i", "skey": "s"},
        }
        assert out["saml"]["attributes"]["https://x/groups"] == ["a", 1, True]
        assert out["saml"]["attributes"]["https://x/gone"] is None
        assert out["saml"]["config"] == {
            saml_key(m): json.loads(v.replace("'", '"'))
            if v
            else "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
            for m, v in SAML_VALID.items()
        }
        assert out["session"] == {
            "expires_at": 1900000000000,
            "idle_expires_at": 1800000000000,
            "cookie_mode": "non-persistent",
            "metadata": {"device": "laptop"},
        }
        assert out["refresh_token"] == {
            "expires_at": 1950000000000,
            "idle_expires_at": 1850000000000,
            "metadata": {"device": "phone"},
        }
        assert out["user"] == {"app_metadata": {"plan": "team"}, "user_metadata": {"theme": None}}
        assert out["transaction"] == {"metadata": {"step": 2}, "target_scopes": ["read:z"]}
        assert "denied" not in out and "redirect" not in out
        # The command carries exactly what replays it: cache.set's effective expiry.
        sets = [c for c in got["commands"] if c["name"] == "cache.set"]
        assert list(sets[0]["args"][2]) == ["expires_at"]
        reads = {c["name"] for c in got["commands"] if c.get("replay") is False}
        assert reads == {
            "cache.get",
            "groups.getUserGroups",
            "groups.hasGroupMembership",
            "roles.getUserEffectiveRoles",
            "roles.getUserEffectiveRolesByIds",
            "roles.getUserEffectiveRolesByNames",
            "redirect.canRedirect",
            "redirect.encodeToken",
            "redirect.validateToken",
            "rules.wasExecuted",
        }
        assert "s3cret" not in json.dumps(got["commands"]), "secrets stay out of the record"


@pytest.mark.parametrize(
    ("js", "message"),
    [
        ("api.access.deny('no entry')", None),
        ("api.validation.error('too_young', 'Must be 18')", None),
        (
            "api.session.revoke('r', { preserveRefreshTokens: 'yes' })",
            "preserveRefreshTokens must be boolean",
        ),
        ("api.session.revoke(5)", "message must be string"),
        ("api.session.revoke('bye', { preserveRefreshTokens: true })", None),
        (
            "api.refreshToken.revoke('x'.repeat(1025))",
            "message must NOT have more than 1024 characters",
        ),
        ("api.refreshToken.revoke('stolen')", None),
    ],
)
def test_post_login_methods_that_stop_the_flow(
    api: httpx.Client, js: str, message: str | None
) -> None:
    bind(
        api,
        "post-login",
        action_code("post-login", [Case("stop", js, ok())]),
        action_code("post-login", []),
    )
    result = fire(api, "post-login", {"user": {"user_id": "auth0|1"}})
    if message is not None:
        assert answers(result["results"][0]["response"]["logs"])["stop"] == err(message)
        assert "denied" not in result["outcome"] and len(result["results"]) == 2
        return
    assert len(result["results"]) == 1, "no action runs after the flow is stopped"
    table: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "api.access.deny('no entry')": ({"reason": "no entry"}, {}),
        "api.validation.error('too_young', 'Must be 18')": (
            {"code": "too_young", "reason": "Must be 18", "validation": True},
            {},
        ),
        "api.session.revoke('bye', { preserveRefreshTokens: true })": (
            {"reason": "bye"},
            {"session": {"revoke": {"reason": "bye", "preserveRefreshTokens": True}}},
        ),
        "api.refreshToken.revoke('stolen')": (
            {"reason": "stolen"},
            {"refresh_token": {"revoke": {"reason": "stolen"}}},
        ),
    }
    denied, rest = table[js]
    assert result["outcome"] == {"denied": denied, **rest}


def test_stopping_commands_through_the_test_endpoint(api: httpx.Client) -> None:
    """/test runs the whole action, so every stopping command lands in its outcome: the
    later denial wins, the revocations keep their options."""
    cases = [
        Case("deny", "api.access.deny('no entry')", ok(API), ["access.deny"]),
        Case(
            "session",
            "api.session.revoke('bye', { preserveRefreshTokens: true })",
            ok(),
            ["session.revoke"],
        ),
        Case("refresh", "api.refreshToken.revoke('stolen')", ok(), ["refreshToken.revoke"]),
        Case(
            "validation",
            "api.validation.error('too_young', 'Must be 18')",
            ok(API),
            ["validation.error"],
        ),
    ]
    got = run_test_endpoint(
        api, "post-login", action_code("post-login", cases), sample("post-login")
    )
    check(cases, got)
    assert got["outcome"] == {
        "denied": {"code": "too_young", "reason": "Must be 18", "validation": True},
        "session": {"revoke": {"reason": "bye", "preserveRefreshTokens": True}},
        "refresh_token": {"revoke": {"reason": "stolen"}},
    }


def test_later_actions_see_what_earlier_ones_set(api: httpx.Client) -> None:
    """What Auth0 makes visible in the event at once reaches the next action of the flow:
    transaction metadata and target scopes, session metadata and cookie mode, user metadata."""
    first = handler(
        "post-login",
        "api.transaction.setMetadata('step', 1); api.transaction.addTargetScope('read:a');"
        " api.session.setMetadata('device', 'laptop'); api.session.setCookieMode('non-persistent');"
        " api.user.setAppMetadata('plan', 'team');",
    )
    second = handler(
        "post-login",
        "console.log(JSON.stringify({ tx: event.transaction, session: event.session,"
        " app: event.user.app_metadata }));",
    )
    bind(api, "post-login", first, second)
    event = sample("post-login")
    result = fire(api, "post-login", event)
    assert "error" not in result, result
    seen = json.loads(result["results"][1]["response"]["logs"])
    assert seen["tx"]["metadata"] == {**event["transaction"]["metadata"], "step": 1}
    assert "read:a" in seen["tx"]["target_scopes"]
    assert seen["session"]["metadata"] == {**event["session"]["metadata"], "device": "laptop"}
    assert seen["session"]["cookie"] == {"mode": "non-persistent"}
    assert seen["app"] == {**event["user"]["app_metadata"], "plan": "team"}


def test_post_login_guards_that_depend_on_the_event(api: httpx.Client) -> None:
    cases = [
        Case(
            "app",
            "api.user.setAppMetadata('k', 1)",
            err("Unexpected app_metadata format. Must be a valid JSON object"),
        ),
        Case(
            "user",
            "api.user.setUserMetadata('k', 1)",
            err("Unexpected user_metadata format. Must be a valid JSON object."),
        ),
        Case(
            "online",
            "api.refreshToken.setExpiresAt(1)",
            err("Cannot call setExpiresAt on an online refresh token."),
        ),
        Case(
            "online.meta",
            "api.refreshToken.setMetadata('k', 'v')",
            err(
                "Failed to set refresh token metadata: Cannot call setMetadata on an online refresh token."
            ),
        ),
        Case(
            "no.session",
            "api.session.setMetadata('k', 'v')",
            err(
                "Failed to set session metadata: Cannot set metadata on a session that does not exist."
            ),
        ),
        Case("no.redirect", "api.redirect.canRedirect()", ok(False), ["redirect.canRedirect"]),
        Case(
            "scope.cap",
            "(() => { for (let i = 0; i < 1000; i++) api.accessToken.addScope('s' + i); api.accessToken.addScope('one-more'); })()",
            err("The number of scopes exceeds the allowed maximum of 1000."),
            ["accessToken.addScope"] * 1000,
        ),
    ]
    event = {
        "user": {"user_id": "auth0|1", "app_metadata": "legacy-string", "user_metadata": []},
        "refresh_token": {"id": "rt_1", "access": "online"},
        "session": None,
        "transaction": {"protocol": "oauth2-refresh-token"},
        "request": {"query": {}},
    }
    both(api, "post-login", cases, event)


def test_post_login_redirect_prompt_and_continue(api: httpx.Client) -> None:
    """redirect and render exclude each other in one action; both suspend the flow, and
    onContinuePostLogin gets recordMethod and validateToken (issuer, user and state checked)."""
    continue_cases = [
        Case(
            "record.bad",
            "api.authentication.recordMethod('ftp://idp.example')",
            err("The provider_url must be an http: or https: URL."),
        ),
        Case(
            "record",
            "api.authentication.recordMethod('https://idp.example/mfa')",
            ok(API),
            ["authentication.recordMethod"],
        ),
        Case(
            "token.param",
            "api.redirect.validateToken({ secret: 's3cret', tokenParameterName: 'other' })",
            err(
                "There is no parameter called 'other' available in either the POST body or query string."
            ),
            ["redirect.validateToken"],
        ),
        Case(
            "token.wrong",
            "api.redirect.validateToken({ secret: 'wrong' })",
            err("The session token is invalid: invalid signature"),
            ["redirect.validateToken"],
        ),
        Case(
            "token",
            "api.redirect.validateToken({ secret: 's3cret' }).answer",
            ok(42),
            ["redirect.validateToken"],
        ),
        Case("prompt.data", "event.request.body.favourite", ok("blue")),
        Case(
            "prompt.event",
            "event.prompt",
            ok(
                {
                    "id": "favourite-colour",
                    "fields": {"colour": "red", "favourite": "blue"},
                    "vars": {"n": 1},
                }
            ),
        ),
    ]
    first_cases = [
        Case(
            "redirect",
            "api.redirect.sendUserTo('https://idp.example/step', { query: { a: '1' } })",
            ok(API),
            ["redirect.sendUserTo"],
        ),
        Case(
            "render.after",
            "api.prompt.render('pid')",
            err("Redirect and render commands cannot be used in the same action."),
        ),
    ]
    render_cases = [
        Case(
            "render",
            "api.prompt.render('favourite-colour', { fields: { colour: 'red' }, vars: { n: 1 } })",
            ok(),
            ["prompt.render"],
        ),
        Case(
            "render.twice",
            "api.prompt.render('again')",
            err("Only 1 render command per action is allowed."),
        ),
        Case(
            "redirect.after",
            "api.redirect.sendUserTo('https://idp.example')",
            err("Redirect and render commands cannot be used in the same action."),
        ),
    ]

    def with_continue(cases: list[Case], then: list[Case]) -> str:
        execute = action_code("post-login", cases)
        resume = action_code("post-login", then).replace(
            "exports.onExecutePostLogin", "exports.onContinuePostLogin"
        )
        return execute + resume

    event = sample("post-login")
    for cases in (first_cases, render_cases):  # the same answers through /test
        check(cases, run_test_endpoint(api, "post-login", action_code("post-login", cases), event))
    bind(
        api,
        "post-login",
        with_continue(first_cases, continue_cases[:5]),
        with_continue(render_cases, continue_cases[5:]),
    )
    first = fire(api, "post-login", event)
    assert first["status"] == "suspended"
    assert first["outcome"]["redirect"] == {"url": "https://idp.example/step?a=1"}
    check(
        first_cases,
        {
            "logs": first["results"][0]["response"]["logs"],
            "commands": first["results"][0]["response"]["commands"],
        },
    )

    claims = {
        "iss": event["request"]["hostname"],
        "sub": event["user"]["user_id"],
        "state": "st-1",
        "answer": 42,
    }
    token = hs256(claims, "s3cret")
    cont = f"{root(api)}/actionsd/v1/executions/{first['execution_id']}/continue"
    second = api.post(
        cont, json={"query": {"state": "st-1"}, "body": {"session_token": token}}
    ).json()
    assert second["status"] == "suspended", second
    resumed = second["results"][1]["response"]
    check(continue_cases[:5], {"logs": resumed["logs"], "commands": resumed["commands"]})
    assert second["outcome"]["authentication"] == {"methods": ["https://idp.example/mfa"]}
    assert second["outcome"]["redirect"] == {
        "prompt": {"id": "favourite-colour", "fields": {"colour": "red"}, "vars": {"n": 1}}
    }
    rendered = second["results"][2]["response"]
    check(render_cases, {"logs": rendered["logs"], "commands": rendered["commands"]})

    third = api.post(cont, json={"body": {"favourite": "blue"}}).json()
    assert third["status"] == "final" and "error" not in third, third
    check(
        continue_cases[5:],
        {
            "logs": third["results"][3]["response"]["logs"],
            "commands": third["results"][3]["response"]["commands"],
        },
    )
    assert "redirect" not in third["outcome"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "auth0|someone-else"}, 'unexpected "sub" claim value'),
        ({"iss": "evil.example"}, 'unexpected "iss" claim value'),
        ({"state": "forged"}, 'unexpected "state" claim value'),
        ({"exp": 1}, "the token has expired"),
    ],
)
def test_validate_token_checks_issuer_user_state_and_expiry(
    api: httpx.Client, claims: dict[str, Any], reason: str
) -> None:
    event = sample("post-login")
    good = {"iss": event["request"]["hostname"], "sub": event["user"]["user_id"], "state": "st"}
    token = hs256({**good, **claims}, "s3cret")
    event["request"]["query"] = {"state": "st", "session_token": "ignored"}
    event["request"]["body"] = {"session_token": token}  # the body wins over the query
    cases = [
        Case(
            "v",
            "api.redirect.validateToken({ secret: 's3cret' })",
            err(f"The session token is invalid: {reason}"),
            ["redirect.validateToken"],
        )
    ]
    both(api, "post-login", cases, event)


def hs256(payload: dict[str, Any], secret: str) -> str:
    import hashlib
    import hmac

    def enc(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(sig)}"


# ---- the other triggers ---------------------------------------------------------------------


def test_credentials_exchange_every_method(api: httpx.Client) -> None:
    cases = [
        Case(
            "deny.chain",
            "api.accessToken.setCustomClaim('scope', 'any') === api",
            ok(True),
            ["accessToken.setCustomClaim"],
        ),
        Case(
            "scope.add",
            "(api.transaction.addTargetScope('write:invoices'), event.transaction.target_scopes)",
            ok(["read:invoices", "write:invoices"]),
            ["transaction.addTargetScope"],
        ),
        Case(
            "scope.bad",
            "api.transaction.removeTargetScope('')",
            err("The value for the scope is required."),
        ),
        Case(
            "scope.remove",
            "(api.transaction.removeTargetScope('read:invoices'), event.transaction.target_scopes)",
            ok(["write:invoices"]),
            ["transaction.removeTargetScope"],
        ),
        Case(
            "scope.set",
            "(api.transaction.setTargetScopes([]), event.transaction.target_scopes)",
            ok([]),
            ["transaction.setTargetScopes"],
        ),
        Case(
            "scope.many",
            "api.transaction.setTargetScopes(Array.from({ length: 1001 }, (_, i) => 's' + i))",
            err("The number of scopes exceeds the allowed maximum of 1000."),
        ),
        Case(
            "scope.clear",
            "(api.transaction.setTargetScopes(['a']), api.transaction.clearTargetScopes(), event.transaction.target_scopes)",
            ok([]),
            ["transaction.setTargetScopes", "transaction.clearTargetScopes"],
        ),
        Case(
            "deny", "api.access.deny('invalid_request', 'blocked region')", ok(API), ["access.deny"]
        ),
        *cache_cases(),
    ]
    (first, *_) = both(api, "credentials-exchange", cases, sample("credentials-exchange"))
    assert first["outcome"] == {
        "accessToken": {"claims": {"scope": "any"}},
        "transaction": {"target_scopes": []},
        "denied": {"code": "invalid_request", "reason": "blocked region"},
    }


def test_pre_user_registration_every_method(api: httpx.Client) -> None:
    cases = [
        Case(
            "id.pattern",
            "api.user.setUserId('has space')",
            err(
                'Invalid setUserId arguments: user_id must match pattern "^[a-zA-Z0-9@._+-]{1,255}$"'
            ),
        ),
        Case(
            "id.empty",
            "api.user.setUserId('')",
            err(
                'Invalid setUserId arguments: user_id must NOT have fewer than 1 characters, must match pattern "^[a-zA-Z0-9@._+-]{1,255}$"'
            ),
        ),
        Case(
            "id.type",
            "api.user.setUserId(7)",
            err("Invalid setUserId arguments: user_id must be string"),
        ),
        Case("id", "api.user.setUserId('legacy-4711')", ok(API), ["user.setUserId"]),
        Case("app", "api.user.setAppMetadata('plan', 'trial')", ok(API), ["user.setAppMetadata"]),
        Case(
            "meta",
            "api.user.setUserMetadata('newsletter', true)",
            ok(API),
            ["user.setUserMetadata"],
        ),
        Case(
            "valid.long",
            "api.validation.error('c'.repeat(101), 'too long code')",
            err("Failed to add validation error: errorCode must NOT have more than 100 characters"),
        ),
        Case(
            "valid.missing",
            "api.validation.error('code')",
            err("Failed to add validation error:  must have required property 'errorMessage'"),
        ),
        Case("deny", "api.access.deny('risky', 'Try again later')", ok(API), ["access.deny"]),
        Case(
            "valid",
            "api.validation.error('invalid_email', 'Corporate email only')",
            ok(API),
            ["validation.error"],
        ),
        *cache_cases(),
    ]
    (first, *_) = both(api, "pre-user-registration", cases, sample("pre-user-registration"))
    assert first["outcome"] == {
        "user": {
            "user_id": "legacy-4711",
            "app_metadata": {"plan": "trial"},
            "user_metadata": {"newsletter": True},
        },
        "denied": {"code": "invalid_email", "reason": "Corporate email only", "validation": True},
    }


def test_password_reset_post_challenge_every_method(api: httpx.Client) -> None:
    cases = [
        Case(
            "removed",
            "['enrollWith', 'enrollWithAny', 'recordMethod', 'setPrimaryUser'].filter((m) => m in api.authentication)",
            ok([]),
        ),
        Case(
            "challenge",
            "api.authentication.challengeWith({ type: 'email' })",
            ok(),
            ["authentication.challengeWith"],
        ),
        Case(
            "challenge.any",
            "api.authentication.challengeWithAny([{ type: 'otp' }, { type: 'email' }])",
            ok(),
            ["authentication.challengeWithAny"],
        ),
        Case(
            "result",
            "api.transaction.setResultUrl('https://app.acme.example/done', { query: { r: '1' } })",
            ok(),
            ["transaction.setResultUrl"],
        ),
        Case(
            "result.bad",
            "(() => { try { api.transaction.setResultUrl('not a url'); } catch (e) { return e instanceof TypeError; } })()",
            ok(True),
        ),
        Case(
            "encode",
            "typeof api.redirect.encodeToken({ secret: 's', payload: {} })",
            ok("string"),
            ["redirect.encodeToken"],
        ),
        Case(
            "validate",
            "api.redirect.validateToken({ secret: 's' })",
            err(
                "There is no parameter called 'session_token' available in either the POST body or query string."
            ),
            ["redirect.validateToken"],
        ),
        Case("prompt.id", "api.prompt.render(48)", err("promptId must be string")),
        Case("prompt", "api.prompt.render('pwd-extra')", ok(), ["prompt.render"]),
        Case(
            "redirect.after",
            "api.redirect.sendUserTo('https://idp.example')",
            err("Redirect and render commands cannot be used in the same action."),
        ),
        Case("deny", "api.access.deny('not allowed')", ok(), ["access.deny"]),
        *cache_cases(),
    ]
    (first, *_) = both(
        api, "password-reset-post-challenge", cases, sample("password-reset-post-challenge")
    )
    assert first["outcome"] == {
        "authentication": {"challenge": {"factors": [{"type": "otp"}, {"type": "email"}]}},
        "transaction": {"result_url": "https://app.acme.example/done?r=1"},
        "redirect": {"prompt": {"id": "pwd-extra", "fields": {}, "vars": {}}},
        "denied": {"reason": "not allowed"},
    }


def test_password_reset_prompt_answers_reach_on_continue(api: httpx.Client) -> None:
    """The rendered prompt comes back through the continue endpoint as event.prompt: the
    render's id and vars, the posted fields."""
    trigger = "password-reset-post-challenge"
    code = (
        "exports.onExecutePostChallenge = async (event, api) => { api.prompt.render('pwd-extra', { vars: { step: 2 } }); };"
        "exports.onContinuePostChallenge = async (event, api) => {"
        " const p = event.prompt;"
        " api.transaction.setResultUrl('https://app.acme.example/done', { query: { colour: p.fields.colour, id: p.id, step: String(p.vars.step) } }); };"
    )
    bind(api, trigger, code)
    first = fire(api, trigger, sample(trigger))
    assert first["status"] == "suspended", first
    cont = f"{root(api)}/actionsd/v1/executions/{first['execution_id']}/continue"
    second = api.post(cont, json={"body": {"colour": "green"}}).json()
    assert second["status"] == "final" and "error" not in second, second
    assert second["outcome"]["transaction"] == {
        "result_url": "https://app.acme.example/done?colour=green&id=pwd-extra&step=2"
    }


@pytest.mark.parametrize("trigger", ["custom-email-provider", "custom-phone-provider"])
def test_custom_providers_every_method(api: httpx.Client, trigger: str) -> None:
    cases = [
        Case("retry", "api.notification.retry('provider busy')", ok(), ["notification.retry"]),
        Case("drop", "api.notification.drop('gave up')", ok(), ["notification.drop"]),
        *cache_cases(),
    ]
    (first, *_) = both(api, trigger, cases, sample(trigger))
    assert first["outcome"] == {"notification": {"action": "drop", "reason": "gave up"}}


def test_custom_token_exchange_every_method(api: httpx.Client) -> None:
    attrs = "{ user_id: 'legacy-42', email: 'a@acme.example', email_verified: true }"
    opts = "{ creationBehavior: 'create_if_not_exists', updateBehavior: 'none' }"
    cases = [
        Case(
            "deny.empty",
            "api.access.deny('', 'r')",
            err("Invalid deny arguments: code must NOT have fewer than 1 characters"),
        ),
        Case(
            "deny.missing",
            "api.access.deny('code')",
            err("Invalid deny arguments:  must have required property 'reason'"),
        ),
        Case(
            "reject.type",
            "api.access.rejectInvalidSubjectToken(5)",
            err("Invalid rejectInvalidSubjectToken arguments: reason must be string"),
        ),
        Case(
            "byid.long",
            "api.authentication.setUserById('u'.repeat(513))",
            err("Invalid setUserById arguments: user_id must NOT have more than 512 characters"),
        ),
        Case(
            "byid",
            "api.authentication.setUserById('auth0|legacy-42')",
            ok(),
            ["authentication.setUserById"],
        ),
        Case(
            "byconn.options",
            f"api.authentication.setUserByConnection('db', {attrs}, {{ creationBehavior: 'always' }})",
            err(
                "Invalid setUserByConnection arguments: options must have required property 'updateBehavior'; creationBehavior must be equal to one of the allowed values"
            ),
        ),
        Case(
            "byconn.attrs",
            "api.authentication.setUserByConnection('db', { email: 5 }, " + opts + ")",
            err(
                "Invalid setUserByConnection arguments: user_attributes must have required property 'user_id'; email must be string"
            ),
        ),
        Case(
            "byconn",
            f"api.authentication.setUserByConnection('legacy-db', {attrs}, {opts})",
            ok(),
            ["authentication.setUserByConnection"],
        ),
        Case(
            "org.long",
            "api.authentication.setOrganization('o'.repeat(51))",
            err(
                "Invalid setOrganization arguments: organization_id_or_name must NOT have more than 50 characters"
            ),
        ),
        Case(
            "org",
            "api.authentication.setOrganization('org_V3nq8Jx2LkP0aR7t')",
            ok(),
            ["authentication.setOrganization"],
        ),
        Case(
            "actor.sub",
            "api.authentication.setActor({ name: 'x' })",
            err("The actor object must contain a sub claim."),
        ),
        Case(
            "actor.value",
            "api.authentication.setActor({ sub: 'svc', tags: ['a'] })",
            err("Custom property in an actor object must be a string, number, or boolean."),
        ),
        Case(
            "actor.deep",
            "api.authentication.setActor({ sub: '1', act: { sub: '2', act: { sub: '3', act: { sub: '4', act: { sub: '5', act: { sub: '6' } } } } } })",
            err("Actor nesting must not exceed 5 levels."),
        ),
        Case(
            "actor",
            "api.authentication.setActor({ sub: 'svc-batch', team: 'billing', act: { sub: 'cron' } })",
            ok(),
            ["authentication.setActor"],
        ),
        Case(
            "app.key",
            "api.user.setAppMetadata(1, 'v')",
            err("Invalid setAppMetadata arguments: key must be string"),
        ),
        Case("app", "api.user.setAppMetadata('migrated', true)", ok(), ["user.setAppMetadata"]),
        Case(
            "user", "api.user.setUserMetadata('source', 'legacy')", ok(), ["user.setUserMetadata"]
        ),
        Case(
            "tx",
            "(api.transaction.setMetadata('hop', 1), event.transaction.metadata.hop)",
            ok(1),
            ["transaction.setMetadata"],
        ),
        Case(
            "reject",
            "api.access.rejectInvalidSubjectToken('bad signature')",
            ok(),
            ["access.rejectInvalidSubjectToken"],
        ),
        Case("deny", "api.access.deny('unauthorized_client', 'No access')", ok(), ["access.deny"]),
        *cache_cases(),
    ]
    (first, _) = both(api, "custom-token-exchange", cases, sample("custom-token-exchange"))
    assert first["outcome"] == {
        "authentication": {
            "user": {
                "connection_name": "legacy-db",
                "user_attributes": {
                    "user_id": "legacy-42",
                    "email": "a@acme.example",
                    "email_verified": True,
                },
                "options": {"creationBehavior": "create_if_not_exists", "updateBehavior": "none"},
            },
            "organization": "org_V3nq8Jx2LkP0aR7t",
            "actor": {"sub": "svc-batch", "team": "billing", "act": {"sub": "cron"}},
        },
        "user": {"app_metadata": {"migrated": True}, "user_metadata": {"source": "legacy"}},
        "transaction": {"metadata": {"hop": 1}},
        "denied": {"code": "unauthorized_client", "reason": "No access"},
    }


# ---- the event ------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", sorted(ALL_VERSIONS))
def test_flow_events_carry_every_declared_field(api: httpx.Client, trigger: str) -> None:
    from actionsd.triggers.events import defaults

    log = "console.log(JSON.stringify(event));"
    code = f"exports.{HANDLER[trigger]} = async (event, api) => {{ {log} }};"
    given = {"user": {"user_id": "auth0|mine", "app_metadata": {"plan": "pro"}}, "tenant": None}
    result = fire_one(api, trigger, code, given)
    seen = json.loads(result["results"][0]["response"]["logs"])
    assert set(seen) == set(defaults(trigger)) | set(given)
    assert seen["tenant"] is None, "the caller's values win, null included"
    assert seen["user"]["user_id"] == "auth0|mine" and seen["user"]["app_metadata"] == {
        "plan": "pro"
    }
    assert seen["configuration"] == {}


def test_test_endpoint_runs_the_payload_as_given(api: httpx.Client) -> None:
    code = "exports.onExecutePostLogin = async (event) => { console.log(Object.keys(event).sort().join(',')); };"
    payload = run_test_endpoint(api, "post-login", code, {"user": {}})
    assert payload["logs"] == "secrets,user\n"


def test_samples_are_realistic() -> None:
    event = sample("post-login")
    for key in (
        "user",
        "client",
        "connection",
        "request",
        "transaction",
        "authentication",
        "organization",
        "tenant",
        "stats",
        "session",
        "resource_server",
    ):
        assert event[key], key
    assert len(event["user"]["identities"]) == 2 and event["user"]["app_metadata"]
    assert event["request"]["geoip"]["countryCode"] == "FR"
    assert sample("event-stream")["message"]["type"] == "user.created"
    assert sample("send-phone-message")["message_options"]["recipient"]
