"""The seed-era tools (issue 7), through fastmcp: each is called with the example request of the
user's API reference (../shared/seeds/001) and its answer is checked for the seed's shape and
meaning. They are thin tools over the AdCP 3.0 core, so what they report is what the 3.0 tools
report in other words: the seed statuses are derived from the 3.0 state, never stored twice.
Errors come in the seed's format {"error": {code, message, field, suggestion}} (the harness checks
that for every seed tool). `--seed-tools false` leaves them out of a buyer's tools/list."""

from __future__ import annotations

import datetime

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from harness.adcp import SEED_TOOLS, connect
from harness.server import DEMO_TOKEN, Server
from test_creatives import Library, catalog_formats
from test_media_buys import TECH, TECH_CPM, Buys, in_days, package, unique_domain

pytestmark = pytest.mark.anyio

SEED_STATUSES = {
    "pending_activation",
    "pending_manual",
    "pending_permission",
    "pending_approval",
    "scheduled",
    "active",
    "paused",
    "completed",
    "failed",
    "canceled",
}
BUYER_SEED_TOOLS = SEED_TOOLS - {
    "process_creative_macros",
    "list_human_tasks",
    "get_pending_tasks",
    "create_human_task",
    "assign_task",
    "complete_task",
    "complete_human_task",
    "review_pending_creatives",
}
DIMENSION_KEYS = {"key", "display_name", "description", "data_type", "required", "values"}


@pytest.fixture
async def admin(server, schemas):
    _, token = server.create_principal("Seed ops", admin=True)
    async with connect(server.mcp_url, schemas, token) as client:
        yield client


def seed_error(result, code: str, field: str | None = None) -> dict:
    assert result.is_error, f"{result.tool} succeeded: {result.dump()}"
    error = result.structured["error"]
    assert error["code"] == code, result.dump()
    if field is not None:
        assert error.get("field") == field, result.dump()
    assert error.get("suggestion"), f"{result.tool}: no suggestion: {result.dump()}"
    assert "adcp_error" not in result.structured
    return error


async def booked_status(client, media_buy_id: str) -> dict:
    """check_media_buy_status once the ad-server booking worker (every second) has booked the buy:
    until then the seed status is pending_approval ("under platform review")."""
    for _ in range(150):
        status = await client.ok("check_media_buy_status", {"media_buy_id": media_buy_id})
        if status["status"] != "pending_approval":
            return status
        await anyio.sleep(0.1)
    raise AssertionError(f"{media_buy_id} was not booked within 15 s: {status}")


# -- discovery ---------------------------------------------------------------------------------


async def test_discover_products_answers_the_seed_example_brief(buyer):
    body = await buyer.ok(
        "discover_products",
        {"campaign_brief": "I want to reach pet owners in California with video ads during prime time"},
    )
    recommended = body["recommended_products"]
    assert recommended, "a video brief finds the video products"
    for product in recommended:
        for key in ("product_id", "name", "description", "min_spend", "cpm_range", "targeting_available",
                    "formats", "match_reasons"):
            assert key in product, f"{key} missing: {product}"
        assert "video" in product["formats"], f"recommended for a video brief without video: {product}"
        assert 0 < product["cpm_range"]["min"] <= product["cpm_range"]["max"]
        assert product["min_spend"] > 0
        assert product["match_reasons"] and all(isinstance(r, str) and r for r in product["match_reasons"])
        assert "geography" in product["targeting_available"]
    items, _ = await buyer.walk("get_products", {"buying_mode": "wholesale"}, "products", 100)
    catalog = {p["product_id"]: p for p in items}
    for product in recommended:
        options = [o for o in catalog[product["product_id"]]["pricing_options"] if o["pricing_model"] == "cpm"]
        lowest = min(o.get("fixed_price", o.get("floor_price")) for o in options)
        assert product["cpm_range"]["min"] == lowest, (product["cpm_range"], options)
        every = catalog[product["product_id"]]["pricing_options"]
        assert product["min_spend"] == min(o["min_spend_per_package"] for o in every if "min_spend_per_package" in o)


