"""The campaign lifecycle of seed 004 (TechCorp: a $5,000 CPM display campaign for US tech
enthusiasts and developers, 300x250 and 728x90 banners), walked in AdCP 3.0 request shapes the
way the seed's fastmcp script does it: one buyer (`x-adcp-auth: test-token`) over
`StreamableHttpTransport`, step by step, against a fresh server of its own (`own_server`), so the
fixed TechCorp account natural key meets no other module's buys or creatives.

Steps (one test each, in order; a step whose prerequisites an earlier step did not establish is
skipped, not failed):
 1. get_adcp_capabilities: AdCP 3, media_buy portfolio.
 2. get_products with the seed's brief: prod-tech-display-001 first, a relevance that names display
    and the budget, and its CPM option (cpm_guaranteed, fixed 12.50 USD).
 3. list_creative_formats: the product's 300x250 and 728x90 format_ids resolve.
 4. list_authorized_properties: the properties the product sells resolve; prohibited categories.
 5. create_media_buy: two packages ($3,000 300x250 and $2,000 728x90, geo US) → pending_creatives,
    240,000 + 160,000 = 400,000 impressions, creative_deadline, revision 1.
 6. sync_creatives: both banners, assigned to their packages → created, approved; the buy (flight
    started, asap) is active with creative_approvals per package.
 7. get_media_buy_delivery: CPM 12.50 USD per package; impressions and spend never exceed the plan
    and spend is what the impressions cost. Time is not controllable here, so the report is checked
    for its invariants, never for growth (no sleeping).
 8. Optimize: $500 from the leaderboard to the medium rectangle with the revision read; impressions
    recomputed (280,000 and 120,000); the stale revision is refused with CONFLICT.
 9. Pause and resume; the history is newest first.
10. Finish: cancel with a reason (canceled by the buyer); a second cancel is NOT_CANCELLABLE; the
    creatives stay in the library, approved and no longer assigned.

Every response goes through harness/adcp.py (structuredContent == content[0].text, 3.0.6 response
schema or core/error.json); get_media_buy_delivery, which the harness has no schema entry for, and
the creative tools are also checked here against their 3.0.6 request and response schemas.
"""

from __future__ import annotations

import datetime
import math
import uuid
from dataclasses import dataclass, field

import pytest

from harness.adcp import connect, format_key
from harness.schemas import is_rfc3339
from harness.server import DEMO_TOKEN

pytestmark = pytest.mark.anyio

UTC = datetime.timezone.utc

SEED_BRIEF = "display ads targeting US tech enthusiasts, developers, $5000 budget"
TECHCORP = "techcorp.example"
ACCOUNT = {"brand": {"domain": TECHCORP}, "operator": TECHCORP}
CAMPAIGN_NAME = "TechCorp Developer Tool Launch - Q2 2026"
BUYER_REF = "TC-2026-Q2-001"  # the seed's buyer_ref; po_number in AdCP 3.0

PRODUCT = "prod-tech-display-001"
CPM_OPTION = "cpm_guaranteed"
CPM = 12.50
CURRENCY = "USD"
TOTAL_BUDGET = 5000
SEED_IMPRESSIONS = 400_000  # "approximately 400,000 impressions over the campaign flight"

# (format id, width, height, budget, optimized budget): package 1 is the medium rectangle,
# package 2 the leaderboard; the optimization moves $500 from 2 to 1.
PLAN = [
    ("display_300x250", 300, 250, 3000, 3500),
    ("display_728x90", 728, 90, 2000, 1500),
]
CLICK_URL = "https://techcorp.example/devtool?utm_source=salesagent&utm_medium=display&utm_campaign=q2-launch"
PROHIBITED = ["gambling", "tobacco", "weapons", "adult"]

