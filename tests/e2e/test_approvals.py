"""Human in the loop (issue 4), through fastmcp: the demo tenant holds buys above $50,000 for
publisher ops. The buyer gets the AdCP submitted arm (status "submitted", task_id, message),
polls tasks/get (and tasks_get, tasks/list), and sees the buy's response as the task's result
once an admin approves; approval runs the buy exactly once, rejection never. Tasks are private
to their buyer. The publisher-ops tools (list_human_tasks, get_pending_tasks, create_human_task,
assign_task, complete_task, complete_human_task, get_audit_log) are for admin tokens only; an admin's
get_all_media_buy_delivery covers every buyer. The sandbox testing hooks X-Auto-Advance and X-Dry-Run work. A task
survives a restart of the server and is approved after it.

Every response is validated against the AdCP 3.0.6 schemas by the harness (tasks/get and
tasks/list included; the submitted arm of update_media_buy against its async schema)."""

from __future__ import annotations

import pytest

from harness.adcp import connect
from harness.receiver import Receiver
from harness.server import DEMO_TOKEN
from test_media_buys import TECH, TECH_CPM, Buys, create_request, key, package, unique_domain

pytestmark = pytest.mark.anyio

OPS_TOOLS = (
    "list_human_tasks",
    "get_pending_tasks",
    "create_human_task",
    "assign_task",
    "complete_task",
    "complete_human_task",
    "get_audit_log",
)


def large(domain: str, budget: float = 60_000, **extra) -> dict:
    """A buy above the demo's $50,000 approval threshold."""
    return create_request(domain, [package(TECH, TECH_CPM, budget)], **extra)


@pytest.fixture
async def admin(server, schemas):
    _, token = server.create_principal("Ad ops", admin=True)
    async with connect(server.mcp_url, schemas, token) as client:
        yield client


async def buys_of(client, domain: str) -> list[dict]:
    body = await client.ok(
        "get_media_buys",
        {"account": {"brand": {"domain": domain}, "operator": domain}, "status_filter": ["pending_creatives",
         "pending_start", "active", "paused", "completed", "rejected", "canceled"]},
    )
    return body["media_buys"]


async def test_a_large_buy_waits_for_ops_and_runs_once_when_approved(buyer, admin):
    domain = unique_domain("hitl")
    request = large(domain, context={"trace": "hitl-1"})
    submitted = await buyer.ok("create_media_buy", request)
    assert submitted["status"] == "submitted"
    task_id = submitted["task_id"]
    assert "approval" in submitted["message"] and task_id in submitted["message"]
    assert submitted["context"] == {"trace": "hitl-1"}
    assert await buys_of(buyer, domain) == [], "nothing is booked before a person decides"

    replay = await buyer.ok("create_media_buy", request)
    assert (replay["task_id"], replay.get("replayed")) == (task_id, True), "a retry replays the submission"

    polled = await buyer.ok("tasks/get", {"task_id": task_id, "include_result": True})
    assert (polled["status"], polled["task_type"], polled["protocol"]) == ("submitted", "create_media_buy", "media-buy")
    assert "result" not in polled and polled["has_webhook"] is False

    pending = await admin.ok("get_pending_tasks", {"task_type": "media_buy_approval"})
    mine = [t for t in pending["tasks"] if t["task_id"] == task_id]
    assert len(mine) == 1, pending
    assert (mine[0]["principal_id"], mine[0]["status"], mine[0]["operation"]) == (
        "demo-buyer",
        "pending",
        "create_media_buy",
    )
    assert "60000.00 USD" in mine[0]["description"] and "50000" in mine[0]["error_detail"]
    assert mine[0]["request"]["packages"][0]["budget"] == 60_000

    approved = await admin.ok(
        "complete_task",
        {"task_id": task_id, "resolution": "approved", "resolution_detail": "IO signed", "resolved_by": "ops@pub"},
    )
    media_buy_id = approved["task"]["media_buy_id"]
    assert approved["task"]["status"] == "completed" and approved["task"]["resolution"] == "approved"

    done = await buyer.ok("tasks_get", {"task_id": task_id})
    assert done["status"] == "completed" and done["completed_at"]
    result = done["result"]
    assert result["media_buy_id"] == media_buy_id and result["packages"][0]["budget"] == 60_000
    assert result["context"] == {"trace": "hitl-1"}, "the result echoes the original request's context"
    buyer.schemas.check("bundled/media-buy/create-media-buy-response.json", result, "tasks/get result")

    again = await admin.error("complete_task", {"task_id": task_id, "resolution": "approved"}, valid_request=True)
    assert again["code"] == "INVALID_STATE"
    stored = await buys_of(buyer, domain)
    assert [b["media_buy_id"] for b in stored] == [media_buy_id], "approval ran the buy exactly once"
    assert stored[0]["total_budget"] == 60_000


