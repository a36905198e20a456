"""Discovery tools through the fastmcp client: capabilities, products (brief / wholesale / refine,
filters, pagination), creative formats, authorized properties. Every response is schema-checked by
the harness."""

from __future__ import annotations

import re

import pytest

from harness.adcp import ALL_TOOLS, format_key

pytestmark = pytest.mark.anyio

TECH_PRODUCT = "prod-tech-display-001"
TECH_BRIEF = "display ads targeting US tech enthusiasts, developers, $5000 budget"


async def wholesale(buyer, **extra) -> list[dict]:
    """The whole catalog (optionally filtered), every page."""
    items, _ = await buyer.walk("get_products", {"buying_mode": "wholesale", **extra}, "products", 100)
    return items


def ids(products: list[dict]) -> list[str]:
    return [p["product_id"] for p in products]


def find(products: list[dict], product_id: str) -> dict:
    for product in products:
        if product["product_id"] == product_id:
            return product
    raise AssertionError(f"{product_id} not among {ids(products)}")


# -- capabilities -----------------------------------------------------------------------------


async def test_tools_listed(buyer):
    names = await buyer.tool_names()
    for tool in ALL_TOOLS:
        assert tool in names, f"{tool} not in tools/list: {names}"


async def test_capabilities(buyer):
    caps = await buyer.ok("get_adcp_capabilities", {})
    assert caps["status"] == "completed"
    assert 3 in caps["adcp"]["major_versions"]
    idem = caps["adcp"]["idempotency"]
    assert idem["supported"] is True
    assert 3600 <= idem["replay_ttl_seconds"] <= 604800
    assert "media_buy" in caps["supported_protocols"]
    account = caps["account"]
    assert account["supported_billing"], "supported_billing must not be empty"
    assert caps["media_buy"]["portfolio"]["publisher_domains"]


async def test_capabilities_protocol_filter_and_version_3(buyer):
    caps = await buyer.ok("get_adcp_capabilities", {"protocols": ["media_buy"], "adcp_major_version": 3})
    assert "media_buy" in caps["supported_protocols"]


# -- brief mode --------------------------------------------------------------------------------


async def test_brief_ranks_tech_display_first(buyer):
    body = await buyer.ok("get_products", {"buying_mode": "brief", "brief": TECH_BRIEF})
    products = body["products"]
    assert products, "a brief matching the demo catalog returned no products"
    assert products[0]["product_id"] == TECH_PRODUCT, f"ranking: {ids(products)}"
    assert "display" in products[0]["channels"]
    for product in products:
        relevance = product.get("brief_relevance")
        assert isinstance(relevance, str) and relevance.strip(), (
            f"{product['product_id']} has no brief_relevance in brief mode"
        )
    why = products[0]["brief_relevance"].lower()
    assert re.search(r"tech|display|developer|enthusiast|audience", why), (
        f"brief_relevance of the top product does not say why it matches: {why!r}"
    )
    assert "proposals" not in body or isinstance(body["proposals"], list)


async def test_brief_empty_is_invalid(buyer):
    error = await buyer.error("get_products", {"buying_mode": "brief", "brief": "   "})
    assert error["code"] in ("INVALID_REQUEST", "VALIDATION_ERROR")
    assert error.get("field") == "brief"


# -- wholesale ---------------------------------------------------------------------------------


async def test_wholesale_returns_catalog_without_relevance(buyer):
    products = await wholesale(buyer)
    assert len(products) >= 2, "the demo catalog should have several products"
    assert TECH_PRODUCT in ids(products)
    assert len(set(ids(products))) == len(products), "duplicate products in wholesale"
    for product in products:
        assert "brief_relevance" not in product, f"{product['product_id']}: brief_relevance without a brief"
        assert product["pricing_options"], f"{product['product_id']}: no pricing options"
    body = await buyer.ok("get_products", {"buying_mode": "wholesale"})
    assert not body.get("proposals"), "wholesale mode must not return proposals"
    assert "refinement_applied" not in body


