"""Creative review by a person (issue 4, items 1, 2, 4 and 7) on a sandbox tenant configured
with `review = "rules"`: creatives in an auto-approved format are approved on upload; the others
wait in pending_review, and sync_creatives answers with the submitted arm and a review task.
Publisher ops see the queue with review_pending_creatives, approve or reject (with a reason) one
creative at a time, or resolve the whole task with complete_task; the buyer's task completes
with each creative's final status, and the buyer and ops are told by webhook (ops in
Slack-compatible JSON, for new and overdue tasks)."""

from __future__ import annotations

import pytest

from harness.adcp import connect
from harness.receiver import Receiver
from harness.server import DEMO_TOKEN, Server
from test_creatives import Library, catalog_formats
from test_media_buys import key

pytestmark = pytest.mark.anyio

AUTO_FORMAT = "display_728x90"
REVIEWED_FORMAT = "display_300x250"


def review_config(ops_url: str) -> str:
    return f'''
[[tenants]]
tenant_id = "demo"
name = "Reviewing Publisher"
sandbox = true
catalog = "demo-catalog.toml"
publisher_domains = ["techdaily.example"]

[tenants.creatives]
review = "rules"
auto_approve_formats = ["{AUTO_FORMAT}"]

[tenants.webhooks]
allow_private_urls = true

[tenants.approvals]
media_buys = "never"
ops_webhook_url = "{ops_url}"

[[tenants.sandbox_principals]]
principal_id = "demo-buyer"
name = "Demo Buyer"
token = "{DEMO_TOKEN}"
'''


@pytest.fixture(scope="module")
def receiver():
    rx = Receiver()
    yield rx
    rx.close()


@pytest.fixture(scope="module")
def reviewing_server(receiver):
    server = Server("review", config=review_config(receiver.base_url + "/ops/slack"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def parties(reviewing_server, schemas):
    _, token = reviewing_server.create_principal("Review ops", admin=True)
    async with connect(reviewing_server.mcp_url, schemas, DEMO_TOKEN) as buyer:
        async with connect(reviewing_server.mcp_url, schemas, token) as ops:
            yield Library(buyer, await catalog_formats(buyer)), ops


async def test_rules_approve_trusted_formats_and_hold_the_rest_for_a_person(parties, receiver):
    lib, ops = parties
    trusted, held, also_held = (lib.creative(fmt=AUTO_FORMAT), lib.creative(), lib.creative())
    hook = receiver.url("/buyer/review-1")
    submitted = await lib.sync([trusted, held, also_held], push_notification_config={"url": hook},
                               context={"trace": "review"})
    assert submitted["status"] == "submitted" and submitted["task_id"]
    statuses = {c["creative_id"]: c["status"] for c in submitted["creatives"]}
    assert statuses == {trusted["creative_id"]: "approved", held["creative_id"]: "pending_review",
                        also_held["creative_id"]: "pending_review"}
    task_id = submitted["task_id"]

    [notice] = [d for d in receiver.wait("/ops/slack") if task_id in d.payload["text"]]
    assert set(notice.payload) == {"text"} and "creative_review" in notice.payload["text"]

    queue = await ops.ok("review_pending_creatives", {})
    waiting = {c["creative_id"] for c in queue["creatives"]}
    assert {held["creative_id"], also_held["creative_id"]} <= waiting and trusted["creative_id"] not in waiting

    rejected = await ops.ok("review_pending_creatives", {"creative_id": held["creative_id"], "action": "reject",
                                                         "reason": "Logo too small"})
    assert rejected["review_status"] == "rejected" and "completed_task_id" not in rejected
    assert (await lib.client.ok("tasks/get", {"task_id": task_id}))["status"] == "submitted", "one still waits"
    no_reason = await ops.error("review_pending_creatives", {"creative_id": also_held["creative_id"], "action": "reject"})
    assert no_reason["code"] == "INVALID_REQUEST" and no_reason["field"] == "reason"

    approved = await ops.ok("review_pending_creatives", {"creative_id": also_held["creative_id"], "action": "approve"})
    assert approved["completed_task_id"] == task_id
    done = await lib.client.ok("tasks/get", {"task_id": task_id})
    assert done["status"] == "completed"
    final = {c["creative_id"]: (c["status"], c.get("rejection_reason")) for c in done["result"]["creatives"]}
    assert final == {held["creative_id"]: ("rejected", "Logo too small"),
                     also_held["creative_id"]: ("approved", None)}
    assert done["result"]["context"] == {"trace": "review"}
    [told] = receiver.wait("/buyer/review-1")
    assert (told.payload["task_type"], told.payload["status"], told.payload["task_id"]) == (
        "sync_creatives", "completed", task_id)
    assert (await lib.get(held["creative_id"]))["status"] == "rejected"

    again = await ops.error("review_pending_creatives", {"creative_id": held["creative_id"], "action": "reject",
                                                         "reason": "still"})
    assert again["code"] == "INVALID_STATE"
    audit = await ops.ok("get_audit_log", {"object_type": "creative", "object_id": held["creative_id"]})
    assert [(e["before"], e["after"]) for e in audit["entries"]] == [("pending_review", "rejected"), (None, "pending_review")]


async def test_a_whole_review_task_is_resolved_at_once(parties):
    lib, ops = parties
    first, second = lib.creative(), lib.creative()
    submitted = await lib.sync([first, second])
    rejected = await ops.ok("complete_task", {"task_id": submitted["task_id"], "resolution": "rejected",
                                              "resolution_detail": "Off-brand"})
    assert rejected["task"]["adcp_status"] == "rejected"
    for creative in (first, second):
        stored = await lib.get(creative["creative_id"])
        assert stored["status"] == "rejected", stored

    third = lib.creative()
    task_id = (await lib.sync([third]))["task_id"]
    await ops.ok("complete_human_task", {"task_id": task_id, "action": "approve"})
    assert (await lib.get(third["creative_id"]))["status"] == "approved"
    done = await lib.client.ok("tasks/get", {"task_id": task_id})
    assert done["status"] == "completed" and done["result"]["creatives"][0]["status"] == "approved"


async def test_trusted_uploads_answer_at_once(parties):
    lib, _ = parties
    body = await lib.sync([lib.creative(fmt=AUTO_FORMAT)], idempotency_key=key())
    assert body["status"] == "completed" and "task_id" not in body
    assert body["creatives"][0]["status"] == "approved"
