"""The fastmcp client in both of its connection modes ("auto": the modern 2026-07-28 protocol with
fallback; "legacy": the initialize handshake, 2025-11-25) and with both ways to send the token
(`x-adcp-auth` and `Authorization: Bearer`)."""

from __future__ import annotations

import uuid

import pytest
from mcp.shared.exceptions import MCPError

from harness.adcp import ALL_TOOLS, connect
from harness.server import DEMO_TOKEN

pytestmark = pytest.mark.anyio

MODES = ["auto", "legacy"]
STYLES = ["x-adcp-auth", "bearer"]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_in_every_mode(server, schemas, mode, style):
    async with connect(server.mcp_url, schemas, DEMO_TOKEN, style=style, mode=mode) as client:
        assert client.protocol_version, "no protocol version negotiated"
        names = await client.tool_names()
        assert set(ALL_TOOLS) <= set(names), names

        caps = await client.ok("get_adcp_capabilities", {})
        assert "media_buy" in caps["supported_protocols"]
        products = await client.ok(
            "get_products", {"buying_mode": "brief", "brief": "display ads targeting US tech enthusiasts"}
        )
        assert products["products"]
        formats = await client.ok("list_creative_formats", {})
        assert formats["formats"]
        properties = await client.ok("list_authorized_properties", {})
        assert properties["publisher_domains"]

        domain = f"{mode}-{style}-{uuid.uuid4().hex[:8]}.example".replace("x-adcp-auth", "xadcp")
        synced = await client.ok(
            "sync_accounts",
            {
                "idempotency_key": f"e2e-{uuid.uuid4().hex}",
                "accounts": [{"brand": {"domain": domain}, "operator": domain, "billing": "operator"}],
            },
        )
        assert synced["accounts"][0]["action"] == "created"
        accounts = await client.ok("list_accounts", {"pagination": {"max_results": 100}})
        assert "pagination" in accounts


@pytest.mark.parametrize("mode", MODES)
async def test_modes_negotiate_their_protocol(server, schemas, mode):
    async with connect(server.mcp_url, schemas, DEMO_TOKEN, mode=mode) as client:
        version = client.protocol_version
    if mode == "legacy":
        assert version and version < "2026", f"legacy mode negotiated {version}"
    else:
        assert version, "auto mode negotiated nothing"


@pytest.mark.parametrize("mode", MODES)
async def test_discovery_without_credentials(server, schemas, mode):
    async with connect(server.mcp_url, schemas, None, mode=mode) as client:
        caps = await client.ok("get_adcp_capabilities", {})
        assert "media_buy" in caps["supported_protocols"]
        body = await client.ok("get_products", {"buying_mode": "wholesale"})
        assert body["products"]
        for product in body["products"]:
            assert product["pricing_options"], "anonymous callers still get priced products"
        assert (await client.ok("list_creative_formats", {}))["formats"]
        await client.ok("list_authorized_properties", {})


@pytest.mark.parametrize("mode", MODES)
async def test_protected_tool_without_credentials_is_refused(server, schemas, mode):
    async with connect(server.mcp_url, schemas, None, mode=mode) as client:
        with pytest.raises(MCPError):  # HTTP 401 before dispatch: fastmcp raises, no tool result
            await client.call("list_accounts", {})


@pytest.mark.parametrize("mode", MODES)
async def test_invalid_token_is_refused(server, schemas, mode):
    # HTTP 401 on every request, including the handshake: fastmcp reports it as an MCPError, or,
    # depending on timing, as RuntimeError("Client failed to connect") wrapping it.
    with pytest.raises((MCPError, RuntimeError)) as caught:
        async with connect(server.mcp_url, schemas, "not-a-real-token", mode=mode) as client:
            await client.call("get_adcp_capabilities", {})
    if caught.type is RuntimeError:
        assert "failed to connect" in str(caught.value).lower(), caught.value
