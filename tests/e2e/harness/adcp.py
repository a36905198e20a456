"""A thin AdCP layer over the fastmcp client: every call is checked against the wire contract.

For each tool call it checks that
* the result carries `structuredContent` (a JSON object) and `content[0].text` holds the same JSON;
* a success validates against the tool's AdCP 3.0.6 response schema (list_authorized_properties,
  a seed-era tool with no 3.0 schema, gets a structural check and each property validates against
  core/property.json);
* an error (`isError: true`) has `adcp_error` and `errors[]`, each valid against core/error.json,
  with `errors[0]` being the same error; for create/update_media_buy the whole error result must
  also validate against the tool's response schema (its error arm), and so must those of
  sync_creatives;
* no legacy v2 envelope field (`task_status`, `response_status`) appears;
* a seed-era tool (SEED_TOOLS) answers in its own shape, and its errors are exactly the seed's
  format `{"error": {code, message, field, suggestion}}`;
* comply_test_controller answers, errors included, validate against
  comply-test-controller-response.json, and `success` agrees with `isError`.
Requests the tests build are validated against the request schemas too, unless the test sends a
deliberately malformed request (`valid_request=False`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from .schemas import (
    ERROR_ARM_TOOLS,
    ERROR_SCHEMA,
    PROPERTY_SCHEMA,
    REQUEST_SCHEMAS,
    RESPONSE_SCHEMAS,
    SUBMITTED_SCHEMAS,
    Schemas,
)

CALL_TIMEOUT = 60.0
DISCOVERY_TOOLS = ("get_adcp_capabilities", "get_products", "list_creative_formats", "list_authorized_properties")
PROTECTED_TOOLS = ("sync_accounts", "list_accounts")
ALL_TOOLS = DISCOVERY_TOOLS + PROTECTED_TOOLS
MEDIA_BUY_TOOLS = ("create_media_buy", "update_media_buy", "get_media_buys")
CREATIVE_TOOLS = ("sync_creatives", "list_creatives")
# The seed-era tools (issue 7): their own shapes, no AdCP 3.0 schema, and the seed's error format
# {"error": {code, message, field, suggestion}}.
SEED_TOOLS = frozenset(
    (
        "update_performance_index",
        "get_creative_macros",
        "validate_creative_macros",
        "process_creative_macros",
        "list_human_tasks",
        "get_pending_tasks",
        "create_human_task",
        "assign_task",
        "complete_task",
        "complete_human_task",
        "get_all_media_buy_delivery",
        "review_pending_creatives",
        "discover_products",
        "list_products",
        "get_targeting_capabilities",
        "check_aee_requirements",
        "get_creatives",
        "check_media_buy_status",
        "update_media_buy_status",
        "get_avails",
        "update_package",
        "add_creative_assets",
        "approve_adaptation",
    )
)


# The sandbox test controller answers in its own arms (comply-test-controller-response.json),
# errors included: {success: false, error, error_detail, current_state?}.
CONTROLLER = "comply_test_controller"


def is_seed_form(tool: str, args: dict) -> bool:
    """A request in the seed's form: a seed-era tool, create_media_buy with packages given as the
    package ids get_avails returned, or update_media_buy with seed 001's keys."""
    if tool in SEED_TOOLS:
        return True
    packages = args.get("packages")
    if tool == "create_media_buy":
        return isinstance(packages, list) and any(isinstance(p, str) for p in packages)
    if tool == "update_media_buy":
        seed_package_keys = ("active", "cpm", "daily_budget", "daily_impressions", "creative_ids")
        return (
            any(k in args for k in ("active", "flight_start_date", "flight_end_date"))
            or isinstance(args.get("total_budget"), (int, float))
            or any(isinstance(p, dict) and any(k in p for k in seed_package_keys) for p in packages or [])
        )
    return False


@dataclass
class Result:
    tool: str
    structured: dict
    is_error: bool
    text: str
    raw: Any = field(repr=False, default=None)
    seed: bool = False

    @property
    def error(self) -> dict:
        assert self.is_error, f"{self.tool} succeeded, an error was expected: {self.dump()}"
        if self.seed:
            return self.structured["error"]
        if self.tool == CONTROLLER:
            return self.structured
        return self.structured["adcp_error"]

    @property
    def code(self) -> str:
        if self.tool == CONTROLLER:
            return self.error["error"]
        return self.error["code"]

    def ok(self) -> dict:
        assert not self.is_error, f"{self.tool} failed: {self.dump()}"
        return self.structured

    def dump(self) -> str:
        return json.dumps(self.structured, indent=1, default=str)[:4000]


