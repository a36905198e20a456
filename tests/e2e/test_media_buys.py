"""create_media_buy / update_media_buy / get_media_buys through the fastmcp client (AdCP 3.0.6):
creation (status, impressions from the CPM, targeting echo, creative assignments), every refusal
with its code and field, idempotency (replay / conflict / new key), the buy state machine (pause,
resume, creatives, cancel and what a canceled buy refuses), optimistic concurrency, budget and
package changes, per-principal isolation (a foreign buy is indistinguishable from an unknown
one), and get_media_buys (default active-only listing, lookup by id in any status, status
filters, history, cancellation, targeting echo, snapshots, pagination walks).

The session server is shared: every test uses its own brand domain and idempotency keys, and tests
that count buys use a principal of their own (`principal create`), so other tests' buys never
show up in what they count."""

from __future__ import annotations

import datetime
import json
import math
import uuid

import pytest

from harness import raw
from harness.adcp import MEDIA_BUY_TOOLS, check_result, connect, to_result
from harness.schemas import is_rfc3339
from harness.server import DEMO_TOKEN

pytestmark = pytest.mark.anyio

TECH = "prod-tech-display-001"  # guaranteed display: cpm_guaranteed (12.50 USD, min 1000), cpc_performance
TECH_CPM = "cpm_guaranteed"
TECH_CPC = "cpc_performance"
TECH_PRICE = 12.50
TECH_MIN_SPEND = 1000.0
RON = "prod-ron-display-001"  # auction; option id and floor are read from get_products
VIDEO = "prod-tech-video-001"  # its formats are not offered by TECH

ALL_STATUSES = ["pending_creatives", "pending_start", "active", "paused", "completed", "rejected", "canceled"]
TERMINAL = ("completed", "rejected", "canceled")
UTC = datetime.timezone.utc


# -- helpers -----------------------------------------------------------------------------------


def key() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def unique_domain(tag: str = "mb") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}.example"


def account(domain: str) -> dict:
    return {"brand": {"domain": domain}, "operator": domain}


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def in_days(days: float) -> str:
    return iso(now() + datetime.timedelta(days=days))


def parse(value: str) -> datetime.datetime:
    assert is_rfc3339(value), f"not an RFC 3339 date-time with an offset: {value!r}"
    return datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


def package(product_id: str = TECH, pricing_option_id: str = TECH_CPM, budget: float = 5000, **extra) -> dict:
    return {"product_id": product_id, "pricing_option_id": pricing_option_id, "budget": budget, **extra}


def create_request(domain: str, packages: list[dict] | None = None, **extra) -> dict:
    body = {
        "idempotency_key": key(),
        "account": account(domain),
        "brand": {"domain": domain},
        "start_time": "asap",
        "end_time": in_days(30),
        "packages": packages if packages is not None else [package()],
    }
    body.update(extra)
    return body


def expected_impressions(budget: float, cpm: float) -> int:
    return math.floor(budget / cpm * 1000)


def without(body: dict, *fields: str) -> dict:
    return {k: v for k, v in body.items() if k not in fields}


class Buys:
    """One principal's view of the media-buy tools, bound to one account natural key."""

    def __init__(self, client, domain: str | None = None):
        self.client = client
        self.domain = domain or unique_domain()

    @property
    def account(self) -> dict:
        return account(self.domain)

    async def create(self, packages: list[dict] | None = None, **extra) -> dict:
        return await self.client.ok("create_media_buy", create_request(self.domain, packages, **extra))

    async def update(self, media_buy_id: str, **fields) -> dict:
        return await self.client.ok("update_media_buy", self.update_request(media_buy_id, **fields))

    async def update_error(self, media_buy_id: str, **fields) -> dict:
        return await self.client.error("update_media_buy", self.update_request(media_buy_id, **fields), valid_request=True)

    def update_request(self, media_buy_id: str, **fields) -> dict:
        return {"idempotency_key": key(), "account": self.account, "media_buy_id": media_buy_id, **fields}

    async def get(self, media_buy_id: str, **extra) -> dict:
        body = await self.client.ok("get_media_buys", {"media_buy_ids": [media_buy_id], **extra})
        check_pagination_closed(body)
        found = [b for b in body["media_buys"] if b["media_buy_id"] == media_buy_id]
        assert len(found) == 1, f"get_media_buys by id returned {len(found)} copies of {media_buy_id}: {body}"
        return found[0]

    async def listed(self, **args) -> list[dict]:
        items, _ = await self.client.walk("get_media_buys", args, "media_buys", 100)
        return items

    async def all_ids(self) -> list[str]:
        return [b["media_buy_id"] for b in await self.listed(status_filter=ALL_STATUSES)]


def check_pagination_closed(body: dict) -> None:
    meta = body.get("pagination")
    assert meta is not None, f"get_media_buys without pagination: {body}"
    assert meta["has_more"] is False, f"an id lookup has more pages: {meta}"
    assert "cursor" not in meta, f"has_more false with a cursor: {meta}"


async def catalog(client) -> dict[str, dict]:
    items, _ = await client.walk("get_products", {"buying_mode": "wholesale"}, "products", 100)
    return {p["product_id"]: p for p in items}


def auction_option(product: dict) -> dict:
    for option in product["pricing_options"]:
        if option.get("floor_price") is not None and option.get("fixed_price") is None:
            return option
    raise AssertionError(f"{product['product_id']} has no auction pricing option: {product['pricing_options']}")


