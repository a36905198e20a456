"""sync_accounts / list_accounts through the fastmcp client: created / unchanged / updated / failed,
dry_run, idempotency (replay, conflict, missing or malformed key), per-principal scoping, pagination.
The session server is shared, so every test uses its own brand domains and idempotency keys."""

from __future__ import annotations

import uuid

import pytest

from harness.adcp import connect

pytestmark = pytest.mark.anyio

BILLING_PARTIES = ("operator", "agent", "advertiser")


def unique_domain(tag: str = "brand") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}.example"


def key() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def account(domain: str, billing: str = "operator", operator: str | None = None, **extra) -> dict:
    return {"brand": {"domain": domain}, "operator": operator or domain, "billing": billing, **extra}


def without(body: dict, *fields: str) -> dict:
    return {k: v for k, v in body.items() if k not in fields}


async def listed(client, **args) -> list[dict]:
    items, _ = await client.walk("list_accounts", args, "accounts", 100)
    return items


async def supported_billing(client) -> list[str]:
    caps = await client.ok("get_adcp_capabilities", {})
    return caps["account"]["supported_billing"]


# -- created / unchanged / updated / failed ----------------------------------------------------


async def test_created_unchanged_updated(buyer):
    domain = unique_domain()
    first = await buyer.ok(
        "sync_accounts", {"idempotency_key": key(), "accounts": [account(domain, payment_terms="net_30")]}
    )
    (created,) = first["accounts"]
    assert created["action"] == "created"
    assert created["brand"]["domain"] == domain and created["operator"] == domain
    assert created["billing"] == "operator"
    assert created["status"] in ("active", "pending_approval")
    account_id = created["account_id"]

    again = await buyer.ok(
        "sync_accounts", {"idempotency_key": key(), "accounts": [account(domain, payment_terms="net_30")]}
    )
    (unchanged,) = again["accounts"]
    assert unchanged["action"] == "unchanged"
    assert unchanged["account_id"] == account_id
    assert not again.get("replayed"), "a new idempotency key is a new request, not a replay"

    changed = await buyer.ok(
        "sync_accounts", {"idempotency_key": key(), "accounts": [account(domain, payment_terms="net_45")]}
    )
    (updated,) = changed["accounts"]
    assert updated["action"] == "updated"
    assert updated["account_id"] == account_id
    assert updated.get("payment_terms", "net_45") == "net_45"

    mine = [a for a in await listed(buyer) if a["account_id"] == account_id]
    assert len(mine) == 1
    assert mine[0].get("payment_terms", "net_45") == "net_45"


async def test_unsupported_billing_fails_the_item_only(buyer):
    supported = await supported_billing(buyer)
    unsupported = [b for b in BILLING_PARTIES if b not in supported]
    if not unsupported:
        pytest.fail(f"the demo tenant supports every billing party {supported}; cannot test a refusal")
    good, bad = unique_domain("good"), unique_domain("bad")
    body = await buyer.ok(
        "sync_accounts",
        {"idempotency_key": key(), "accounts": [account(good), account(bad, billing=unsupported[0])]},
    )
    by_domain = {a["brand"]["domain"]: a for a in body["accounts"]}
    assert by_domain[good]["action"] == "created"
    failed = by_domain[bad]
    assert failed["action"] == "failed"
    assert failed.get("errors"), f"a failed account must say why: {failed}"
    assert failed["errors"][0]["code"]
    domains = {a["brand"]["domain"] for a in await listed(buyer)}
    assert good in domains
    assert bad not in domains, "a refused account must not be stored"


async def test_dry_run_changes_nothing(buyer):
    domain = unique_domain("dry")
    preview = await buyer.ok(
        "sync_accounts", {"idempotency_key": key(), "dry_run": True, "accounts": [account(domain)]}
    )
    assert preview.get("dry_run") is True
    assert preview["accounts"][0]["action"] == "created"
    assert domain not in {a["brand"]["domain"] for a in await listed(buyer)}, "dry_run stored an account"

    real = await buyer.ok("sync_accounts", {"idempotency_key": key(), "accounts": [account(domain)]})
    assert not real.get("dry_run")
    assert real["accounts"][0]["action"] == "created"
    assert domain in {a["brand"]["domain"] for a in await listed(buyer)}


# -- idempotency -------------------------------------------------------------------------------