async def test_brief_and_wholesale_see_the_same_products(buyer):
    everything = set(ids(await wholesale(buyer)))
    briefed, _ = await buyer.walk("get_products", {"buying_mode": "brief", "brief": TECH_BRIEF}, "products", 100)
    assert set(ids(briefed)) <= everything


# -- refine ------------------------------------------------------------------------------------


async def others(buyer, n: int) -> list[str]:
    rest = [pid for pid in ids(await wholesale(buyer)) if pid != TECH_PRODUCT]
    assert len(rest) >= n, f"need {n} products besides {TECH_PRODUCT} in the demo catalog"
    return rest[:n]


async def test_refine_omit(buyer):
    body = await buyer.ok(
        "get_products",
        {"buying_mode": "refine", "refine": [{"scope": "product", "product_id": TECH_PRODUCT, "action": "omit"}]},
    )
    assert TECH_PRODUCT not in ids(body["products"])
    assert body["products"], "omitting one product should leave the rest of the catalog"
    applied = body["refinement_applied"]
    assert len(applied) == 1
    assert (applied[0]["scope"], applied[0]["product_id"], applied[0]["status"]) == ("product", TECH_PRODUCT, "applied")


async def test_refine_include_narrows_to_included(buyer):
    (other,) = await others(buyer, 1)
    body = await buyer.ok(
        "get_products",
        {
            "buying_mode": "refine",
            "refine": [
                {"scope": "product", "product_id": TECH_PRODUCT, "action": "include"},
                {"scope": "product", "product_id": other},
            ],
        },
    )
    assert set(ids(body["products"])) == {TECH_PRODUCT, other}
    applied = body["refinement_applied"]
    assert [(a["scope"], a["product_id"], a["status"]) for a in applied] == [
        ("product", TECH_PRODUCT, "applied"),
        ("product", other, "applied"),
    ]


async def test_refine_more_like_this_keeps_original(buyer):
    body = await buyer.ok(
        "get_products",
        {
            "buying_mode": "refine",
            "refine": [
                {"scope": "product", "product_id": TECH_PRODUCT, "action": "more_like_this", "ask": "same audience"}
            ],
        },
    )
    assert TECH_PRODUCT in ids(body["products"])
    assert body["refinement_applied"][0]["scope"] == "product"
    assert body["refinement_applied"][0]["product_id"] == TECH_PRODUCT
    assert body["refinement_applied"][0]["status"] in ("applied", "partial")


async def test_refine_applied_matches_request_order(buyer):
    omit, include = await others(buyer, 2)
    refine = [
        {"scope": "request", "ask": "more display inventory for developers"},
        {"scope": "product", "product_id": omit, "action": "omit"},
        {"scope": "product", "product_id": "no-such-product-e2e", "action": "include"},
        {"scope": "product", "product_id": include, "action": "include"},
        {"scope": "product", "product_id": TECH_PRODUCT, "action": "more_like_this"},
    ]
    body = await buyer.ok("get_products", {"buying_mode": "refine", "refine": refine})
    applied = body["refinement_applied"]
    assert len(applied) == len(refine), f"one refinement_applied entry per refine entry: {applied}"
    for asked, answer in zip(refine, applied):
        assert answer["scope"] == asked["scope"]
        if asked["scope"] == "product":
            assert answer["product_id"] == asked["product_id"]
        assert answer["status"] in ("applied", "partial", "unable")
    assert applied[2]["status"] != "applied", "an unknown product cannot be applied"
    returned = ids(body["products"])
    assert omit not in returned
    assert include in returned and TECH_PRODUCT in returned


async def test_refine_without_entries_is_invalid(buyer):
    error = await buyer.error("get_products", {"buying_mode": "refine", "refine": []})
    assert error["code"] in ("INVALID_REQUEST", "VALIDATION_ERROR")
    assert (error.get("field") or "").startswith("refine")


# -- filters (server result == the catalog filtered client-side) -------------------------------


def has_fixed(option: dict) -> bool:
    return option.get("fixed_price") is not None


