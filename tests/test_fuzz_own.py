"""Schemathesis against our own OpenAPI document: valid and invalid generated requests
to every operation; no 5xx, and every answer as the document says."""

from __future__ import annotations

import httpx
import pytest
from schemathesis import GenerationMode

from actionsd.auth.tokens import ALL_SCOPES, EXECUTE_SCOPE
from tests.fuzzing import fuzz
from tests.servers import InProcessServer

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
def test_own_document(fuzz_server: InProcessServer, mode: GenerationMode) -> None:
    document = httpx.get(fuzz_server.url + "/openapi.json").json()
    # A request fuzzer waits for a response to end; the live stream never does. Its
    # parameters, scope and events are tested in test_devloop_stream.py.
    del document["paths"]["/actionsd/v1/executions/stream"]
    sent = fuzz(document, fuzz_server.url, fuzz_server.token((*ALL_SCOPES, EXECUTE_SCOPE)), mode)
    assert sent > 1000
