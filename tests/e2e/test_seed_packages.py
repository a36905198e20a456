"""Seed 001's creative and package tools (issue 7), through fastmcp: add_creative_assets turns
seed assets into creatives in the formats of their packages (through sync_creatives: validated,
reviewed, assigned) and suggests adaptations; approve_adaptation makes the adapted creative once,
for the publisher to produce and review; update_package applies seed PATCH semantics (omitted
fields stay, null clears a daily cap, all or nothing) through update_media_buy. The seed 001
walk-through script runs end to end."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

from harness.adcp import connect
from harness.server import REPO
from test_seed_buying import AUDIO, CTV, avails_request
from test_seed_tools import booked_status, seed_error

pytestmark = pytest.mark.anyio

VIDEO_ASSET = {"format": "video", "media_url": "https://cdn.example.com/creatives/pet_food_30s.mp4",
               "click_url": "https://www.example.com/offers/new-year", "duration": 30000, "width": 1920, "height": 1080}
AUDIO_ASSET = {"format": "audio", "media_url": "https://cdn.example.com/creatives/pet_food_30s.mp3",
               "click_url": "https://www.example.com/offers", "duration": 30000}


@pytest.fixture
async def parties(own_server, schemas):
    _, buyer_token = own_server.create_principal("Seed package buyer")
    _, ops_token = own_server.create_principal("Seed package ops", admin=True)
    async with connect(own_server.mcp_url, schemas, buyer_token) as buyer:
        async with connect(own_server.mcp_url, schemas, ops_token) as ops:
            yield buyer, ops


async def seed_buy(buyer) -> tuple[str, str, str]:
    """A seed-form buy of CTV and audio; (media_buy_id, ctv package, audio package)."""
    quotes = (await buyer.ok("get_avails", avails_request(budget=20_000)))["packages"]
    by_product = {q["product_id"]: q["package_id"] for q in quotes}
    created = await buyer.ok("create_media_buy", {"packages": [by_product[CTV], by_product[AUDIO]]})
    return created["media_buy_id"], by_product[CTV], by_product[AUDIO]


async def test_add_creative_assets_with_the_seed_example(parties):
    buyer, _ = parties
    media_buy_id, ctv, audio = await seed_buy(buyer)
    answer = await buyer.ok("add_creative_assets", {
        "media_buy_id": media_buy_id,
        "assets": [
            {"creative_id": "pet_food_30s_v1", "name": "Purina Pet Food - 30s Spot", **VIDEO_ASSET,
             "package_assignments": [ctv]},
            {"creative_id": "pet_food_audio_30s", "name": "Purina Audio Spot - 30s", **AUDIO_ASSET,
             "package_assignments": [audio]},
        ],
    })
    statuses = {s["creative_id"]: s for s in answer["asset_statuses"]}
    assert statuses["pet_food_30s_v1"]["format_id"] == "ctv_30s"
    assert statuses["pet_food_audio_30s"]["format_id"] == "audio_30s"
    for status in statuses.values():
        assert status["status"] == "approved" and status["review_feedback"] is None
        assert "platform_id" in status and isinstance(status["suggested_adaptations"], list)
    assert statuses["pet_food_30s_v1"]["assigned_to"] == [ctv]
    status = await booked_status(buyer, media_buy_id)
    # Creatives in place, flight from tomorrow.
    assert status["status"] == "scheduled" and [p["status"] for p in status["package_statuses"]] == ["scheduled"] * 2
    listed = {c["creative_id"]: c for c in (await buyer.ok("get_creatives", {"media_buy_id": media_buy_id}))["creatives"]}
    assert listed["pet_food_30s_v1"]["associations"] == [{"media_buy_id": media_buy_id, "package_id": ctv}]
    assert listed["pet_food_30s_v1"]["format"] == "video"


async def test_an_asset_no_package_format_takes_is_refused_with_what_would_fit(parties):
    buyer, _ = parties
    media_buy_id, _, audio = await seed_buy(buyer)
    short = {**AUDIO_ASSET, "duration": 15000}
    refused = await buyer.call("add_creative_assets", {"media_buy_id": media_buy_id, "assets": [
        {"creative_id": "pet_food_audio_15s", "name": "15s", **short, "package_assignments": [audio]}]})
    error = seed_error(refused, "INVALID_REQUEST", "assets[0].format")
    assert "audio_30s (30 s)" in error["suggestion"]
    foreign = await buyer.call("add_creative_assets", {"media_buy_id": media_buy_id, "assets": [
        {"creative_id": "x", "name": "x", **AUDIO_ASSET, "package_assignments": ["pkg_elsewhere"]}]})
    seed_error(foreign, "PACKAGE_NOT_FOUND", "assets[0].package_assignments[0]")
    seed_error(await buyer.call("add_creative_assets", {"media_buy_id": "mb_unknown", "assets": [
        {"creative_id": "x", "name": "x", **AUDIO_ASSET}]}), "MEDIA_BUY_NOT_FOUND")
    assert (await buyer.ok("get_creatives", {"media_buy_id": media_buy_id}))["creatives"] == [], "nothing half-written"


async def test_update_package_patches_and_clears_daily_caps(parties):
    buyer, _ = parties
    media_buy_id, ctv, audio = await seed_buy(buyer)
    changed = await buyer.ok("update_package", {"media_buy_id": media_buy_id, "packages": [
        {"package_id": ctv, "active": True, "impressions": 300000, "daily_impressions": 35000, "daily_budget": 900},
        {"package_id": audio, "active": False, "pacing": "front_loaded"},
    ]})
    assert changed["status"] == "accepted" and changed["affected_packages"] == [ctv, audio]
    assert changed["implementation_date"] and changed["media_buy_id"] == media_buy_id
    [buy] = (await buyer.ok("get_media_buys", {"media_buy_ids": [media_buy_id]}))["media_buys"]
    packages = {p["package_id"]: p for p in buy["packages"]}
    assert packages[ctv]["impressions"] == 300000 and packages[audio]["paused"] is True
    assert (packages[ctv]["daily_impressions"], packages[ctv]["daily_budget"]) == (35000, 900)
    state = await buyer.ok("check_media_buy_status", {"media_buy_id": media_buy_id})
    assert [p["status"] for p in state["package_statuses"]][1] == "paused"

    # Null clears one cap; the other and everything omitted stays.
    await buyer.ok("update_package", {"media_buy_id": media_buy_id, "packages": [
        {"package_id": ctv, "daily_budget": None}]})
    history = (await buyer.ok("get_media_buys", {"media_buy_ids": [media_buy_id], "include_history": 20}))["media_buys"][0]
    summaries = [h.get("summary", "") for h in history["history"]]
    assert "Daily budget cap removed" in summaries and "Daily impression cap 35000" in summaries
    again = {p["package_id"]: p for p in history["packages"]}
    assert again[ctv]["impressions"] == 300000 and again[audio]["paused"] is True
    assert again[ctv]["daily_impressions"] == 35000 and "daily_budget" not in again[ctv]

    # All or nothing: an unknown package refuses the whole request.
    refused = await buyer.call("update_package", {"media_buy_id": media_buy_id, "packages": [
        {"package_id": audio, "active": True}, {"package_id": "pkg_new_package", "active": False}]})
    seed_error(refused, "PACKAGE_NOT_FOUND", "packages[1].package_id")
    state = await buyer.ok("check_media_buy_status", {"media_buy_id": media_buy_id})
    assert state["package_statuses"][1]["status"] == "paused", "the first change was not applied"
    seed_error(await buyer.call("update_package", {"media_buy_id": media_buy_id, "packages": [
        {"package_id": ctv, "daily_impressions": -5}]}), "INVALID_REQUEST", "packages[0].ext.seed_daily_impressions")
    seed_error(await buyer.call("update_package", {"media_buy_id": media_buy_id, "packages": [
        {"package_id": ctv, "colour": "red"}]}), "INVALID_REQUEST")


async def test_a_suggested_adaptation_is_made_once_and_waits_for_the_publisher(parties):
    buyer, ops = parties
    quotes = (await buyer.ok("get_avails", {**avails_request(budget=None), "product_ids": ["prod-tech-display-001"],
                                            "budget": 3000}))["packages"]
    media_buy_id = (await buyer.ok("create_media_buy", {"packages": [quotes[0]["package_id"]]}))["media_buy_id"]
    answer = await buyer.ok("add_creative_assets", {"media_buy_id": media_buy_id, "assets": [
        {"creative_id": "banner_mrec", "name": "Banner", "format": "display", "width": 300, "height": 250,
         "media_url": "https://cdn.example.com/banner.png", "click_url": "https://www.example.com"}]})
    [status] = answer["asset_statuses"]
    suggested = {a["format_id"]: a for a in status["suggested_adaptations"]}
    assert set(suggested) == {"display_728x90", "display_160x600"}, "the product's other display sizes"
    leaderboard = suggested["display_728x90"]
    assert leaderboard["changes_summary"] == ["Resize from 300x250 to 728x90"]
    assert leaderboard["adaptation_id"] == "adapt_display_728x90" and "package" in leaderboard["rationale"]

    request = {"creative_id": "banner_mrec", "adaptation_id": "adapt_display_728x90", "approve": True,
               "modifications": {"name": "Banner - Leaderboard"}}
    made = await buyer.ok("approve_adaptation", request)
    assert made["success"] and made["new_creative"]["creative_id"] == "banner_mrec_display_728x90"
    assert made["new_creative"]["name"] == "Banner - Leaderboard" and made["status"]["status"] == "pending_review"
    again = await buyer.ok("approve_adaptation", request)
    assert again["new_creative"]["creative_id"] == made["new_creative"]["creative_id"] and "task_id" not in again
    pending = await ops.ok("review_pending_creatives", {})
    assert "banner_mrec_display_728x90" in [c["creative_id"] for c in pending["creatives"]]
    await ops.ok("review_pending_creatives", {"creative_id": "banner_mrec_display_728x90", "action": "approve"})
    done = await buyer.ok("tasks/get", {"task_id": made["task_id"]})
    assert done["status"] == "completed"
    listed = {c["creative_id"]: c for c in (await buyer.ok("get_creatives", {"format": "display_728x90"}))["creatives"]}
    assert listed["banner_mrec_display_728x90"]["status"] == "approved"

    declined = await buyer.ok("approve_adaptation", {**request, "adaptation_id": "adapt_display_160x600", "approve": False})
    assert declined == {"success": True, "message": "Adaptation declined; nothing was created"}
    seed_error(await buyer.call("approve_adaptation", {**request, "adaptation_id": "adapt_ctv_30s"}),
               "INVALID_REQUEST", "adaptation_id")
    seed_error(await buyer.call("approve_adaptation", {**request, "creative_id": "nobody"}), "CREATIVE_NOT_FOUND")


def test_the_seed_001_walkthrough_script_runs_end_to_end(server):
    _, buyer_token = server.create_principal("Walk-through buyer")
    _, ops_token = server.create_principal("Walk-through ops", admin=True)
    script = REPO / "scripts" / "seed001_walkthrough.py"
    run = subprocess.run([sys.executable, str(script), server.mcp_url, buyer_token, ops_token],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    lines = run.stdout.strip().splitlines()
    assert [line.split(" ", 1)[0] for line in lines[:-1]] == [str(n) for n in range(1, 10)]
    assert lines[-1] == "seed 001 walk-through: ok"


async def test_update_media_buy_in_the_seed_form(parties):
    buyer, _ = parties
    media_buy_id, ctv, audio = await seed_buy(buyer)
    paused = await buyer.ok("update_media_buy", {"media_buy_id": media_buy_id, "active": False})
    assert paused["status"] == "accepted" and paused["request_form"] == "seed_001" and paused["implementation_date"]
    assert (await buyer.ok("check_media_buy_status", {"media_buy_id": media_buy_id}))["status"] == "paused"
    await buyer.ok("update_media_buy", {"media_buy_id": media_buy_id, "active": True})

    # Seed 001's complex update: a new end, a new total shared by the packages given no budget.
    end = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=20)).isoformat()
    changed = await buyer.ok("update_media_buy", {
        "media_buy_id": media_buy_id,
        "flight_end_date": end,
        "total_budget": 21_000,
        "packages": [{"package_id": ctv, "budget": 10_500, "pacing": "front_loaded"},
                     {"package_id": audio, "active": False}],
    })
    assert changed["status"] == "accepted" and set(changed["affected_packages"]) == {ctv, audio}
    [buy] = (await buyer.ok("get_media_buys", {"media_buy_ids": [media_buy_id]}))["media_buys"]
    packages = {p["package_id"]: p for p in buy["packages"]}
    assert (packages[ctv]["budget"], packages[audio]["budget"]) == (10_500, 10_500)
    assert packages[audio]["paused"] is True and buy["end_time"].startswith(
        (datetime.date.fromisoformat(end) + datetime.timedelta(days=1)).isoformat())
    assert buy["total_budget"] == 21_000

    refused = await buyer.call("update_media_buy", {"media_buy_id": media_buy_id, "total_budget": 5_000,
                                                    "packages": [{"package_id": ctv, "budget": 10_500}]})
    seed_error(refused, "INVALID_REQUEST", "total_budget")
    seed_error(await buyer.call("update_media_buy", {"media_buy_id": media_buy_id, "active": False, "colour": "red"}),
               "INVALID_REQUEST")
    assert (await buyer.ok("check_media_buy_status", {"media_buy_id": media_buy_id}))["status"] != "paused"