# Tools checked here against their 3.0.6 schemas (request, response), whether or not the harness
# checks them too: get_media_buy_delivery has no harness entry.
LOCAL_SCHEMAS = {
    "get_media_buy_delivery": (
        "bundled/media-buy/get-media-buy-delivery-request.json",
        "bundled/media-buy/get-media-buy-delivery-response.json",
    ),
    "sync_creatives": (
        "bundled/creative/sync-creatives-request.json",
        "bundled/creative/sync-creatives-response.json",
    ),
    "list_creatives": (
        "bundled/creative/list-creatives-request.json",
        "bundled/creative/list-creatives-response.json",
    ),
}


# -- helpers -----------------------------------------------------------------------------------


def key() -> str:
    return f"seed004-{uuid.uuid4().hex}"


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse(value: str) -> datetime.datetime:
    assert is_rfc3339(value), f"not an RFC 3339 date-time with an offset: {value!r}"
    return datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


def expected_impressions(budget: float, cpm: float = CPM) -> int:
    return math.floor(budget / cpm * 1000)


def cost(impressions: float, cpm: float = CPM) -> float:
    return round(impressions / 1000 * cpm, 2)


@dataclass
class Campaign:
    """What the buyer learned so far; each step records it as soon as it has it."""

    product: dict | None = None
    cpm_option: dict | None = None
    formats: dict[str, dict] = field(default_factory=dict)  # format id → format_id object
    media_buy_id: str | None = None
    package_ids: list[str] = field(default_factory=list)  # in PLAN order
    creative_ids: list[str] = field(default_factory=list)  # in PLAN order
    revision_before_optimize: int | None = None
    optimized: bool = False
    paused_and_resumed: bool = False

    def need(self, *names: str) -> None:
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            pytest.skip(f"an earlier step did not establish {', '.join(missing)}")


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return Campaign()


@pytest.fixture
async def techcorp(own_server, schemas, anyio_backend):
    """The buyer's fastmcp session: StreamableHttpTransport with x-adcp-auth: test-token."""
    async with connect(own_server.mcp_url, schemas, DEMO_TOKEN, style="x-adcp-auth") as client:
        yield client


async def call(client, tool: str, args: dict | None = None):
    """client.call plus this module's own schema checks (LOCAL_SCHEMAS)."""
    args = {} if args is None else args
    pair = LOCAL_SCHEMAS.get(tool)
    if pair:
        client.schemas.check(pair[0], args, f"the test's own {tool} request")
    result = await client.call(tool, args)
    if pair and not result.is_error:
        client.schemas.check(pair[1], result.structured, f"{tool} response")
    return result


async def ok(client, tool: str, args: dict | None = None) -> dict:
    return (await call(client, tool, args)).ok()


async def get_buy(client, media_buy_id: str, **extra) -> dict:
    body = await client.ok("get_media_buys", {"account": ACCOUNT, "media_buy_ids": [media_buy_id], **extra})
    found = [b for b in body["media_buys"] if b["media_buy_id"] == media_buy_id]
    assert len(found) == 1, f"get_media_buys by id returned {len(found)} copies of {media_buy_id}: {body}"
    return found[0]


def update_request(media_buy_id: str, **fields) -> dict:
    return {"idempotency_key": key(), "account": ACCOUNT, "media_buy_id": media_buy_id, **fields}


def by_package(packages: list[dict]) -> dict[str, dict]:
    return {p["package_id"]: p for p in packages}


# -- 1. capabilities ---------------------------------------------------------------------------


async def test_step01_capabilities(techcorp):
    caps = await techcorp.ok("get_adcp_capabilities", {})
    assert caps["adcp"]["major_versions"] == [3], f"AdCP major versions: {caps['adcp']}"
    assert "media_buy" in caps["supported_protocols"], caps["supported_protocols"]
    media_buy = caps.get("media_buy")
    assert media_buy, f"no media_buy capabilities: {caps}"
    portfolio = media_buy.get("portfolio")
    assert portfolio, f"no media_buy.portfolio: {media_buy}"
    assert portfolio.get("publisher_domains"), f"portfolio without publisher_domains: {portfolio}"
    assert portfolio.get("description"), f"portfolio without a description: {portfolio}"
    assert "display" in portfolio.get("primary_channels", []), f"display is the seed's channel: {portfolio}"
    assert "US" in portfolio.get("primary_countries", []), f"the seed targets the US: {portfolio}"
    assert "cpm" in media_buy.get("supported_pricing_models", []), f"CPM pricing: {media_buy}"