def auth_headers(token: str | None, style: str = "x-adcp-auth") -> dict[str, str]:
    if token is None:
        return {}
    if style == "x-adcp-auth":
        return {"x-adcp-auth": token}
    if style == "bearer":
        return {"Authorization": f"Bearer {token}"}
    raise ValueError(style)


class Adcp:
    """One connected MCP session (fastmcp) plus the AdCP checks."""

    def __init__(self, client: Client, schemas: Schemas):
        self.client = client
        self.schemas = schemas

    @property
    def protocol_version(self) -> str | None:
        return self.client.protocol_version

    async def tool_names(self) -> list[str]:
        return [tool.name for tool in await self.client.list_tools()]

    async def call(self, tool: str, args: dict | None = None, *, valid_request: bool = True) -> Result:
        args = {} if args is None else args
        seed = is_seed_form(tool, args)
        if valid_request and tool in REQUEST_SCHEMAS and not seed:
            self.schemas.check(REQUEST_SCHEMAS[tool], args, f"the test's own {tool} request")
        raw = await self.client.call_tool(tool, args, raise_on_error=False, timeout=CALL_TIMEOUT)
        result = to_result(tool, raw.structured_content, raw.content, raw.is_error, raw)
        result.seed = seed
        check_result(self.schemas, result)
        return result

    async def ok(self, tool: str, args: dict | None = None) -> dict:
        return (await self.call(tool, args)).ok()

    async def error(self, tool: str, args: dict | None = None, *, valid_request: bool = False) -> dict:
        result = await self.call(tool, args, valid_request=valid_request)
        return result.error

    # -- walking paginated lists -------------------------------------------------------------

    async def walk(self, tool: str, args: dict, key: str, max_results: int) -> tuple[list[dict], list[dict]]:
        """All items of a paginated list, page by page; returns (items, pages). Checks the
        has_more ⇔ cursor invariant and the page size on every page."""
        items: list[dict] = []
        pages: list[dict] = []
        cursor = None
        for _ in range(1000):
            pagination = {"max_results": max_results}
            if cursor is not None:
                pagination["cursor"] = cursor
            page = await self.ok(tool, dict(args, pagination=pagination))
            pages.append(page)
            batch = page[key]
            assert len(batch) <= max_results, f"{tool} page of {len(batch)} > max_results {max_results}"
            items.extend(batch)
            meta = page.get("pagination")
            assert meta is not None, f"{tool} answered a paginated request without pagination: {page}"
            if meta["has_more"]:
                assert meta.get("cursor"), f"{tool}: has_more true without a cursor: {meta}"
                assert batch, f"{tool}: an empty page claims has_more"
                cursor = meta["cursor"]
            else:
                assert "cursor" not in meta, f"{tool}: has_more false with a cursor: {meta}"
                return items, pages
        raise AssertionError(f"{tool}: pagination did not end after 1000 pages")


def to_result(tool: str, structured, content, is_error: bool, raw=None) -> Result:
    assert isinstance(structured, dict), (
        f"{tool}: structuredContent missing or not an object (is_error={is_error}, content={content!r})"
    )
    assert content, f"{tool}: empty content[]"
    first = content[0]
    text = first.get("text") if isinstance(first, dict) else getattr(first, "text", None)
    kind = first.get("type") if isinstance(first, dict) else getattr(first, "type", None)
    assert kind == "text" and isinstance(text, str), f"{tool}: content[0] is not text: {first!r}"
    return Result(tool=tool, structured=structured, is_error=bool(is_error), text=text, raw=raw)


