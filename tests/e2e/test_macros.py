"""The seed-era creative macro tools (seed 001) through the fastmcp client: get_creative_macros
(the AdCP 3.0.6 universal macros, the seed names as aliases, filters by category and format, each
macro's formats agreeing with the catalog's supported_macros), validate_creative_macros (found,
unknown, unsupported by a format, the context fields needed, seed-name warnings) and the admin-only
process_creative_macros (single-pass substitution from a sample context, seller-filled ids and
time, unresolved macros left in place; PERMISSION_DENIED for buyers, 401 without a token)."""

from __future__ import annotations

import re

import pytest

from harness import raw
from harness.adcp import connect

pytestmark = pytest.mark.anyio

CONTENT = (
    '<div>Great deals in ${DCO_GEO_CITY}!</div>'
    '<img src="https://track.example/p?mb={MEDIA_BUY_ID}&cb={CACHEBUSTER}&ts={TIMESTAMP}&c={GDPR_CONSENT}">'
)


def fmt(server, format_id: str) -> dict:
    return {"agent_url": server.mcp_url, "id": format_id}


async def test_the_vocabulary_is_the_universal_macros_with_seed_aliases(buyer, server):
    body = await buyer.ok("get_creative_macros")
    assert body["categories"] == ["dco", "measurement", "privacy"]
    by_name = {m["macro"]: m for m in body["macros"]}
    assert len([m for m in body["macros"] if m["syntax"].startswith("{")]) == 69, "AdCP 3.0.6 universal macros"
    city = by_name["CITY"]
    assert city["syntax"] == "{CITY}" and city["category"] == "dco"
    assert city["aliases"] == ["DCO_GEO_CITY"] and city["context_field"] == "geo.city"
    assert by_name["CACHEBUSTER"]["filled_by"] == "seller"
    assert by_name["DCO_WEATHER"]["syntax"] == "${DCO_WEATHER}", "seed macros without a 3.0 equivalent"
    # Each macro's formats agree with the formats' own supported macros.
    formats = await buyer.ok("list_creative_formats")
    assert formats["formats"], "the demo catalog has formats"
    display = by_name["CACHEBUSTER"]["formats"]
    assert {"agent_url": server.mcp_url, "id": "display_300x250"} in display
    assert {"agent_url": server.mcp_url, "id": "ctv_30s"} not in by_name["GDPR"]["formats"], "CTV has no GDPR macro"

    privacy = await buyer.ok("get_creative_macros", {"category": "privacy"})
    assert privacy["macros"] and all(m["category"] == "privacy" for m in privacy["macros"])
    ctv = await buyer.ok("get_creative_macros", {"format_id": fmt(server, "ctv_30s")})
    names = {m["macro"] for m in ctv["macros"]}
    assert "APP_BUNDLE" in names and "GDPR" not in names and "CLICK_URL" not in names


async def test_macro_filters_refuse_unknown_categories_and_formats(buyer, server):
    error = await buyer.error("get_creative_macros", {"category": "weather"})
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "category")
    error = await buyer.error("get_creative_macros", {"format_id": fmt(server, "no_such_format")})
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "format_id")


async def test_discovery_of_macros_needs_no_credentials(server, schemas):
    async with connect(server.mcp_url, schemas, None) as anonymous:
        body = await anonymous.ok("get_creative_macros", {"category": "measurement"})
        assert any(m["macro"] == "MEDIA_BUY_ID" for m in body["macros"])


async def test_validation_reports_found_unknown_and_unsupported_macros(buyer, server):
    body = await buyer.ok("validate_creative_macros", {"creative_content": CONTENT})
    assert body["valid"] is True
    assert body["macros_found"] == ["DCO_GEO_CITY", "MEDIA_BUY_ID", "CACHEBUSTER", "TIMESTAMP", "GDPR_CONSENT"]
    assert body["unknown_macros"] == [] and body["unsupported_macros"] == []
    assert body["required_aee_fields"] == ["geo.city", "privacy.gdpr_consent"]
    assert any("CITY" in w for w in body["warnings"]), "seed names get a pointer to the 3.0 name"

    unknown = await buyer.ok("validate_creative_macros", {"creative_content": "x {NOT_A_MACRO} [VAST_MACRO] %%GAM%%"})
    assert (unknown["valid"], unknown["unknown_macros"]) == (False, ["NOT_A_MACRO"])

    ctv = await buyer.ok("validate_creative_macros", {"creative_content": CONTENT, "format_id": fmt(server, "ctv_30s")})
    assert ctv["valid"] is False
    assert ctv["unsupported_macros"] == ["DCO_GEO_CITY", "TIMESTAMP", "GDPR_CONSENT"]

    error = await buyer.error("validate_creative_macros", {"creative_content": "  "})
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "creative_content")


async def test_processing_is_for_admins(buyer, server, schemas):
    error = await buyer.error("process_creative_macros", {"creative_content": CONTENT})
    assert error["code"] == "PERMISSION_DENIED"
    response = raw.post(
        server.mcp_url, raw.tool_call("process_creative_macros", {"creative_content": CONTENT}), raw.headers(None)
    )
    assert response.status_code == 401

    _, token = server.create_principal("Macro ops", admin=True)
    async with connect(server.mcp_url, schemas, token) as admin:
        body = await admin.ok(
            "process_creative_macros",
            {
                "principal_id": "admin@publisher.example",
                "creative_content": CONTENT + " ${DCO_WEATHER}",
                "aee_context": {"geo": {"city": "San Francisco ${DCO_WEATHER}"}},
                "media_buy_id": "mb_123",
            },
        )
    content = body["processed_content"]
    assert content.startswith("<div>Great deals in San Francisco ${DCO_WEATHER}!</div>"), "single pass"
    assert re.search(r"mb=mb_123&cb=\d{10}&ts=\d{13}&c=\{GDPR_CONSENT\}", content), content
    assert body["macros_replaced"] == ["DCO_GEO_CITY", "MEDIA_BUY_ID", "CACHEBUSTER", "TIMESTAMP"]
    assert body["macros_unresolved"] == ["GDPR_CONSENT", "DCO_WEATHER"]


async def test_admin_tools_are_listed_to_admins_only(buyer, server, schemas):
    assert "process_creative_macros" not in await buyer.tool_names()
    assert "get_creative_macros" in await buyer.tool_names()
    _, token = server.create_principal("Lister ops", admin=True)
    async with connect(server.mcp_url, schemas, token) as admin:
        assert "process_creative_macros" in await admin.tool_names()
