"""The administrative CLI against a running server's database: principals (create → token works,
list, revoke → 401) and catalog import while the server runs. Uses its own server because a
catalog import replaces the tenant's catalog."""

from __future__ import annotations

import copy
import datetime
import json
import tomllib
import uuid

import pytest

from harness import raw
from harness.adcp import connect
from harness.server import DEMO_TENANT, catalog_path

pytestmark = pytest.mark.anyio

DEMO_CATALOG = catalog_path()  # config/demo-catalog.toml unless E2E_CATALOG is set
TECH_PRODUCT = "prod-tech-display-001"


def load_demo_catalog() -> dict:
    if DEMO_CATALOG.suffix == ".json":
        return json.loads(DEMO_CATALOG.read_text())
    with open(DEMO_CATALOG, "rb") as f:
        return tomllib.load(f)


def to_json(value) -> str:
    def default(obj):
        if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
            return obj.isoformat()
        raise TypeError(f"cannot serialize {type(obj)}")

    return json.dumps(value, indent=1, default=default)


def status_of(server, token: str, tool: str = "list_accounts") -> int:
    return raw.post(server.mcp_url, raw.tool_call(tool, {}), raw.headers(token)).status_code


# -- principals --------------------------------------------------------------------------------


async def test_principal_create_token_works(own_server, schemas):
    principal_id, token = own_server.create_principal("Acme")
    assert token != "test-token" and len(token) >= 16
    async with connect(own_server.mcp_url, schemas, token, style="bearer") as acme:
        body = await acme.ok("list_accounts", {})
        assert body["accounts"] == []
        domain = f"acme-{uuid.uuid4().hex[:8]}.example"
        synced = await acme.ok(
            "sync_accounts",
            {
                "idempotency_key": f"e2e-{uuid.uuid4().hex}",
                "accounts": [{"brand": {"domain": domain}, "operator": domain, "billing": "operator"}],
            },
        )
        assert synced["accounts"][0]["action"] == "created"
    async with connect(own_server.mcp_url, schemas, token, style="x-adcp-auth") as acme:
        assert [a["brand"]["domain"] for a in (await acme.ok("list_accounts", {}))["accounts"]] == [domain]
    listing = own_server.cli("principal", "list", "--tenant", DEMO_TENANT).stdout
    assert principal_id in listing
    assert "Acme" in listing


def test_principal_create_admin(own_server):
    principal_id, token = own_server.create_principal("Ops", admin=True)
    assert status_of(own_server, token) == 200
    assert principal_id in own_server.cli("principal", "list", "--tenant", DEMO_TENANT).stdout


def test_tokens_are_unique(own_server):
    tokens = {own_server.create_principal(f"Twin {i}")[1] for i in range(3)}
    assert len(tokens) == 3


def test_revoke_makes_token_401(own_server):
    principal_id, token = own_server.create_principal("Shortlived")
    assert status_of(own_server, token) == 200
    own_server.cli("principal", "revoke", "--tenant", DEMO_TENANT, "--id", principal_id)
    response = raw.post(own_server.mcp_url, raw.tool_call("list_accounts", {}), raw.headers(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers.get("www-authenticate", "")
    # also on discovery tools: a revoked token is an invalid token everywhere
    assert status_of(own_server, token, "get_adcp_capabilities") == 401
    assert principal_id not in own_server.cli("principal", "list", "--tenant", DEMO_TENANT).stdout
    # the demo principal is unaffected
    assert status_of(own_server, "test-token") == 200


def test_revoke_unknown_principal_fails(own_server):
    result = own_server.cli("principal", "revoke", "--tenant", DEMO_TENANT, "--id", "p_does_not_exist", check=False)
    assert result.returncode != 0


def test_unknown_tenant_fails(own_server):
    result = own_server.cli("principal", "create", "--tenant", "no-such-tenant", "--name", "X", check=False)
    assert result.returncode != 0
    assert "token:" not in result.stdout


# -- catalog import ----------------------------------------------------------------------------


async def product_names(server, schemas) -> dict[str, str]:
    async with connect(server.mcp_url, schemas, "test-token") as client:
        items, _ = await client.walk("get_products", {"buying_mode": "wholesale"}, "products", 100)
    return {p["product_id"]: p["name"] for p in items}


async def test_catalog_import_json_while_running(own_server, schemas, tmp_path):
    catalog = load_demo_catalog()
    products = catalog.get("products") or []
    assert products, f"{DEMO_CATALOG} has no products"
    before = await product_names(own_server, schemas)
    assert TECH_PRODUCT in before

    modified = copy.deepcopy(catalog)
    target = [p for p in modified["products"] if p.get("product_id") == TECH_PRODUCT]
    target = target[0] if target else modified["products"][0]
    new_name = f"E2E Renamed {uuid.uuid4().hex[:6]}"
    target["name"] = new_name
    path = tmp_path / "catalog.json"
    path.write_text(to_json(modified))
    own_server.cli("catalog", "import", "--tenant", DEMO_TENANT, str(path))

    after = await product_names(own_server, schemas)
    assert after[target["product_id"]] == new_name, "get_products does not show the imported catalog"
    assert set(after) == set(before)


async def test_catalog_import_original_restores(own_server, schemas):
    own_server.cli("catalog", "import", "--tenant", DEMO_TENANT, str(DEMO_CATALOG))
    names = await product_names(own_server, schemas)
    original = {p["product_id"]: p["name"] for p in load_demo_catalog()["products"]}
    assert names == original


async def test_catalog_import_smaller_catalog(own_server, schemas, tmp_path):
    catalog = load_demo_catalog()
    modified = copy.deepcopy(catalog)
    keep = [p for p in modified["products"] if p.get("product_id") == TECH_PRODUCT]
    assert keep, f"{TECH_PRODUCT} not in {DEMO_CATALOG}"
    modified["products"] = keep
    path = tmp_path / "one.json"
    path.write_text(to_json(modified))
    own_server.cli("catalog", "import", "--tenant", DEMO_TENANT, str(path))
    assert list(await product_names(own_server, schemas)) == [TECH_PRODUCT]
    own_server.cli("catalog", "import", "--tenant", DEMO_TENANT, str(DEMO_CATALOG))


async def test_invalid_catalog_is_rejected_and_nothing_changes(own_server, schemas, tmp_path):
    before = await product_names(own_server, schemas)
    broken = copy.deepcopy(load_demo_catalog())
    for product in broken["products"]:
        product["pricing_options"] = []  # every product needs at least one pricing option
    path = tmp_path / "broken.json"
    path.write_text(to_json(broken))
    result = own_server.cli("catalog", "import", "--tenant", DEMO_TENANT, str(path), check=False)
    assert result.returncode != 0, f"an invalid catalog was imported: {result.stdout}"
    garbage = tmp_path / "garbage.toml"
    garbage.write_text("this is [not toml")
    assert own_server.cli("catalog", "import", "--tenant", DEMO_TENANT, str(garbage), check=False).returncode != 0
    assert await product_names(own_server, schemas) == before