# -- 2. products -------------------------------------------------------------------------------


async def test_step02_products_for_the_brief(techcorp, campaign):
    body = await techcorp.ok("get_products", {"buying_mode": "brief", "brief": SEED_BRIEF})
    products = body["products"]
    assert products, "the seed's brief found no product"
    first = products[0]
    assert first["product_id"] == PRODUCT, (
        f"the seed's brief must rank {PRODUCT} first: {[p['product_id'] for p in products]}"
    )
    why = first.get("brief_relevance") or ""
    assert "display" in why.lower(), f"brief_relevance does not mention display: {why!r}"
    assert any(amount in why for amount in ("$5,000", "$5000", "5,000", "5000")), (
        f"brief_relevance does not mention the $5,000 budget: {why!r}"
    )
    assert "display" in first["channels"], first["channels"]

    options = [o for o in first["pricing_options"] if o["pricing_model"] == "cpm"]
    assert options, f"{PRODUCT} has no CPM pricing option: {first['pricing_options']}"
    (option,) = [o for o in options if o["pricing_option_id"] == CPM_OPTION] or [None]
    assert option is not None, f"no {CPM_OPTION} among the CPM options: {options}"
    assert option["fixed_price"] == CPM, f"{CPM_OPTION} fixed_price: {option}"
    assert option["currency"] == CURRENCY, option
    assert float(option.get("min_spend_per_package") or 0) <= min(p[3] for p in PLAN), (
        f"the seed's smallest package must meet the minimum spend: {option}"
    )
    campaign.product = first
    campaign.cpm_option = option


# -- 3. creative formats -----------------------------------------------------------------------


async def test_step03_formats_resolve(techcorp, campaign):
    campaign.need("product")
    formats, _ = await techcorp.walk("list_creative_formats", {}, "formats", 100)
    listed = {format_key(f["format_id"]): f for f in formats}
    for format_id in campaign.product["format_ids"]:
        assert format_key(format_id) in listed, f"{PRODUCT} sells a format that is not listed: {format_id}"
    offered = {f["id"]: f for f in campaign.product["format_ids"]}
    for format_name, width, height, _budget, _later in PLAN:
        assert format_name in offered, f"{PRODUCT} does not offer {format_name}: {list(offered)}"
        spec = listed[format_key(offered[format_name])]
        dimensions = [r["dimensions"] for r in spec.get("renders", []) if r.get("dimensions")]
        assert any(d.get("width") == width and d.get("height") == height for d in dimensions), (
            f"{format_name} does not render at {width}x{height}: {spec.get('renders')}"
        )
        image = [a for a in spec.get("assets", []) if a.get("asset_type") == "image" and a.get("required")]
        assert image, f"{format_name} has no required image asset: {spec.get('assets')}"
        campaign.formats[format_name] = offered[format_name]


# -- 4. properties -----------------------------------------------------------------------------


async def test_step04_properties_and_policies(techcorp, campaign):
    body = await techcorp.ok("list_authorized_properties", {})
    properties = body["properties"]
    assert properties, "no authorized properties"
    policies = body["advertising_policies"]
    assert isinstance(policies, dict), f"advertising_policies: {policies!r}"
    for category in PROHIBITED:
        assert category in policies.get("prohibited_categories", []), (
            f"prohibited category {category!r} missing: {policies}"
        )
    campaign.need("product")
    ids = {(p["publisher_domain"], p["property_id"]) for p in properties}
    for selection in campaign.product.get("publisher_properties", []):
        domain = selection["publisher_domain"]
        assert domain in body["publisher_domains"], f"{PRODUCT} sells {domain}, not an authorized domain"
        for property_id in selection.get("property_ids", []):
            assert (domain, property_id) in ids, f"{PRODUCT} sells unknown property {domain}/{property_id}"