async def test_a_rejected_buy_is_never_booked(buyer, admin):
    domain = unique_domain("reject")
    task_id = (await buyer.ok("create_media_buy", large(domain)))["task_id"]
    decided = await admin.ok("complete_human_task", {"task_id": task_id, "action": "reject", "notes": "Over cap"})
    assert decided["task"]["adcp_status"] == "rejected"
    polled = await buyer.ok("tasks/get", {"task_id": task_id})
    assert polled["status"] == "rejected" and "Over cap" in polled["message"]
    assert "media_buy_id" not in polled
    assert await buys_of(buyer, domain) == []
    refused = await admin.error("complete_task", {"task_id": task_id, "resolution": "approved"}, valid_request=True)
    assert refused["code"] == "INVALID_STATE"
    assert await buys_of(buyer, domain) == []


async def test_buys_up_to_the_threshold_are_not_held(buyer):
    small = await buyer.ok("create_media_buy", large(unique_domain("small"), budget=50_000))
    assert small["status"] != "submitted" and small["media_buy_id"], "the threshold is strictly above $50,000"


async def test_tasks_are_private_to_their_buyer(buyer, admin, server, schemas):
    task_id = (await buyer.ok("create_media_buy", large(unique_domain("private"))))["task_id"]
    _, other_token = server.create_principal("Other buyer")
    async with connect(server.mcp_url, schemas, other_token) as other:
        foreign = await other.error("tasks/get", {"task_id": task_id}, valid_request=True)
        unknown = await other.error("tasks/get", {"task_id": "task_does_not_exist"}, valid_request=True)
        assert foreign["code"] == unknown["code"] == "REFERENCE_NOT_FOUND"
        assert foreign["message"].replace(task_id, "X") == unknown["message"].replace("task_does_not_exist", "X")
        listed = await other.ok("tasks/list", {})
        assert listed["tasks"] == [] and listed["query_summary"]["total_matching"] == 0
        names = await other.tool_names()
        assert "tasks/get" in names and "tasks_get" in names
        for tool in OPS_TOOLS:
            assert tool not in names, f"{tool} is listed to a buyer"
            denied = await other.error(tool, {"task_id": task_id, "resolution": "approved", "action": "approve",
                                              "assigned_to": "x", "task_type": "x"})
            assert denied["code"] == "PERMISSION_DENIED", (tool, denied)
    assert set(OPS_TOOLS) <= set(await admin.tool_names())
    await admin.ok("complete_task", {"task_id": task_id, "resolution": "rejected"})


