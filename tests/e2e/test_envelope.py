"""The AdCP envelope through the fastmcp client: context echo (success and error), version
negotiation, and malformed arguments answered as AdCP INVALID_REQUEST tool errors."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.anyio

CONTEXT = {"trace": "e2e-ctx", "nested": {"list": [1, 2, {"x": None}], "flag": True}, "n": 1.5}

SUCCESS_CALLS = [
    ("get_adcp_capabilities", {}),
    ("get_products", {"buying_mode": "brief", "brief": "display ads for developers"}),
    ("get_products", {"buying_mode": "wholesale"}),
    ("list_creative_formats", {}),
    ("list_authorized_properties", {}),
    ("list_accounts", {}),
]


@pytest.mark.parametrize("tool,args", SUCCESS_CALLS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(SUCCESS_CALLS)])
async def test_context_echoed_on_success(buyer, tool, args):
    result = await buyer.call(tool, {**args, "context": CONTEXT}, valid_request=tool != "list_authorized_properties")
    body = result.ok()
    assert body.get("context") == CONTEXT


async def test_context_echoed_on_sync_accounts(buyer):
    domain = f"ctx-{uuid.uuid4().hex[:10]}.example"
    body = await buyer.ok(
        "sync_accounts",
        {
            "idempotency_key": f"e2e-{uuid.uuid4().hex}",
            "accounts": [{"brand": {"domain": domain}, "operator": domain, "billing": "operator"}],
            "context": CONTEXT,
        },
    )
    assert body["context"] == CONTEXT


@pytest.mark.parametrize("tool", ["get_adcp_capabilities", "get_products", "list_creative_formats", "list_accounts"])
async def test_no_context_invented(buyer, tool):
    args = {"buying_mode": "wholesale"} if tool == "get_products" else {}
    body = await buyer.ok(tool, args)
    assert "context" not in body


async def test_context_echoed_on_error(buyer):
    result = await buyer.call("get_products", {"buying_mode": "brief", "brief": 42, "context": CONTEXT}, valid_request=False)
    assert result.is_error
    assert result.structured.get("context") == CONTEXT


# -- version negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool,args",
    [
        ("get_adcp_capabilities", {}),
        ("get_products", {"buying_mode": "wholesale"}),
        ("list_creative_formats", {}),
        ("list_accounts", {}),
    ],
)
async def test_version_unsupported(buyer, tool, args):
    result = await buyer.call(tool, {**args, "adcp_major_version": 99, "context": {"v": 99}}, valid_request=True)
    assert result.is_error, f"adcp_major_version 99 accepted: {result.dump()}"
    assert result.code == "VERSION_UNSUPPORTED"
    assert result.error.get("recovery") == "correctable"
    assert result.structured.get("context") == {"v": 99}


async def test_version_3_accepted(buyer):
    body = await buyer.ok("get_products", {"buying_mode": "wholesale", "adcp_major_version": 3})
    assert body["products"]


# -- malformed arguments -----------------------------------------------------------------------


MALFORMED = [
    ("get_products", {"buying_mode": "brief", "brief": 42}, "brief"),
    ("get_products", {"buying_mode": "bogus"}, "buying_mode"),
    ("get_products", {"buying_mode": "brief"}, "brief"),
    ("get_products", {"buying_mode": "wholesale", "filters": {"channels": "display"}}, "filters"),
    ("get_products", {"buying_mode": "wholesale", "filters": {"delivery_type": "sometimes"}}, "filters"),
    ("get_products", {"buying_mode": "wholesale", "pagination": {"max_results": "ten"}}, "pagination"),
    ("get_products", {"buying_mode": "wholesale", "pagination": {"max_results": 0}}, "pagination"),
    ("get_products", {"buying_mode": "refine", "refine": [{"scope": "galaxy"}]}, "refine"),
    ("list_creative_formats", {"format_ids": "display_300x250"}, "format_ids"),
    ("list_creative_formats", {"pagination": {"max_results": 1000}}, "pagination"),
    ("get_adcp_capabilities", {"adcp_major_version": "three"}, "adcp_major_version"),
    ("list_accounts", {"pagination": {"max_results": -1}}, "pagination"),
    ("list_accounts", {"status": 7}, "status"),
    ("sync_accounts", {"idempotency_key": "e2e-malformed-0000000000", "accounts": [{"brand": "acme"}]}, "accounts"),
]


def top_field(field: str) -> str:
    return field.split(".")[0].split("[")[0]


@pytest.mark.parametrize("tool,args,field", MALFORMED, ids=[f"{t}-{f}-{i}" for i, (t, _, f) in enumerate(MALFORMED)])
async def test_malformed_arguments_are_invalid_request(buyer, tool, args, field):
    result = await buyer.call(tool, {**args, "context": {"m": field}}, valid_request=False)
    assert result.is_error, f"{tool} accepted malformed arguments {args}: {result.dump()}"
    assert result.code in ("INVALID_REQUEST", "VALIDATION_ERROR"), result.dump()
    assert result.error.get("recovery") == "correctable"
    got = result.error.get("field")
    assert got and top_field(got) == field, f"field should name {field!r}, got {got!r}"
    assert result.structured.get("context") == {"m": field}
