"""The pytest plugin (entry point ``pytest11``): an actionsd server for a test suite.

``actionsd``: a server started once per test session on a temporary SQLite, emptied
before each test that asks for it, with its CA trusted through SSL_CERT_FILE,
REQUESTS_CA_BUNDLE and NODE_EXTRA_CA_CERTS for the length of that test. It gives
``url``, ``domain`` (for the Auth0 SDKs), ``client_id``/``client_secret``, ``token``
(every scope), ``http`` (an httpx client with that token) and
``fire(trigger, event)``. Nothing starts unless a test asks for the fixture;
``-p no:actionsd`` turns the plugin off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from actionsd.devloop.testing import LocalServer


@pytest.fixture(scope="session")
def actionsd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The session's server, as it is (no reset, no trust set up)."""
    from actionsd.devloop.testing import LocalServer

    server = LocalServer.start(tmp_path_factory.mktemp("actionsd"))
    yield server
    server.stop()


@pytest.fixture
def actionsd(actionsd_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """The session's server, emptied, its CA trusted during the test."""
    actionsd_server.reset()
    for name, value in actionsd_server.trust_env().items():
        monkeypatch.setenv(name, value)
    return actionsd_server