# -- 5. create the media buy -------------------------------------------------------------------


def create_request(campaign: Campaign) -> dict:
    packages = []
    for format_name, _w, _h, budget, _later in PLAN:
        packages.append(
            {
                "product_id": PRODUCT,
                "pricing_option_id": campaign.cpm_option["pricing_option_id"],
                "budget": budget,
                "format_ids": [campaign.formats[format_name]],
                "targeting_overlay": {"geo_countries": ["US"]},
            }
        )
    return {
        "idempotency_key": key(),
        "account": ACCOUNT,
        "brand": {"domain": TECHCORP},
        "start_time": "asap",
        "end_time": iso(now() + datetime.timedelta(days=30)),
        "po_number": BUYER_REF,
        "packages": packages,
        "context": {"campaign": CAMPAIGN_NAME, "buyer_ref": BUYER_REF},
    }


async def test_step05_create_media_buy(techcorp, campaign):
    campaign.need("product", "cpm_option", "formats")
    request = create_request(campaign)
    before = now()
    body = await techcorp.ok("create_media_buy", request)
    assert body["media_buy_id"]
    assert len(body["packages"]) == len(PLAN), body["packages"]
    campaign.media_buy_id = body["media_buy_id"]
    campaign.package_ids = [p["package_id"] for p in body["packages"]]

    assert body["status"] == "pending_creatives", f"no creatives yet: {body['status']}"
    assert body["revision"] == 1
    assert body.get("context") == request["context"], "context must be echoed"
    deadline = parse(body["creative_deadline"])
    assert deadline > before - datetime.timedelta(minutes=5), f"creative_deadline in the past: {deadline}"
    assert len(set(campaign.package_ids)) == len(PLAN), "package_ids must be distinct"
    rate = campaign.cpm_option["fixed_price"]
    total = 0
    for pkg, (format_name, _w, _h, budget, _later) in zip(body["packages"], PLAN):
        assert pkg["product_id"] == PRODUCT
        assert pkg.get("pricing_option_id", CPM_OPTION) == CPM_OPTION
        assert pkg["budget"] == budget
        assert pkg["impressions"] == expected_impressions(budget, rate), (
            f"{format_name}: ${budget} at ${rate} CPM buys {expected_impressions(budget, rate)}, "
            f"got {pkg['impressions']}"
        )
        assert pkg["targeting_overlay"] == {"geo_countries": ["US"]}, "targeting_overlay is echoed verbatim"
        if "format_ids" in pkg:
            assert pkg["format_ids"] == [campaign.formats[format_name]], "format_ids are the requested subset"
        total += pkg["impressions"]
    assert [p["impressions"] for p in body["packages"]] == [240_000, 160_000]
    assert total == SEED_IMPRESSIONS, f"the seed expects 400,000 impressions for $5,000 at $12.50: {total}"

    stored = await get_buy(techcorp, campaign.media_buy_id)
    assert stored["status"] == "pending_creatives"
    assert stored["revision"] == 1
    assert stored["total_budget"] == TOTAL_BUDGET
    assert stored["currency"] == CURRENCY


# -- 6. creatives ------------------------------------------------------------------------------


def creative(format_name: str, width: int, height: int, format_id: dict, click_url: bool) -> dict:
    assets = {
        "image": {
            "asset_type": "image",
            "url": f"https://cdn.techcorp.example/ads/devtool-{width}x{height}.png",
            "width": width,
            "height": height,
        }
    }
    if click_url:
        assets["click_url"] = {"asset_type": "url", "url": CLICK_URL}
    return {
        "creative_id": f"techcorp-devtool-{width}x{height}",
        "name": f"TechCorp DevTool - {width}x{height}",
        "format_id": format_id,
        "assets": assets,
    }


