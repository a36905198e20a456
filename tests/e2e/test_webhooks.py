"""Push notifications (issue 4, item 5) against a real receiver on loopback: a buy created with
push_notification_config is told by a webhook whose payload validates against
core/mcp-webhook-payload.json, echoes the context and the operation id of the URL, and is signed
under the RFC 9421 AdCP webhook profile with the key the server publishes at
/.well-known/jwks.json (or with HMAC-SHA256 when the buyer registered credentials). A receiver
that answers 503 three times gets the same event four times with a byte-identical body (and
idempotency_key) and a fresh signature each time; a terminal answer is not retried; a replayed
request emits nothing; an approval and a rejection are told with the task's id; an undelivered
webhook survives a restart and is delivered once."""

from __future__ import annotations


import httpx2 as httpx
import pytest

from harness.adcp import connect
from harness.receiver import Receiver, verify_hmac, verify_signature
from harness.server import DEMO_TOKEN
from test_approvals import large
from test_media_buys import create_request, key, unique_domain

pytestmark = pytest.mark.anyio

PAYLOAD_SCHEMA = "core/mcp-webhook-payload.json"
HMAC_SECRET = "e2e-webhook-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def receiver():
    rx = Receiver()
    yield rx
    rx.close()


def jwks(server) -> dict:
    response = httpx.get(server.base_url + "/.well-known/jwks.json", timeout=5)
    assert response.status_code == 200
    return response.json()


async def test_a_created_buy_is_told_by_a_signed_webhook(buyer, server, receiver, schemas):
    url = receiver.url("/step/create/op-created-1")
    request = create_request(unique_domain("hook"), push_notification_config={"url": url, "token": "buyer-token-1234567"},
                             context={"trace": "hook-1"})
    created = await buyer.ok("create_media_buy", request)
    [delivery] = receiver.wait("/step/create/op-created-1")
    payload = delivery.payload
    schemas.check(PAYLOAD_SCHEMA, payload, "webhook payload")
    assert (payload["task_type"], payload["status"], payload["protocol"]) == ("create_media_buy", "completed", "media-buy")
    assert payload["result"]["media_buy_id"] == created["media_buy_id"]
    assert payload["context"] == {"trace": "hook-1"} and payload["operation_id"] == "op-created-1"
    assert payload["token"] == "buyer-token-1234567"
    assert delivery.body == delivery.body.strip() and b", " not in delivery.body, "compact JSON"
    params = verify_signature(delivery, url, jwks(server))
    brand = httpx.get(server.base_url + "/.well-known/brand.json", timeout=5).json()
    assert brand["agents"][0]["jwks_uri"] == server.base_url + "/.well-known/jwks.json"
    capabilities = await buyer.ok("get_adcp_capabilities", {})
    assert capabilities["webhook_signing"]["algorithms"] == ["ed25519"] and params["alg"] == "ed25519"

    replay = await buyer.ok("create_media_buy", request)
    assert replay["replayed"] is True
    receiver.quiet("/step/create/op-created-1", 1)


async def test_retries_send_the_same_event_with_fresh_signatures(buyer, server, receiver):
    url = receiver.url("/step/retry/op-retry-1", 503, 503, 503)
    await buyer.ok("create_media_buy", create_request(unique_domain("retry"), push_notification_config={"url": url}))
    deliveries = receiver.wait("/step/retry/op-retry-1", count=4, timeout=30)
    assert [d.status for d in deliveries] == [503, 503, 503, 200]
    assert len({d.body for d in deliveries}) == 1, "every attempt sends the same bytes"
    assert len({d.payload["idempotency_key"] for d in deliveries}) == 1
    keys = jwks(server)
    nonces = {verify_signature(d, url, keys)["nonce"] for d in deliveries}
    assert len(nonces) == 4, "a fresh nonce on every attempt"
    receiver.quiet("/step/retry/op-retry-1", 4)


async def test_legacy_hmac_when_the_buyer_registered_credentials(buyer, receiver):
    url = receiver.url("/step/hmac/op-hmac-1", 500)
    config = {"url": url, "authentication": {"schemes": ["HMAC-SHA256"], "credentials": HMAC_SECRET}}
    await buyer.ok("create_media_buy", create_request(unique_domain("hmac"), push_notification_config=config))
    deliveries = receiver.wait("/step/hmac/op-hmac-1", count=2)
    for delivery in deliveries:
        verify_hmac(delivery, HMAC_SECRET)
        assert "signature" not in delivery.headers, "exactly one scheme, never both"
    assert deliveries[0].body == deliveries[1].body


