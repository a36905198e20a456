"""Choosing the ad server from the command line (issue 6): `AdCP_DRY_RUN=true` with
`SALES_AGENT_ADAPTER=kevel` runs the demo tenant on the Kevel adapter in dry-run, with no
credentials: the booking worker prints the exact Kevel calls it would make
(`[dry-run] Would call: POST https://api.kevel.co/v1/...` with the payload) and sends nothing,
and the buy is booked with simulated ids. Without dry-run the adapter refuses to start without
an API key. The calls themselves are checked against a fake Kevel in tests/it/kevel.rs."""

from __future__ import annotations

import json
import time

import pytest

from harness.adcp import connect
from harness.server import DEMO_TOKEN, Server
from test_media_buys import account, create_request, key, unique_domain

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def kevel_dry_run():
    server = Server("kevel-dry-run")
    server.env["AdCP_DRY_RUN"] = "true"
    server.env["SALES_AGENT_ADAPTER"] = "kevel"
    server.start()
    yield server
    server.stop()


def wait_for_lines(server: Server, start: int, needles: list[str]) -> str:
    """The log from `start` once every needle is in it (the booking worker runs every second)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        text = server.read_log(start)
        if all(needle in text for needle in needles) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def payload(log: str, call: str) -> dict:
    line = next(line for line in log.splitlines() if call in line)
    value, _ = json.JSONDecoder().raw_decode(line[line.index(call) + len(call):].strip())
    return value


async def test_dry_run_prints_the_kevel_calls_and_sends_nothing(kevel_dry_run, schemas):
    start = kevel_dry_run.log_size()
    async with connect(kevel_dry_run.mcp_url, schemas, DEMO_TOKEN) as buyer:
        domain = unique_domain("dry")
        buy = await buyer.ok("create_media_buy", create_request(domain))
    campaign = "[dry-run] Would call: POST https://api.kevel.co/v1/campaign"
    flight = "[dry-run] Would call: POST https://api.kevel.co/v1/flight"
    log = wait_for_lines(kevel_dry_run, start, [campaign, flight])
    assert campaign in log and flight in log, log
    assert f"[dry-run] Would call: GET https://api.kevel.co/v1/advertiser?page=1&pageSize=500" in log
    made = payload(log, campaign)
    assert made["Name"] == f"adcp:{buy['media_buy_id']}" and made["IsActive"] is True, made
    line = payload(log, flight)
    package = buy["packages"][0]
    assert line["Name"] == f"adcp:{buy['media_buy_id']}:{package['package_id']}"
    assert (line["GoalType"], line["RateType"], line["LifetimeCapAmountDecimal"]) == (1, 2, package["budget"])
    assert line["CampaignId"] > 0, "a simulated campaign id"
    assert "X-Adzerk-ApiKey" not in log, "credentials are never logged"


def test_live_adapters_need_credentials_unless_they_run_dry():
    server = Server("kevel-no-key")
    try:
        server.env["SALES_AGENT_ADAPTER"] = "kevel"
        refused = server.cli("migrate", check=False)
        assert refused.returncode != 0
        assert "needs an API key" in refused.stderr and "AdCP_DRY_RUN" in refused.stderr, refused.stderr
        server.env["SALES_AGENT_ADAPTER"] = "gam"
        refused = server.cli("migrate", check=False)
        assert refused.returncode != 0
        assert "needs a service account key" in refused.stderr and "AdCP_DRY_RUN" in refused.stderr, refused.stderr
        server.env["SALES_AGENT_ADAPTER"] = "triton"
        refused = server.cli("migrate", check=False)
        assert refused.returncode != 0
        assert "needs Login API credentials" in refused.stderr and "AdCP_DRY_RUN" in refused.stderr, refused.stderr
        server.env["SALES_AGENT_ADAPTER"] = "dfp"
        unknown = server.cli("migrate", check=False)
        assert unknown.returncode != 0 and "unknown adapter" in unknown.stderr, unknown.stderr
    finally:
        server.stop()


async def test_x_dry_run_shows_one_requests_platform_calls(kevel_dry_run, schemas):
    async with connect(kevel_dry_run.mcp_url, schemas, DEMO_TOKEN, headers={"X-Dry-Run": "true"}) as buyer:
        domain = unique_domain("xdry")
        body = await buyer.ok("create_media_buy", create_request(domain))
        assert body["dry_run"] is True
        rehearsed = body["ext"]["dry_run"]
        assert rehearsed["ad_server"] == "kevel"
        calls = rehearsed["platform_calls"]
        assert calls[0] == "GET https://api.kevel.co/v1/advertiser?page=1&pageSize=500", calls
        campaign = next(c for c in calls if c.startswith("POST https://api.kevel.co/v1/campaign "))
        assert json.loads(campaign.split(" ", 2)[2])["Name"] == f"adcp:{body['media_buy_id']}"
        flights = [c for c in calls if c.startswith("POST https://api.kevel.co/v1/flight ")]
        assert len(flights) == len(body["packages"])
        listed = await buyer.ok("get_media_buys", {"media_buy_ids": [body["media_buy_id"]]})
        assert listed["media_buys"] == [], "a dry run writes nothing"


async def test_x_dry_run_on_the_mock_shows_what_it_would_book(server, schemas):
    async with connect(server.mcp_url, schemas, DEMO_TOKEN, headers={"X-Dry-Run": "true"}) as buyer:
        body = await buyer.ok("create_media_buy", create_request(unique_domain("xdry-mock")))
    rehearsed = body["ext"]["dry_run"]
    assert rehearsed["ad_server"] == "mock"
    package = body["packages"][0]["package_id"]
    assert rehearsed["platform_calls"] == [f"create_order {body['media_buy_id']}", f"create_line {package}"], rehearsed



@pytest.fixture(scope="module")
def gam_dry_run():
    server = Server("gam-dry-run")
    server.env["AdCP_DRY_RUN"] = "true"
    server.env["SALES_AGENT_ADAPTER"] = "gam"
    server.start()
    yield server
    server.stop()


async def test_dry_run_prints_the_gam_soap_calls_and_sends_nothing(gam_dry_run, schemas):
    start = gam_dry_run.log_size()
    async with connect(gam_dry_run.mcp_url, schemas, DEMO_TOKEN) as buyer:
        buy = await buyer.ok("create_media_buy", create_request(unique_domain("gam-dry")))
    endpoint = "[dry-run] Would call: POST https://ads.google.com/apis/ads/publisher/v202608/"
    log = wait_for_lines(gam_dry_run, start, [endpoint + "OrderService", "<createLineItems", "ApproveOrders"])
    orders = [line for line in log.splitlines() if endpoint + "OrderService" in line and "<createOrders" in line]
    assert orders, log
    assert f"<name>adcp:{buy['media_buy_id']}</name>" in orders[0]
    assert "<ns:networkCode>21700000</ns:networkCode>" in orders[0]
    package = buy["packages"][0]["package_id"]
    lines = [line for line in log.splitlines() if "<createLineItems" in line]
    assert f"<externalId>{package}</externalId>" in lines[0] and "<adUnitId>21700000001</adUnitId>" in lines[0]
    assert "Bearer" not in log, "credentials are never logged"


async def test_get_avails_on_gam_asks_for_an_availability_forecast(gam_dry_run, schemas):
    from test_seed_buying import CTV, avails_request
    start = gam_dry_run.log_size()
    async with connect(gam_dry_run.mcp_url, schemas, DEMO_TOKEN) as buyer:
        body = await buyer.ok("get_avails", avails_request(product_ids=[CTV], targeting_overlay={"geo_country_any_of": ["US"]}))
    assert body["packages"][0]["product_id"] == CTV and body["packages"][0]["impressions"] > 0, body
    endpoint = "[dry-run] Would call: POST https://ads.google.com/apis/ads/publisher/v202608/ForecastService"
    forecasts = [line for line in gam_dry_run.read_log(start).splitlines() if endpoint in line]
    assert forecasts and "<getAvailabilityForecast" in forecasts[0], forecasts
    assert "<adUnitId>21700000001</adUnitId>" in forecasts[0] and "<id>2840</id>" in forecasts[0], forecasts[0]


async def test_x_dry_run_shows_the_gam_envelopes_of_one_request(gam_dry_run, schemas):
    async with connect(gam_dry_run.mcp_url, schemas, DEMO_TOKEN, headers={"X-Dry-Run": "true"}) as buyer:
        body = await buyer.ok("create_media_buy", create_request(unique_domain("gam-xdry")))
    rehearsed = body["ext"]["dry_run"]
    assert rehearsed["ad_server"] == "gam"
    calls = rehearsed["platform_calls"]
    assert calls[0].startswith("POST https://ads.google.com/apis/ads/publisher/v202608/OrderService "), calls
    assert "<getOrdersByStatement" in calls[0]
    assert sum("<createLineItems" in call for call in calls) == len(body["packages"])



@pytest.fixture(scope="module")
def triton_dry_run():
    server = Server("triton-dry-run")
    server.env["AdCP_DRY_RUN"] = "true"
    server.env["SALES_AGENT_ADAPTER"] = "triton"
    server.start()
    yield server
    server.stop()


async def test_dry_run_prints_the_triton_calls_and_sends_nothing(triton_dry_run, schemas):
    start = triton_dry_run.log_size()
    async with connect(triton_dry_run.mcp_url, schemas, DEMO_TOKEN) as buyer:
        buy = await buyer.ok("create_media_buy", create_request(unique_domain("triton-dry")))
    campaigns = "[dry-run] Would call: POST https://mbapi.tritondigital.com/advertisers/"
    flights = "[dry-run] Would call: POST https://mbapi.tritondigital.com/campaigns/"
    log = wait_for_lines(triton_dry_run, start, [campaigns, flights])

    def body(call: str) -> dict:
        line = next(line for line in log.splitlines() if call in line)
        value, _ = json.JSONDecoder().raw_decode(line[line.index("{"):])
        return value

    campaign = body(campaigns)
    assert campaign["externalCode"] == f"adcp:{buy['media_buy_id']}" and campaign["status"] == "Draft", campaign
    flight = body(flights)
    package = buy["packages"][0]
    assert flight["externalCode"] == f"adcp:{buy['media_buy_id']}:{package['package_id']}", flight
    assert (flight["rateType"], flight["budget"], flight["status"]) == ("CPM", package["budget"], "Active"), flight
    assert "password" not in log.lower(), "credentials are never logged"



async def test_x_dry_run_shows_the_calls_an_update_would_make(kevel_dry_run, schemas):
    domain = unique_domain("xdry-update")
    async with connect(kevel_dry_run.mcp_url, schemas, DEMO_TOKEN) as buyer:
        buy = await buyer.ok("create_media_buy", create_request(domain))
    pause = {"account": account(domain), "media_buy_id": buy["media_buy_id"], "paused": True}
    async with connect(kevel_dry_run.mcp_url, schemas, DEMO_TOKEN, headers={"X-Dry-Run": "true"}) as buyer:
        # A rehearsal starts from what the ad server has: until the booking worker has booked the
        # buy (simulated ids, within a second or two) it would still create it.
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            body = await buyer.ok("update_media_buy", {**pause, "idempotency_key": key()})
            calls = body["ext"]["dry_run"]["platform_calls"]
            if not any(c.startswith("POST ") for c in calls) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert body["dry_run"] is True and body["ext"]["dry_run"]["ad_server"] == "kevel"
        assert not any(c.startswith("POST ") for c in calls), "nothing is created again: " + repr(calls)
        puts = [c for c in calls if c.startswith("PUT https://api.kevel.co/v1/campaign/")]
        assert len(puts) == 1 and json.loads(puts[0].split(" ", 2)[2])["IsActive"] is False, calls
        listed = await buyer.ok("get_media_buys", {"media_buy_ids": [buy["media_buy_id"]]})
        assert listed["media_buys"][0]["status"] != "paused", "a dry run writes nothing"


async def test_get_media_buys_shows_where_a_buy_stands_on_the_ad_server(kevel_dry_run, schemas):
    domain = unique_domain("ad-server-state")
    async with connect(kevel_dry_run.mcp_url, schemas, DEMO_TOKEN) as buyer:
        buy = await buyer.ok("create_media_buy", create_request(domain))
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            listed = await buyer.ok("get_media_buys", {"account": account(domain), "media_buy_ids": [buy["media_buy_id"]]})
            state = listed["media_buys"][0].get("ext", {}).get("ad_server", {})
            if state.get("in_sync") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert state["platform"] == "kevel" and state["in_sync"] is True, state
    package = buy["packages"][0]["package_id"]
    assert int(state["order_id"]) > 0 and int(state["line_ids"][package]) > 0, "simulated ids: " + repr(state)
    assert "last_error" not in state
