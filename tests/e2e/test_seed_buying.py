"""Seed 001's buying flow (issue 7), through fastmcp: get_avails prices products from the ad
server's forecast and returns packages (quotes); create_media_buy in the seed's form buys them
(package ids, total_budget spread in proportion, one targeting overlay in the seed's keys) through
the same AdCP 3.0 core — approvals, idempotency, webhooks — and says which form it understood.
The packages of the buy keep the ids get_avails gave them."""

from __future__ import annotations

import datetime
import math

import pytest

from harness.adcp import connect
from test_accounts import account
from test_media_buys import key, unique_domain
from test_seed_tools import booked_status, seed_error

pytestmark = pytest.mark.anyio

CTV = "prod-ctv-premium-001"  # 35.00 CPM fixed, min 5,000, 80,000 impressions a day
AUDIO = "prod-audio-001"  # 16.00 CPM fixed, min 1,500, 250,000 a day
CTV_CPM, AUDIO_CPM = 35.0, 16.0


def day(offset: int) -> str:
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)).isoformat()


def avails_request(budget: float | None = 50_000, **extra) -> dict:
    body = {"product_ids": [CTV, AUDIO], "start_date": day(1), "end_date": day(14), **extra}
    if budget is not None:
        body["budget"] = budget
    return body


@pytest.fixture
async def fresh(own_server, schemas):
    """A buyer with no account yet: the seed form needs none (sandbox provisions one). The
    module has its own server, so that only its own buys take inventory from the forecasts."""
    _, token = own_server.create_principal("Seed buyer")
    async with connect(own_server.mcp_url, schemas, token) as client:
        yield client


@pytest.fixture
async def admin(own_server, schemas):
    _, token = own_server.create_principal("Seed buying ops", admin=True)
    async with connect(own_server.mcp_url, schemas, token) as client:
        yield client


async def test_get_avails_prices_the_forecast_and_splits_the_budget(fresh):
    body = await fresh.ok("get_avails", avails_request())
    packages = {p["product_id"]: p for p in body["packages"]}
    assert set(packages) == {CTV, AUDIO}
    for product_id, cpm in ((CTV, CTV_CPM), (AUDIO, AUDIO_CPM)):
        package = packages[product_id]
        assert package["package_id"].startswith("pkg_") and package["cpm"] == cpm
        assert package["impressions"] == math.floor(25_000 / cpm * 1000), "half the budget each, inventory to spare"
        assert abs(package["total_cost"] - package["impressions"] * cpm / 1000) <= 0.0051, "to the cent"
        assert 0 < package["availability"] <= 1
        assert (package["start_date"], package["end_date"]) == (day(1), day(14))
        assert "targeting_applied" not in package
    assert body["total_budget"] == round(sum(p["total_cost"] for p in body["packages"]), 2)
    assert body["total_impressions"] == sum(p["impressions"] for p in body["packages"])
    assert body["budget_utilization"] == round(body["total_budget"] / 50_000, 3)
    assert body["currency"] == "USD"


async def test_get_avails_with_the_seed_example_targeting_narrows_the_forecast(fresh):
    targeting = {"geo_country_any_of": ["US"], "geo_region_any_of": ["CA", "NY"],
                 "audience_segment_any_of": ["3p:pet_owners"]}
    everything = await fresh.ok("get_avails", avails_request(budget=None))
    narrowed = await fresh.ok("get_avails", avails_request(targeting_overlay=targeting))
    full = {p["product_id"]: p for p in everything["packages"]}
    assert set(full) == {CTV, AUDIO}, "without a budget: everything available"
    quoted = {p["product_id"]: p for p in narrowed["packages"]}
    assert quoted, narrowed
    for product_id, package in quoted.items():
        assert package["impressions"] < full[product_id]["impressions"]
        assert package["targeting_applied"] == targeting
    unavailable = {u["product_id"]: u["reason"] for u in narrowed.get("unavailable_products", [])}
    assert set(quoted) | set(unavailable) == {CTV, AUDIO}
    for reason in unavailable.values():
        assert "below the minimum spend" in reason


async def test_get_avails_errors_in_the_seed_format(fresh):
    seed_error(await fresh.call("get_avails", avails_request(product_ids=["nope"])), "PRODUCT_NOT_FOUND", "product_ids[0]")
    seed_error(await fresh.call("get_avails", avails_request(start_date=day(5), end_date=day(2))),
               "INVALID_REQUEST", "end_date")
    seed_error(await fresh.call("get_avails", avails_request(start_date=day(-3))), "INVALID_REQUEST", "start_date")
    seed_error(await fresh.call("get_avails", avails_request(targeting_overlay={"weather_any_of": ["sunny"]})),
               "UNSUPPORTED_FEATURE", "targeting_overlay.weather_any_of")
    gone = await fresh.call("get_avails", avails_request(product_ids=[CTV], targeting_overlay={"geo_country_any_of": ["FR"]}))
    assert seed_error(gone, "PRODUCT_UNAVAILABLE")["message"].endswith("delivers only in US")