async def test_discover_products_refuses_a_vague_brief_in_the_seed_error_format(buyer):
    seed_error(await buyer.call("discover_products", {"campaign_brief": "ads"}), "INVALID_REQUEST", "campaign_brief")


async def test_list_products_with_the_seed_example_brief_and_filters(buyer):
    request = {
        "brief": "Looking for premium sports inventory",
        "filters": {"delivery_type": "guaranteed", "formats": ["video"], "is_fixed_price": True,
                    "creative_types": ["video", "display"]},
    }
    products = (await buyer.ok("list_products", request))["products"]
    assert products, "the demo has guaranteed fixed-price video"
    for product in products:
        assert product["delivery_type"] == "guaranteed" and product["is_fixed_price"] is True
        assert "video" in product["creative_types"]
        assert all(set(f) == {"format_id"} for f in product["formats"])
        assert product["cpm"] > 0 and product["min_spend"] > 0
        assert isinstance(product["brief_relevance"], str) and product["brief_relevance"]
    everything = (await buyer.ok("list_products", {}))["products"]
    assert len(everything) > len(products)
    assert all("brief_relevance" not in p for p in everything), "no brief, no relevance"
    by_format = (await buyer.ok("list_products", {"filters": {"formats": ["display_300x250"]}}))["products"]
    assert by_format and all({"format_id": "display_300x250"} in p["formats"] for p in by_format)


async def test_targeting_capabilities_per_seed_channel(buyer):
    body = await buyer.ok("get_targeting_capabilities", {"channels": ["web", "mobile_app"], "include_aee_dimensions": True})
    capabilities = {c["channel"]: c for c in body["capabilities"]}
    assert set(capabilities) == {"web", "mobile_app"}
    for capability in capabilities.values():
        assert capability["overlay_dimensions"] and capability["aee_dimensions"]
        for dimension in capability["overlay_dimensions"] + capability["aee_dimensions"]:
            assert set(dimension) == DIMENSION_KEYS, dimension
            assert isinstance(dimension["required"], bool)
        assert "geo_countries" in {d["key"] for d in capability["overlay_dimensions"]}
    without = await buyer.ok("get_targeting_capabilities", {"channels": ["ctv"]})
    assert all("aee_dimensions" not in c for c in without["capabilities"])
    seed_error(await buyer.call("get_targeting_capabilities", {"channels": ["hologram"]}), "INVALID_REQUEST", "channels[0]")


async def test_check_aee_requirements_the_seed_example_and_a_satisfiable_one(buyer):
    body = await buyer.ok("check_aee_requirements",
                          {"channel": "ctv", "required_dimensions": ["iris_id", "show_name", "content_rating"]})
    available = body["available_dimensions"]
    assert available, "CTV impressions carry signals"
    assert body["missing_dimensions"] == [d for d in ["iris_id", "show_name", "content_rating"] if d not in available]
    assert body["supported"] is (body["missing_dimensions"] == [])
    satisfiable = await buyer.ok("check_aee_requirements", {"channel": "ctv", "required_dimensions": available[:2]})
    assert satisfiable == {"supported": True, "missing_dimensions": [], "available_dimensions": available}


# -- a buy seen through the seed tools ---------------------------------------------------------