async def test_tasks_list_filters_and_pages(server, schemas, admin):
    _, token = server.create_principal("Lister")
    async with connect(server.mcp_url, schemas, token) as lister:
        ids = [(await lister.ok("create_media_buy", large(unique_domain("list"))))["task_id"] for _ in range(3)]
        await admin.ok("complete_task", {"task_id": ids[0], "resolution": "rejected"})
        everything = await lister.ok("tasks/list", {})
        assert [t["task_id"] for t in everything["tasks"]] == ids[::-1], "newest first"
        assert everything["query_summary"]["status_breakdown"] == {"submitted": 2, "rejected": 1}
        waiting = await lister.ok("tasks/list", {"filters": {"statuses": ["submitted", "working"]}, "sort": {"field": "created_at", "direction": "asc"}})
        assert [t["task_id"] for t in waiting["tasks"]] == ids[1:]
        assert waiting["query_summary"]["filters_applied"] == ["statuses"]
        first = await lister.ok("tasks/list", {"pagination": {"max_results": 2}})
        assert len(first["tasks"]) == 2 and first["pagination"]["has_more"] is True
        rest = await lister.ok("tasks_list", {"pagination": {"max_results": 2, "cursor": first["pagination"]["cursor"]}})
        assert [t["task_id"] for t in first["tasks"] + rest["tasks"]] == ids[::-1]
        bad = await lister.error("tasks/list", {"filters": {"statuses": ["pending_manual"]}})
        assert bad["code"] == "INVALID_REQUEST" and bad["field"] == "filters.statuses"


async def test_ops_queue_tools(admin):
    created = await admin.ok(
        "create_human_task",
        {"task_type": "manual_approval", "priority": "high", "description": "Check the IO", "due_in_hours": 4,
         "error_detail": "Publisher requires a signed IO", "operation": "create_media_buy"},
    )
    task_id = created["task_id"]
    assert created["task"]["status"] == "pending" and created["task"]["priority"] == "high"
    assigned = await admin.ok("assign_task", {"task_id": task_id, "assigned_to": "ops@publisher.example"})
    assert (assigned["task"]["status"], assigned["task"]["assigned_to"]) == ("assigned", "ops@publisher.example")
    started = await admin.ok("assign_task", {"task_id": task_id, "assigned_to": "ops@publisher.example", "start": True})
    assert (started["task"]["status"], started["task"]["adcp_status"]) == ("in_progress", "working")
    listed = await admin.ok("list_human_tasks", {"status": "in_progress", "priority": "high"})
    assert task_id in [t["task_id"] for t in listed["tasks"]]
    assert all(t["status"] == "in_progress" and t["priority"] == "high" for t in listed["tasks"])
    cannot = await admin.error("complete_task", {"task_id": task_id, "resolution": "approved"}, valid_request=True)
    assert cannot["code"] == "INVALID_REQUEST" and cannot["field"] == "resolution"
    done = await admin.ok("complete_task", {"task_id": task_id, "resolution": "completed", "resolution_detail": "signed"})
    assert done["task"]["status"] == "completed" and done["task"]["notes"] == "signed"
    bad = await admin.error("create_human_task", {"task_type": "x", "priority": "asap"}, valid_request=True)
    assert bad["code"] == "INVALID_REQUEST" and bad["field"] == "priority"

    audit = await admin.ok("get_audit_log", {"object_type": "task", "object_id": task_id})
    actions = [(e["action"], e["after"]) for e in audit["entries"]]
    assert actions == [
        ("resolved", "completed"),
        ("started", "ops@publisher.example"),
        ("assigned", "ops@publisher.example"),
        ("created", "Check the IO"),
    ]
    assert all(e["actor"] == audit["entries"][0]["actor"] for e in audit["entries"])


async def test_decisions_and_buy_changes_are_audited(buyer, admin):
    domain = unique_domain("audit")
    task_id = (await buyer.ok("create_media_buy", large(domain)))["task_id"]
    approved = await admin.ok("complete_human_task", {"task_id": task_id, "action": "approve", "notes": "ok"})
    media_buy_id = approved["task"]["media_buy_id"]
    await Buys(buyer, domain).update(media_buy_id, paused=True)
    buy_log = await admin.ok("get_audit_log", {"object_type": "media_buy", "object_id": media_buy_id})
    changes = [(e["action"], e["before"], e["after"], e["actor"]) for e in buy_log["entries"]]
    created_as = approved["task"]["result"]["status"]
    assert changes == [
        ("status_changed", created_as, "paused", "demo-buyer"),
        ("created", None, created_as, approved["task"]["resolved_by"]),
    ], "the approving admin created the buy"
    assert f"submitted by demo-buyer in task {task_id}" in buy_log["entries"][-1]["detail"]
    task_log = await admin.ok("get_audit_log", {"object_id": task_id})
    assert [e["action"] for e in task_log["entries"]] == ["resolved", "created"]
    assert task_log["entries"][0]["detail"] == "ok"
    everyone = await admin.ok("get_all_media_buy_delivery", {"media_buy_ids": [media_buy_id]})
    assert [(d["media_buy_id"], d["principal_id"]) for d in everyone["deliveries"]] == [(media_buy_id, "demo-buyer")]