async def test_step06_sync_creatives_activates_the_buy(techcorp, campaign):
    campaign.need("media_buy_id", "package_ids", "formats")
    creatives = [
        creative(format_name, width, height, campaign.formats[format_name], click_url=(index == 0))
        for index, (format_name, width, height, _budget, _later) in enumerate(PLAN)
    ]
    ids = [c["creative_id"] for c in creatives]
    assignments = [{"creative_id": cid, "package_id": pid} for cid, pid in zip(ids, campaign.package_ids)]
    body = await ok(
        techcorp,
        "sync_creatives",
        {"idempotency_key": key(), "account": ACCOUNT, "creatives": creatives, "assignments": assignments},
    )
    results = {c["creative_id"]: c for c in body["creatives"]}
    assert sorted(results) == sorted(ids), f"sync_creatives answered for {sorted(results)}"
    for cid, pid in zip(ids, campaign.package_ids):
        item = results[cid]
        assert item["action"] == "created", f"{cid}: {item}"
        assert not item.get("errors"), f"{cid}: {item}"
        assert item.get("status") == "approved", f"{cid} must be approved: {item}"
        assert item.get("assigned_to") == [pid], f"{cid} must be assigned to {pid}: {item}"
    campaign.creative_ids = ids

    stored = await get_buy(techcorp, campaign.media_buy_id)
    assert stored["status"] == "active", (
        f"creatives approved and assigned, flight started (asap) → active, got {stored['status']}"
    )
    packages = by_package(stored["packages"])
    for cid, pid in zip(ids, campaign.package_ids):
        approvals = packages[pid].get("creative_approvals")
        assert approvals, f"package {pid} has no creative_approvals: {packages[pid]}"
        assert [a["creative_id"] for a in approvals] == [cid], f"package {pid} approvals: {approvals}"
    for cid, pid in zip(ids, campaign.package_ids):
        (approval,) = packages[pid]["creative_approvals"]
        assert approval["approval_status"] == "approved", (
            f"sync_creatives approved {cid}, but package {pid} says {approval}"
        )


# -- 7. delivery -------------------------------------------------------------------------------


async def test_step07_delivery_stays_within_the_plan(techcorp, campaign):
    campaign.need("media_buy_id", "package_ids", "creative_ids", "cpm_option")
    mb = campaign.media_buy_id
    body = await ok(techcorp, "get_media_buy_delivery", {"account": ACCOUNT, "media_buy_ids": [mb]})
    assert body.get("currency", CURRENCY) == CURRENCY
    (report,) = [d for d in body["media_buy_deliveries"] if d["media_buy_id"] == mb] or [None]
    assert report is not None, f"no delivery for {mb}: {body}"
    assert len(body["media_buy_deliveries"]) == 1, "one buy asked for, one reported"
    assert report["status"] == "active", f"delivery reports status {report['status']}"

    rate = campaign.cpm_option["fixed_price"]
    packages = by_package(report["by_package"])
    assert sorted(packages) == sorted(campaign.package_ids), f"by_package: {sorted(packages)}"
    sum_impressions = 0.0
    sum_spend = 0.0
    for pid, (format_name, _w, _h, budget, _later) in zip(campaign.package_ids, PLAN):
        pkg = packages[pid]
        goal = expected_impressions(budget, rate)
        assert pkg["pricing_model"] == "cpm", f"{format_name}: {pkg}"
        assert pkg["rate"] == rate == 12.5, f"{format_name}: {pkg}"
        assert pkg.get("currency", body.get("currency")) == CURRENCY, f"{format_name}: {pkg}"
        impressions, spend = pkg["impressions"], pkg["spend"]
        assert 0 <= impressions <= goal, f"{format_name}: {impressions} impressions, goal {goal}"
        assert 0 <= spend <= budget, f"{format_name}: spend {spend}, budget {budget}"
        assert abs(spend - cost(impressions, rate)) <= 0.01 + 1e-9, (
            f"{format_name}: {impressions} impressions at ${rate} CPM cost {cost(impressions, rate)}, spend is {spend}"
        )
        assert pkg.get("delivery_status") == "delivering", f"{format_name}: {pkg}"
        if "pacing_index" in pkg:
            assert pkg["pacing_index"] >= 0, pkg
        sum_impressions += impressions
        sum_spend += spend
    totals = report["totals"]
    assert totals["impressions"] == sum_impressions, f"totals {totals} vs packages"
    assert abs(totals["spend"] - sum_spend) <= 0.01 + 1e-9, f"totals {totals} vs packages {sum_spend}"
    assert totals["spend"] <= TOTAL_BUDGET
    aggregated = body.get("aggregated_totals")
    if aggregated is not None:
        assert aggregated["impressions"] == totals["impressions"], aggregated
        assert abs(aggregated["spend"] - totals["spend"]) <= 0.01 + 1e-9, aggregated
        assert aggregated.get("media_buy_count", 1) == 1, aggregated
    # Checked last, so that the invariants above are reported even when it fails.
    for pid, (format_name, *_rest) in zip(campaign.package_ids, PLAN):
        pkg = packages[pid]
        assert isinstance(pkg.get("pacing_index"), float), f"{format_name}: pacing_index missing or not a float: {pkg}"


