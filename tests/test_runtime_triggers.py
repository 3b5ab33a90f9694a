"""Every api method of each trigger, run for real, recorded as commands and combined."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.runtime_helpers import bind, fire, handler, root

PL = "post-login"


def run(
    api: httpx.Client, trigger: str, body: str, event: dict[str, Any] | None = None
) -> dict[str, Any]:
    bind(api, trigger, handler(trigger, body))
    return fire(api, trigger, event or {"user": {"user_id": "auth0|42"}})


def commands(result: dict[str, Any]) -> list[str]:
    return [c["name"] for r in result["results"] for c in r["response"]["commands"]]


def test_post_login_api(api: httpx.Client) -> None:
    result = run(
        api,
        PL,
        """
        // Most of Auth0's api methods return the api object itself; addScope does not.
        api.accessToken.setCustomClaim('https://x/roles', ['admin']);
        api.accessToken.addScope('read:reports'); api.accessToken.addScope('write:reports');
        api.accessToken.removeScope('write:reports');
        api.idToken.setCustomClaim('https://x/email', event.user.email);
        api.multifactor.enable('duo', { allowRememberBrowser: true });
        api.authentication.challengeWith({ type: 'otp' });
        api.authentication.enrollWithAny([{ type: 'webauthn-roaming' }]);
        api.authentication.setPrimaryUser('auth0|primary');
        api.samlResponse.setAttribute('https://x/attr', 'v');
        api.user.setAppMetadata('plan', 'pro').user.setUserMetadata('theme', 'dark');
    """,
        {"user": {"user_id": "auth0|42", "email": "e@x.example"}},
    )
    assert "error" not in result, result["error"]
    out = result["outcome"]
    assert out["accessToken"] == {
        "claims": {"https://x/roles": ["admin"]},
        "added_scopes": ["read:reports"],
        "removed_scopes": ["write:reports"],
    }
    assert out["idToken"] == {"claims": {"https://x/email": "e@x.example"}}
    assert out["multifactor"] == {"provider": "duo", "allowRememberBrowser": True}
    assert out["authentication"] == {
        "challenge": {"factors": [{"type": "otp"}]},
        "enroll": {"factors": [{"type": "webauthn-roaming"}]},
        "primary_user": "auth0|primary",
    }
    assert out["saml"] == {"attributes": {"https://x/attr": "v"}}
    assert out["user"] == {"app_metadata": {"plan": "pro"}, "user_metadata": {"theme": "dark"}}
    assert "accessToken.addScope" in commands(result) and "samlResponse.setAttribute" in commands(
        result
    )


def test_post_login_cache_persists_between_executions(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(
            PL,
            """
        const hit = api.cache.get('token');
        if (hit) { api.idToken.setCustomClaim('https://x/cached', hit.value); return; }
        const stored = api.cache.set('token', 'abc', { ttl: 60000 });
        api.idToken.setCustomClaim('https://x/stored', stored.type);
    """,
        ),
    )
    first = fire(api, PL, {"user": {}})
    assert first["outcome"]["idToken"]["claims"] == {"https://x/stored": "success"}
    second = fire(api, PL, {"user": {}})
    assert second["outcome"]["idToken"]["claims"] == {"https://x/cached": "abc"}


def test_credentials_exchange(api: httpx.Client) -> None:
    result = run(
        api,
        "credentials-exchange",
        """
        api.accessToken.setCustomClaim('https://x/tier', event.client.metadata.tier);
        if (event.request.geoip.countryCode === 'XX') api.access.deny('invalid_request', 'blocked region');
    """,
        {
            "client": {"client_id": "c1", "metadata": {"tier": "gold"}},
            "request": {"geoip": {"countryCode": "XX"}},
        },
    )
    assert result["outcome"]["accessToken"]["claims"] == {"https://x/tier": "gold"}
    assert result["outcome"]["denied"] == {"code": "invalid_request", "reason": "blocked region"}


def test_pre_user_registration(api: httpx.Client) -> None:
    result = run(
        api,
        "pre-user-registration",
        """
        api.user.setUserMetadata('signup_source', 'web');
        if (!event.user.email.endsWith('@corp.example')) api.validation.error('invalid_email', 'Corporate email only');
    """,
        {"user": {"email": "someone@gmail.example"}},
    )
    assert result["outcome"]["user"] == {"user_metadata": {"signup_source": "web"}}
    assert result["outcome"]["denied"] == {
        "code": "invalid_email",
        "reason": "Corporate email only",
        "validation": True,
    }
    denied = run(
        api, "pre-user-registration", "api.access.deny('risky', 'Try again later');", {"user": {}}
    )
    assert denied["outcome"]["denied"] == {"reason": "risky", "user_message": "Try again later"}


@pytest.mark.parametrize(
    "trigger", ["post-user-registration", "post-change-password", "send-phone-message"]
)
def test_side_effect_triggers(api: httpx.Client, trigger: str) -> None:
    result = run(
        api,
        trigger,
        """
        console.log('saw', JSON.stringify(event.user || event.message_options || {}));
        api.cache.set('last', 'seen');
        if ('access' in api || 'user' in api) throw new Error('this trigger has no such api');
    """,
        {"user": {"user_id": "u9"}, "message_options": {"recipient": "+15550100"}},
    )
    assert "error" not in result, result
    assert commands(result) == ["cache.set"]
    assert result["results"][0]["response"]["logs"].startswith("saw ")


def test_password_reset_post_challenge(api: httpx.Client) -> None:
    result = run(
        api,
        "password-reset-post-challenge",
        """
        api.authentication.challengeWithAny([{ type: 'otp' }, { type: 'email' }]);
    """,
    )
    assert result["outcome"]["authentication"] == {
        "challenge": {"factors": [{"type": "otp"}, {"type": "email"}]}
    }
    denied = run(api, "password-reset-post-challenge", "api.access.deny('not allowed');")
    assert denied["outcome"]["denied"] == {"reason": "not allowed"}


@pytest.mark.parametrize("trigger", ["custom-email-provider", "custom-phone-provider"])
def test_custom_providers(api: httpx.Client, trigger: str) -> None:
    result = run(
        api,
        trigger,
        """
        if (event.notification.attempt > 1) api.notification.drop('gave up'); else api.notification.retry('provider busy');
    """,
        {"notification": {"attempt": 1, "to": "x"}},
    )
    assert result["outcome"]["notification"] == {"action": "retry", "reason": "provider busy"}
    second = fire(api, trigger, {"notification": {"attempt": 2}})
    assert second["outcome"]["notification"] == {"action": "drop", "reason": "gave up"}


def test_entity_bound_triggers_cannot_be_fired(api: httpx.Client) -> None:
    response = api.post(
        f"{root(api)}/actionsd/v1/triggers/custom-token-exchange/execute", json={"event": {}}
    )
    assert response.status_code == 400