async def test_status_creatives_and_delivery_of_a_buy(buyer, admin):
    lib = Library(buyer, await catalog_formats(buyer))
    buys = Buys(buyer, lib.domain)
    waiting = await buys.create([package(TECH, TECH_CPM, 5000)])
    status = await buyer.ok("check_media_buy_status", {"media_buy_id": waiting["media_buy_id"]})
    assert status["status"] == "pending_activation" and status["adcp_status"] == "pending_creatives"
    assert status["package_statuses"] == [{"package_id": waiting["packages"][0]["package_id"],
                                           "status": "pending_activation", "pacing": "not_started",
                                           "delivery_percentage": 0.0}]

    creative = lib.creative(name="Premium Pet Food - Hero")
    await lib.sync([creative])
    live = await buys.create([package(TECH, TECH_CPM, 3000, creative_assignments=[{"creative_id": creative["creative_id"]}])])
    status = await booked_status(buyer, live["media_buy_id"])
    assert status["status"] == "active" and status["adcp_status"] == "active"
    [package_status] = status["package_statuses"]
    assert package_status["status"] == "delivering"
    assert 0.0 <= package_status["delivery_percentage"] <= 100.0
    datetime.datetime.fromisoformat(status["last_updated"].replace("Z", "+00:00"))

    listed = (await buyer.ok("get_creatives", {"media_buy_id": live["media_buy_id"]}))["creatives"]
    assert [c["creative_id"] for c in listed] == [creative["creative_id"]]
    [seen] = listed
    assert seen["name"] == "Premium Pet Food - Hero" and seen["format"] == "display"
    assert seen["associations"] == [{"media_buy_id": live["media_buy_id"], "package_id": live["packages"][0]["package_id"]}]
    assert seen["status"] in ("approved", "pending_review", "processing")
    by_status = (await buyer.ok("get_creatives", {"status": seen["status"], "format": "display"}))["creatives"]
    assert creative["creative_id"] in [c["creative_id"] for c in by_status]
    assert (await buyer.ok("get_creatives", {"media_buy_id": live["media_buy_id"], "format": "video"}))["creatives"] == []
    seed_error(await buyer.call("get_creatives", {"status": "lost"}), "INVALID_REQUEST", "status")

    mine = await buyer.ok("get_all_media_buy_delivery", {"media_buy_ids": [waiting["media_buy_id"], live["media_buy_id"]]})
    by_id = {d["media_buy_id"]: d for d in mine["deliveries"]}
    assert set(by_id) == {waiting["media_buy_id"], live["media_buy_id"]}, "asked by id: any status"
    idle = by_id[waiting["media_buy_id"]]
    assert (idle["status"], idle["spend"], idle["impressions"], idle["pacing"]) == ("pending_activation", 0, 0, "not_started")
    delivery = by_id[live["media_buy_id"]]
    assert delivery["status"] == "delivering" and delivery["total_days"] == 30 and delivery["days_elapsed"] <= 1
    assert "principal_id" not in delivery
    assert mine["total_spend"] == delivery["spend"] and mine["total_impressions"] == delivery["impressions"]
    default = await buyer.ok("get_all_media_buy_delivery", {})
    assert live["media_buy_id"] in [d["media_buy_id"] for d in default["deliveries"]]
    assert waiting["media_buy_id"] not in [d["media_buy_id"] for d in default["deliveries"]], "by default: buys that can deliver"
    assert mine["active_count"] == 1
    assert mine["summary_date"] == datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    seed_error(await buyer.call("get_all_media_buy_delivery", {"today": "2999-01-01"}), "INVALID_REQUEST", "today")

    seeded = await buys.get(live["media_buy_id"])
    assert seeded["id"] == live["media_buy_id"]
    assert seeded["creatives"] == [{"id": creative["creative_id"], "status": seen["status"].replace("processing", "pending_review")}]
    [pkg] = seeded["packages"]
    assert pkg["id"] == pkg["package_id"] and pkg["name"] == "Tech Audience - Premium Display"
    assert pkg["status"] == "delivering" and pkg["end_date"] == in_days(30)[:10]