async def check_filter(buyer, filters: dict, predicate, *, must_exclude: bool = True):
    catalog = await wholesale(buyer)
    expected = [p["product_id"] for p in catalog if predicate(p)]
    got = ids(await wholesale(buyer, filters=filters))
    assert sorted(got) == sorted(expected), f"filters {filters}: got {got}, expected {expected}"
    assert expected, f"filters {filters} match nothing in the demo catalog: a vacuous test"
    if must_exclude:
        assert len(expected) < len(catalog), f"filters {filters} exclude nothing in the demo catalog"
    return got


async def test_filter_channels(buyer):
    catalog = await wholesale(buyer)
    channels = sorted({c for p in catalog for c in p.get("channels", [])})
    assert "display" in channels
    await check_filter(buyer, {"channels": ["display"]}, lambda p: "display" in p.get("channels", []))
    picked = [c for c in channels if c != "display"][:1] + ["display"]
    await check_filter(
        buyer, {"channels": picked}, lambda p: bool(set(p.get("channels", [])) & set(picked)), must_exclude=False
    )


@pytest.mark.parametrize("delivery_type", ["guaranteed", "non_guaranteed"])
async def test_filter_delivery_type(buyer, delivery_type):
    await check_filter(buyer, {"delivery_type": delivery_type}, lambda p: p["delivery_type"] == delivery_type)


@pytest.mark.parametrize("fixed", [True, False])
async def test_filter_is_fixed_price(buyer, fixed):
    await check_filter(
        buyer,
        {"is_fixed_price": fixed},
        lambda p: any(has_fixed(o) == fixed for o in p["pricing_options"]),
    )


async def test_filter_format_ids(buyer):
    catalog = await wholesale(buyer)
    tech = find(catalog, TECH_PRODUCT)
    wanted = tech["format_ids"][0]
    got = await check_filter(
        buyer,
        {"format_ids": [wanted]},
        lambda p: any(format_key(f) == format_key(wanted) for f in p["format_ids"]),
        must_exclude=False,
    )
    assert TECH_PRODUCT in got


async def test_filter_budget_range(buyer):
    catalog = await wholesale(buyer)
    # A product is affordable under a ceiling when its cheapest USD option is; the ceiling just
    # below the dearest "cheapest option" excludes at least that product.
    cheapest = [
        min(o.get("min_spend_per_package") or 0 for o in p["pricing_options"] if o.get("currency") == "USD")
        for p in catalog
        if any(o.get("currency") == "USD" for o in p["pricing_options"])
    ]
    assert cheapest and max(cheapest) > 0, "no USD minimum spend in the demo catalog: budget_range cannot be tested"
    ceiling = max(cheapest) - 0.01

    def affordable(product):
        return any(
            o.get("currency") == "USD" and (o.get("min_spend_per_package") or 0) <= ceiling
            for o in product["pricing_options"]
        )

    await check_filter(buyer, {"budget_range": {"currency": "USD", "max": ceiling}}, affordable)


async def test_filter_budget_range_contradiction_is_invalid(buyer):
    error = await buyer.error(
        "get_products",
        {"buying_mode": "wholesale", "filters": {"budget_range": {"currency": "USD", "min": 5000, "max": 10}}},
    )
    assert error["code"] in ("INVALID_REQUEST", "VALIDATION_ERROR")
    assert (error.get("field") or "").startswith("filters")


async def test_filters_combine(buyer):
    await check_filter(
        buyer,
        {"channels": ["display"], "delivery_type": "guaranteed"},
        lambda p: "display" in p.get("channels", []) and p["delivery_type"] == "guaranteed",
        must_exclude=True,
    )


async def test_filters_apply_in_brief_mode(buyer):
    body = await buyer.ok(
        "get_products", {"buying_mode": "brief", "brief": TECH_BRIEF, "filters": {"channels": ["display"]}}
    )
    assert body["products"]
    for product in body["products"]:
        assert "display" in product["channels"]


