"""Fixtures for the end-to-end suite.

* `server`: one fresh server for the whole session (empty temp SQLite file, or a new Postgres
  database when E2E_POSTGRES_URL is set); tests that share it use unique brands/keys.
* `own_server`: a fresh server per module, for modules whose tests change global state
  (catalog import, principals).
* `schemas`: the AdCP 3.0.6 schemas (ADCP_SCHEMAS_DIR); autouse, so a missing schema directory
  fails every test instead of skipping anything.
* `buyer`: a fastmcp session as the demo buyer (`x-adcp-auth: test-token`).

When a test fails, the server log lines written during that test are attached to its report; a
server that dies during a test fails that test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.adcp import connect  # noqa: E402
from harness.schemas import SchemaSetupError, Schemas, schemas_dir  # noqa: E402
from harness.server import (  # noqa: E402
    DEMO_TOKEN,
    Server,
    ServerError,
    binary_path,
    catalog_path,
    postgres_maintenance_url,
)

_RUNNING: list[Server] = []
_LOG_OFFSETS = pytest.StashKey[dict]()


def pytest_report_header(config):
    backend = "postgres (" + postgres_maintenance_url() + ")" if postgres_maintenance_url() else "sqlite (temp file)"
    return [
        f"sales-agent binary: {binary_path()}",
        f"database backend: {backend}",
        f"AdCP schemas: {schemas_dir()}",
        f"catalog: {catalog_path() if os.environ.get('E2E_CATALOG') else 'built-in demo catalog'}",
    ]


def _start(name: str) -> Server:
    server = Server(name)
    try:
        server.start()
    except ServerError as error:
        server.stop()  # the error above already carries the log
        pytest.fail(f"could not start sales-agent ({name}): {error}", pytrace=False)
    _RUNNING.append(server)
    return server


def _stop(server: Server) -> None:
    if server in _RUNNING:
        _RUNNING.remove(server)
    server.stop()


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def schemas() -> Schemas:
    try:
        return Schemas()
    except SchemaSetupError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def server():
    srv = _start("session")
    yield srv
    _stop(srv)


@pytest.fixture(scope="module")
def own_server(request):
    srv = _start(request.module.__name__.rsplit(".", 1)[-1])
    yield srv
    _stop(srv)


@pytest.fixture
async def buyer(server, schemas, anyio_backend):
    async with connect(server.mcp_url, schemas, DEMO_TOKEN) as client:
        yield client


@pytest.fixture(autouse=True)
def _server_must_survive():
    yield
    dead = [s for s in _RUNNING if not s.alive()]
    for srv in dead:
        _RUNNING.remove(srv)
    if dead:
        pytest.fail(
            "the server died during this test:\n"
            + "\n".join(f"--- {s.name} log ---\n{s.read_log(max_lines=200)}" for s in dead),
            pytrace=False,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    item.stash[_LOG_OFFSETS] = {id(s): s.log_size() for s in _RUNNING}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = item.stash.get(_LOG_OFFSETS, {})
    for srv in list(_RUNNING):
        text = srv.read_log(offsets.get(id(srv), 0), max_lines=int(os.environ.get("E2E_LOG_LINES", "200")))
        if text.strip():
            report.sections.append((f"server log: {srv.name} ({srv.backend}, {srv.base_url})", text))