async def test_a_seed_form_buy_is_made_from_quotes_and_keeps_their_ids(fresh):
    quotes = (await fresh.ok("get_avails", avails_request(budget=40_000)))["packages"]
    ids = [q["package_id"] for q in quotes]
    quoted = sum(q["total_cost"] for q in quotes)
    request = {
        "packages": ids,
        "po_number": "PO-2024-Q1-0123",
        "total_budget": 38_000,
        "targeting_overlay": {"geo_country_any_of": ["US"], "geo_region_any_of": ["CA", "NY"],
                              "frequency_cap": {"suppress_minutes": 30, "scope": "media_buy"}},
        "pacing": "even",
        "daily_budget": 3_800,
    }
    created = await fresh.ok("create_media_buy", request)
    assert created["request_form"] == "seed_001" and created["packages"] == ids
    assert created["status"] == "pending_activation" and created["adcp_status"] == "pending_creatives"
    assert created["media_buy_id"] and created["creative_deadline"] and created["next_steps"]
    assert created["total_budget"] == 38_000

    status = await booked_status(fresh, created["media_buy_id"])
    assert [p["package_id"] for p in status["package_statuses"]] == ids
    [buy] = (await fresh.ok("get_media_buys", {"media_buy_ids": [created["media_buy_id"]]}))["media_buys"]
    budgets = {p["package_id"]: p["budget"] for p in buy["packages"]}
    assert round(sum(budgets.values()), 2) == 38_000
    for quote in quotes:
        assert abs(budgets[quote["package_id"]] - quote["total_cost"] * 38_000 / quoted) <= 0.02
    caps = [p["daily_budget"] for p in buy["packages"]]
    assert abs(sum(caps) - 3_800) <= 0.02, "the daily cap is shared in proportion to the budgets"
    for package in buy["packages"]:
        assert abs(package["daily_budget"] - 3_800 * package["budget"] / 38_000) <= 0.01
    overlay = buy["packages"][0]["targeting_overlay"]
    assert overlay["geo_countries"] == ["US"] and overlay["geo_regions"] == ["US-CA", "US-NY"]
    assert overlay["frequency_cap"] == {"suppress_minutes": 30}
    assert overlay["ext"]["seed_targeting"] == {"frequency_cap_scope": "media_buy"}

    again = await fresh.call("create_media_buy", request)
    assert seed_error(again, "PACKAGE_NOT_FOUND", "packages[0]")["message"].endswith("a media buy was already made from it")


async def test_seed_form_refusals(own_server, schemas, fresh):
    quotes = (await fresh.ok("get_avails", avails_request(budget=10_000)))["packages"]
    ids = [q["package_id"] for q in quotes]
    seed_error(await fresh.call("create_media_buy", {"packages": ["pkg_unknown"]}), "PACKAGE_NOT_FOUND", "packages[0]")
    seed_error(await fresh.call("create_media_buy", {"packages": [ids[0], ids[0]]}), "INVALID_REQUEST", "packages[1]")
    too_much = await fresh.call("create_media_buy", {"packages": ids, "total_budget": 50_000})
    seed_error(too_much, "INVALID_REQUEST", "total_budget")
    seed_error(await fresh.call("create_media_buy", {"packages": ids, "daily_budget": -5}), "INVALID_REQUEST", "daily_budget")
    _, token = own_server.create_principal("Seed buyer with two accounts")
    async with connect(own_server.mcp_url, schemas, token) as other:
        seed_error(await other.call("create_media_buy", {"packages": ids}), "PACKAGE_NOT_FOUND", "packages[0]")
        await other.ok("sync_accounts", {"idempotency_key": key(), "accounts": [account(unique_domain("one")),
                                                                                account(unique_domain("two"))]})
        own = [p["package_id"] for p in (await other.ok("get_avails", avails_request(budget=10_000)))["packages"]]
        seed_error(await other.call("create_media_buy", {"packages": own}), "INVALID_REQUEST", "account")
        domain = unique_domain("seedform")
        with_account = await other.ok("create_media_buy", {"packages": own, "account": {"brand": {"domain": domain},
                                                                                         "operator": domain}})
        assert with_account["request_form"] == "seed_001" and with_account["media_buy_id"]


async def test_a_large_seed_form_buy_waits_for_ops(fresh, admin):
    # A flight after the module's other buys, so that all of its inventory is there.
    quotes = (await fresh.ok("get_avails", avails_request(budget=70_000, start_date=day(20), end_date=day(33))))["packages"]
    assert sum(q["total_cost"] for q in quotes) >= 69_999
    held = await fresh.ok("create_media_buy", {"packages": [q["package_id"] for q in quotes], "total_budget": 60_000})
    assert held["status"] == "pending_manual" and held["task_id"] and held["request_form"] == "seed_001"
    assert "media_buy_id" not in held
    await admin.ok("complete_human_task", {"task_id": held["task_id"], "action": "approve"})
    done = await fresh.ok("update_media_buy_status", {"task_id": held["task_id"]})
    assert done["status"] == "completed" and done["media_buy_id"]
    status = await fresh.ok("check_media_buy_status", {"media_buy_id": done["media_buy_id"]})
    assert [p["package_id"] for p in status["package_statuses"]] == [q["package_id"] for q in quotes]


async def test_a_buyer_with_one_account_buys_under_it(own_server, schemas):
    _, token = own_server.create_principal("Seed buyer with one account")
    async with connect(own_server.mcp_url, schemas, token) as buyer:
        domain = unique_domain("onlyone")
        synced = await buyer.ok("sync_accounts", {"idempotency_key": key(), "accounts": [account(domain)]})
        account_id = synced["accounts"][0]["account_id"]
        quotes = (await buyer.ok("get_avails", avails_request(budget=10_000)))["packages"]
        created = await buyer.ok("create_media_buy", {"packages": [q["package_id"] for q in quotes]})
        under = await buyer.ok("get_media_buys", {"account": {"account_id": account_id},
                                                  "status_filter": ["pending_creatives", "active"]})
        assert [b["media_buy_id"] for b in under["media_buys"]] == [created["media_buy_id"]]
        assert len((await buyer.ok("list_accounts", {}))["accounts"]) == 1, "no implicit account was made"