# -- 8. optimize -------------------------------------------------------------------------------


async def test_step08_optimize_moves_budget(techcorp, campaign):
    campaign.need("media_buy_id", "package_ids", "cpm_option")
    mb = campaign.media_buy_id
    rate = campaign.cpm_option["fixed_price"]
    read = await get_buy(techcorp, mb)
    revision = read["revision"]
    campaign.revision_before_optimize = revision
    changes = [{"package_id": pid, "budget": plan[4]} for pid, plan in zip(campaign.package_ids, PLAN)]

    body = await techcorp.ok("update_media_buy", update_request(mb, revision=revision, packages=changes))
    campaign.optimized = True
    assert body["revision"] == revision + 1, f"revision {revision} → {body['revision']}"
    assert body["status"] == read["status"], "a budget move does not change the buy's status"
    affected = by_package(body.get("affected_packages", []))
    assert sorted(affected) == sorted(campaign.package_ids), f"both packages changed: {sorted(affected)}"
    for pid, (format_name, _w, _h, _budget, later) in zip(campaign.package_ids, PLAN):
        assert affected[pid]["budget"] == later, f"{format_name}: {affected[pid]}"
        assert affected[pid]["impressions"] == expected_impressions(later, rate), f"{format_name}: {affected[pid]}"
    assert [affected[pid]["impressions"] for pid in campaign.package_ids] == [280_000, 120_000]

    stored = await get_buy(techcorp, mb)
    assert stored["revision"] == revision + 1
    assert stored["total_budget"] == TOTAL_BUDGET, "moving $500 keeps the $5,000 total"
    packages = by_package(stored["packages"])
    assert [packages[pid]["budget"] for pid in campaign.package_ids] == [3500, 1500]
    assert [packages[pid]["impressions"] for pid in campaign.package_ids] == [280_000, 120_000]
    assert sum(packages[pid]["impressions"] for pid in campaign.package_ids) == SEED_IMPRESSIONS

    stale = update_request(mb, revision=revision, packages=[{"package_id": campaign.package_ids[0], "budget": 4000}])
    stale["context"] = {"step": "stale revision"}
    result = await techcorp.call("update_media_buy", stale)
    assert result.is_error, f"a stale revision was accepted: {result.dump()}"
    assert result.code == "CONFLICT", result.dump()
    assert result.structured.get("context") == {"step": "stale revision"}
    after = await get_buy(techcorp, mb)
    assert after["revision"] == revision + 1, "a refused update must not bump the revision"
    assert by_package(after["packages"])[campaign.package_ids[0]]["budget"] == 3500


# -- 9. pause and resume -----------------------------------------------------------------------


