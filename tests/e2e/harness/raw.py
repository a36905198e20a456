"""Raw JSON-RPC over HTTP (httpx2, which fastmcp brings), the way the compliance runner's probes talk."""

from __future__ import annotations

import itertools
import json

import httpx2 as httpx

_ids = itertools.count(1)

JSON_ONLY = "application/json"
JSON_AND_SSE = "application/json, text/event-stream"
MCP_PROTOCOL_VERSION = "2025-11-25"


def rpc(method: str, params: dict | None = None, *, notification: bool = False) -> dict:
    body = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    if not notification:
        body["id"] = next(_ids)
    return body


def tool_call(name: str, arguments: dict | None = None) -> dict:
    return rpc("tools/call", {"name": name, "arguments": arguments or {}})


def initialize() -> dict:
    return rpc(
        "initialize",
        {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "sales-agent-e2e", "version": "0"},
        },
    )


def headers(token: str | None = None, *, style: str = "bearer", accept: str = JSON_ONLY, **extra: str) -> dict:
    out = {"Content-Type": "application/json", "Accept": accept}
    if token is not None:
        if style == "bearer":
            out["Authorization"] = f"Bearer {token}"
        else:
            out["x-adcp-auth"] = token
    out.update(extra)
    return out


def post(url: str, body: dict, hdrs: dict, timeout: float = 30.0) -> httpx.Response:
    with httpx.Client(timeout=timeout) as http:
        return http.post(url, content=json.dumps(body).encode(), headers=hdrs)


def messages(response: httpx.Response) -> list[dict]:
    """JSON-RPC messages in a response body, plain JSON or SSE."""
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        data = response.json()
        return data if isinstance(data, list) else [data]
    if ctype.startswith("text/event-stream"):
        out = []
        for event in response.text.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(
                line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")
            )
            if data.strip():
                try:
                    out.append(json.loads(data))
                except ValueError:
                    pass
        return out
    raise AssertionError(f"unexpected content-type {ctype!r}: {response.text[:500]}")


def single(response: httpx.Response, request_id) -> dict:
    for message in messages(response):
        if message.get("id") == request_id:
            return message
    raise AssertionError(f"no JSON-RPC answer with id {request_id}: {response.text[:1000]}")
