"""auth0-python 5.x (unmodified, in a virtualenv of its own beside the suite's 6.x) as
its users run it: a domain, client credentials, HTTPS trusted through SSL_CERT_FILE.
Every step asserts; any failure exits non-zero with the reason."""

from __future__ import annotations

import os
import time
from typing import Any

from auth0.management import ManagementClient
from auth0.management.core.api_error import ApiError

CODE = "exports.onExecutePostLogin = async (event, api) => {};"
client = ManagementClient(
    domain=os.environ["ACTIONSD_DOMAIN"],
    client_id=os.environ["ACTIONSD_CLIENT_ID"],
    client_secret=os.environ["ACTIONSD_CLIENT_SECRET"],
)


def step(name: str) -> None:
    print(f"ok - {name}", flush=True)


def deployed(name: str) -> Any:
    action = client.actions.create(
        name=name,
        supported_triggers=[{"id": "post-login", "version": "v3"}],
        code=CODE,
        secrets=[{"name": "KEY", "value": "value"}],
    )
    deadline = time.monotonic() + 20
    while client.actions.get(action.id).status != "built":
        assert time.monotonic() < deadline, "never built"
        time.sleep(0.05)
    version = client.actions.deploy(action.id)
    assert version.number == 1 and version.deployed is False, version
    return action


one, two, three = (deployed(f"py5-{n}") for n in ("one", "two", "three"))
assert client.actions.get(one.id).deployed_version.number == 1
step("created, built and deployed three actions")

result = client.actions.triggers.bindings.update_many(
    "post-login",
    bindings=[
        {"ref": {"type": "action_id", "value": one.id}, "display_name": "First"},
        {"ref": {"type": "action_name", "value": "py5-two"}},
        {"ref": {"type": "action_id", "value": three.id}},
    ],
)
assert [b.display_name for b in result.bindings] == ["First", "py5-two", "py5-three"]
# The SDK pages until an empty page: a wrong envelope would loop or duplicate.
listed = list(client.actions.triggers.bindings.list("post-login", per_page=2))
assert [b.action.name for b in listed] == ["py5-one", "py5-two", "py5-three"], listed
step("bound with update_many and paged through")

ids = [b.id for b in result.bindings]
reordered = client.actions.triggers.bindings.update_many(
    "post-login",
    bindings=[{"ref": {"type": "binding_id", "value": i}} for i in (ids[2], ids[0], ids[1])],
)
assert [b.id for b in reordered.bindings] == [ids[2], ids[0], ids[1]]
step("reordered by binding_id")

try:
    client.actions.triggers.bindings.update_many(
        "post-login", bindings=[{"ref": {"type": "action_name", "value": "no-such-action"}}]
    )
    raise AssertionError("a bad ref was accepted")
except ApiError as err:
    assert err.status_code == 404, err
    assert err.body == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "The action with name 'no-such-action' referenced by bindings[0] does not exist.",
    }, err.body
assert [b.id for b in client.actions.triggers.bindings.list("post-login")] == [
    ids[2],
    ids[0],
    ids[1],
]
step("a bad ref is Auth0's 404 and changes nothing")

client.actions.update(one.id, code=CODE + "\n// v2")
deadline = time.monotonic() + 20
while client.actions.get(one.id).status != "built":
    assert time.monotonic() < deadline
    time.sleep(0.05)
client.actions.deploy(one.id)
versions = list(client.actions.versions.list(one.id))
assert [v.number for v in versions] == [2, 1]
rolled = client.actions.versions.deploy(one.id, versions[1].id, request={"update_draft": True})
assert rolled.number == 3
action = client.actions.get(one.id)
assert action.deployed_version.number == 3 and action.all_changes_deployed is True
assert [s.name for s in action.secrets or []] == ["KEY"]
step("versions listed and rolled back")

client.actions.triggers.bindings.update_many("post-login", bindings=[])
for action_id in (one.id, two.id, three.id):
    client.actions.delete(action_id)
assert not [a for a in client.actions.list() if a.name.startswith("py5-")]
step("unbound and deleted")
