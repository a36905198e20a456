#!/usr/bin/env python3
"""Seed 001 end to end, as a buying agent's fastmcp script would walk it against a sales agent:
discover products from a brief, check availability, buy the quoted packages (a large buy waits
for publisher ops, who approve it as a human task), upload creative assets, check status and
delivery, change a package, send performance feedback, and take up a suggested adaptation.

Only the seed-era tools and shapes are used (errors come as {"error": {code, message, field,
suggestion}}). Every step prints one line; any failure exits non-zero with the step's answer.

    python scripts/seed001_walkthrough.py URL BUYER_TOKEN ADMIN_TOKEN

Needs `fastmcp` (tests/e2e/requirements.txt). The buyer token should be a fresh principal (the
seed form then needs no account: a sandbox provisions one); the admin token one made with
`sales-agent principal create --admin`.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import sys

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

BRIEF = "Premium CTV and streaming audio reaching US pet owners, $60,000 budget"


class StepFailed(Exception):
    pass


async def call(client: Client, step: str, tool: str, args: dict) -> dict:
    result = await client.call_tool(tool, args, raise_on_error=False)
    body = result.structured_content or {}
    if result.is_error or "error" in body:
        raise StepFailed(f"{step}: {tool} failed: {json.dumps(body, indent=1)}")
    return body


def check(step: str, condition: bool, detail: object) -> None:
    if not condition:
        raise StepFailed(f"{step}: unexpected answer: {json.dumps(detail, indent=1, default=str)}")


def day(offset: int) -> str:
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)).isoformat()


async def walk(url: str, buyer_token: str, admin_token: str) -> None:
    buyer = Client(StreamableHttpTransport(url, headers={"x-adcp-auth": buyer_token}))
    admin = Client(StreamableHttpTransport(url, headers={"x-adcp-auth": admin_token}))
    async with buyer, admin:
        # 1. Discover products from a natural-language brief.
        found = await call(buyer, "discover", "discover_products", {"campaign_brief": BRIEF})
        recommended = found["recommended_products"]
        video = next((p for p in recommended if "video" in p["formats"] and p["delivery_type"] == "guaranteed"), None)
        audio = next((p for p in recommended if "audio" in p["formats"]), None)
        check("discover", video is not None and audio is not None, recommended)
        print(f"1 discover_products: {len(recommended)} products; buying {video['product_id']} and {audio['product_id']}")

        # 2. Availability and pricing for the flight, budget and targeting.
        targeting = {"geo_country_any_of": ["US"], "frequency_cap": {"suppress_minutes": 30, "scope": "media_buy"}}
        avails = await call(buyer, "avails", "get_avails", {
            "product_ids": [video["product_id"], audio["product_id"]],
            "start_date": day(1),
            "end_date": day(14),
            "budget": 70_000,
            "targeting_overlay": targeting,
        })
        packages = avails["packages"]
        check("avails", len(packages) == 2 and all(p["impressions"] > 0 for p in packages), avails)
        print(f"2 get_avails: {avails['total_impressions']} impressions for {avails['total_budget']:.2f}")

        # 3. Buy the quoted packages; above $50,000 the publisher approves it first.
        created = await call(buyer, "create", "create_media_buy", {
            "packages": [p["package_id"] for p in packages],
            "po_number": "PO-2024-Q1-0123",
            "total_budget": 60_000,
            "targeting_overlay": targeting,
            "pacing": "even",
            "daily_budget": None,
        })
        check("create", created["status"] == "pending_manual" and created["request_form"] == "seed_001", created)
        print(f"3 create_media_buy: {created['status']}, task {created['task_id']}")

        # 4. Publisher ops find the task and approve it (human in the loop).
        queue = await call(admin, "ops queue", "list_human_tasks", {"status": "pending", "task_type": "media_buy_approval"})
        check("ops queue", any(t["task_id"] == created["task_id"] for t in queue["tasks"]), queue)
        await call(admin, "ops approve", "complete_human_task",
                   {"task_id": created["task_id"], "action": "approve", "notes": "Budget verified, targeting appropriate"})
        polled = await call(buyer, "poll", "update_media_buy_status", {"task_id": created["task_id"]})
        check("poll", polled["status"] == "completed" and polled.get("media_buy_id"), polled)
        media_buy_id = polled["media_buy_id"]
        print(f"4 complete_human_task: approved; update_media_buy_status: {media_buy_id} is {polled['media_buy_status']}")

        # 5. Creative assets for each package.
        video_package, audio_package = packages[0]["package_id"], packages[1]["package_id"]
        uploaded = await call(buyer, "assets", "add_creative_assets", {
            "media_buy_id": media_buy_id,
            "assets": [
                {"creative_id": "pet_food_30s_v1", "name": "Pet Food - 30s Spot", "format": "video",
                 "media_url": "https://cdn.example.com/creatives/pet_food_30s.mp4",
                 "click_url": "https://www.example.com/offers/new-year", "duration": 30000,
                 "width": 1920, "height": 1080, "package_assignments": [video_package]},
                {"creative_id": "pet_food_audio_30s", "name": "Pet Food Audio - 30s", "format": "audio",
                 "media_url": "https://cdn.example.com/creatives/pet_food_30s.mp3",
                 "click_url": "https://www.example.com/offers", "duration": 30000,
                 "package_assignments": [audio_package]},
            ],
        })
        statuses = uploaded["asset_statuses"]
        check("assets", [s["status"] for s in statuses] == ["approved", "approved"], uploaded)
        print(f"5 add_creative_assets: {', '.join(s['creative_id'] + ' ' + s['status'] for s in statuses)}")

        # 6. Status, pacing and delivery.
        status = await call(buyer, "status", "check_media_buy_status", {"media_buy_id": media_buy_id})
        check("status", [p["package_id"] for p in status["package_statuses"]] == [video_package, audio_package], status)
        delivery = await call(buyer, "delivery", "get_all_media_buy_delivery", {"media_buy_ids": [media_buy_id]})
        check("delivery", [d["media_buy_id"] for d in delivery["deliveries"]] == [media_buy_id], delivery)
        print(f"6 check_media_buy_status: {status['status']}; get_all_media_buy_delivery: "
              f"{delivery['deliveries'][0]['status']}, spend {delivery['total_spend']}")

        # 7. Change a package: a daily impression cap and pacing, then pause the audio one.
        changed = await call(buyer, "update", "update_package", {
            "media_buy_id": media_buy_id,
            "packages": [{"package_id": video_package, "daily_impressions": 35000, "pacing": "front_loaded"},
                         {"package_id": audio_package, "active": False}],
        })
        check("update", changed["status"] == "accepted" and changed["affected_packages"] == [video_package, audio_package],
              changed)
        status = await call(buyer, "status", "check_media_buy_status", {"media_buy_id": media_buy_id})
        check("update", status["package_statuses"][1]["status"] == "paused", status)
        print(f"7 update_package: {changed['detail']}; audio package paused")

        # 8. Performance feedback.
        feedback = await call(buyer, "feedback", "update_performance_index", {
            "media_buy_id": media_buy_id,
            "performance_data": [
                {"product_id": video["product_id"], "performance_index": 1.15, "confidence_score": 0.92,
                 "feedback": "Strong viewability and completion rates"},
                {"product_id": audio["product_id"], "performance_index": 0.85, "confidence_score": 0.88,
                 "feedback": "Lower than expected reach in target demo"},
            ],
        })
        check("feedback", feedback.get("status") == "accepted" and feedback.get("optimization_actions"), feedback)
        print(f"8 update_performance_index: {len(feedback['optimization_actions'])} optimization action(s)")

        # 9. A suggested adaptation, accepted: the publisher produces and reviews it.
        suggested = [a for s in statuses for a in s["suggested_adaptations"]]
        if suggested:
            source = next(s["creative_id"] for s in statuses if s["suggested_adaptations"])
            adapted = await call(buyer, "adaptation", "approve_adaptation", {
                "creative_id": source, "adaptation_id": suggested[0]["adaptation_id"], "approve": True,
                "modifications": {"name": "Pet Food Hero - adapted"},
            })
            check("adaptation", adapted["success"] and adapted["new_creative"]["name"] == "Pet Food Hero - adapted", adapted)
            print(f"9 approve_adaptation: {adapted['new_creative']['creative_id']} is {adapted['status']['status']}")
        else:
            print("9 approve_adaptation: no adaptation suggested for these formats")


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(walk(*sys.argv[1:]))
    except StepFailed as failure:
        print(f"FAILED {failure}", file=sys.stderr)
        return 1
    print("seed 001 walk-through: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
