"""comply_test_controller, the sandbox test controller (issue 5, item 1): it exists only for
principals of sandbox tenants (absent from tools/list and uncallable elsewhere), answers in the
controller's own arms (checked against comply-test-controller-response.json), seeds fixtures
idempotently (an equivalent replay succeeds, a diverging one is INVALID_PARAMS), forces accounts,
buys, creatives and tasks along the lifecycle graphs (INVALID_TRANSITION otherwise, NOT_FOUND for
unknown ids, with no account in the request), shapes the next create_media_buy, and simulates
delivery and budget spend that get_media_buy_delivery then reports.

The controller changes the catalog, so this module runs on a server of its own."""

from __future__ import annotations

import uuid

import pytest

from harness.adcp import connect
from harness.server import DEMO_TOKEN, Server
from test_creatives import Library, catalog_formats
from test_media_buys import create_request, key, package, unique_domain

pytestmark = pytest.mark.anyio

CONTROLLER = "comply_test_controller"
ALL_SCENARIOS = {
    "force_creative_status",
    "force_account_status",
    "force_media_buy_status",
    "force_create_media_buy_arm",
    "force_task_completion",
    "simulate_delivery",
    "simulate_budget_spend",
    "seed_product",
    "seed_pricing_option",
    "seed_creative",
    "seed_media_buy",
    "seed_creative_format",
}

PRODUCTION_CONFIG = '''
[[tenants]]
tenant_id = "live"
name = "Live Publisher"
sandbox = false
catalog = "demo-catalog.toml"
publisher_domains = ["techdaily.example"]
'''


@pytest.fixture
async def buyer(own_server, schemas):
    async with connect(own_server.mcp_url, schemas, DEMO_TOKEN) as client:
        yield client


async def control(client, scenario: str, params: dict | None = None, **extra) -> dict:
    args = {"scenario": scenario, **extra}
    if params is not None:
        args["params"] = params
    return await client.ok(CONTROLLER, args)


async def refused(client, scenario: str, params: dict | None, code: str) -> dict:
    """A controller error: isError, its code, and the caller's context echoed."""
    context = {"correlation_id": f"e2e-{uuid.uuid4().hex[:8]}"}
    args = {"scenario": scenario, "context": context}
    if params is not None:
        args["params"] = params
    result = await client.call(CONTROLLER, args, valid_request=False)
    assert result.is_error and result.code == code, result.dump()
    assert result.structured["context"] == context and result.structured["error_detail"]
    return result.structured


async def test_the_controller_exists_only_in_sandbox_tenants(buyer, schemas):
    assert CONTROLLER in await buyer.tool_names()
    capabilities = await buyer.ok("get_adcp_capabilities")
    assert set(capabilities["compliance_testing"]["scenarios"]) <= ALL_SCENARIOS
    assert capabilities["specialisms"] == ["sales-guaranteed", "sales-non-guaranteed", "sales-proposal-mode"]

    live = Server("live", config=PRODUCTION_CONFIG)
    live.start()
    try:
        _, token = live.create_principal("Live buyer", tenant="live")
        async with connect(live.mcp_url, schemas, token) as client:
            assert CONTROLLER not in await client.tool_names()
            assert "compliance_testing" not in await client.ok("get_adcp_capabilities")
            with pytest.raises(Exception, match="(?i)tool not found"):
                await client.client.call_tool(CONTROLLER, {"scenario": "list_scenarios"})
    finally:
        live.stop()


async def test_list_scenarios_and_the_error_codes_need_no_account(buyer):
    listed = await control(buyer, "list_scenarios", context={"correlation_id": "list"})
    assert set(listed["scenarios"]) == ALL_SCENARIOS and listed["context"] == {"correlation_id": "list"}
    await refused(buyer, "nonexistent_scenario", {}, "UNKNOWN_SCENARIO")
    missing = await refused(buyer, "force_creative_status", {}, "INVALID_PARAMS")
    assert "creative_id" in missing["error_detail"]
    await refused(buyer, "force_creative_status", {"creative_id": "comply-test-nonexistent", "status": "approved"},
                  "NOT_FOUND")
    await refused(buyer, "force_media_buy_status", {"media_buy_id": "mb_nope", "status": "active"}, "NOT_FOUND")
    await refused(buyer, "force_creative_status", {"creative_id": "x", "status": "glowing"}, "INVALID_PARAMS")
    await refused(buyer, "simulate_budget_spend", {"spend_percentage": 50}, "INVALID_PARAMS")


