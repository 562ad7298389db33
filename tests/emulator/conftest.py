"""Session fixtures shared by every emulator test module: one patched stack (``stack.py``) and one
plain ``moto_server``, started together once per pytest session (see ``test_emulator.Servers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_emulator import Servers


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    started = Servers(tmp_path_factory.mktemp("emulator"))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="session")
def url(servers: Servers) -> str:
    return servers.url


@pytest.fixture(scope="session")
def plain_url(servers: Servers) -> str:
    return servers.plain_url
