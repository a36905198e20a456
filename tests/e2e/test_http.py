"""Raw HTTP (httpx2) against /mcp, /healthz, /readyz: what the compliance runner's probes and
plain HTTP clients see. No MCP client library involved."""

from __future__ import annotations

import json
import re

import httpx2 as httpx
import pytest

from harness import raw
from harness.adcp import DISCOVERY_TOOLS, PROTECTED_TOOLS, check_result, to_result
from harness.server import DEMO_TOKEN

DISCOVERY_ARGS = {
    "get_adcp_capabilities": {},
    "get_products": {"buying_mode": "brief", "brief": "display ads targeting US tech enthusiasts"},
    "list_creative_formats": {},
    "list_authorized_properties": {},
}
PROTECTED_ARGS = {
    "sync_accounts": {
        "idempotency_key": "e2e-raw-unauthenticated-0001",
        "accounts": [{"brand": {"domain": "raw.example"}, "operator": "raw.example", "billing": "operator"}],
    },
    "list_accounts": {},
}
REALM = re.compile(r'^Bearer realm="[^"]+"')


def tool_result(schemas, response: httpx.Response, request: dict, tool: str):
    assert response.status_code == 200, f"{tool}: HTTP {response.status_code}: {response.text[:1000]}"
    message = raw.single(response, request["id"])
    assert "error" not in message, f"{tool}: JSON-RPC error {message['error']}"
    res = message["result"]
    result = to_result(tool, res.get("structuredContent"), res.get("content"), res.get("isError", False))
    check_result(schemas, result)
    return result


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("tool", PROTECTED_TOOLS)
def test_protected_tool_without_credentials_is_401(server, tool):
    response = raw.post(server.mcp_url, raw.tool_call(tool, PROTECTED_ARGS[tool]), raw.headers(None))
    assert response.status_code == 401, f"{tool}: {response.status_code} {response.text[:500]}"
    challenge = response.headers.get("www-authenticate", "")
    assert REALM.match(challenge), f"WWW-Authenticate: {challenge!r}"
    assert "error=" not in challenge, "no credentials is not an invalid token (RFC 6750 §3.1)"


@pytest.mark.parametrize("style", ["bearer", "x-adcp-auth"])
@pytest.mark.parametrize("tool", PROTECTED_TOOLS + DISCOVERY_TOOLS)
def test_invalid_token_is_401_invalid_token(server, tool, style):
    args = PROTECTED_ARGS[tool] if tool in PROTECTED_ARGS else DISCOVERY_ARGS[tool]
    response = raw.post(server.mcp_url, raw.tool_call(tool, args), raw.headers("wrong-token-e2e", style=style))
    assert response.status_code == 401, f"{tool}: {response.status_code} {response.text[:500]}"
    challenge = response.headers.get("www-authenticate", "")
    assert REALM.match(challenge), f"WWW-Authenticate: {challenge!r}"
    assert 'error="invalid_token"' in challenge, f"WWW-Authenticate: {challenge!r}"


def test_invalid_token_on_initialize_is_401(server):
    response = raw.post(server.mcp_url, raw.initialize(), raw.headers("wrong-token-e2e", accept=raw.JSON_AND_SSE))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers.get("www-authenticate", "")


@pytest.mark.parametrize("tool", DISCOVERY_TOOLS)
def test_discovery_without_credentials(server, schemas, tool):
    request = raw.tool_call(tool, DISCOVERY_ARGS[tool])
    result = tool_result(schemas, raw.post(server.mcp_url, request, raw.headers(None)), request, tool)
    assert not result.is_error, result.dump()


@pytest.mark.parametrize("style", ["bearer", "x-adcp-auth"])
def test_protected_tool_with_token_stateless(server, schemas, style):
    request = raw.tool_call("list_accounts", {"context": {"raw": style}})
    result = tool_result(schemas, raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN, style=style)), request, "list_accounts")
    assert result.ok()["context"] == {"raw": style}


# -- transport behaviour -----------------------------------------------------------------------


