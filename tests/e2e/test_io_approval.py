"""Insertion orders for guaranteed inventory (issue 5, item 3) on a sandbox tenant configured
with `guaranteed_io`: a buy of a guaranteed product goes through the approval machinery (an IO
task, audited) which the sandbox countersigns at once, standing in for the publisher, so the
buyer gets the buy and tasks/list shows the task approved by "sandbox" with the buy as its
result; a buy above the review threshold still waits for a person (submitted, then approved
through the task by `sandbox_auto_approve`); a buy of non-guaranteed inventory needs no IO."""

from __future__ import annotations

import pytest

from harness.adcp import connect
from harness.server import DEMO_TOKEN, Server
from test_media_buys import RON, create_request, package, ron_option, unique_domain

pytestmark = pytest.mark.anyio

IO_CONFIG = f'''
[[tenants]]
tenant_id = "demo"
name = "IO Publisher"
sandbox = true
catalog = "demo-catalog.toml"
publisher_domains = ["techdaily.example"]

[tenants.approvals]
media_buys = "above_budget"
budget_threshold = 50000
guaranteed_io = true
sandbox_auto_approve = true

[[tenants.sandbox_principals]]
principal_id = "demo-buyer"
name = "Demo Buyer"
token = "{DEMO_TOKEN}"
'''


@pytest.fixture(scope="module")
def io_server():
    server = Server("io", config=IO_CONFIG)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def buyer(io_server, schemas):
    async with connect(io_server.mcp_url, schemas, DEMO_TOKEN) as client:
        yield client


async def test_guaranteed_buys_go_through_an_io_task_the_sandbox_countersigns(buyer):
    domain = unique_domain("io")
    request = create_request(domain)  # TECH: guaranteed, $5,000
    buy = await buyer.ok("create_media_buy", request)
    assert buy["media_buy_id"] and buy["status"] == "pending_creatives" and buy["confirmed_at"], buy
    tasks, _ = await buyer.walk("tasks/list", {}, "tasks", 100)
    io_tasks = [t for t in tasks if t.get("media_buy_id") == buy["media_buy_id"]]
    assert len(io_tasks) == 1, f"one IO task for the buy: {tasks}"
    task = await buyer.ok("tasks/get", {"task_id": io_tasks[0]["task_id"], "include_result": True})
    assert task["status"] == "completed"
    assert task["result"]["media_buy_id"] == buy["media_buy_id"]
    replay = await buyer.ok("create_media_buy", request)
    assert replay["media_buy_id"] == buy["media_buy_id"] and replay.get("replayed") is True

    option, floor, _ = await ron_option(buyer)
    direct = await buyer.ok("create_media_buy", create_request(
        domain, [package(RON, option, budget=2_000, bid_price=floor + 1)]))
    assert direct["media_buy_id"] and direct["status"] != "submitted", "non-guaranteed inventory needs no IO"
    tasks, _ = await buyer.walk("tasks/list", {}, "tasks", 100)
    assert not [t for t in tasks if t.get("media_buy_id") == direct["media_buy_id"]], "no IO task without guaranteed inventory"


async def test_a_guaranteed_buy_above_the_review_threshold_still_waits_for_review(buyer):
    submitted = await buyer.ok("create_media_buy", create_request(unique_domain("io-big"), [package(budget=60_000)]))
    assert submitted["status"] == "submitted", submitted
    assert "above" in submitted["message"] and "insertion order" in submitted["message"]
    task = await buyer.ok("tasks/get", {"task_id": submitted["task_id"], "include_result": True})
    assert task["status"] == "completed", "sandbox_auto_approve approves it through the task"
    assert task["result"]["media_buy_id"]