async def test_seeded_products_are_discovered_and_bought_like_catalog_products(buyer):
    product = {"product_id": "sports_preroll_q2",
               "fixture": {"delivery_type": "guaranteed", "channels": ["video"], "format_ids": [{"id": "video_30s"}]}}
    assert (await control(buyer, "seed_product", product))["message"] == "Fixture seeded"
    wholesale = {"buying_mode": "wholesale"}
    ids = lambda body: {p["product_id"] for p in body["products"]}  # noqa: E731
    assert "sports_preroll_q2" not in ids(await buyer.ok("get_products", wholesale)), "no price yet"

    option = {"product_id": "sports_preroll_q2", "pricing_option_id": "cpm_guaranteed",
              "fixture": {"pricing_model": "cpm", "currency": "USD", "fixed_price": 22.0}}
    await control(buyer, "seed_pricing_option", option)
    [seeded] = [p for p in (await buyer.ok("get_products", wholesale))["products"] if p["product_id"] == "sports_preroll_q2"]
    assert seeded["delivery_type"] == "guaranteed" and seeded["format_ids"][0]["id"] == "video_30s"
    assert seeded["format_ids"][0]["agent_url"].startswith("http")
    assert [o["pricing_option_id"] for o in seeded["pricing_options"]] == ["cpm_guaranteed"]

    assert (await control(buyer, "seed_product", product))["message"] == "Fixture re-seeded (equivalent)"
    diverging = {**product, "fixture": {**product["fixture"], "delivery_type": "non_guaranteed"}}
    await refused(buyer, "seed_product", diverging, "INVALID_PARAMS")
    await refused(buyer, "seed_pricing_option", {**option, "product_id": "never_seeded"}, "INVALID_PARAMS")

    domain = unique_domain("seeded")
    created = await buyer.ok("create_media_buy", create_request(
        domain, [package("sports_preroll_q2", "cpm_guaranteed", budget=11_000)]))
    assert created["packages"][0]["impressions"] == 500_000


async def test_accounts_buys_and_creatives_are_forced_along_their_lifecycles(buyer, own_server):
    domain = unique_domain("forced")
    account = {"brand": {"domain": domain}, "operator": domain}
    synced = await buyer.ok("sync_accounts", {"idempotency_key": key(), "accounts": [{**account, "billing": "operator"}]})
    account_id = synced["accounts"][0]["account_id"]
    moved = await control(buyer, "force_account_status", {"account_id": account_id, "status": "suspended"})
    assert (moved["previous_state"], moved["current_state"]) == ("active", "suspended")
    suspended = await buyer.call("create_media_buy", create_request(domain))
    assert suspended.code == "ACCOUNT_SUSPENDED"
    await control(buyer, "force_account_status", {"account_id": account_id, "status": "active"})
    await refused(buyer, "force_account_status", {"account_id": account_id, "status": "pending_approval"},
                  "INVALID_TRANSITION")
    created = await buyer.ok("create_media_buy", create_request(domain))
    media_buy_id = created["media_buy_id"]
    assert created["status"] == "pending_creatives"
    await control(buyer, "force_media_buy_status", {"media_buy_id": media_buy_id, "status": "active"})
    [buy] = (await buyer.ok("get_media_buys", {"media_buy_ids": [media_buy_id]}))["media_buys"]
    assert buy["status"] == "active"
    done = await control(buyer, "force_media_buy_status", {"media_buy_id": media_buy_id, "status": "completed"})
    assert done["current_state"] == "completed"
    stuck = await refused(buyer, "force_media_buy_status", {"media_buy_id": media_buy_id, "status": "active"},
                          "INVALID_TRANSITION")
    assert stuck["current_state"] == "completed"

    library = Library(buyer, await catalog_formats(buyer))
    creative = library.creative()
    await library.sync([creative])
    creative_id = creative["creative_id"]
    await control(buyer, "force_creative_status", {"creative_id": creative_id, "status": "approved"})
    archived = await control(buyer, "force_creative_status", {"creative_id": creative_id, "status": "archived"})
    assert archived["previous_state"] == "approved"
    await refused(buyer, "force_creative_status", {"creative_id": creative_id, "status": "processing"},
                  "INVALID_TRANSITION")
    fresh = library.creative()
    await library.sync([fresh])
    await control(buyer, "force_creative_status",
                  {"creative_id": fresh["creative_id"], "status": "rejected", "rejection_reason": "brand safety"})
    [listed] = (await buyer.ok("list_creatives", {"filters": {"creative_ids": [fresh["creative_id"]]}}))["creatives"]
    assert listed["status"] == "rejected"

    # Another buyer's buy is NOT_FOUND, exactly like an unknown one.
    _, token = own_server.create_principal("Other controller buyer")
    async with connect(own_server.mcp_url, buyer.schemas, token) as other:
        await refused(other, "force_media_buy_status", {"media_buy_id": media_buy_id, "status": "paused"}, "NOT_FOUND")