def test_json_only_accept_gets_plain_json(server, schemas):
    """The runner's raw probes send `Accept: application/json` only and do not parse SSE."""
    request = raw.tool_call("get_adcp_capabilities", {})
    response = raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN, accept=raw.JSON_ONLY))
    assert response.status_code == 200, f"{response.status_code}: {response.text[:500]} (406 is the classic bug)"
    assert response.headers.get("content-type", "").startswith("application/json")
    body = json.loads(response.text)
    assert body["id"] == request["id"]
    tool_result(schemas, response, request, "get_adcp_capabilities")


def test_json_only_initialize_is_not_406(server):
    request = raw.initialize()
    response = raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN, accept=raw.JSON_ONLY))
    assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
    assert response.headers.get("content-type", "").startswith("application/json")
    message = json.loads(response.text)
    assert message["result"]["serverInfo"]["name"]


def test_stateless_tools_call_without_initialize(server, schemas):
    request = raw.tool_call("get_products", {"buying_mode": "wholesale"})
    response = raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN, accept=raw.JSON_AND_SSE))
    result = tool_result(schemas, response, request, "get_products")
    assert result.ok()["products"]


def test_stateless_tool_error_is_a_tool_result(server, schemas):
    """Malformed arguments are an AdCP error inside a tool result, never a JSON-RPC error."""
    request = raw.tool_call("get_products", {"buying_mode": "brief", "brief": 42, "context": {"r": 1}})
    response = raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN))
    result = tool_result(schemas, response, request, "get_products")
    assert result.is_error
    assert result.code == "INVALID_REQUEST"
    assert result.error["field"] == "brief"
    assert result.structured["context"] == {"r": 1}


def test_session_initialize_then_call(server, schemas):
    hdrs = raw.headers(DEMO_TOKEN, accept=raw.JSON_AND_SSE)
    init = raw.initialize()
    with httpx.Client(timeout=30) as http:
        response = http.post(server.mcp_url, content=json.dumps(init), headers=hdrs)
        assert response.status_code == 200, response.text[:500]
        assert raw.single(response, init["id"])["result"]["protocolVersion"]
        session = response.headers.get("mcp-session-id")
        assert session, "an initialize with SSE accepted should open a session"
        hdrs = dict(hdrs, **{"mcp-session-id": session, "mcp-protocol-version": raw.MCP_PROTOCOL_VERSION})
        note = raw.rpc("notifications/initialized", notification=True)
        assert http.post(server.mcp_url, content=json.dumps(note), headers=hdrs).status_code in (200, 202)
        listing = raw.rpc("tools/list", {})
        tools = raw.single(http.post(server.mcp_url, content=json.dumps(listing), headers=hdrs), listing["id"])
        assert "get_products" in [t["name"] for t in tools["result"]["tools"]]
        call = raw.tool_call("list_accounts", {})
        response = http.post(server.mcp_url, content=json.dumps(call), headers=hdrs)
        tool_result(schemas, response, call, "list_accounts")
        http.delete(server.mcp_url, headers=hdrs)


def test_unknown_tool_is_not_a_500(server):
    request = raw.tool_call("no_such_tool", {})
    response = raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN))
    assert response.status_code < 500
    if response.status_code == 200:
        message = raw.single(response, request["id"])
        assert "error" in message or message["result"].get("isError")


def test_garbage_body_is_not_a_500(server):
    with httpx.Client(timeout=30) as http:
        response = http.post(server.mcp_url, content=b"{not json", headers=raw.headers(DEMO_TOKEN))
    assert 400 <= response.status_code < 500 or response.status_code == 200


# -- health and host checks --------------------------------------------------------------------


def test_healthz(server):
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{server.base_url}/healthz").status_code == 200


def test_readyz(server):
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{server.base_url}/readyz").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "attacker.test:{port}"])
def test_disallowed_host_is_403(server, host):
    request = raw.tool_call("get_adcp_capabilities", {})
    hdrs = raw.headers(DEMO_TOKEN, Host=host.format(port=server.port))
    response = raw.post(server.mcp_url, request, hdrs)
    assert response.status_code == 403, f"Host {host}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "localhost"])
def test_allowed_hosts_work(server, schemas, host):
    request = raw.tool_call("get_adcp_capabilities", {})
    hdrs = raw.headers(DEMO_TOKEN, Host=host.format(port=server.port))
    tool_result(schemas, raw.post(server.mcp_url, request, hdrs), request, "get_adcp_capabilities")