async def ron_option(client) -> tuple[str, float, float]:
    """(pricing_option_id, floor_price, min_spend) of the run-of-network auction product."""
    option = auction_option((await catalog(client))[RON])
    return option["pricing_option_id"], float(option["floor_price"]), float(option.get("min_spend_per_package") or 0)


@pytest.fixture
async def own_principal(server, schemas, anyio_backend):
    """A fresh principal of the session server, so that listings hold only this test's buys."""
    _, token = server.create_principal(f"E2E Media {uuid.uuid4().hex[:6]}")
    async with connect(server.mcp_url, schemas, token, style="bearer") as client:
        yield client


# -- create_media_buy: success -----------------------------------------------------------------


async def test_tools_listed(buyer):
    names = await buyer.tool_names()
    for tool in MEDIA_BUY_TOOLS:
        assert tool in names, f"{tool} not in tools/list: {names}"


async def test_create_without_creatives_is_pending_creatives(buyer):
    buys = Buys(buyer)
    overlay = {
        "geo_countries": ["US"],
        "property_list": {"agent_url": "https://governance.e2e.example", "list_id": "e2e_allowlist_v1"},
    }
    context = {"trace": "create", "nested": {"n": [1, 2]}}
    before = now()
    body = await buys.create([package(budget=5000, targeting_overlay=overlay)], context=context)
    assert body["media_buy_id"]
    assert body["status"] == "pending_creatives"
    assert body["revision"] == 1
    confirmed = parse(body["confirmed_at"])
    assert before - datetime.timedelta(minutes=5) <= confirmed <= now() + datetime.timedelta(minutes=5)
    parse(body["creative_deadline"])
    assert isinstance(body["valid_actions"], list) and "cancel" in body["valid_actions"], body["valid_actions"]
    assert body.get("sandbox") is True, "the demo tenant is a sandbox"
    assert body.get("context") == context
    assert not body.get("replayed")
    (pkg,) = body["packages"]
    assert pkg["package_id"]
    assert pkg["product_id"] == TECH
    assert pkg.get("pricing_option_id", TECH_CPM) == TECH_CPM
    assert pkg["budget"] == 5000
    assert pkg["impressions"] == expected_impressions(5000, TECH_PRICE) == 400000
    assert pkg["targeting_overlay"] == overlay, "targeting_overlay must be echoed verbatim"


@pytest.mark.parametrize("budget", [1000, 1234.56, 3333.33, 9999.99, 25000])
async def test_impressions_are_budget_over_cpm_floored(buyer, budget):
    body = await Buys(buyer).create([package(budget=budget)])
    (pkg,) = body["packages"]
    assert pkg["budget"] == budget
    assert pkg["impressions"] == expected_impressions(budget, TECH_PRICE), (
        f"budget {budget} at {TECH_PRICE} CPM: {pkg['impressions']}"
    )


async def test_create_several_packages(buyer):
    ron_id, floor, ron_min = await ron_option(buyer)
    ron_budget = max(1000, ron_min)
    body = await Buys(buyer).create(
        [
            package(budget=2000),
            package(RON, ron_id, budget=ron_budget, bid_price=floor + 1),
            package(budget=1500, pacing="asap"),
        ]
    )
    packages = body["packages"]
    assert [p["product_id"] for p in packages] == [TECH, RON, TECH], "packages must keep the request order"
    assert len({p["package_id"] for p in packages}) == 3, "package_ids must be distinct"
    assert [p["budget"] for p in packages] == [2000, ron_budget, 1500]
    assert packages[1].get("bid_price", floor + 1) == floor + 1
    assert packages[2].get("pacing", "asap") == "asap"


async def test_create_auction_at_or_above_floor(buyer):
    ron_id, floor, ron_min = await ron_option(buyer)
    budget = max(1000, ron_min)
    body = await Buys(buyer).create([package(RON, ron_id, budget=budget, bid_price=floor)])
    (pkg,) = body["packages"]
    assert pkg["product_id"] == RON
    assert body["status"] == "pending_creatives"


async def test_create_with_creatives_starting_now_is_active(buyer):
    """Creatives ready and the flight started (start_time asap) → active."""
    body = await Buys(buyer).create([package(creative_assignments=[{"creative_id": "cr_e2e_ready"}])])
    assert body["status"] == "active", f"creatives assigned and flight started: {body['status']}"
    assert body["revision"] == 1


async def test_create_with_creatives_starting_later_is_pending_start(buyer):
    body = await Buys(buyer).create(
        [package(creative_assignments=[{"creative_id": "cr_e2e_later"}])], start_time=in_days(3)
    )
    assert body["status"] == "pending_start", f"creatives assigned, flight in 3 days: {body['status']}"


async def test_create_with_offset_timestamps(buyer):
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    start = (now() + datetime.timedelta(days=2)).astimezone(plus2).replace(microsecond=0)
    end = start + datetime.timedelta(days=10)
    buys = Buys(buyer)
    body = await buys.create(start_time=start.isoformat(), end_time=end.isoformat())
    assert body["status"] == "pending_creatives"
    stored = await buys.get(body["media_buy_id"])
    assert parse(stored["start_time"]) == start, f"start_time {start.isoformat()} stored as {stored['start_time']}"
    assert parse(stored["end_time"]) == end, f"end_time {end.isoformat()} stored as {stored['end_time']}"


async def test_start_a_minute_ago_is_accepted(buyer):
    """Clock skew: a start_time up to 5 minutes in the past is accepted."""
    body = await Buys(buyer).create(start_time=iso(now() - datetime.timedelta(minutes=1)))
    assert body["media_buy_id"]