async def test_replay_returns_the_same_response(buyer):
    request = {"idempotency_key": key(), "accounts": [account(unique_domain("replay"))]}
    first = await buyer.ok("sync_accounts", {**request, "context": {"attempt": 1}})
    assert first.get("replayed") in (None, False)
    second = await buyer.ok("sync_accounts", {**request, "context": {"attempt": 2}})
    assert second.get("replayed") is True, f"replay not flagged: {second}"
    assert without(second, "replayed", "context") == without(first, "replayed", "context")
    assert second["context"] == {"attempt": 2}, "context is not part of the request identity; echo the new one"
    assert second["accounts"][0]["action"] == "created", "a replay returns the stored response"


async def test_same_key_other_payload_conflicts(buyer):
    idem = key()
    domain = unique_domain("conflict")
    original = await buyer.ok("sync_accounts", {"idempotency_key": idem, "accounts": [account(domain)]})
    error = await buyer.error(
        "sync_accounts",
        {"idempotency_key": idem, "accounts": [account(domain, payment_terms="net_45")], "context": {"c": 1}},
        valid_request=True,
    )
    assert error["code"] == "IDEMPOTENCY_CONFLICT"
    assert "field" not in error, "a conflict must not point into the cached payload"
    # The stored response is untouched by the conflicting attempt.
    replay = await buyer.ok("sync_accounts", {"idempotency_key": idem, "accounts": [account(domain)]})
    assert replay.get("replayed") is True
    assert replay["accounts"] == original["accounts"]


@pytest.mark.parametrize("bad_key", [None, "short", "has spaces in it!!", "x" * 256])
async def test_missing_or_malformed_key_is_invalid(buyer, bad_key):
    args = {"accounts": [account(unique_domain("nokey"))], "context": {"k": "v"}}
    if bad_key is not None:
        args["idempotency_key"] = bad_key
    result = await buyer.call("sync_accounts", args, valid_request=False)
    assert result.is_error, f"sync_accounts without a valid idempotency_key succeeded: {result.dump()}"
    assert result.code in ("INVALID_REQUEST", "VALIDATION_ERROR")
    assert result.error.get("field") == "idempotency_key"
    assert result.structured.get("context") == {"k": "v"}


async def test_errors_are_not_cached(buyer):
    idem = key()
    error = await buyer.error("sync_accounts", {"idempotency_key": idem, "accounts": "not-a-list"})
    assert error["code"] in ("INVALID_REQUEST", "VALIDATION_ERROR")
    assert (error.get("field") or "").startswith("accounts")
    body = await buyer.ok("sync_accounts", {"idempotency_key": idem, "accounts": [account(unique_domain("retry"))]})
    assert body["accounts"][0]["action"] == "created"
    assert not body.get("replayed")


# -- scoping and pagination --------------------------------------------------------------------


async def test_list_accounts_is_scoped_per_principal(server, schemas, buyer):
    mine = unique_domain("alice")
    await buyer.ok("sync_accounts", {"idempotency_key": key(), "accounts": [account(mine)]})
    assert mine in {a["brand"]["domain"] for a in await listed(buyer)}

    _, token = server.create_principal("E2E Bob")
    async with connect(server.mcp_url, schemas, token, style="bearer") as bob:
        assert await listed(bob) == [], "a new principal sees someone else's accounts"
        theirs = unique_domain("bob")
        await bob.ok("sync_accounts", {"idempotency_key": key(), "accounts": [account(theirs)]})
        bob_domains = {a["brand"]["domain"] for a in await listed(bob)}
    assert bob_domains == {theirs}
    assert theirs not in {a["brand"]["domain"] for a in await listed(buyer)}


async def test_list_accounts_pagination_walk(server, schemas):
    _, token = server.create_principal("E2E Pager")
    domains = [unique_domain(f"page{i}") for i in range(5)]
    async with connect(server.mcp_url, schemas, token) as pager:
        await pager.ok("sync_accounts", {"idempotency_key": key(), "accounts": [account(d) for d in domains]})
        full = await pager.ok("list_accounts", {"pagination": {"max_results": 100}})
        assert full["pagination"]["has_more"] is False
        assert "cursor" not in full["pagination"]
        everything = [a["account_id"] for a in full["accounts"]]
        assert sorted(a["brand"]["domain"] for a in full["accounts"]) == sorted(domains)
        for size in (1, 2, 3):
            walked, pages = await pager.walk("list_accounts", {}, "accounts", size)
            assert [a["account_id"] for a in walked] == everything, f"page size {size} lost or repeated accounts"
            assert len(pages) == -(-len(domains) // size)
            assert pages[0]["pagination"]["has_more"] is True


async def test_list_accounts_empty_principal(server, schemas):
    _, token = server.create_principal("E2E Empty")
    async with connect(server.mcp_url, schemas, token) as empty:
        body = await empty.ok("list_accounts", {})
        assert body["accounts"] == []
        assert body["pagination"]["has_more"] is False