async def test_auto_advance_hook_approves_at_once_in_the_sandbox(server, schemas):
    async with connect(server.mcp_url, schemas, DEMO_TOKEN, headers={"X-Auto-Advance": "true"}) as hooked:
        domain = unique_domain("auto")
        submitted = await hooked.ok("create_media_buy", large(domain))
        assert submitted["status"] == "submitted"
        done = await hooked.ok("tasks/get", {"task_id": submitted["task_id"]})
        assert done["status"] == "completed" and done["result"]["media_buy_id"]
        assert len(await buys_of(hooked, domain)) == 1


async def test_dry_run_hook_writes_nothing(server, schemas):
    async with connect(server.mcp_url, schemas, DEMO_TOKEN, headers={"X-Dry-Run": "true"}) as dry:
        domain = unique_domain("dry")
        planned = await dry.ok("create_media_buy", large(domain))
        assert planned["dry_run"] is True and "would wait for publisher approval" in planned["message"]
        small = await dry.ok("create_media_buy", large(domain, budget=5_000))
        assert small["dry_run"] is True and small["packages"][0]["budget"] == 5_000
    async with connect(server.mcp_url, schemas, DEMO_TOKEN) as plain:
        assert await buys_of(plain, domain) == []
        listed = await plain.ok("get_media_buys", {"media_buy_ids": [small["media_buy_id"]]})
        assert listed["media_buys"] == []


async def test_a_budget_increase_of_an_existing_buy_needs_no_approval_by_default(buyer):
    buys = Buys(buyer)
    created = await buys.create([package(TECH, TECH_CPM, 40_000)])
    updated = await buys.update(
        created["media_buy_id"],
        packages=[{"package_id": created["packages"][0]["package_id"], "budget": 49_000}],
    )
    assert updated["status"] != "submitted"


async def test_a_pending_task_survives_a_restart(own_server, schemas):
    """The task waits through a restart; approved after it, the buy is made once and the buyer's
    webhook (whose receiver is down at first) is delivered once."""
    _, ops_token = own_server.create_principal("Restart ops", admin=True)
    domain = unique_domain("restart")
    receiver = Receiver()
    path = "/step/restart-approval/op-1"
    hook = {"url": receiver.url(path, 503)}
    async with connect(own_server.mcp_url, schemas, DEMO_TOKEN) as buyer:
        request = large(domain, idempotency_key=key(), push_notification_config=hook)
        task_id = (await buyer.ok("create_media_buy", request))["task_id"]
    own_server.restart()
    async with connect(own_server.mcp_url, schemas, ops_token) as ops:
        approved = await ops.ok("complete_task", {"task_id": task_id, "resolution": "approved"})
        media_buy_id = approved["task"]["media_buy_id"]
    async with connect(own_server.mcp_url, schemas, DEMO_TOKEN) as buyer:
        done = await buyer.ok("tasks/get", {"task_id": task_id})
        assert done["status"] == "completed" and done["result"]["media_buy_id"] == media_buy_id
        assert [b["media_buy_id"] for b in await buys_of(buyer, domain)] == [media_buy_id]
    try:
        deliveries = receiver.wait(path, count=2)
        assert [d.status for d in deliveries] == [503, 200]
        assert deliveries[1].payload["task_id"] == task_id and deliveries[1].payload["result"]["media_buy_id"] == media_buy_id
        assert deliveries[0].body == deliveries[1].body
        receiver.quiet(path, 2)
    finally:
        receiver.close()
