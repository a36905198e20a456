"""Proposal mode through the fastmcp client (AdCP 3.0.6): a brief returns draft proposals next to
its products; refine mode changes a draft by a free-text ask, leaves one out, or finalizes it
(committed, firm prices, a 72-hour hold); create_media_buy buys a committed proposal once, with
proposal_id and total_budget, turning its allocations into packages. Proposals belong to the
principal that got them. Every response is schema-checked by the harness.

Each test uses a principal of its own, so proposal ids (named after the plan and the quarter)
never meet another test's."""

from __future__ import annotations

import datetime
import uuid

import pytest

from harness.adcp import connect

pytestmark = pytest.mark.anyio

BRIEF = (
    "Premium video and display across outdoor lifestyle and sports. Q2 flight, $50K budget. "
    "Adults 25-54, US and Canada."
)
ASK = "Shift 60% of budget to CTV. Drop the display product and redistribute that budget to video."
UTC = datetime.timezone.utc


def key() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def parse(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def hours_from_now(value: str) -> float:
    return (parse(value) - datetime.datetime.now(UTC)).total_seconds() / 3600


@pytest.fixture
async def planner(server, schemas, anyio_backend):
    """A fresh principal: no proposals yet."""
    _, token = server.create_principal(f"E2E Proposals {uuid.uuid4().hex[:6]}")
    async with connect(server.mcp_url, schemas, token, style="bearer") as client:
        yield client


async def brief(client) -> dict:
    return await client.ok("get_products", {"buying_mode": "brief", "brief": BRIEF})


async def refine(client, *entries: dict) -> dict:
    return await client.ok("get_products", {"buying_mode": "refine", "refine": list(entries)})


def channels_by_product(body: dict) -> dict[str, list[str]]:
    return {p["product_id"]: p["channels"] for p in body["products"]}


def shares(proposal: dict, products: dict[str, list[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for allocation in proposal["allocations"]:
        channel = products[allocation["product_id"]][0]
        out[channel] = out.get(channel, 0) + allocation["allocation_percentage"]
    return out


def buy_request(proposal_id: str, amount: float = 50000, **extra) -> dict:
    domain = "acmeoutdoor.example"
    return {
        "idempotency_key": key(),
        "account": {"brand": {"domain": domain}, "operator": "pinnacle-agency.example"},
        "brand": {"domain": domain},
        "proposal_id": proposal_id,
        "total_budget": {"amount": amount, "currency": "USD"},
        "start_time": "asap",
        "end_time": (datetime.datetime.now(UTC) + datetime.timedelta(days=30)).isoformat(timespec="seconds"),
        **extra,
    }


async def test_brief_returns_draft_proposals(planner):
    body = await brief(planner)
    proposals = body["proposals"]
    assert proposals, "a brief with fitting products should come with proposals"
    first = proposals[0]
    assert first["proposal_id"] == "balanced_reach_q2", "ids name the plan and the brief's quarter"
    offered = {p["product_id"] for p in body["products"]}
    for proposal in proposals:
        assert proposal["proposal_status"] == "draft"
        assert sum(a["allocation_percentage"] for a in proposal["allocations"]) == 100
        assert {a["product_id"] for a in proposal["allocations"]} <= offered, "allocations must be products of the answer"
        assert 6 * 24 < hours_from_now(proposal["expires_at"]) <= 7 * 24, "drafts stand for 7 days"
        assert proposal["total_budget_guidance"]["recommended"] == 50000, "the brief's $50K"
    assert len({p["proposal_id"] for p in proposals}) == len(proposals)
    channels = channels_by_product(body)
    assert len(shares(first, channels)) >= 2, "the balanced plan spreads over channels"
    again = await brief(planner)
    assert again["proposals"] == proposals, "the same brief gets the same drafts back, unchanged"


async def test_wholesale_and_anonymous_callers_get_no_proposals(planner, server, schemas):
    body = await planner.ok("get_products", {"buying_mode": "wholesale"})
    assert "proposals" not in body
    async with connect(server.mcp_url, schemas, None) as anonymous:
        body = await anonymous.ok("get_products", {"buying_mode": "brief", "brief": BRIEF})
        assert "proposals" not in body, "proposals belong to a buyer"


async def test_refine_ask_drops_and_shifts(planner):
    await brief(planner)
    body = await refine(
        planner,
        {"scope": "proposal", "proposal_id": "balanced_reach_q2", "ask": ASK},
        {"scope": "request", "ask": "All products must support frequency capping at 3 per day."},
    )
    applied = body["refinement_applied"]
    assert [(a["scope"], a["status"]) for a in applied] == [("proposal", "applied"), ("request", "applied")], applied
    assert applied[0]["proposal_id"] == "balanced_reach_q2"
    (proposal,) = body["proposals"]
    assert proposal["proposal_status"] == "draft"
    by_channel = shares(proposal, channels_by_product(body))
    assert "display" not in by_channel, f"display was dropped: {by_channel}"
    assert by_channel.get("ctv") == 60, f"60% on CTV: {by_channel}"
    assert sum(by_channel.values()) == 100
    # the change is kept: refining again without an ask returns the same plan
    again = await refine(planner, {"scope": "proposal", "proposal_id": "balanced_reach_q2"})
    assert again["proposals"][0]["allocations"] == proposal["allocations"]


async def test_refine_ask_not_understood_changes_nothing(planner):
    before = (await brief(planner))["proposals"][0]
    body = await refine(planner, {"scope": "proposal", "proposal_id": before["proposal_id"], "ask": "make it pop"})
    assert body["refinement_applied"][0]["status"] == "unable"
    assert "not understood" in body["refinement_applied"][0]["notes"]
    assert body["proposals"][0]["allocations"] == before["allocations"]


async def test_refine_unknown_and_omitted_proposals(planner):
    await brief(planner)
    body = await refine(
        planner,
        {"scope": "proposal", "proposal_id": "no_such_plan"},
        {"scope": "proposal", "proposal_id": "balanced_reach_q2", "action": "omit"},
    )
    assert [a["status"] for a in body["refinement_applied"]] == ["unable", "applied"]
    assert not body.get("proposals"), "an unknown proposal is not invented and an omitted one is left out"


async def test_finalize_commits_and_the_proposal_is_bought_once(planner):
    await brief(planner)
    body = await refine(planner, {"scope": "proposal", "proposal_id": "balanced_reach_q2", "action": "finalize"})
    (committed,) = body["proposals"]
    assert committed["proposal_status"] == "committed"
    assert 71 < hours_from_now(committed["expires_at"]) <= 72, "a committed proposal holds for 72 hours"
    assert body["refinement_applied"][0]["status"] == "applied"
    # finalizing again keeps the same hold; a committed plan no longer takes asks
    again = await refine(planner, {"scope": "proposal", "proposal_id": "balanced_reach_q2", "action": "finalize"})
    assert again["proposals"][0]["expires_at"] == committed["expires_at"]
    frozen = await refine(planner, {"scope": "proposal", "proposal_id": "balanced_reach_q2", "ask": ASK})
    assert frozen["refinement_applied"][0]["status"] == "unable"
    assert frozen["proposals"][0]["allocations"] == committed["allocations"]

    request = buy_request("balanced_reach_q2", 50000)
    buy = await planner.ok("create_media_buy", request)
    assert buy["proposal_id"] == "balanced_reach_q2"
    packages = buy["packages"]
    assert [p["product_id"] for p in packages] == [a["product_id"] for a in committed["allocations"]]
    assert [p["pricing_option_id"] for p in packages] == [a["pricing_option_id"] for a in committed["allocations"]]
    expected = [50000 * a["allocation_percentage"] / 100 for a in committed["allocations"]]
    assert [p["budget"] for p in packages] == pytest.approx(expected, abs=0.01)
    assert sum(p["budget"] for p in packages) == pytest.approx(50000, abs=0.001)

    replay = await planner.ok("create_media_buy", request)
    assert replay["media_buy_id"] == buy["media_buy_id"], "a replay answers with the same buy"
    error = await planner.error("create_media_buy", buy_request("balanced_reach_q2"), valid_request=True)
    assert error["code"] == "INVALID_STATE" and error["field"] == "proposal_id", error
    assert buy["media_buy_id"] in error["message"]
    # a bought proposal no longer changes, and a new brief does not reuse its id
    body = await refine(planner, {"scope": "proposal", "proposal_id": "balanced_reach_q2", "action": "finalize"})
    assert body["refinement_applied"][0]["status"] == "unable"
    fresh = await brief(planner)
    assert fresh["proposals"][0]["proposal_id"] == "balanced_reach_q2_2"


async def test_drafts_and_unknown_proposals_cannot_be_bought(planner):
    await brief(planner)
    error = await planner.error("create_media_buy", buy_request("balanced_reach_q2"), valid_request=True)
    assert (error["code"], error["field"]) == ("PROPOSAL_NOT_COMMITTED", "proposal_id"), error
    assert "finalize" in error["suggestion"]
    error = await planner.error("create_media_buy", buy_request("no_such_plan"), valid_request=True)
    assert (error["code"], error["field"]) == ("REFERENCE_NOT_FOUND", "proposal_id"), error


async def test_proposals_belong_to_their_buyer(planner, server, schemas):
    await brief(planner)
    await refine(planner, {"scope": "proposal", "proposal_id": "focused_olv_q2", "action": "finalize"})
    _, token = server.create_principal(f"E2E Proposals other {uuid.uuid4().hex[:6]}")
    async with connect(server.mcp_url, schemas, token, style="bearer") as other:
        body = await refine(other, {"scope": "proposal", "proposal_id": "focused_olv_q2", "action": "finalize"})
        assert body["refinement_applied"][0]["status"] == "unable"
        assert not body.get("proposals"), "another buyer's proposal is not shown"
        error = await other.error("create_media_buy", buy_request("focused_olv_q2"), valid_request=True)
        assert (error["code"], error["field"]) == ("REFERENCE_NOT_FOUND", "proposal_id"), error
    # the owner can still buy it
    buy = await planner.ok("create_media_buy", buy_request("focused_olv_q2", 12000))
    assert buy["proposal_id"] == "focused_olv_q2"


async def test_proposal_requests_must_be_whole(planner):
    await brief(planner)
    await refine(planner, {"scope": "proposal", "proposal_id": "balanced_reach_q2", "action": "finalize"})
    request = buy_request("balanced_reach_q2")
    del request["total_budget"]
    error = await planner.error("create_media_buy", request)
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "total_budget"), error
    request = buy_request("balanced_reach_q2", packages=[{"product_id": "x", "pricing_option_id": "y", "budget": 1}])
    error = await planner.error("create_media_buy", request, valid_request=True)
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "packages"), error
    error = await planner.error(
        "create_media_buy", {**buy_request("balanced_reach_q2"), "total_budget": {"amount": 50000, "currency": "EUR"}},
        valid_request=True,
    )
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "total_budget.currency"), error
    # none of these bought it
    buy = await planner.ok("create_media_buy", buy_request("balanced_reach_q2", 20000))
    assert sum(p["budget"] for p in buy["packages"]) == pytest.approx(20000, abs=0.001)