async def test_create_with_format_subset(buyer):
    product = (await catalog(buyer))[TECH]
    chosen = product["format_ids"][:1]
    body = await Buys(buyer).create([package(format_ids=chosen)])
    (pkg,) = body["packages"]
    if "format_ids" in pkg:
        assert pkg["format_ids"] == chosen, "the package's format_ids must be the requested subset, verbatim"


# -- create_media_buy: refusals ----------------------------------------------------------------


def _unknown_product(req, cat):
    req["packages"][0]["product_id"] = "prod-does-not-exist-e2e"


def _unknown_product_second(req, cat):
    req["packages"] = [package(budget=2000), package("prod-does-not-exist-e2e", TECH_CPM, 2000)]


def _unknown_pricing_option(req, cat):
    req["packages"][0]["pricing_option_id"] = "po-does-not-exist-e2e"


def _budget_too_low(req, cat):
    req["packages"][0]["budget"] = TECH_MIN_SPEND - 0.01


def _auction_without_bid(req, cat):
    option = auction_option(cat[RON])
    req["packages"][0] = package(RON, option["pricing_option_id"], max(1000, option.get("min_spend_per_package") or 0))


def _auction_below_floor(req, cat):
    _auction_without_bid(req, cat)
    req["packages"][0]["bid_price"] = round(float(auction_option(cat[RON])["floor_price"]) - 0.01, 2)


def _end_before_start(req, cat):
    req["start_time"], req["end_time"] = in_days(10), in_days(5)


def _naive_start(req, cat):
    req["start_time"] = iso(now() + datetime.timedelta(days=2)).rstrip("Z")


def _naive_end(req, cat):
    req["end_time"] = iso(now() + datetime.timedelta(days=20)).rstrip("Z")


def _start_in_past(req, cat):
    req["start_time"] = iso(now() - datetime.timedelta(hours=1))


def _format_not_offered(req, cat):
    req["packages"][0]["format_ids"] = [cat[VIDEO]["format_ids"][0]]


def _keyword_targets(req, cat):
    req["packages"][0]["targeting_overlay"] = {"keyword_targets": [{"keyword": "developer tools", "match_type": "exact"}]}


def _inline_creatives(req, cat):
    req["packages"][0]["creatives"] = [
        {
            "creative_id": "cr_e2e_inline",
            "name": "Inline creative",
            "format_id": cat[TECH]["format_ids"][0],
            "assets": {"image": {"asset_type": "image", "url": "https://cdn.e2e.example/a.png", "width": 300, "height": 250}},
        }
    ]


def _missing_idempotency_key(req, cat):
    del req["idempotency_key"]


def _proposal(req, cat):
    del req["packages"]
    req["proposal_id"] = "prop_e2e_does_not_matter"
    req["total_budget"] = {"amount": 5000, "currency": "USD"}


# (name, mutate, code, field or None, request valid against the request schema)
CREATE_ERRORS = [
    ("unknown_product", _unknown_product, "PRODUCT_NOT_FOUND", "packages[0].product_id", True),
    ("unknown_product_second", _unknown_product_second, "PRODUCT_NOT_FOUND", "packages[1].product_id", True),
    ("unknown_pricing_option", _unknown_pricing_option, "INVALID_REQUEST", "packages[0].pricing_option_id", True),
    ("budget_too_low", _budget_too_low, "BUDGET_TOO_LOW", None, True),
    ("auction_without_bid", _auction_without_bid, "INVALID_REQUEST", "packages[0].bid_price", True),
    ("auction_below_floor", _auction_below_floor, "INVALID_REQUEST", "packages[0].bid_price", True),
    ("end_before_start", _end_before_start, "INVALID_REQUEST", "end_time", True),
    ("naive_start", _naive_start, "INVALID_REQUEST", "start_time", False),
    ("naive_end", _naive_end, "INVALID_REQUEST", "end_time", False),
    ("start_in_past", _start_in_past, "INVALID_REQUEST", "start_time", True),
    ("format_not_offered", _format_not_offered, "INVALID_REQUEST", "packages[0].format_ids[0]", True),
    ("keyword_targets", _keyword_targets, "UNSUPPORTED_FEATURE", None, True),
    ("inline_creatives", _inline_creatives, "UNSUPPORTED_FEATURE", None, True),
    ("missing_idempotency_key", _missing_idempotency_key, "INVALID_REQUEST", "idempotency_key", False),
    ("unknown_proposal", _proposal, "REFERENCE_NOT_FOUND", "proposal_id", True),
]


@pytest.mark.parametrize(
    "name,mutate,code,field,valid", CREATE_ERRORS, ids=[c[0] for c in CREATE_ERRORS]
)
async def test_create_refusals(buyer, name, mutate, code, field, valid):
    cat = await catalog(buyer)
    request = create_request(unique_domain("refused"), context={"case": name})
    mutate(request, cat)
    result = await buyer.call("create_media_buy", request, valid_request=valid)
    assert result.is_error, f"{name}: create_media_buy succeeded: {result.dump()}"
    error = result.error
    assert error["code"] == code, f"{name}: {result.dump()}"
    assert error.get("recovery") == "correctable", f"{name}: {error}"
    if field is not None:
        assert error.get("field") == field, f"{name}: field should be {field!r}: {error}"
    assert result.structured.get("context") == {"case": name}, "context must be echoed on errors"
    if name == "budget_too_low":
        assert (error.get("details") or {}).get("minimum") == TECH_MIN_SPEND, f"details.minimum missing: {error}"


