"""Insertion orders for guaranteed inventory (issue 5, item 3) on a sandbox tenant configured
with `guaranteed_io` and `sandbox_auto_approve`: a buy of a guaranteed product goes through the
approval machinery (the submitted arm, a task) and the sandbox approves it at once, standing in
for the publisher, so tasks/get already shows the completed task with the buy; a buy of
non-guaranteed inventory is booked directly."""

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
media_buys = "never"
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


async def test_guaranteed_buys_go_through_an_io_task_the_sandbox_approves(buyer):
    domain = unique_domain("io")
    submitted = await buyer.ok("create_media_buy", create_request(domain))  # TECH: guaranteed
    assert submitted["status"] == "submitted" and "insertion order" in submitted["message"]
    task = await buyer.ok("tasks/get", {"task_id": submitted["task_id"], "include_result": True})
    assert task["status"] == "completed"
    media_buy_id = task["result"]["media_buy_id"]
    [buy] = (await buyer.ok("get_media_buys", {"media_buy_ids": [media_buy_id]}))["media_buys"]
    assert buy["status"] == "pending_creatives" and buy["confirmed_at"]

    option, floor, _ = await ron_option(buyer)
    direct = await buyer.ok("create_media_buy", create_request(
        domain, [package(RON, option, budget=2_000, bid_price=floor + 1)]))
    assert direct["media_buy_id"] and direct["status"] != "submitted", "non-guaranteed inventory needs no IO"