async def test_a_terminal_answer_is_not_retried(buyer, receiver):
    url = receiver.url("/step/gone/op-gone-1", 410)
    await buyer.ok("create_media_buy", create_request(unique_domain("gone"), push_notification_config={"url": url}))
    receiver.wait("/step/gone/op-gone-1")
    receiver.quiet("/step/gone/op-gone-1", 1)


async def test_approvals_and_rejections_are_told_with_the_task_id(buyer, server, schemas, receiver):
    _, token = server.create_principal("Hook ops", admin=True)
    approved_url = receiver.url("/step/approve/op-approve-1")
    rejected_url = receiver.url("/step/reject/op-reject-1")
    approved = await buyer.ok("create_media_buy", large(unique_domain("ha"), push_notification_config={"url": approved_url},
                                                        context={"trace": "approve"}))
    rejected = await buyer.ok("create_media_buy", large(unique_domain("hr"), push_notification_config={"url": rejected_url}))
    assert receiver.at("/step/approve/op-approve-1") == [], "the submitted arm itself is the first answer"
    async with connect(server.mcp_url, schemas, token) as ops:
        done = await ops.ok("complete_task", {"task_id": approved["task_id"], "resolution": "approved"})
        await ops.ok("complete_task", {"task_id": rejected["task_id"], "resolution": "rejected", "resolution_detail": "No"})
    [told] = receiver.wait("/step/approve/op-approve-1")
    schemas.check(PAYLOAD_SCHEMA, told.payload, "approval webhook")
    assert (told.payload["task_id"], told.payload["status"]) == (approved["task_id"], "completed")
    assert told.payload["result"]["media_buy_id"] == done["task"]["media_buy_id"]
    assert told.payload["context"] == {"trace": "approve"}
    [refused] = receiver.wait("/step/reject/op-reject-1")
    schemas.check(PAYLOAD_SCHEMA, refused.payload, "rejection webhook")
    assert (refused.payload["task_id"], refused.payload["status"]) == (rejected["task_id"], "rejected")
    assert "No" in refused.payload["message"]


async def test_an_undelivered_webhook_survives_a_restart(own_server, schemas, receiver):
    path = "/step/restart/op-restart-1"
    url = receiver.url(path, *([503] * 20))
    async with connect(own_server.mcp_url, schemas, DEMO_TOKEN) as buyer:
        await buyer.ok("create_media_buy", create_request(unique_domain("rs"), push_notification_config={"url": url}))
    receiver.wait(path)
    own_server.restart()
    receiver.url(path)  # the receiver is back: the next attempt gets 200
    delivered = receiver.wait(path, count=2, timeout=30)
    assert delivered[-1].status == 200
    assert len({d.payload["idempotency_key"] for d in delivered}) == 1
    receiver.quiet(path, len(delivered))
    assert [d.status for d in receiver.at(path)].count(200) == 1, "delivered once"


async def test_a_canceled_buy_sends_its_final_delivery_report(buyer, receiver, schemas):
    path = "/step/report/op-report-1"
    bearer = "report-bearer-0123456789abcdef-0123"
    config = {"url": receiver.url(path), "reporting_frequency": "daily",
              "authentication": {"schemes": ["Bearer"], "credentials": bearer}}
    domain = unique_domain("report")
    created = await buyer.ok("create_media_buy", create_request(domain, reporting_webhook=config))
    await buyer.ok("update_media_buy", {"idempotency_key": key(), "account": {"brand": {"domain": domain}, "operator": domain},
                                        "media_buy_id": created["media_buy_id"], "canceled": True})
    [report] = receiver.wait(path, timeout=45)  # the scheduler's pass (every 15 s) sends it
    payload = report.payload
    assert (payload["notification_type"], payload["sequence_number"]) == ("final", 1)
    assert payload["media_buy_deliveries"][0]["media_buy_id"] == created["media_buy_id"]
    assert "next_expected_at" not in payload and "aggregated_totals" not in payload
    assert report.headers["authorization"] == f"Bearer {bearer}"
    schemas.check("bundled/media-buy/get-media-buy-delivery-response.json", payload, "delivery report webhook")
    receiver.quiet(path, 1)


async def test_a_synced_creative_library_is_told_by_webhook(buyer, receiver):
    from test_creatives import Library, catalog_formats

    lib = Library(buyer, await catalog_formats(buyer))
    path = "/step/sync/op-sync-1"
    creative = lib.creative()
    body = await lib.sync([creative], push_notification_config={"url": receiver.url(path)}, context={"trace": "sync"})
    assert body["status"] == "completed", "the demo approves valid creatives at once"
    [told] = receiver.wait(path)
    assert (told.payload["task_type"], told.payload["status"]) == ("sync_creatives", "completed")
    assert told.payload["result"]["creatives"][0]["creative_id"] == creative["creative_id"]
    assert told.payload["context"] == {"trace": "sync"}