# -- pagination --------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 2, 3])
async def test_products_pagination_walk(buyer, page_size):
    full = await buyer.ok("get_products", {"buying_mode": "wholesale", "pagination": {"max_results": 100}})
    everything = ids(full["products"])
    assert full["pagination"]["has_more"] is False
    walked, pages = await buyer.walk("get_products", {"buying_mode": "wholesale"}, "products", page_size)
    assert ids(walked) == everything, "paging lost, repeated or reordered products"
    assert len(pages) == max(1, -(-len(everything) // page_size))
    for page in pages:
        total = page["pagination"].get("total_count")
        assert total is None or total == len(everything)


async def test_products_brief_pagination_walk(buyer):
    args = {"buying_mode": "brief", "brief": TECH_BRIEF}
    full = await buyer.ok("get_products", {**args, "pagination": {"max_results": 100}})
    walked, _ = await buyer.walk("get_products", args, "products", 1)
    assert ids(walked) == ids(full["products"])
    assert walked[0]["product_id"] == TECH_PRODUCT


async def test_bad_cursor_is_invalid(buyer):
    error = await buyer.error(
        "get_products", {"buying_mode": "wholesale", "pagination": {"max_results": 1, "cursor": "not-a-cursor!"}}
    )
    assert error["code"] in ("INVALID_REQUEST", "VALIDATION_ERROR")
    assert (error.get("field") or "").startswith("pagination")


# -- creative formats --------------------------------------------------------------------------


async def all_formats(buyer, **extra) -> list[dict]:
    items, _ = await buyer.walk("list_creative_formats", dict(extra), "formats", 100)
    return items


async def test_formats_listed(buyer):
    formats = await all_formats(buyer)
    assert len(formats) >= 2
    keys = [format_key(f["format_id"]) for f in formats]
    assert len(set(keys)) == len(keys), "duplicate formats"
    for fmt in formats:
        assert fmt["name"]
        assert fmt["format_id"]["agent_url"] and fmt["format_id"]["id"]


async def test_every_product_format_is_listed(buyer):
    listed = {format_key(f["format_id"]) for f in await all_formats(buyer)}
    for product in await wholesale(buyer):
        for format_id in product["format_ids"]:
            assert format_key(format_id) in listed, f"{product['product_id']} sells unlisted format {format_id}"


async def test_format_ids_round_trip(buyer):
    for product in await wholesale(buyer):
        wanted = product["format_ids"][0]
        body = await buyer.ok("list_creative_formats", {"format_ids": [wanted]})
        assert body["formats"], f"format {wanted} of {product['product_id']} not found by format_ids"
        assert body["formats"][0]["format_id"] == wanted, (
            f"format_id not returned verbatim: asked {wanted}, got {body['formats'][0]['format_id']}"
        )
        assert all(f["format_id"] == wanted for f in body["formats"])


async def test_format_ids_unknown_returns_nothing(buyer):
    body = await buyer.ok(
        "list_creative_formats",
        {"format_ids": [{"agent_url": "https://creative.example.invalid", "id": "no_such_format"}]},
    )
    assert body["formats"] == []


@pytest.mark.parametrize("page_size", [1, 2])
async def test_formats_pagination_walk(buyer, page_size):
    full = await buyer.ok("list_creative_formats", {"pagination": {"max_results": 100}})
    walked, pages = await buyer.walk("list_creative_formats", {}, "formats", page_size)
    assert [f["format_id"] for f in walked] == [f["format_id"] for f in full["formats"]]
    assert len(pages) == max(1, -(-len(full["formats"]) // page_size))


# -- authorized properties (seed-era tool) -----------------------------------------------------


async def test_list_authorized_properties(buyer):
    body = await buyer.ok("list_authorized_properties", {})
    assert body["properties"], "no properties in the demo catalog"
    caps = await buyer.ok("get_adcp_capabilities", {})
    for domain in caps["media_buy"]["portfolio"]["publisher_domains"]:
        assert domain in body["publisher_domains"]
    for prop in body["properties"]:
        if "publisher_domain" in prop:
            assert prop["publisher_domain"] in body["publisher_domains"]
