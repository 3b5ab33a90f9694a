"""Schemathesis against the Actions subset of Auth0's official OpenAPI document, amended
where real traffic contradicts it (see ``tests.fuzzing.auth0_document``)."""

from __future__ import annotations

import pytest
from schemathesis import GenerationMode

from tests.fuzzing import auth0_document, fuzz
from tests.servers import InProcessServer

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
def test_auth0_actions_document(fuzz_server: InProcessServer, mode: GenerationMode) -> None:
    sent = fuzz(auth0_document(), fuzz_server.url + "/api/v2", fuzz_server.token(), mode)
    assert sent > 500