async def test_step09_pause_resume_and_history(techcorp, campaign):
    campaign.need("media_buy_id", "optimized")
    mb = campaign.media_buy_id
    before = await get_buy(techcorp, mb)
    revision = before["revision"]
    assert before["status"] == "active", f"the optimized buy should be active: {before['status']}"

    paused = await techcorp.ok("update_media_buy", update_request(mb, revision=revision, paused=True))
    assert paused["status"] == "paused"
    assert paused["revision"] == revision + 1
    assert "resume" in paused.get("valid_actions", []), paused.get("valid_actions")
    assert (await get_buy(techcorp, mb))["status"] == "paused"

    resumed = await techcorp.ok("update_media_buy", update_request(mb, revision=revision + 1, paused=False))
    assert resumed["status"] == "active", "creatives approved, flight running → active again"
    assert resumed["revision"] == revision + 2
    campaign.paused_and_resumed = True

    stored = await get_buy(techcorp, mb, include_history=50)
    assert stored["status"] == "active"
    assert stored["revision"] == revision + 2
    history = stored.get("history")
    assert history, f"include_history without history: {stored}"
    revisions = [h["revision"] for h in history]
    # Newest first, every revision present; one update may record several changes (e.g. the
    # budget of two packages), each its own entry under the same revision.
    assert revisions == sorted(revisions, reverse=True), f"history must be newest first: {revisions}"
    assert set(revisions) == set(range(1, revision + 3)), f"history must cover every revision: {revisions}"
    assert history[0]["action"] == "resumed", history[0]
    assert history[1]["action"] == "paused", history[1]
    assert history[-1]["action"] == "created", history[-1]
    stamps = [parse(h["timestamp"]) for h in history]
    assert stamps == sorted(stamps, reverse=True), "history is most recent first"
    assert all(h.get("actor") for h in history), history
    optimize = [h for h in history if h["revision"] == campaign.revision_before_optimize + 1]
    assert optimize, f"no history entry for the optimization (revision {campaign.revision_before_optimize + 1})"


# -- 10. finish --------------------------------------------------------------------------------


async def test_step10_cancel_and_creatives_stay_in_the_library(techcorp, campaign):
    campaign.need("media_buy_id", "creative_ids", "paused_and_resumed")
    mb = campaign.media_buy_id
    reason = "TechCorp: campaign wrap-up"
    canceled = await techcorp.ok("update_media_buy", update_request(mb, canceled=True, cancellation_reason=reason))
    assert canceled["status"] == "canceled"
    assert canceled.get("valid_actions", []) == [], "a canceled buy allows no action"
    revision = canceled["revision"]

    stored = await get_buy(techcorp, mb)
    assert stored["status"] == "canceled"
    cancellation = stored.get("cancellation")
    assert cancellation, f"a canceled buy must carry cancellation: {stored}"
    assert cancellation["canceled_by"] == "buyer", cancellation
    assert cancellation.get("reason") == reason, cancellation
    parse(cancellation["canceled_at"])

    again = await techcorp.error(
        "update_media_buy", update_request(mb, canceled=True, cancellation_reason="twice"), valid_request=True
    )
    assert again["code"] == "NOT_CANCELLABLE", again
    assert (await get_buy(techcorp, mb))["revision"] == revision, "a refused cancel must not bump the revision"

    listed = await ok(
        techcorp,
        "list_creatives",
        {"account": ACCOUNT, "filters": {"creative_ids": campaign.creative_ids}, "include_assignments": True},
    )
    creatives = {c["creative_id"]: c for c in listed["creatives"]}
    assert sorted(creatives) == sorted(campaign.creative_ids), f"the creatives left the library: {sorted(creatives)}"
    for cid in campaign.creative_ids:
        item = creatives[cid]
        assert item["status"] == "approved", f"{cid}: {item['status']}"
        assignments = item.get("assignments") or {}
        assert assignments.get("assignment_count", 0) == 0, f"{cid} is still assigned: {assignments}"
        assert assignments.get("assigned_packages", []) == [], f"{cid} is still assigned: {assignments}"

    unassigned = await ok(
        techcorp,
        "list_creatives",
        {"account": ACCOUNT, "filters": {"unassigned": True}, "pagination": {"max_results": 100}},
    )
    found = {c["creative_id"]: c for c in unassigned["creatives"]}
    for cid in campaign.creative_ids:
        assert cid in found, f"filters.unassigned does not find {cid}: {sorted(found)}"
        assert found[cid]["status"] == "approved", found[cid]
