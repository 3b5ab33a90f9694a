"""The event each trigger hands to actions: Auth0's defaults and a realistic sample.

Shapes follow Auth0's type definitions (the ``@auth0/actions`` package, repository
auth0/auth0-actions). Two uses:

- :func:`with_defaults` fills a flow's event: every top-level field the trigger's type
  declares is present. Objects the type requires get their empty shape (``configuration``,
  ``user.app_metadata``, ``transaction.metadata``, ...); optional objects that mean "not in
  this transaction" (``organization``, ``session``, ``refresh_token``, ``prompt``, ...) are
  ``null``, so ``if (event.organization)`` behaves as on a tenant. The caller's values always
  win, merged key by key into the defaults' objects; a caller's non-object value (``null``, a
  list, a string) replaces the default whole.
- :func:`sample` is a full, realistic event for trying a trigger out (``fire``, the dashboard's
  test panels). ``/test`` runs the payload as given, as Auth0's does: no defaults there.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NoReturn

from actionsd import errors, jsontext

Event = dict[str, Any]

TENANT_ID = "actionsd"  # the tenant name a flow's event carries when the caller gives none
# How deeply a caller's JSON for the runtime may nest (event, test payload, continue body):
# as deeply as an action's api arguments may. Deeper once met Python's recursion limit.
MAX_NESTING = 64

# ---- defaults ------------------------------------------------------------------------------

_COMMON: Event = {"configuration": {}, "secrets": {}}
_CLIENT: Event = {"client_id": "", "name": "", "metadata": {}}
_CONNECTION: Event = {"id": "", "name": "", "strategy": "", "metadata": {}}
_TENANT: Event = {"id": TENANT_ID}


def _request(method: str, *, query: bool = True, body: bool = True) -> Event:
    request: Event = {"ip": "", "method": method, "geoip": {}}
    if query:
        request["query"] = {}
    if body:
        request["body"] = {}
    return request


_DEFAULTS: dict[str, Event] = {
    "post-login": {
        "agent": None,
        "anonymous_session": None,
        "authentication": {"methods": []},
        "authorization": {"roles": []},
        "client": _CLIENT,
        "connection": _CONNECTION,
        "custom_domain": None,
        "experiment": None,
        "organization": None,
        "prompt": None,
        "refresh_token": None,
        "request": _request("GET"),
        "resource_server": None,
        "security_context": None,
        "session": None,
        "session_transfer_token": None,
        "stats": {"logins_count": 0},
        "tenant": _TENANT,
        "transaction": {"metadata": {}},
        "user": {"app_metadata": {}, "user_metadata": {}, "identities": []},
    },
    "credentials-exchange": {
        "accessToken": {"scope": [], "customClaims": {}},
        "agent": None,
        "client": _CLIENT,
        "custom_domain": None,
        "organization": None,
        "request": _request("POST", query=False),
        "resource_server": {"identifier": ""},
        "tenant": _TENANT,
        "transaction": {"requested_scopes": []},
    },
    "pre-user-registration": {
        "anonymous_session": None,
        "authentication": None,
        "client": _CLIENT,
        "connection": _CONNECTION,
        "custom_domain": None,
        "experiment": None,
        "request": _request("POST", query=False),
        "security_context": None,
        "tenant": _TENANT,
        "transaction": {"acr_values": [], "requested_scopes": [], "ui_locales": []},
        "user": {"app_metadata": {}, "user_metadata": {}},
    },
    "post-user-registration": {
        "authentication": None,
        "connection": _CONNECTION,
        "custom_domain": None,
        "experiment": None,
        "request": _request("POST", query=False, body=False),
        "security_context": None,
        "tenant": _TENANT,
        "transaction": None,
        "user": {"app_metadata": {}, "user_metadata": {}},
    },
    "post-change-password": {
        "authentication": None,
        "connection": _CONNECTION,
        "custom_domain": None,
        "request": _request("POST", query=False, body=False),
        "tenant": _TENANT,
        "transaction": None,
        "user": {},
    },
    "send-phone-message": {
        "client": _CLIENT,
        "custom_domain": None,
        "message_options": {},
        "request": _request("POST", query=False, body=False),
        "security_context": None,
        "tenant": _TENANT,
        "transaction": None,
        "user": {"app_metadata": {}, "user_metadata": {}, "identities": []},
    },
    "password-reset-post-challenge": {
        "authentication": {"methods": []},
        "authorization": {"roles": []},
        "client": _CLIENT,
        "connection": _CONNECTION,
        "custom_domain": None,
        "organization": None,
        "prompt": None,
        "request": _request("POST"),
        "stats": {"logins_count": 0},
        "tenant": _TENANT,
        "transaction": {},
        "user": {"app_metadata": {}, "user_metadata": {}, "identities": []},
    },
    "custom-email-provider": {
        "client": _CLIENT,
        "connection": None,
        "custom_domain": None,
        "notification": {},
        "organization": None,
        "request": {"ip": "", "geoip": {}, "query": {}},
        "tenant": _TENANT,
        "transaction": None,
        "user": {"app_metadata": {}, "user_metadata": {}},
    },
    "custom-phone-provider": {
        "client": _CLIENT,
        "connection": None,
        "custom_domain": None,
        "notification": {},
        "organization": None,
        "request": _request("POST", query=False, body=False),
        "tenant": _TENANT,
        "transaction": None,
        "user": {"app_metadata": {}, "user_metadata": {}, "identities": []},
    },
    "custom-token-exchange": {
        "client": _CLIENT,
        "custom_domain": None,
        "organization": None,
        "request": _request("POST", query=False),
        "resource_server": {"identifier": ""},
        "tenant": _TENANT,
        "transaction": {
            "requested_scopes": [],
            "requested_token_type": None,
            "subject_token": "",
            "subject_token_type": "",
        },
    },
    "event-stream": {"message": {}},
    # Auth0 publishes no type definition for these two; their events carry what every
    # event has. See docs/compatibility.md.
    "password-hash-migration": {},
    "mcp-tool": {},
}


def triggers() -> tuple[str, ...]:
    """Every trigger id that has an event shape here."""
    return tuple(_DEFAULTS)


def defaults(trigger_id: str) -> Event:
    """The event a flow gets when its caller gives nothing (a fresh copy each call)."""
    # Every login pays for this copy, and parsing JSON text beats deepcopy (docs/runtime.md).
    return jsontext.loads(_defaults_text(trigger_id))  # type: ignore[no-any-return]


@functools.cache
def _defaults_text(trigger_id: str) -> str:
    return jsontext.dumps_text({**_COMMON, **_DEFAULTS.get(trigger_id, {})})


def with_defaults(trigger_id: str, event: Event) -> Event:
    """``event`` over the trigger's defaults; the caller's values win (see module doc)."""
    return merge(defaults(trigger_id), event)


# The field names api.prompt.render accepts; a posted member by any other name is no field.
_FIELD_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,49}")


def answered_prompt(rendered: Event, body: Event | None) -> Event:
    """``event.prompt`` after a rendered prompt comes back (Auth0's type: ``{id, fields,
    vars}``). ``id`` and ``vars`` are the render call's (server side, out of the browser's
    reach); ``fields`` are the render's pre-filled values overlaid by the posted form's
    members that are valid field names."""
    posted = {k: copied(v, "body") for k, v in (body or {}).items() if _FIELD_NAME.fullmatch(k)}
    return {
        "id": rendered["id"],
        "fields": {**copied(rendered.get("fields") or {}, "fields"), **posted},
        "vars": copied(rendered.get("vars") or {}, "vars"),
    }


def merge(base: Event, over: Event, name: str = "event", depth: int = 1) -> Event:
    """``over`` merged into ``base``: objects key by key, anything else replaces. What
    comes from ``over`` is copied: the result shares no object or array with it.
    InvalidBody, naming ``name``, if ``over`` nests more than MAX_NESTING levels."""
    if depth > MAX_NESTING:
        _too_deep(name)
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = merge(below, value, name, depth + 1)
        else:
            merged[key] = copied(value, name, depth + 1)
    return merged


def copied(value: Any, name: str, depth: int = 1) -> Any:
    """A copy of a caller's JSON data ``name``: objects and arrays anew, the immutable rest
    as it is; InvalidBody if it nests more than MAX_NESTING levels. Every login pays it
    on its event, and it costs far less than copy.deepcopy (docs/benchmarks.md)."""
    if isinstance(value, dict):
        if depth > MAX_NESTING:
            _too_deep(name)
        return {
            k: copied(v, name, depth + 1) if isinstance(v, (dict, list)) else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        if depth > MAX_NESTING:
            _too_deep(name)
        return [copied(v, name, depth + 1) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _too_deep(name: str) -> NoReturn:
    raise errors.InvalidBody(
        f"Payload validation error: 'Nested more than {MAX_NESTING} levels deep' "
        f"on property {name}."
    )


# ---- realistic samples ---------------------------------------------------------------------

_STAMP = "2026-03-02T09:41:27.512Z"
_CREATED = "2024-11-18T16:05:44.201Z"
_USER_ID = "auth0|6650f0c2a1b2c3d4e5f60718"
_CLIENT_ID = "Xq7Lr2vNf9KpW3sT8mYc1BdZ6hGj4uEa"
_HOST = "acme-dev.eu.auth0.com"

_GEOIP: Event = {
    "cityName": "Lyon",
    "continentCode": "EU",
    "countryCode": "FR",
    "countryCode3": "FRA",
    "countryName": "France",
    "latitude": 45.7485,
    "longitude": 4.8467,
    "subdivisionCode": "ARA",
    "subdivisionName": "Auvergne-Rhone-Alpes",
    "timeZone": "Europe/Paris",
}
_SAMPLE_CLIENT: Event = {
    "client_id": _CLIENT_ID,
    "name": "Acme Web",
    "metadata": {"tier": "gold", "region": "eu"},
}
_SAMPLE_CONNECTION: Event = {
    "id": "con_8TqWb1xJ2mLhR0sY",
    "name": "Username-Password-Authentication",
    "strategy": "auth0",
    "metadata": {},
}
_SAMPLE_TENANT: Event = {"id": "acme-dev"}
_CUSTOM_DOMAIN: Event = {
    "domain": "login.acme.example",
    "domain_metadata": {"brand": "acme", "environment": "development"},
}
_ORGANIZATION: Event = {
    "id": "org_V3nq8Jx2LkP0aR7t",
    "name": "acme-partners",
    "display_name": "Acme Partners",
    "metadata": {"plan": "enterprise"},
}
_SECURITY: Event = {
    "ja3": "773906b0efdefa24a7f2b8eb6985bf37",
    "ja4": "t13d1715h2_5b57614c22b0_3d5424432f57",
}
_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)


def _sample_request(method: str, **extra: Any) -> Event:
    return {
        "ip": "203.0.113.24",
        "asn": "AS3215",
        "method": method,
        "hostname": _HOST,
        "language": "fr-FR",
        "user_agent": _USER_AGENT,
        "geoip": dict(_GEOIP),
        **extra,
    }


def _sample_user(**extra: Any) -> Event:
    return {
        "user_id": _USER_ID,
        "email": "camille.durand@acme.example",
        "email_verified": True,
        "name": "Camille Durand",
        "given_name": "Camille",
        "family_name": "Durand",
        "nickname": "camille",
        "username": "cdurand",
        "picture": "https://s.gravatar.com/avatar/5e1f?s=480&d=identicon",
        "phone_number": "+33612345678",
        "phone_verified": False,
        "created_at": _CREATED,
        "updated_at": _STAMP,
        "last_password_reset": "2025-06-30T07:12:00.000Z",
        "app_metadata": {"plan": "pro", "roles_synced": True},
        "user_metadata": {"theme": "dark", "locale": "fr"},
        "identities": [
            {
                "connection": "Username-Password-Authentication",
                "provider": "auth0",
                "user_id": "6650f0c2a1b2c3d4e5f60718",
                "isSocial": False,
                "profileData": {},
            },
            {
                "connection": "google-oauth2",
                "provider": "google-oauth2",
                "user_id": "108250963140882135371",
                "isSocial": True,
                "profileData": {"email": "camille.durand@gmail.example", "name": "Camille D."},
            },
        ],
        **extra,
    }


def _transaction(**extra: Any) -> Event:
    return {
        "id": "tx_4bQnV0yJ7sLe2Rk9",
        "locale": "fr",
        "protocol": "oidc-basic-profile",
        "requested_scopes": ["openid", "profile", "email", "read:invoices"],
        "acr_values": [],
        "ui_locales": ["fr", "en"],
        "prompt": ["login"],
        "redirect_uri": "https://app.acme.example/callback",
        "response_mode": "query",
        "response_type": ["code"],
        "state": "c2VzczpkOGU0YjAx",
        "correlation_id": "corr-7f2a",
        **extra,
    }


_POST_LOGIN: Event = {
    "authentication": {
        "methods": [
            {"name": "pwd", "timestamp": "2026-03-02T09:41:20.004Z"},
            {"name": "mfa", "timestamp": "2026-03-02T09:41:26.977Z"},
        ],
        "riskAssessment": {
            "confidence": "high",
            "version": "1",
            "assessments": {
                "UntrustedIP": {"confidence": "high", "code": "not_found_on_deny_list"},
                "NewDevice": {
                    "confidence": "high",
                    "code": "match",
                    "details": {"device": "known", "useragent": "known"},
                },
                "ImpossibleTravel": {
                    "confidence": "high",
                    "code": "minimal_travel_from_last_login",
                },
            },
        },
    },
    "authorization": {"roles": ["billing-admin", "support"]},
    "client": _SAMPLE_CLIENT,
    "connection": _SAMPLE_CONNECTION,
    "custom_domain": _CUSTOM_DOMAIN,
    "organization": _ORGANIZATION,
    "prompt": None,
    "refresh_token": None,
    "request": _sample_request(
        "GET",
        query={
            "client_id": _CLIENT_ID,
            "response_type": "code",
            "scope": "openid profile email read:invoices",
            "redirect_uri": "https://app.acme.example/callback",
            "audience": "https://api.acme.example",
            "state": "c2VzczpkOGU0YjAx",
        },
        body={},
    ),
    "resource_server": {"identifier": "https://api.acme.example"},
    "security_context": _SECURITY,
    "session": {
        "id": "sess_Jm2xQ8vR4tL0pW6n",
        "created_at": "2026-03-02T09:41:27.000Z",
        "updated_at": _STAMP,
        "authenticated_at": "2026-03-02T09:41:26.977Z",
        "expires_at": "2026-03-05T09:41:27.000Z",
        "idle_expires_at": "2026-03-03T09:41:27.000Z",
        "last_interacted_at": _STAMP,
        "user_id": _USER_ID,
        "clients": [{"client_id": _CLIENT_ID}],
        "cookie": {"mode": "persistent"},
        "device": {
            "initial_ip": "203.0.113.24",
            "initial_asn": "AS3215",
            "initial_user_agent": _USER_AGENT,
            "last_ip": "203.0.113.24",
            "last_asn": "AS3215",
            "last_user_agent": _USER_AGENT,
        },
        "metadata": {"channel": "web"},
    },
    "stats": {"logins_count": 37},
    "tenant": _SAMPLE_TENANT,
    "transaction": _transaction(metadata={}),
    "user": _sample_user(multifactor=["guardian"], enrolledFactors=[{"type": "otp"}]),
}

_SAMPLES: dict[str, Event] = {
    "post-login": _POST_LOGIN,
    "credentials-exchange": {
        "accessToken": {"scope": ["read:invoices"], "customClaims": {}},
        "client": {**_SAMPLE_CLIENT, "name": "Acme Billing Worker"},
        "custom_domain": _CUSTOM_DOMAIN,
        "organization": _ORGANIZATION,
        "request": _sample_request(
            "POST",
            body={
                "grant_type": "client_credentials",
                "client_id": _CLIENT_ID,
                "audience": "https://api.acme.example",
            },
        ),
        "resource_server": {"identifier": "https://api.acme.example"},
        "tenant": _SAMPLE_TENANT,
        "transaction": {"requested_scopes": ["read:invoices"]},
    },
    "pre-user-registration": {
        "client": _SAMPLE_CLIENT,
        "connection": _SAMPLE_CONNECTION,
        "custom_domain": _CUSTOM_DOMAIN,
        "request": _sample_request("POST", body={"ulp-newsletter": "on"}),
        "security_context": _SECURITY,
        "tenant": _SAMPLE_TENANT,
        "transaction": {
            "acr_values": [],
            "locale": "fr",
            "protocol": "oidc-basic-profile",
            "requested_scopes": ["openid", "profile"],
            "ui_locales": ["fr"],
            "correlation_id": "corr-91c0",
        },
        "user": {
            "email": "new.user@acme.example",
            "name": "Noa Martin",
            "given_name": "Noa",
            "family_name": "Martin",
            "nickname": "noa",
            "username": "nmartin",
            "phone_number": "+33698765432",
            "app_metadata": {},
            "user_metadata": {},
        },
    },
    "post-user-registration": {
        "connection": _SAMPLE_CONNECTION,
        "custom_domain": _CUSTOM_DOMAIN,
        "request": _sample_request("POST"),
        "security_context": _SECURITY,
        "tenant": _SAMPLE_TENANT,
        "transaction": _transaction(),
        "user": _sample_user(identities=[], app_metadata={}, user_metadata={}),
    },
    "post-change-password": {
        "connection": _SAMPLE_CONNECTION,
        "custom_domain": _CUSTOM_DOMAIN,
        "request": _sample_request("POST"),
        "tenant": _SAMPLE_TENANT,
        "transaction": {"correlation_id": "corr-55de"},
        "user": {
            "id": "6650f0c2a1b2c3d4e5f60718",
            "user_id": _USER_ID,
            "email": "camille.durand@acme.example",
            "email_verified": True,
            "phone_number": "+33612345678",
            "phone_verified": False,
            "username": "cdurand",
            "last_password_reset": _STAMP,
        },
    },
    "send-phone-message": {
        "client": _SAMPLE_CLIENT,
        "custom_domain": _CUSTOM_DOMAIN,
        "message_options": {
            "action": "second-factor-authentication",
            "code": "482913",
            "message_type": "sms",
            "recipient": "+33612345678",
            "text": "Your Acme verification code is 482913",
        },
        "request": _sample_request("POST"),
        "security_context": _SECURITY,
        "tenant": _SAMPLE_TENANT,
        "transaction": {"correlation_id": "corr-0b7e"},
        "user": _sample_user(),
    },
    "password-reset-post-challenge": {
        "authentication": {"methods": [{"name": "email", "timestamp": _STAMP}]},
        "authorization": {"roles": ["support"]},
        "client": _SAMPLE_CLIENT,
        "connection": _SAMPLE_CONNECTION,
        "custom_domain": _CUSTOM_DOMAIN,
        "organization": _ORGANIZATION,
        "prompt": None,
        "request": _sample_request("POST", query={"ticket": "pwr_8d1c"}, body={}),
        "stats": {"logins_count": 37},
        "tenant": _SAMPLE_TENANT,
        "transaction": _transaction(),
        "user": _sample_user(),
    },
    "custom-email-provider": {
        "client": _SAMPLE_CLIENT,
        "connection": _SAMPLE_CONNECTION,
        "custom_domain": _CUSTOM_DOMAIN,
        "notification": {
            "message_type": "verify_email",
            "to": "camille.durand@acme.example",
            "from": "no-reply@acme.example",
            "subject": "Verify your email",
            "html": "<p>Please verify your email address.</p>",
            "text": "Please verify your email address.",
            "locale": "fr-FR",
        },
        "organization": _ORGANIZATION,
        "request": {
            "ip": "203.0.113.24",
            "user_agent": _USER_AGENT,
            "hostname": _HOST,
            "geoip": _GEOIP,
            "query": {},
        },
        "tenant": {
            "id": "acme-dev",
            "friendly_name": "Acme (dev)",
            "home_url": "https://acme.example",
            "logo_url": "https://acme.example/logo.png",
            "support_email": "support@acme.example",
            "support_url": "https://acme.example/support",
        },
        "transaction": {"correlation_id": "corr-e3a1"},
        "user": _sample_user(identities=[]),
    },
    "custom-phone-provider": {
        "client": _SAMPLE_CLIENT,
        "connection": _SAMPLE_CONNECTION,
        "custom_domain": _CUSTOM_DOMAIN,
        "notification": {
            "message_type": "otp_verify",
            "delivery_method": "text",
            "recipient": "+33612345678",
            "from": "+33700000000",
            "code": "482913",
            "as_text": "Your Acme code is 482913",
            "as_voice": "Your Acme code is 4. 8. 2. 9. 1. 3.",
            "locale": "fr-FR",
        },
        "organization": _ORGANIZATION,
        "request": _sample_request("POST"),
        "tenant": {"id": "acme-dev", "friendly_name": "Acme (dev)"},
        "transaction": {"correlation_id": "corr-4c2f"},
        "user": _sample_user(),
    },
    "custom-token-exchange": {
        "client": _SAMPLE_CLIENT,
        "custom_domain": _CUSTOM_DOMAIN,
        "organization": _ORGANIZATION,
        "request": _sample_request("POST", body={}),
        "resource_server": {"identifier": "https://api.acme.example"},
        "tenant": _SAMPLE_TENANT,
        "transaction": {
            "subject_token_type": "urn:acme:legacy-session",
            "subject_token": "lgcy.eyJ1aWQiOiI0MiJ9.sig",
            "requested_scopes": ["openid", "read:invoices"],
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    },
    "event-stream": {
        "message": {
            "id": "evt_2Rb8nQ0wK5tX7vLp",
            "type": "user.created",
            "source": "urn:auth0:acme-dev.eu.auth0.com",
            "specversion": "1.0",
            "time": _STAMP,
            "a0tenant": "acme-dev",
            "a0stream": "est_9Yc3mT1qA6sJ8kDf",
            "data": {
                "object": _sample_user(logins_count=0, blocked=False),
                "context": {
                    "tenant": {"id": "acme-dev"},
                    "client": {"id": _CLIENT_ID, "name": "Acme Web", "metadata": {}},
                    "connection": {
                        "id": "con_8TqWb1xJ2mLhR0sY",
                        "name": "Username-Password-Authentication",
                        "strategy": "auth0",
                    },
                    "request": {
                        "ip": "203.0.113.24",
                        "method": "POST",
                        "hostname": _HOST,
                        "user_agent": _USER_AGENT,
                    },
                },
            },
        },
    },
    "password-hash-migration": {},
    "mcp-tool": {},
}


def sample(trigger_id: str) -> Event:
    """A full, realistic event for ``trigger_id`` (its defaults under the sample)."""
    return with_defaults(trigger_id, _SAMPLES.get(trigger_id, {}))