async def test_get_all_media_buy_delivery_is_the_callers_own_and_everyones_for_an_admin(server, schemas, buyer, admin):
    _, token = server.create_principal("Other seed buyer")
    async with connect(server.mcp_url, schemas, token) as other:
        theirs = await Buys(other).create([package(TECH, TECH_CPM, 2000, creative_assignments=[{"creative_id": "cr_seed_other"}])])
        assert theirs["status"] == "active"
        own = await other.ok("get_all_media_buy_delivery", {})
        assert [d["media_buy_id"] for d in own["deliveries"]] == [theirs["media_buy_id"]]
    mine = await buyer.ok("get_all_media_buy_delivery", {})
    assert theirs["media_buy_id"] not in [d["media_buy_id"] for d in mine["deliveries"]]
    mine_active = await buyer.ok("get_all_media_buy_delivery", {"status": "active"})
    everyone = await admin.ok("get_all_media_buy_delivery", {"status": "active"})
    listed = {d["media_buy_id"]: d for d in everyone["deliveries"]}
    assert theirs["media_buy_id"] in listed and all(d["media_buy_id"] in listed for d in mine_active["deliveries"])
    assert listed[theirs["media_buy_id"]]["principal_id"] != "demo-buyer"
    seed_error(await admin.call("get_all_media_buy_delivery", {"status": "sleeping"}), "INVALID_REQUEST", "status")


async def test_unknown_buy_answers_in_the_seed_error_format(buyer):
    seed_error(await buyer.call("check_media_buy_status", {"media_buy_id": "gam_1234567890"}),
               "MEDIA_BUY_NOT_FOUND", "media_buy_id")


async def test_update_media_buy_status_polls_a_held_buy_until_ops_decide(buyer, admin):
    held = await Buys(buyer).create([package(TECH, TECH_CPM, 60_000)], end_time=in_days(60))
    assert held["status"] == "submitted"
    polled = await buyer.ok("update_media_buy_status", {"task_id": held["task_id"]})
    assert polled["task_id"] == held["task_id"] and polled["status"] == "submitted"
    assert polled["responsible_party"] == "publisher" and polled["media_buy_status"] == "pending_manual"
    assert "media_buy_id" not in polled
    await admin.ok("complete_human_task", {"task_id": held["task_id"], "action": "approve", "notes": "fine"})
    done = await buyer.ok("update_media_buy_status", {"task_id": held["task_id"]})
    assert done["status"] == "completed" and "responsible_party" not in done
    assert done["media_buy_id"] and done["media_buy_status"] in SEED_STATUSES - {"pending_manual"}
    state = await buyer.ok("check_media_buy_status", {"media_buy_id": done["media_buy_id"]})
    assert state["status"] == done["media_buy_status"]
    assert (await booked_status(buyer, done["media_buy_id"]))["status"] in ("pending_activation", "active")
    seed_error(await buyer.call("update_media_buy_status", {"task_id": "task_unknown"}), "REFERENCE_NOT_FOUND", "task_id")


# -- the switch --------------------------------------------------------------------------------


async def test_every_seed_tool_is_listed_by_default(buyer, admin):
    assert BUYER_SEED_TOOLS <= set(await buyer.tool_names())
    assert SEED_TOOLS <= set(await admin.tool_names())


@pytest.fixture(scope="module")
def pure_server():
    server = Server("pure-adcp")
    server.env["SALES_AGENT_SEED_TOOLS"] = "false"
    server.start()
    yield server
    server.stop()


async def test_seed_tools_off_leaves_a_pure_adcp_tools_list(pure_server, schemas):
    async with connect(pure_server.mcp_url, schemas, DEMO_TOKEN) as buyer:
        names = set(await buyer.tool_names())
        assert not names & BUYER_SEED_TOOLS, f"seed tools listed with the switch off: {names & BUYER_SEED_TOOLS}"
        assert {"get_products", "create_media_buy", "get_media_buys", "sync_creatives"} <= names
        with pytest.raises(MCPError, match="tool not found: discover_products"):
            await buyer.client.call_tool("discover_products", {"campaign_brief": "video ads for pet owners in California"})
        buy = await Buys(buyer).create([package(TECH, TECH_CPM, 2000)])
        seen = await Buys(buyer).client.ok("get_media_buys", {"media_buy_ids": [buy["media_buy_id"]]})
        assert "id" not in seen["media_buys"][0], "seed-004 fields only with the seed surface"
    _, token = pure_server.create_principal("Pure ops", admin=True)
    async with connect(pure_server.mcp_url, schemas, token) as ops:
        assert {"list_human_tasks", "complete_task", "review_pending_creatives"} <= set(await ops.tool_names())