async def test_refusals_leave_nothing_behind_and_are_not_cached(own_principal):
    client = own_principal
    cat = await catalog(client)
    domain = unique_domain("nothing")
    keys = []
    for name, mutate, _code, _field, valid in CREATE_ERRORS:
        if name == "missing_idempotency_key":
            continue
        request = create_request(domain, context={"case": name})
        mutate(request, cat)
        result = await client.call("create_media_buy", request, valid_request=valid)
        assert result.is_error, f"{name} succeeded: {result.dump()}"
        keys.append(request["idempotency_key"])
    assert await Buys(client, domain).all_ids() == [], "a refused create_media_buy left a buy behind"
    # an error releases its key: a corrected request with the same key is executed, not replayed
    fixed = create_request(domain)
    fixed["idempotency_key"] = keys[0]
    body = await client.ok("create_media_buy", fixed)
    assert not body.get("replayed"), "an error was cached under the idempotency key"
    assert await Buys(client, domain).all_ids() == [body["media_buy_id"]]


# -- create_media_buy: idempotency -------------------------------------------------------------


async def test_create_idempotency_replay_conflict_and_new_key(own_principal):
    client = own_principal
    buys = Buys(client)
    request = create_request(buys.domain, [package(budget=3000)])
    first = await client.ok("create_media_buy", {**request, "context": {"attempt": 1}})
    assert not first.get("replayed")

    second = await client.ok("create_media_buy", {**request, "context": {"attempt": 2}})
    assert second.get("replayed") is True, f"replay not flagged: {second}"
    assert second["media_buy_id"] == first["media_buy_id"]
    assert without(second, "replayed", "context") == without(first, "replayed", "context"), (
        "a replay must return the stored response unchanged"
    )
    assert second.get("context") == {"attempt": 2}
    assert await buys.all_ids() == [first["media_buy_id"]], "a replay created another buy"

    changed = {**request, "packages": [package(budget=3500)], "context": {"attempt": 3}}
    result = await client.call("create_media_buy", changed)
    assert result.is_error, f"same key with another payload succeeded: {result.dump()}"
    assert result.code == "IDEMPOTENCY_CONFLICT"
    assert "field" not in result.error, "a conflict must not point into the cached payload"
    assert result.structured.get("context") == {"attempt": 3}
    assert await buys.all_ids() == [first["media_buy_id"]]

    fresh = await client.ok("create_media_buy", {**request, "idempotency_key": key()})
    assert not fresh.get("replayed")
    assert fresh["media_buy_id"] != first["media_buy_id"], "a new key is a new buy"
    assert sorted(await buys.all_ids()) == sorted([first["media_buy_id"], fresh["media_buy_id"]])


# -- update_media_buy --------------------------------------------------------------------------