async def test_a_forced_arm_shapes_the_next_create_only(buyer):
    domain = unique_domain("arm")
    task_id = f"task_forced_{uuid.uuid4().hex[:8]}"
    forced = await control(buyer, "force_create_media_buy_arm",
                           {"arm": "submitted", "task_id": task_id, "message": "Awaiting IO signature"})
    assert forced["forced"] == {"arm": "submitted", "task_id": task_id}
    submitted = await buyer.ok("create_media_buy", create_request(domain))
    assert (submitted["status"], submitted["task_id"]) == ("submitted", task_id)
    assert (await buyer.ok("tasks/get", {"task_id": task_id}))["status"] in ("submitted", "working")
    assert "media_buy_id" in await buyer.ok("create_media_buy", create_request(domain)), "the arm is used up"

    result = {"media_buy_id": "mb_signed_io", "status": "active",
              "packages": [{"package_id": "pkg-0", "product_id": "prod-tech-display-001", "budget": 5000}]}
    completed = await control(buyer, "force_task_completion", {"task_id": task_id, "result": result})
    assert completed["current_state"] == "completed"
    task = await buyer.ok("tasks/get", {"task_id": task_id, "include_result": True})
    assert task["status"] == "completed" and task["result"]["media_buy_id"] == "mb_signed_io"
    await refused(buyer, "force_task_completion", {"task_id": task_id, "result": result}, "INVALID_TRANSITION")
    await refused(buyer, "force_create_media_buy_arm", {"arm": "submitted", "task_id": task_id}, "INVALID_PARAMS")
    await refused(buyer, "force_create_media_buy_arm", {"arm": "submitted"}, "INVALID_PARAMS")

    await control(buyer, "force_create_media_buy_arm", {"arm": "input-required", "message": "Need the IO number"})
    refusal = await buyer.call("create_media_buy", create_request(domain))
    assert refusal.code == "INVALID_REQUEST" and "IO number" in refusal.error["message"]


async def test_simulated_delivery_and_budget_spend_show_in_delivery_reports(buyer):
    domain = unique_domain("sim")
    created = await buyer.ok("create_media_buy", create_request(domain, [package(budget=10_000)]))
    media_buy_id = created["media_buy_id"]
    await control(buyer, "force_media_buy_status", {"media_buy_id": media_buy_id, "status": "active"})

    first = await control(buyer, "simulate_delivery", {"media_buy_id": media_buy_id, "impressions": 10_000,
                                                       "clicks": 150, "reported_spend": {"amount": 150, "currency": "USD"}})
    assert first["simulated"]["impressions"] == 10_000
    second = await control(buyer, "simulate_delivery", {"media_buy_id": media_buy_id, "impressions": 5_000,
                                                        "reported_spend": {"amount": 75, "currency": "USD"}})
    assert second["cumulative"]["impressions"] == 15_000
    assert second["cumulative"]["reported_spend"] == {"amount": 225, "currency": "USD"}
    report = await buyer.ok("get_media_buy_delivery", {"media_buy_ids": [media_buy_id]})
    [delivery] = report["media_buy_deliveries"]
    assert delivery["totals"]["impressions"] >= 15_000 and delivery["totals"]["spend"] >= 225
    await refused(buyer, "simulate_delivery", {"media_buy_id": media_buy_id, "impressions": 1,
                                               "reported_spend": {"amount": 1, "currency": "EUR"}}, "INVALID_PARAMS")

    spent = await control(buyer, "simulate_budget_spend", {"media_buy_id": media_buy_id, "spend_percentage": 95})
    assert spent["simulated"]["computed_spend"] == {"amount": 9_500, "currency": "USD"}
    assert spent["simulated"]["budget"] == {"amount": 10_000, "currency": "USD"}
    report = await buyer.ok("get_media_buy_delivery", {"media_buy_ids": [media_buy_id]})
    assert abs(report["media_buy_deliveries"][0]["totals"]["spend"] - 9_500) < 0.02


async def test_seeded_buys_creatives_and_formats_are_listed(buyer):
    ids = [f"seeded_mb_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for media_buy_id in ids:
        await control(buyer, "seed_media_buy", {"media_buy_id": media_buy_id,
                                                "fixture": {"status": "active", "currency": "USD"}})
    listed = (await buyer.ok("get_media_buys", {"media_buy_ids": ids}))["media_buys"]
    assert sorted(b["media_buy_id"] for b in listed) == sorted(ids) and {b["status"] for b in listed} == {"active"}

    format_id = f"seeded_format_{uuid.uuid4().hex[:6]}"
    await control(buyer, "seed_creative_format", {"format_id": format_id,
                                                  "fixture": {"name": "Seeded Format", "type": "display"}})
    formats = (await buyer.ok("list_creative_formats", {}))["formats"]
    assert any(f["format_id"]["id"] == format_id and f["name"] == "Seeded Format" for f in formats)

    creative_id = f"seeded_creative_{uuid.uuid4().hex[:6]}"
    await control(buyer, "seed_creative", {"creative_id": creative_id,
                                           "fixture": {"status": "approved", "format_id": {"id": format_id}}})
    [creative] = (await buyer.ok("list_creatives", {"filters": {"creative_ids": [creative_id]}}))["creatives"]
    assert creative["status"] == "approved" and creative["format_id"]["id"] == format_id