def check_result(schemas: Schemas, result: Result) -> None:
    sc = result.structured
    try:
        from_text = json.loads(result.text)
    except ValueError as error:
        raise AssertionError(f"{result.tool}: content[0].text is not JSON: {result.text[:500]!r}") from error
    assert from_text == sc, (
        f"{result.tool}: content[0].text differs from structuredContent:\n"
        f"text: {result.text[:2000]}\nstructured: {result.dump()}"
    )
    for legacy in ("task_status", "response_status"):
        assert legacy not in sc, f"{result.tool}: legacy v2 field {legacy} in {result.dump()}"
    if result.seed or result.tool in SEED_TOOLS:
        check_seed_result(result)
        return
    if result.tool == CONTROLLER:
        assert sc.get("success") is (not result.is_error), f"{CONTROLLER}: success disagrees with isError: {result.dump()}"
        schemas.check(RESPONSE_SCHEMAS[CONTROLLER], sc, f"{CONTROLLER} response")
        return
    if result.is_error:
        assert "adcp_error" in sc, f"{result.tool}: error without adcp_error: {result.dump()}"
        schemas.check(ERROR_SCHEMA, sc["adcp_error"], f"{result.tool} adcp_error")
        errors = sc.get("errors")
        assert isinstance(errors, list) and errors, f"{result.tool}: error without errors[]: {result.dump()}"
        for index, item in enumerate(errors):
            schemas.check(ERROR_SCHEMA, item, f"{result.tool} errors[{index}]")
        assert errors[0]["code"] == sc["adcp_error"]["code"], f"{result.tool}: errors[0] is not adcp_error"
        assert errors[0]["message"] == sc["adcp_error"]["message"], f"{result.tool}: errors[0] is not adcp_error"
        for forbidden in ("media_buy_id", "packages", "sandbox"):
            assert forbidden not in sc, f"{result.tool}: error carries {forbidden}"
        if result.tool in ERROR_ARM_TOOLS:
            schemas.check(RESPONSE_SCHEMAS[result.tool], sc, f"{result.tool} error response")
        return
    if sc.get("status") == "submitted" and result.tool in SUBMITTED_SCHEMAS:
        assert isinstance(sc.get("task_id"), str) and sc["task_id"], f"{result.tool}: submitted without task_id"
        for artifact in ("media_buy_id", "packages"):
            assert artifact not in sc, f"{result.tool}: the submitted arm carries {artifact}: {result.dump()}"
        schemas.check(SUBMITTED_SCHEMAS[result.tool], sc, f"{result.tool} submitted response")
        if result.tool == "create_media_buy":
            schemas.check(RESPONSE_SCHEMAS[result.tool], sc, f"{result.tool} response")
    elif result.tool in RESPONSE_SCHEMAS:
        schemas.check(RESPONSE_SCHEMAS[result.tool], sc, f"{result.tool} response")
    elif result.tool == "list_authorized_properties":
        check_authorized_properties(schemas, sc)


def check_seed_result(result: Result) -> None:
    """A seed-era tool: an error is exactly the seed's format; a success is an object without it."""
    sc = result.structured
    if not result.is_error:
        assert "error" not in sc and "adcp_error" not in sc, f"{result.tool}: success carries an error: {result.dump()}"
        return
    assert set(sc) <= {"error", "context"}, f"{result.tool}: seed error with extra fields: {result.dump()}"
    error = sc.get("error")
    assert isinstance(error, dict), f"{result.tool}: seed error without error{{}}: {result.dump()}"
    assert set(error) <= {"code", "message", "field", "suggestion"}, f"{result.tool}: unexpected keys: {error}"
    for key in ("code", "message"):
        assert isinstance(error.get(key), str) and error[key], f"{result.tool}: error.{key} missing: {error}"
    for key in ("field", "suggestion"):
        assert key not in error or isinstance(error[key], str), f"{result.tool}: error.{key} not a string: {error}"


def check_authorized_properties(schemas: Schemas, sc: dict) -> None:
    """list_authorized_properties has no 3.0 schema (removed in v3); check its seed-era shape."""
    assert isinstance(sc.get("properties"), list), f"properties[] missing: {sc}"
    for index, prop in enumerate(sc["properties"]):
        schemas.check(PROPERTY_SCHEMA, prop, f"list_authorized_properties properties[{index}]")
    domains = sc.get("publisher_domains")
    assert isinstance(domains, list) and domains and all(isinstance(d, str) and d for d in domains), (
        f"publisher_domains must be a non-empty list of domains: {domains!r}"
    )
    assert isinstance(sc.get("advertising_policies"), (dict, str)), f"advertising_policies missing: {sc}"
    assert isinstance(sc.get("portfolio_description"), str) and sc["portfolio_description"], (
        f"portfolio_description missing: {sc}"
    )


@contextlib.asynccontextmanager
async def connect(
    url: str,
    schemas: Schemas,
    token: str | None = "test-token",
    *,
    style: str = "x-adcp-auth",
    mode: str = "auto",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Adcp]:
    transport = StreamableHttpTransport(url, headers={**auth_headers(token, style), **(headers or {})})
    client = Client(transport, mode=mode, timeout=CALL_TIMEOUT, init_timeout=CALL_TIMEOUT)
    async with client:
        yield Adcp(client, schemas)


def format_key(format_id: dict) -> tuple:
    """Identity of a format_id (agent_url + id, plus any template parameters)."""
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in format_id.items()))