async def test_pause_and_resume_without_creatives(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb = created["media_buy_id"]

    paused = await buys.update(mb, paused=True, context={"step": "pause"})
    assert paused["media_buy_id"] == mb
    assert paused["status"] == "paused"
    assert paused["revision"] == 2
    parse(paused["implementation_date"])
    assert "resume" in paused["valid_actions"], paused["valid_actions"]
    assert paused.get("affected_packages", []) == [], "a campaign-level pause modifies no package"
    assert paused.get("context") == {"step": "pause"}
    assert (await buys.get(mb))["status"] == "paused"

    resumed = await buys.update(mb, paused=False)
    # The spec graph has one resume edge, paused → active; without creatives it delivers nothing.
    assert resumed["status"] == "active", "paused → active is the only resume edge"
    assert resumed["revision"] == 3
    stored = await buys.get(mb)
    assert stored["status"] == "active"
    assert stored["revision"] == 3


async def test_pause_and_resume_with_creatives(buyer):
    buys = Buys(buyer)
    created = await buys.create([package(creative_assignments=[{"creative_id": "cr_e2e_pr"}])])
    assert created["status"] == "active"
    mb = created["media_buy_id"]
    assert (await buys.update(mb, paused=True))["status"] == "paused"
    resumed = await buys.update(mb, paused=False)
    assert resumed["status"] == "active", "creatives ready and flight started → active"
    assert resumed["revision"] == 3


async def test_assigning_creatives_activates_a_started_buy(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    assert created["status"] == "pending_creatives"
    mb, pkg = created["media_buy_id"], created["packages"][0]["package_id"]
    assignments = [{"creative_id": "cr_e2e_a", "weight": 60}, {"creative_id": "cr_e2e_b", "weight": 40}]
    body = await buys.update(mb, packages=[{"package_id": pkg, "creative_assignments": assignments}])
    assert body["status"] == "active", f"creatives ready + flight started (asap) → active, got {body['status']}"
    assert body["revision"] == 2
    (affected,) = body["affected_packages"]
    assert affected["package_id"] == pkg
    assert [a["creative_id"] for a in affected.get("creative_assignments", assignments)] == ["cr_e2e_a", "cr_e2e_b"]
    stored = await buys.get(mb)
    assert stored["status"] == "active"
    approvals = stored["packages"][0].get("creative_approvals")
    if approvals is not None:
        assert sorted(a["creative_id"] for a in approvals) == ["cr_e2e_a", "cr_e2e_b"]


async def test_assigning_creatives_before_the_flight_is_pending_start(buyer):
    buys = Buys(buyer)
    created = await buys.create(start_time=in_days(4))
    assert created["status"] == "pending_creatives"
    mb, pkg = created["media_buy_id"], created["packages"][0]["package_id"]
    body = await buys.update(mb, packages=[{"package_id": pkg, "creative_assignments": [{"creative_id": "cr_e2e_c"}]}])
    assert body["status"] == "pending_start", f"creatives ready, flight in 4 days: {body['status']}"


async def test_cancel_then_everything_is_refused(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb = created["media_buy_id"]
    canceled = await buys.update(mb, canceled=True, cancellation_reason="e2e: campaign withdrawn")
    assert canceled["status"] == "canceled"
    assert canceled["revision"] == 2
    assert canceled.get("valid_actions", []) == [], "a canceled buy allows no action"

    again = await buys.update_error(mb, canceled=True, cancellation_reason="twice")
    assert again["code"] == "NOT_CANCELLABLE", again
    for paused in (True, False):
        refused = await buys.update_error(mb, paused=paused)
        assert refused["code"] == "INVALID_STATE", f"paused={paused} on a canceled buy: {refused}"
    refused = await buys.update_error(
        mb, packages=[{"package_id": created["packages"][0]["package_id"], "budget": 6000}]
    )
    assert refused["code"] == "INVALID_STATE", f"budget change on a canceled buy: {refused}"

    stored = await buys.get(mb)
    assert stored["status"] == "canceled"
    assert stored["revision"] == 2, "refused updates must not bump the revision"
    cancellation = stored.get("cancellation")
    assert cancellation, f"a canceled buy must carry cancellation: {stored}"
    assert cancellation["canceled_by"] == "buyer"
    assert cancellation.get("reason") == "e2e: campaign withdrawn"
    parse(cancellation["canceled_at"])
    assert stored["packages"][0]["budget"] == 5000


async def test_cancel_with_other_fields_applies_only_the_cancel(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb, pkg = created["media_buy_id"], created["packages"][0]["package_id"]
    body = await buys.update(mb, canceled=True, packages=[{"package_id": pkg, "budget": 9000}])
    assert body["status"] == "canceled"
    assert (await buys.get(mb))["packages"][0]["budget"] == 5000, "canceled:true must ignore the other fields"


async def test_unknown_buy_and_unknown_package(buyer):
    buys = Buys(buyer)
    error = await buys.update_error("mb_does_not_exist_e2e", paused=True, context={"u": 1})
    assert error["code"] == "MEDIA_BUY_NOT_FOUND", error
    created = await buys.create()
    error = await buys.update_error(created["media_buy_id"], packages=[{"package_id": "pkg_does_not_exist_e2e", "budget": 6000}])
    assert error["code"] == "PACKAGE_NOT_FOUND", error
    assert (await buys.get(created["media_buy_id"]))["revision"] == 1


async def test_stale_revision_is_a_conflict(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb = created["media_buy_id"]
    assert (await buys.update(mb, revision=1, paused=True))["revision"] == 2
    result = await buyer.call("update_media_buy", buys.update_request(mb, revision=1, paused=False, context={"r": 1}))
    assert result.is_error, f"stale revision accepted: {result.dump()}"
    assert result.code == "CONFLICT", result.dump()
    assert result.structured.get("context") == {"r": 1}
    stored = await buys.get(mb)
    assert stored["status"] == "paused" and stored["revision"] == 2
    assert (await buys.update(mb, revision=2, paused=False))["revision"] == 3


async def test_budget_change_recomputes_impressions(buyer):
    buys = Buys(buyer)
    created = await buys.create([package(budget=5000), package(budget=2000)])
    mb = created["media_buy_id"]
    first, second = (p["package_id"] for p in created["packages"])
    body = await buys.update(mb, packages=[{"package_id": first, "budget": 7777.77}])
    assert body["revision"] == 2
    (affected,) = body["affected_packages"]
    assert affected["package_id"] == first, "only the changed package is affected"
    assert affected["budget"] == 7777.77
    assert affected["impressions"] == expected_impressions(7777.77, TECH_PRICE)
    assert affected["product_id"] == TECH, "affected_packages carry the full package"
    stored = await buys.get(mb)
    by_id = {p["package_id"]: p for p in stored["packages"]}
    assert by_id[first]["budget"] == 7777.77
    assert by_id[first]["impressions"] == expected_impressions(7777.77, TECH_PRICE)
    assert by_id[second]["budget"] == 2000
    assert by_id[second]["impressions"] == expected_impressions(2000, TECH_PRICE)
    assert stored["total_budget"] == pytest.approx(9777.77)


async def test_package_targeting_is_replaced_and_echoed(buyer):
    buys = Buys(buyer)
    created = await buys.create([package(targeting_overlay={"geo_countries": ["US"]})])
    mb, pkg = created["media_buy_id"], created["packages"][0]["package_id"]
    overlay = {
        "geo_countries": ["US", "CA"],
        "property_list": {"agent_url": "https://governance.e2e.example", "list_id": "e2e_list_v2"},
    }
    body = await buys.update(mb, packages=[{"package_id": pkg, "targeting_overlay": overlay}])
    assert body["affected_packages"][0]["targeting_overlay"] == overlay
    stored = await buys.get(mb)
    assert stored["packages"][0]["targeting_overlay"] == overlay, "targeting_overlay is a replacement, echoed verbatim"


async def test_package_pause_and_cancel(buyer):
    buys = Buys(buyer)
    created = await buys.create([package(budget=2000), package(budget=3000)])
    mb = created["media_buy_id"]
    first, second = (p["package_id"] for p in created["packages"])
    body = await buys.update(mb, packages=[{"package_id": first, "paused": True}])
    assert body["affected_packages"][0]["package_id"] == first
    assert body["affected_packages"][0]["paused"] is True
    body = await buys.update(mb, packages=[{"package_id": second, "canceled": True, "cancellation_reason": "e2e"}])
    assert body["status"] not in TERMINAL, "canceling a package does not cancel the buy"
    stored = await buys.get(mb)
    by_id = {p["package_id"]: p for p in stored["packages"]}
    assert by_id[first]["paused"] is True
    assert by_id[second]["canceled"] is True
    refused = await buys.update_error(mb, packages=[{"package_id": second, "budget": 4000}])
    assert refused["code"] == "INVALID_STATE", f"modifying a canceled package: {refused}"


async def test_new_packages(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb = created["media_buy_id"]
    body = await buys.update(mb, new_packages=[package(budget=2500)])
    assert body["revision"] == 2
    stored = await buys.get(mb)
    assert len(stored["packages"]) == 2
    new = [p for p in stored["packages"] if p["package_id"] != created["packages"][0]["package_id"]][0]
    assert new["budget"] == 2500
    assert new["impressions"] == expected_impressions(2500, TECH_PRICE)
    assert stored["total_budget"] == 7500


async def test_update_dates(buyer):
    buys = Buys(buyer)
    created = await buys.create(start_time=in_days(2), end_time=in_days(20))
    mb = created["media_buy_id"]
    new_end = in_days(40)
    body = await buys.update(mb, end_time=new_end)
    assert body["revision"] == 2
    assert parse((await buys.get(mb))["end_time"]) == parse(new_end)
    error = await buys.update_error(mb, end_time=in_days(1))
    assert error["code"] == "INVALID_REQUEST" and error.get("field") == "end_time", error


async def test_update_replay(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb = created["media_buy_id"]
    request = buys.update_request(mb, paused=True)
    first = await buyer.ok("update_media_buy", request)
    second = await buyer.ok("update_media_buy", request)
    assert second.get("replayed") is True, f"update replay not flagged: {second}"
    assert without(second, "replayed") == without(first, "replayed")
    assert (await buys.get(mb))["revision"] == 2, "a replayed update must not be applied twice"
    result = await buyer.call("update_media_buy", {**request, "paused": False})
    assert result.is_error and result.code == "IDEMPOTENCY_CONFLICT", result.dump()


async def test_update_without_idempotency_key(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    request = without(buys.update_request(created["media_buy_id"], paused=True), "idempotency_key")
    result = await buyer.call("update_media_buy", {**request, "context": {"k": 1}}, valid_request=False)
    assert result.is_error, f"update without idempotency_key succeeded: {result.dump()}"
    assert result.code == "INVALID_REQUEST" and result.error.get("field") == "idempotency_key", result.dump()
    assert result.structured.get("context") == {"k": 1}
    assert (await buys.get(created["media_buy_id"]))["status"] == "pending_creatives"


# -- isolation between principals --------------------------------------------------------------


def _scrub(body: dict, *ids: str) -> str:
    text = json.dumps(body, sort_keys=True)
    for value in ids:
        text = text.replace(value, "<ID>")
    return text


async def test_another_principal_cannot_see_or_touch_the_buy(server, schemas, buyer):
    owner = Buys(buyer)
    created = await owner.create()
    mb = created["media_buy_id"]
    pkg = created["packages"][0]["package_id"]
    unknown = "mb_" + uuid.uuid4().hex

    _, token = server.create_principal("E2E Media Intruder")
    async with connect(server.mcp_url, schemas, token, style="bearer") as other:
        for intruder in (Buys(other), Buys(other, owner.domain)):  # its own account, and the owner's natural key
            foreign = await other.ok("get_media_buys", {"media_buy_ids": [mb], "context": {"q": 1}})
            missing = await other.ok("get_media_buys", {"media_buy_ids": [unknown], "context": {"q": 1}})
            assert foreign["media_buys"] == [], f"another principal sees the buy: {foreign}"
            assert _scrub(foreign, mb) == _scrub(missing, unknown), "a foreign buy differs from an unknown one"
            listed = await intruder.listed(status_filter=ALL_STATUSES)
            assert mb not in [b["media_buy_id"] for b in listed]

            for fields in ({"paused": True}, {"canceled": True}, {"packages": [{"package_id": pkg, "budget": 9000}]}):
                foreign_result = await other.call("update_media_buy", intruder.update_request(mb, **fields))
                missing_result = await other.call("update_media_buy", intruder.update_request(unknown, **fields))
                assert foreign_result.is_error, f"another principal updated the buy ({fields}): {foreign_result.dump()}"
                assert foreign_result.code == "MEDIA_BUY_NOT_FOUND", foreign_result.dump()
                assert missing_result.code == "MEDIA_BUY_NOT_FOUND", missing_result.dump()
                assert _scrub(foreign_result.structured, mb) == _scrub(missing_result.structured, unknown), (
                    f"foreign and unknown ids answered differently:\n{foreign_result.dump()}\n{missing_result.dump()}"
                )

    stored = await owner.get(mb)
    assert stored["status"] == "pending_creatives"
    assert stored["revision"] == 1
    assert stored["packages"][0]["budget"] == 5000


# -- get_media_buys ----------------------------------------------------------------------------


async def portfolio(buys: Buys) -> dict[str, str]:
    """Five buys in five statuses; returns {status: media_buy_id}."""
    out = {}
    out["pending_creatives"] = (await buys.create())["media_buy_id"]
    out["active"] = (await buys.create([package(creative_assignments=[{"creative_id": "cr_e2e_p"}])]))["media_buy_id"]
    out["pending_start"] = (
        await buys.create([package(creative_assignments=[{"creative_id": "cr_e2e_q"}])], start_time=in_days(5))
    )["media_buy_id"]
    out["paused"] = (await buys.create())["media_buy_id"]
    assert (await buys.update(out["paused"], paused=True))["status"] == "paused"
    out["canceled"] = (await buys.create())["media_buy_id"]
    assert (await buys.update(out["canceled"], canceled=True, cancellation_reason="e2e"))["status"] == "canceled"
    return out


async def test_listing_defaults_to_active_and_filters_by_status(own_principal):
    buys = Buys(own_principal)
    ids = await portfolio(buys)

    default = await own_principal.ok("get_media_buys", {})
    assert [b["media_buy_id"] for b in default["media_buys"]] == [ids["active"]], (
        "without media_buy_ids and status_filter only active buys are listed"
    )
    assert default["pagination"]["has_more"] is False and "cursor" not in default["pagination"]

    for status, mb in ids.items():
        body = await own_principal.ok("get_media_buys", {"status_filter": status})
        assert [b["media_buy_id"] for b in body["media_buys"]] == [mb], f"status_filter {status!r}"
        assert body["media_buys"][0]["status"] == status

    body = await own_principal.ok("get_media_buys", {"status_filter": ["paused", "canceled"]})
    assert sorted(b["media_buy_id"] for b in body["media_buys"]) == sorted([ids["paused"], ids["canceled"]])

    body = await own_principal.ok("get_media_buys", {"status_filter": ["completed", "rejected"]})
    assert body["media_buys"] == []
    assert body["pagination"]["has_more"] is False


async def test_lookup_by_id_ignores_status(own_principal):
    buys = Buys(own_principal)
    ids = await portfolio(buys)
    body = await own_principal.ok("get_media_buys", {"media_buy_ids": list(ids.values())})
    check_pagination_closed(body)
    got = {b["media_buy_id"]: b["status"] for b in body["media_buys"]}
    assert got == {mb: status for status, mb in ids.items()}, "an id lookup returns buys in any status"
    for item in body["media_buys"]:
        assert item["currency"] == "USD"
        assert item["total_budget"] == sum(p["budget"] for p in item["packages"])
        assert all(p["package_id"] for p in item["packages"])
        if item["status"] in TERMINAL:
            assert item.get("valid_actions", []) == []
        else:
            assert "cancel" in item.get("valid_actions", ["cancel"])
        if item["status"] == "canceled":
            assert item["cancellation"]["canceled_by"] == "buyer"
            assert item["cancellation"].get("reason") == "e2e"
        else:
            assert "cancellation" not in item, f"cancellation on a {item['status']} buy"


async def test_pagination_walk_over_all_statuses(own_principal):
    buys = Buys(own_principal)
    ids = await portfolio(buys)
    everything = await own_principal.ok(
        "get_media_buys", {"status_filter": ALL_STATUSES, "pagination": {"max_results": 100}}
    )
    full = [b["media_buy_id"] for b in everything["media_buys"]]
    assert sorted(full) == sorted(ids.values())
    assert everything["pagination"]["has_more"] is False
    for size in (1, 2, 3):
        walked, pages = await own_principal.walk("get_media_buys", {"status_filter": ALL_STATUSES}, "media_buys", size)
        walked_ids = [b["media_buy_id"] for b in walked]
        assert len(walked_ids) == len(set(walked_ids)), f"page size {size} repeated buys: {walked_ids}"
        assert walked_ids == full, f"page size {size} lost, repeated or reordered buys"
        assert len(pages) == -(-len(full) // size)
        assert pages[0]["pagination"]["has_more"] is True


async def test_history_most_recent_first(buyer):
    buys = Buys(buyer)
    created = await buys.create()
    mb, pkg = created["media_buy_id"], created["packages"][0]["package_id"]
    await buys.update(mb, paused=True)
    await buys.update(mb, paused=False)
    await buys.update(mb, packages=[{"package_id": pkg, "budget": 6000}])
    await buys.update(mb, canceled=True, cancellation_reason="e2e history")

    assert "history" not in await buys.get(mb), "history without include_history"
    assert "history" not in await buys.get(mb, include_history=0)
    stored = await buys.get(mb, include_history=10)
    assert stored["revision"] == 5
    history = stored["history"]
    assert [h["revision"] for h in history] == [5, 4, 3, 2, 1], f"history: {history}"
    assert history[0]["action"] == "canceled"
    assert history[-1]["action"] == "created"
    assert history[-2]["action"] == "paused" and history[-3]["action"] == "resumed"
    stamps = [parse(h["timestamp"]) for h in history]
    assert stamps == sorted(stamps, reverse=True), "history is most recent first"
    assert all(h.get("actor") for h in history)
    short = (await buys.get(mb, include_history=2))["history"]
    assert [h["revision"] for h in short] == [5, 4]


async def test_targeting_overlay_persisted_verbatim(buyer):
    buys = Buys(buyer)
    overlay = {
        "geo_countries": ["US"],
        "geo_regions": ["US-CA", "US-NY"],
        "frequency_cap": {"max_impressions": 3, "per": "devices", "window": {"interval": 1, "unit": "days"}},
        "property_list": {"agent_url": "https://governance.e2e.example", "list_id": "acme_outdoor_allowlist_v1"},
    }
    created = await buys.create([package(targeting_overlay=overlay)])
    assert created["packages"][0]["targeting_overlay"] == overlay
    stored = await buys.get(created["media_buy_id"])
    assert stored["packages"][0]["targeting_overlay"] == overlay
    assert stored["packages"][0]["targeting_overlay"]["property_list"]["list_id"] == "acme_outdoor_allowlist_v1"


async def test_snapshot_or_reason(buyer):
    buys = Buys(buyer)
    created = await buys.create([package(creative_assignments=[{"creative_id": "cr_e2e_snap"}])])
    stored = await buys.get(created["media_buy_id"], include_snapshot=True)
    for pkg in stored["packages"]:
        assert "snapshot" in pkg or pkg.get("snapshot_unavailable_reason"), (
            f"include_snapshot: a package needs a snapshot or snapshot_unavailable_reason: {pkg}"
        )
    plain = await buys.get(created["media_buy_id"])
    assert all("snapshot" not in p for p in plain["packages"]), "snapshot without include_snapshot"


async def test_get_media_buys_context_and_unknown_id(buyer):
    body = await buyer.ok("get_media_buys", {"media_buy_ids": ["mb_unknown_e2e"], "context": {"g": 1}})
    assert body["media_buys"] == []
    assert body.get("context") == {"g": 1}
    check_pagination_closed(body)


# -- raw JSON-RPC ------------------------------------------------------------------------------


def raw_result(schemas, response, request: dict, tool: str):
    assert response.status_code == 200, f"{tool}: HTTP {response.status_code}: {response.text[:1000]}"
    message = raw.single(response, request["id"])
    assert "error" not in message, f"{tool}: JSON-RPC error {message['error']} (must be an AdCP tool error)"
    res = message["result"]
    result = to_result(tool, res.get("structuredContent"), res.get("content"), res.get("isError", False))
    check_result(schemas, result)
    return result


@pytest.mark.parametrize("tool", MEDIA_BUY_TOOLS)
def test_raw_without_credentials_is_401(server, tool):
    response = raw.post(server.mcp_url, raw.tool_call(tool, {}), raw.headers(None))
    assert response.status_code == 401, f"{tool}: {response.status_code} {response.text[:500]}"
    assert response.headers.get("www-authenticate", "").startswith("Bearer ")


def test_raw_create_and_missing_key(server, schemas):
    domain = unique_domain("raw")
    request = raw.tool_call("create_media_buy", create_request(domain))
    created = raw_result(schemas, raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN)), request, "create_media_buy")
    body = created.ok()
    assert body["status"] == "pending_creatives"

    args = without(create_request(domain), "idempotency_key")
    request = raw.tool_call("create_media_buy", args)
    refused = raw_result(schemas, raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN, style="x-adcp-auth")), request, "create_media_buy")
    assert refused.is_error
    assert refused.code == "INVALID_REQUEST" and refused.error.get("field") == "idempotency_key"

    request = raw.tool_call("get_media_buys", {"media_buy_ids": [body["media_buy_id"]]})
    got = raw_result(schemas, raw.post(server.mcp_url, request, raw.headers(DEMO_TOKEN)), request, "get_media_buys").ok()
    assert [b["media_buy_id"] for b in got["media_buys"]] == [body["media_buy_id"]]


# -- webhook destinations ------------------------------------------------------------------------


async def test_webhook_destinations_are_kept_and_changed_with_history(buyer):
    domain = unique_domain("hook")
    push = {
        "url": "https://buyer.example/webhooks/adcp",
        "authentication": {"schemes": ["HMAC-SHA256"], "credentials": "s" * 32},
    }
    created = await buyer.ok(
        "create_media_buy", create_request(domain, push_notification_config=push)
    )
    # The demo sandbox accepts local receivers (production tenants accept public https only).
    reporting = {
        "url": "http://127.0.0.1:9/reports",
        "reporting_frequency": "daily",
        "authentication": {"schemes": ["Bearer"], "credentials": "b" * 32},
    }
    updated = await buyer.ok(
        "update_media_buy",
        {"idempotency_key": key(), "account": account(domain), "media_buy_id": created["media_buy_id"],
         "reporting_webhook": reporting},
    )
    assert updated["revision"] == created["revision"] + 1
    body = await buyer.ok(
        "get_media_buys", {"account": account(domain), "media_buy_ids": [created["media_buy_id"]], "include_history": 5}
    )
    history = body["media_buys"][0]["history"]
    assert history[0]["action"] == "notifications_updated"
    assert "delivery reports" in history[0]["summary"]


async def test_webhook_destinations_need_a_url(buyer):
    domain = unique_domain("hook")
    error = await buyer.error(
        "create_media_buy", create_request(domain, push_notification_config={"authentication": {"schemes": ["Bearer"]}})
    )
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "push_notification_config.url")
    error = await buyer.error(
        "create_media_buy", create_request(domain, reporting_webhook={"url": "gopher://x/y", "reporting_frequency": "daily"})
    )
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "reporting_webhook.url")
    error = await buyer.error("create_media_buy", create_request(domain, reporting_webhook={"url": "https://r.example/x"}))
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "reporting_webhook.reporting_frequency")
