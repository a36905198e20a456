"""sync_creatives / list_creatives through the fastmcp client (AdCP 3.0.6): uploads built from the
requirements list_creative_formats publishes (the demo tenant approves valid creatives on upload),
created / unchanged / updated, per-item failures naming the field (unknown format, missing required
asset, wrong dimensions / file type / duration / file size) and lenient mode turning mismatches into
warnings, dry_run, delete_missing, library status changes (archive / unarchive / refused changes),
assignments to media-buy packages (what they do to the buy, assignment_errors for unknown packages,
unknown creatives and canceled buys, creatives outliving a canceled buy), idempotency (replay /
conflict / missing or malformed key / errors not cached), per-principal libraries, and
list_creatives filters, sorts and pagination walks.

The session server is shared and a principal's creative library spans its accounts, so tests that
count creatives, or archive what a request leaves out (delete_missing), use a principal of their own
(`principal create`); the others use unique creative ids, brand domains and idempotency keys."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import pytest

from harness import raw
from harness.adcp import CREATIVE_TOOLS, connect
from harness.schemas import is_rfc3339

pytestmark = pytest.mark.anyio

DISPLAY = "display_300x250"
LEADERBOARD = "display_728x90"
VIDEO = "video_15s"
AUDIO = "audio_30s"
UPLOAD_FORMATS = ["display_300x250", "display_728x90", "display_160x600", "video_15s", "video_30s", "ctv_30s", "audio_30s"]
TECH = "prod-tech-display-001"
TECH_CPM = "cpm_guaranteed"
ALL_STATUSES = ["processing", "pending_review", "approved", "rejected", "archived"]
UTC = datetime.timezone.utc


# -- helpers -----------------------------------------------------------------------------------


def key() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def unique_domain(tag: str = "cr") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}.example"


def unique_id(tag: str = "cr") -> str:
    return f"cr_e2e_{tag}_{uuid.uuid4().hex[:10]}"


def account(domain: str) -> dict:
    return {"brand": {"domain": domain}, "operator": domain}


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def in_days(days: float) -> str:
    return iso(datetime.datetime.now(UTC) + datetime.timedelta(days=days))


def parse(value: str) -> datetime.datetime:
    assert is_rfc3339(value), f"not an RFC 3339 date-time with an offset: {value!r}"
    return datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


def without(body: dict, *fields: str) -> dict:
    return {k: v for k, v in body.items() if k not in fields}


def items_by_id(body: dict) -> dict[str, dict]:
    """sync_creatives per-item results by creative_id (each id must appear once)."""
    out: dict[str, dict] = {}
    for item in body["creatives"]:
        assert item["creative_id"] not in out, f"creative {item['creative_id']} reported twice: {body}"
        out[item["creative_id"]] = item
    return out


def only_item(body: dict) -> dict:
    assert len(body["creatives"]) == 1, f"one creative synced, got {len(body['creatives'])} results: {body}"
    return body["creatives"][0]


def check_failed(item: dict, field: str | None, code: str = "INVALID_REQUEST") -> dict:
    assert item["action"] == "failed", f"{item['creative_id']} should have failed: {item}"
    assert "status" not in item, f"a failed item carries no status: {item}"
    errors = item.get("errors")
    assert isinstance(errors, list) and errors, f"a failed item needs errors[]: {item}"
    if field is not None:
        assert any(e["code"] == code and e.get("field") == field for e in errors), (
            f"{item['creative_id']}: expected an error {code} with field {field!r}: {errors}"
        )
    return errors[0]


def check_approved(item: dict, action: str = "created") -> None:
    assert item["action"] == action, f"{item['creative_id']}: action {action!r} expected: {item}"
    assert item.get("status") == "approved", f"{item['creative_id']}: the demo tenant approves valid uploads: {item}"
    assert not item.get("errors"), f"{item['creative_id']}: errors on a {action} item: {item}"


async def catalog_formats(client) -> dict[str, dict]:
    """Every format list_creative_formats offers, by id."""
    items, _ = await client.walk("list_creative_formats", {}, "formats", 100)
    return {f["format_id"]["id"]: f for f in items}


def asset_specs(fmt: dict) -> list[dict]:
    return [a for a in fmt.get("assets", []) if a.get("item_type", "individual") == "individual"]


def required_specs(fmt: dict) -> list[dict]:
    return [a for a in asset_specs(fmt) if a.get("required")]


def spec(fmt: dict, asset_id: str) -> dict:
    for item in asset_specs(fmt):
        if item["asset_id"] == asset_id:
            return item
    raise AssertionError(f"format {fmt['format_id']['id']} has no asset {asset_id}: {fmt.get('assets')}")


def primary(fmt: dict) -> dict:
    """The format's required media asset (image / video / audio)."""
    for item in required_specs(fmt):
        if item["asset_type"] in ("image", "video", "audio"):
            return item
    raise AssertionError(f"format {fmt['format_id']['id']} has no required image/video/audio asset: {fmt.get('assets')}")


def file_type(req: dict) -> str:
    for name in ("formats", "containers"):
        if req.get(name):
            return req[name][0]
    raise AssertionError(f"requirements name no accepted file type: {req}")


def valid_asset(asset_spec: dict) -> dict:
    """An asset meeting the slot's published requirements exactly."""
    kind = asset_spec["asset_type"]
    req = asset_spec.get("requirements") or {}
    token = uuid.uuid4().hex[:8]
    if kind == "url":
        return {"asset_type": "url", "url": f"https://brand.e2e.example/landing/{token}"}
    asset = {"asset_type": kind, "url": f"https://cdn.e2e.example/{asset_spec['asset_id']}-{token}.{file_type(req)}"}
    if kind in ("image", "video"):
        asset["width"] = req.get("min_width") or req.get("max_width") or 1280
        asset["height"] = req.get("min_height") or req.get("max_height") or 720
    if kind in ("video", "audio"):
        duration = req.get("min_duration_ms") or req.get("max_duration_ms")
        if duration:
            asset["duration_ms"] = duration
    if kind != "image" and req.get("max_file_size_kb"):
        asset["file_size_bytes"] = req["max_file_size_kb"] * 1024 // 2
    return asset


def valid_assets(fmt: dict, optional: bool = False) -> dict:
    """Every required asset (and the optional url ones too when asked)."""
    out = {}
    for item in asset_specs(fmt):
        if item.get("required") or (optional and item["asset_type"] == "url"):
            out[item["asset_id"]] = valid_asset(item)
    return out


class Library:
    """One principal's creative library seen through one account natural key."""

    def __init__(self, client, formats: dict[str, dict], domain: str | None = None):
        self.client = client
        self.formats = formats
        self.domain = domain or unique_domain()

    @property
    def account(self) -> dict:
        return account(self.domain)

    def format_id(self, fmt: str = DISPLAY) -> dict:
        return self.formats[fmt]["format_id"]

    def creative(self, creative_id: str | None = None, fmt: str = DISPLAY, name: str | None = None, **extra) -> dict:
        creative_id = creative_id or unique_id()
        body = {
            "creative_id": creative_id,
            "name": name or f"E2E {creative_id}",
            "format_id": self.format_id(fmt),
            "assets": valid_assets(self.formats[fmt]),
        }
        body.update(extra)
        return body

    def request(self, creatives: list[dict], **extra) -> dict:
        return {"idempotency_key": key(), "account": self.account, "creatives": creatives, **extra}

    async def sync(self, creatives: list[dict], **extra) -> dict:
        return await self.client.ok("sync_creatives", self.request(creatives, **extra))

    async def listed(self, **args) -> list[dict]:
        items, _ = await self.client.walk("list_creatives", args, "creatives", 100)
        return items

    async def ids(self, **args) -> list[str]:
        return [c["creative_id"] for c in await self.listed(**args)]

    async def get(self, creative_id: str, **extra) -> dict | None:
        body = await self.client.ok(
            "list_creatives", {"filters": {"creative_ids": [creative_id], "statuses": ALL_STATUSES}, **extra}
        )
        found = [c for c in body["creatives"] if c["creative_id"] == creative_id]
        assert len(found) <= 1, f"list_creatives returned {creative_id} {len(found)} times: {body}"
        return found[0] if found else None

    # -- media buys to assign to ---------------------------------------------------------------

    async def buy(self, packages: int = 1, start_time: str = "asap") -> tuple[str, list[str]]:
        body = await self.client.ok(
            "create_media_buy",
            {
                "idempotency_key": key(),
                "account": self.account,
                "brand": {"domain": self.domain},
                "start_time": start_time,
                "end_time": in_days(30),
                "packages": [
                    {"product_id": TECH, "pricing_option_id": TECH_CPM, "budget": 2000} for _ in range(packages)
                ],
            },
        )
        assert body["status"] == "pending_creatives", f"a buy without creatives: {body['status']}"
        return body["media_buy_id"], [p["package_id"] for p in body["packages"]]

    async def cancel(self, media_buy_id: str) -> None:
        body = await self.client.ok(
            "update_media_buy",
            {"idempotency_key": key(), "account": self.account, "media_buy_id": media_buy_id, "canceled": True},
        )
        assert body["status"] == "canceled"

    async def media_buy(self, media_buy_id: str) -> dict:
        body = await self.client.ok("get_media_buys", {"media_buy_ids": [media_buy_id]})
        (found,) = [b for b in body["media_buys"] if b["media_buy_id"] == media_buy_id]
        return found


def approvals(buy: dict, package_id: str) -> list[str]:
    (pkg,) = [p for p in buy["packages"] if p["package_id"] == package_id]
    return sorted(a["creative_id"] for a in pkg.get("creative_approvals") or [])


def assigned_packages(creative: dict) -> list[str]:
    assignments = creative.get("assignments")
    assert assignments is not None, f"include_assignments: true but no assignments on {creative}"
    packages = assignments.get("assigned_packages") or []
    assert assignments["assignment_count"] == len(packages), f"assignment_count disagrees with the list: {assignments}"
    for entry in packages:
        parse(entry["assigned_date"])
    return sorted(p["package_id"] for p in packages)


@pytest.fixture
async def own_principal(server, schemas, anyio_backend):
    """A fresh principal of the session server: an empty creative library."""
    _, token = server.create_principal(f"E2E Creatives {uuid.uuid4().hex[:6]}")
    async with connect(server.mcp_url, schemas, token, style="bearer") as client:
        yield client


@pytest.fixture
async def lib(buyer) -> Library:
    return Library(buyer, await catalog_formats(buyer))


@pytest.fixture
async def own_lib(own_principal) -> Library:
    return Library(own_principal, await catalog_formats(own_principal))


# -- sync_creatives: uploads -------------------------------------------------------------------


async def test_tools_listed(buyer):
    names = await buyer.tool_names()
    for tool in CREATIVE_TOOLS:
        assert tool in names, f"{tool} not in tools/list: {names}"


async def test_demo_formats_are_the_expected_ones(lib):
    """The uploads below are built from these formats' published requirements."""
    for fmt in UPLOAD_FORMATS:
        assert fmt in lib.formats, f"list_creative_formats lacks {fmt}: {sorted(lib.formats)}"
    image = spec(lib.formats[DISPLAY], "image")
    assert image["asset_type"] == "image" and image["required"] is True
    req = image["requirements"]
    assert (req["min_width"], req["max_width"], req["min_height"], req["max_height"]) == (300, 300, 250, 250)
    assert sorted(req["formats"]) == ["gif", "jpg", "png"] and req["max_file_size_kb"] == 150
    assert spec(lib.formats[DISPLAY], "click_url")["required"] is False


async def test_sync_creates_an_approved_creative_and_lists_it(own_lib):
    lib = own_lib
    creative = lib.creative(name="E2E Launch banner", tags=["launch", "q3"])
    creative["assets"] = valid_assets(lib.formats[DISPLAY], optional=True)
    context = {"trace": "sync", "nested": {"n": [1, 2]}}
    body = await lib.sync([creative], context=context)
    item = only_item(body)
    assert item["creative_id"] == creative["creative_id"]
    check_approved(item)
    assert not item.get("warnings"), f"a creative meeting every requirement has no warnings: {item}"
    assert body.get("context") == context
    assert not body.get("replayed")
    assert not body.get("dry_run")
    assert body.get("sandbox") is True, "the demo tenant is a sandbox"

    listed = await lib.client.ok("list_creatives", {"context": {"list": 1}})
    assert listed.get("context") == {"list": 1}
    assert listed["query_summary"]["total_matching"] == 1 and listed["query_summary"]["returned"] == 1
    assert listed["pagination"]["has_more"] is False and "cursor" not in listed["pagination"]
    (stored,) = listed["creatives"]
    assert stored["creative_id"] == creative["creative_id"]
    assert stored["name"] == "E2E Launch banner"
    assert stored["format_id"] == lib.format_id(DISPLAY), "format_id must be the one list_creative_formats returns"
    assert stored["status"] == "approved"
    assert parse(stored["created_date"]) <= parse(stored["updated_date"])
    assert sorted(stored.get("tags") or []) == ["launch", "q3"]
    assert set(stored.get("assets") or {}) == set(creative["assets"]), f"assets: {stored.get('assets')}"
    for asset_id, asset in creative["assets"].items():
        assert stored["assets"][asset_id]["asset_type"] == asset["asset_type"]
        assert stored["assets"][asset_id]["url"] == asset["url"]


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
async def test_valid_upload_for_every_format_is_approved(lib, fmt):
    creative = lib.creative(fmt=fmt)
    item = only_item(await lib.sync([creative]))
    check_approved(item)
    assert not item.get("warnings"), f"{fmt}: a creative meeting every requirement has no warnings: {item}"
    stored = await lib.get(creative["creative_id"])
    assert stored is not None and stored["status"] == "approved"
    assert stored["format_id"] == lib.format_id(fmt)


async def test_account_by_id(lib):
    synced = await lib.client.ok(
        "sync_accounts",
        {"idempotency_key": key(), "accounts": [{**lib.account, "billing": "operator"}]},
    )
    account_id = synced["accounts"][0]["account_id"]
    creative = lib.creative()
    body = await lib.client.ok(
        "sync_creatives", {"idempotency_key": key(), "account": {"account_id": account_id}, "creatives": [creative]}
    )
    check_approved(only_item(body))
    assert (await lib.get(creative["creative_id"]))["status"] == "approved"


async def test_unknown_account_id_is_refused(lib):
    creative = lib.creative()
    result = await lib.client.call(
        "sync_creatives",
        {"idempotency_key": key(), "account": {"account_id": "acc_e2e_unknown"}, "creatives": [creative], "context": {"a": 1}},
    )
    assert result.is_error, f"sync_creatives with an unknown account_id succeeded: {result.dump()}"
    assert result.code == "ACCOUNT_NOT_FOUND", result.dump()
    assert result.structured.get("context") == {"a": 1}
    assert await lib.get(creative["creative_id"]) is None


async def test_resync_unchanged_then_updated(lib):
    creative = lib.creative(tags=["a"])
    check_approved(only_item(await lib.sync([creative])))
    created = await lib.get(creative["creative_id"])

    again = only_item(await lib.sync([creative]))
    check_approved(again, "unchanged")

    await asyncio.sleep(1.1)  # dates have one-second resolution
    renamed = dict(creative, name="E2E renamed")
    check_approved(only_item(await lib.sync([renamed])), "updated")
    stored = await lib.get(creative["creative_id"])
    assert stored["name"] == "E2E renamed"
    assert stored["created_date"] == created["created_date"], "an update keeps created_date"
    assert parse(stored["updated_date"]) > parse(created["updated_date"]), "an update moves updated_date"

    check_approved(only_item(await lib.sync([renamed])), "unchanged")

    new_assets = valid_assets(lib.formats[DISPLAY])
    changed = dict(renamed, assets=new_assets)
    check_approved(only_item(await lib.sync([changed])), "updated")
    stored = await lib.get(creative["creative_id"])
    assert stored["assets"]["image"]["url"] == new_assets["image"]["url"]
    check_approved(only_item(await lib.sync([changed])), "unchanged")


# -- sync_creatives: per-item failures and lenient mode ----------------------------------------


def _unknown_format(lib, c):
    c["format_id"] = dict(lib.format_id(DISPLAY), id="does_not_exist_e2e")
    return "format_id"


def _missing_image(lib, c):
    del c["assets"]["image"]
    c["assets"]["click_url"] = valid_asset(spec(lib.formats[DISPLAY], "click_url"))
    return "assets.image"


def _missing_video_click_url(lib, c):
    c.update(lib.creative(fmt=VIDEO, creative_id=c["creative_id"]))
    assert spec(lib.formats[VIDEO], "click_url")["required"], "video_15s requires click_url"
    del c["assets"]["click_url"]
    return "assets.click_url"


def _missing_audio(lib, c):
    c.update(lib.creative(fmt=AUDIO, creative_id=c["creative_id"]))
    del c["assets"]["audio_file"]
    return "assets.audio_file"


def _wrong_asset_type(lib, c):
    image = c["assets"]["image"]
    c["assets"]["image"] = {"asset_type": "video", "url": image["url"].rsplit(".", 1)[0] + ".mp4", "width": 300, "height": 250}
    return None  # the server may name assets.image or assets.image.asset_type


# Mismatches that strict mode refuses and lenient mode accepts with a warning.
def _wrong_width(lib, c):
    c["assets"]["image"]["width"] += 1
    return "assets.image"


def _wrong_height(lib, c):
    c["assets"]["image"]["height"] -= 1
    return "assets.image"


def _bmp_extension(lib, c):
    c["assets"]["image"]["url"] = c["assets"]["image"]["url"].rsplit(".", 1)[0] + ".bmp"
    return "assets.image"


def _bmp_format_field(lib, c):
    c["assets"]["image"]["url"] = c["assets"]["image"]["url"].rsplit(".", 1)[0]
    c["assets"]["image"]["format"] = "bmp"
    return "assets.image"


def _image_too_large(lib, c):
    limit = spec(lib.formats[DISPLAY], "image")["requirements"]["max_file_size_kb"]
    c["assets"]["image"]["file_size_bytes"] = (limit + 50) * 1024
    return "assets.image"


def _video_wrong_duration(lib, c):
    c.update(lib.creative(fmt=VIDEO, creative_id=c["creative_id"]))
    c["assets"]["video_file"]["duration_ms"] += 5000
    return "assets.video_file"


def _video_mov(lib, c):
    c.update(lib.creative(fmt=VIDEO, creative_id=c["creative_id"]))
    c["assets"]["video_file"]["url"] = c["assets"]["video_file"]["url"].rsplit(".", 1)[0] + ".mov"
    return "assets.video_file"


def _video_too_small(lib, c):
    c.update(lib.creative(fmt=VIDEO, creative_id=c["creative_id"]))
    c["assets"]["video_file"]["width"] //= 2
    c["assets"]["video_file"]["height"] //= 2
    return "assets.video_file"


def _audio_wav(lib, c):
    c.update(lib.creative(fmt=AUDIO, creative_id=c["creative_id"]))
    c["assets"]["audio_file"]["url"] = c["assets"]["audio_file"]["url"].rsplit(".", 1)[0] + ".wav"
    return "assets.audio_file"


ALWAYS_FAILED = [
    ("unknown_format", _unknown_format),
    ("missing_image", _missing_image),
    ("missing_video_click_url", _missing_video_click_url),
    ("missing_audio_file", _missing_audio),
    ("wrong_asset_type", _wrong_asset_type),
]
MISMATCHES = [
    ("wrong_width", _wrong_width),
    ("wrong_height", _wrong_height),
    ("bmp_extension", _bmp_extension),
    ("bmp_format_field", _bmp_format_field),
    ("image_too_large", _image_too_large),
    ("video_wrong_duration", _video_wrong_duration),
    ("video_mov", _video_mov),
    ("video_too_small", _video_too_small),
    ("audio_wav", _audio_wav),
]


async def _sync_bad_second(lib: Library, mutate, **extra) -> tuple[dict, dict, dict, str | None]:
    """Syncs [valid, mutated]; returns (good item, bad item, bad creative, field suffix)."""
    good = lib.creative()
    bad = lib.creative()
    suffix = mutate(lib, bad)
    body = await lib.sync([good, bad], **extra)
    results = items_by_id(body)
    assert set(results) == {good["creative_id"], bad["creative_id"]}, f"one result per creative: {body}"
    return results[good["creative_id"]], results[bad["creative_id"]], bad, suffix


FAILURE_CASES = [(name, mutate, "strict") for name, mutate in ALWAYS_FAILED + MISMATCHES] + [
    (name, mutate, "lenient") for name, mutate in ALWAYS_FAILED
]


@pytest.mark.parametrize("name,mutate,mode", FAILURE_CASES, ids=[f"{c[2]}-{c[0]}" for c in FAILURE_CASES])
async def test_invalid_creative_fails_alone(lib, name, mutate, mode):
    """In strict mode (the default) every invalid creative fails on its own, naming
    creatives[1].<what>, and the valid one next to it is stored; lenient mode still fails unknown
    formats and missing or mistyped assets."""
    extra = {"validation_mode": "lenient"} if mode == "lenient" else {}
    good, bad, creative, suffix = await _sync_bad_second(lib, mutate, **extra)
    check_approved(good)
    check_failed(bad, f"creatives[1].{suffix}" if suffix else None)
    if suffix is None:
        assert any((e.get("field") or "").startswith("creatives[1].assets.image") for e in bad["errors"]), bad
    assert await lib.get(creative["creative_id"]) is None, f"{name}: a failed creative was stored"
    assert (await lib.get(good["creative_id"]))["status"] == "approved"


async def test_strict_is_the_default_and_explicit(lib):
    for extra in ({}, {"validation_mode": "strict"}):
        good, bad, _creative, suffix = await _sync_bad_second(lib, _bmp_extension, **extra)
        check_approved(good)
        check_failed(bad, f"creatives[1].{suffix}")


@pytest.mark.parametrize("name,mutate", MISMATCHES, ids=[c[0] for c in MISMATCHES])
async def test_lenient_mode_turns_mismatches_into_warnings(lib, name, mutate):
    good, bad, creative, _suffix = await _sync_bad_second(lib, mutate, validation_mode="lenient")
    check_approved(good)
    assert not good.get("warnings"), f"the valid creative got warnings: {good}"
    check_approved(bad)
    warnings = bad.get("warnings")
    assert isinstance(warnings, list) and warnings, f"{name}: lenient mode must report the mismatch as a warning: {bad}"
    assert all(isinstance(w, str) and w for w in warnings)
    stored = await lib.get(creative["creative_id"])
    assert stored is not None and stored["status"] == "approved", f"{name}: lenient creative not stored: {stored}"


async def test_failed_items_do_not_block_the_others(lib):
    creatives = [lib.creative() for _ in range(4)]
    _unknown_format(lib, creatives[1])
    _missing_image(lib, creatives[3])
    body = await lib.sync(creatives)
    assert [i["creative_id"] for i in body["creatives"]][:4] == [c["creative_id"] for c in creatives], (
        "results must follow the request order"
    )
    results = items_by_id(body)
    check_approved(results[creatives[0]["creative_id"]])
    check_failed(results[creatives[1]["creative_id"]], "creatives[1].format_id")
    check_approved(results[creatives[2]["creative_id"]])
    check_failed(results[creatives[3]["creative_id"]], "creatives[3].assets.image")


async def test_sandbox_accepts_a_known_format_id_under_another_agent_url(lib):
    """Sandbox leniency (DIGEST §11.3): compliance harnesses send this seller's format ids under
    placeholder agent URLs. The demo tenant is a sandbox, so it resolves the format by id and
    stores the creative under the format as the seller defines it (its own agent_url). Production
    tenants match (agent_url, id) exactly."""
    creative = lib.creative()
    creative["format_id"] = {"agent_url": "https://creative.other-agent.e2e.example/mcp", "id": DISPLAY}
    item = only_item(await lib.sync([creative]))
    check_approved(item, "created")
    stored = await lib.get(creative["creative_id"])
    assert stored is not None
    assert stored["format_id"]["id"] == DISPLAY
    assert stored["format_id"]["agent_url"] != creative["format_id"]["agent_url"], "stored under the seller's own format"


# -- dry_run and delete_missing ----------------------------------------------------------------


async def test_dry_run_stores_nothing(lib):
    existing = lib.creative(name="E2E before dry run")
    check_approved(only_item(await lib.sync([existing])))
    new = lib.creative()
    bad = lib.creative()
    _unknown_format(lib, bad)
    body = await lib.sync([new, dict(existing, name="E2E dry renamed"), bad], dry_run=True, context={"d": 1})
    assert body.get("dry_run") is True, f"dry_run must be echoed: {body}"
    assert body.get("context") == {"d": 1}
    results = items_by_id(body)
    check_approved(results[new["creative_id"]], "created")
    check_approved(results[existing["creative_id"]], "updated")
    check_failed(results[bad["creative_id"]], "creatives[2].format_id")
    assert await lib.get(new["creative_id"]) is None, "dry_run stored a new creative"
    assert (await lib.get(existing["creative_id"]))["name"] == "E2E before dry run", "dry_run applied an update"


async def test_dry_run_assigns_nothing(lib):
    mb, (pkg,) = await lib.buy()
    creative = lib.creative()
    body = await lib.sync([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg}], dry_run=True)
    assert body.get("dry_run") is True
    assert await lib.get(creative["creative_id"]) is None
    buy = await lib.media_buy(mb)
    assert buy["status"] == "pending_creatives", f"a dry run activated the buy: {buy['status']}"
    assert approvals(buy, pkg) == []


async def test_delete_missing_archives_the_rest(own_lib):
    lib = own_lib
    keep, drop1, drop2 = (lib.creative() for _ in range(3))
    await lib.sync([keep, drop1, drop2])

    preview = await lib.sync([keep], delete_missing=True, dry_run=True)
    assert preview.get("dry_run") is True
    results = items_by_id(preview)
    assert results[drop1["creative_id"]]["action"] == "deleted" and results[drop2["creative_id"]]["action"] == "deleted"
    assert sorted(await lib.ids()) == sorted(c["creative_id"] for c in (keep, drop1, drop2)), "a dry run archived creatives"

    body = await lib.sync([keep], delete_missing=True)
    results = items_by_id(body)
    assert set(results) == {keep["creative_id"], drop1["creative_id"], drop2["creative_id"]}, body
    check_approved(results[keep["creative_id"]], "unchanged")
    for dropped in (drop1, drop2):
        item = results[dropped["creative_id"]]
        assert item["action"] == "deleted", item
        assert "status" not in item, f"a deleted item carries no status: {item}"
    assert await lib.ids() == [keep["creative_id"]], "archived creatives are excluded from the default listing"
    archived = await lib.listed(filters={"statuses": ["archived"]})
    assert sorted(c["creative_id"] for c in archived) == sorted([drop1["creative_id"], drop2["creative_id"]])
    assert all(c["status"] == "archived" for c in archived)


async def test_delete_missing_with_creative_ids_is_invalid(own_lib):
    """sync-creatives-request.json: delete_missing is "invalid when creative_ids is provided"; and
    creative_ids limits the sync's scope ("other creatives in the library are unaffected")."""
    lib = own_lib
    keep, other = lib.creative(), lib.creative()
    await lib.sync([keep, other])
    request = lib.request([keep], creative_ids=[keep["creative_id"]], delete_missing=True)
    result = await lib.client.call("sync_creatives", request)
    state = {c["creative_id"]: c["status"] for c in await lib.listed(filters={"statuses": ALL_STATUSES})}
    assert state == {keep["creative_id"]: "approved", other["creative_id"]: "approved"}, (
        f"delete_missing with creative_ids archived creatives outside creative_ids: {state}; answer: {result.dump()}"
    )
    assert result.is_error and result.code == "INVALID_REQUEST", (
        f"delete_missing together with creative_ids must be refused: {result.dump()}"
    )


# -- library status changes --------------------------------------------------------------------


async def test_archive_and_unarchive(lib):
    creative = lib.creative()
    check_approved(only_item(await lib.sync([creative])))

    item = only_item(await lib.sync([dict(creative, status="archived")]))
    assert item["action"] == "updated" and item.get("status") == "archived", item
    assert creative["creative_id"] not in await lib.ids(filters={"creative_ids": [creative["creative_id"]]}), (
        "an archived creative is excluded unless filters.statuses includes archived"
    )
    assert (await lib.get(creative["creative_id"]))["status"] == "archived"

    item = only_item(await lib.sync([dict(creative, status="approved")]))
    assert item["action"] == "updated" and item.get("status") == "approved", item
    assert await lib.ids(filters={"creative_ids": [creative["creative_id"]]}) == [creative["creative_id"]]


@pytest.mark.parametrize("requested", ["rejected", "pending_review", "processing"])
async def test_other_status_changes_are_refused(lib, requested):
    creative = lib.creative()
    check_approved(only_item(await lib.sync([creative])))
    item = only_item(await lib.sync([dict(creative, status=requested)]))
    check_failed(item, None)
    assert (await lib.get(creative["creative_id"]))["status"] == "approved", f"{requested} was applied"


# -- assignments -------------------------------------------------------------------------------


async def test_assignment_activates_a_started_buy(lib):
    mb, (pkg,) = await lib.buy()
    creative = lib.creative()
    body = await lib.sync([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg}])
    item = only_item(body)
    check_approved(item)
    assert item.get("assigned_to") == [pkg], f"assigned_to: {item}"
    assert not item.get("assignment_errors"), item
    buy = await lib.media_buy(mb)
    assert buy["status"] == "active", f"creatives ready + flight started (asap) → active, got {buy['status']}"
    assert approvals(buy, pkg) == [creative["creative_id"]]
    stored = await lib.get(creative["creative_id"], include_assignments=True)
    assert assigned_packages(stored) == [pkg]
    assert stored["status"] == "approved"


async def test_assignment_before_the_flight_is_pending_start(lib):
    mb, (pkg,) = await lib.buy(start_time=in_days(5))
    creative = lib.creative()
    check_approved(only_item(await lib.sync([creative])))
    item = only_item(await lib.sync([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg}]))
    check_approved(item, "unchanged")
    assert item.get("assigned_to") == [pkg]
    buy = await lib.media_buy(mb)
    assert buy["status"] == "pending_start", f"creatives ready, flight in 5 days: {buy['status']}"
    assert approvals(buy, pkg) == [creative["creative_id"]]


async def test_one_creative_to_several_packages(lib):
    mb, (p1, p2) = await lib.buy(packages=2)
    a, b = lib.creative(), lib.creative()
    body = await lib.sync(
        [a, b],
        assignments=[
            {"creative_id": a["creative_id"], "package_id": p1},
            {"creative_id": a["creative_id"], "package_id": p2},
            {"creative_id": b["creative_id"], "package_id": p2},
        ],
    )
    results = items_by_id(body)
    assert sorted(results[a["creative_id"]].get("assigned_to") or []) == sorted([p1, p2])
    assert results[b["creative_id"]].get("assigned_to") == [p2]
    buy = await lib.media_buy(mb)
    assert approvals(buy, p1) == [a["creative_id"]]
    assert approvals(buy, p2) == sorted([a["creative_id"], b["creative_id"]])
    assert assigned_packages(await lib.get(a["creative_id"], include_assignments=True)) == sorted([p1, p2])


async def test_unknown_package_is_an_assignment_error(lib):
    mb, (pkg,) = await lib.buy()
    creative = lib.creative()
    unknown = "pkg_e2e_" + uuid.uuid4().hex
    body = await lib.sync(
        [creative],
        assignments=[
            {"creative_id": creative["creative_id"], "package_id": unknown},
            {"creative_id": creative["creative_id"], "package_id": pkg},
        ],
    )
    item = only_item(body)
    check_approved(item)
    assert item.get("assigned_to") == [pkg], f"the valid assignment still applies: {item}"
    errors = item.get("assignment_errors") or {}
    assert set(errors) == {unknown}, f"assignment_errors must name the unknown package: {item}"
    assert isinstance(errors[unknown], str) and errors[unknown]
    assert assigned_packages(await lib.get(creative["creative_id"], include_assignments=True)) == [pkg]


async def test_unknown_creative_is_an_assignment_error(lib):
    mb, (pkg,) = await lib.buy()
    ghost = unique_id("ghost")
    creative = lib.creative()
    body = await lib.sync([creative], assignments=[{"creative_id": ghost, "package_id": pkg}])
    check_approved(items_by_id(body)[creative["creative_id"]])
    errors = {
        item["creative_id"]: item.get("assignment_errors") or {} for item in body["creatives"] if item.get("assignment_errors")
    }
    assert errors.get(ghost, {}).get(pkg), f"an assignment of unknown creative {ghost} must be reported: {body}"
    assert await lib.get(ghost) is None, "an assignment must not create a creative"
    buy = await lib.media_buy(mb)
    assert buy["status"] == "pending_creatives", f"nothing was assigned: {buy['status']}"
    assert approvals(buy, pkg) == []


async def test_canceled_buy_is_an_assignment_error(lib):
    mb, (pkg,) = await lib.buy()
    await lib.cancel(mb)
    creative = lib.creative()
    item = only_item(await lib.sync([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg}]))
    check_approved(item)
    assert not item.get("assigned_to"), f"assigned to a canceled buy's package: {item}"
    assert (item.get("assignment_errors") or {}).get(pkg), f"assignment_errors must name {pkg}: {item}"
    assert assigned_packages(await lib.get(creative["creative_id"], include_assignments=True)) == []
    assert (await lib.media_buy(mb))["status"] == "canceled"


async def test_creatives_outlive_a_canceled_buy(lib):
    mb, (pkg,) = await lib.buy()
    creative = lib.creative()
    await lib.sync([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg}])
    assert (await lib.media_buy(mb))["status"] == "active"
    await lib.cancel(mb)

    stored = await lib.get(creative["creative_id"], include_assignments=True)
    assert stored["status"] == "approved", f"canceling a buy leaves the creative's status alone: {stored}"
    assert assigned_packages(stored) == [], "canceling the buy releases its assignments"
    unassigned = await lib.ids(filters={"creative_ids": [creative["creative_id"]], "unassigned": True})
    assert unassigned == [creative["creative_id"]], "the released creative is unassigned"
    assert await lib.ids(filters={"media_buy_ids": [mb]}) == []
    assert approvals(await lib.media_buy(mb), pkg) == [], "released assignments disappear from get_media_buys"

    mb2, (pkg2,) = await lib.buy()
    item = only_item(await lib.sync([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg2}]))
    check_approved(item, "unchanged")
    assert item.get("assigned_to") == [pkg2]
    buy = await lib.media_buy(mb2)
    assert buy["status"] == "active"
    assert approvals(buy, pkg2) == [creative["creative_id"]]
    assert assigned_packages(await lib.get(creative["creative_id"], include_assignments=True)) == [pkg2]


# -- idempotency -------------------------------------------------------------------------------


async def test_replay_conflict_and_new_key(lib):
    mb, (pkg,) = await lib.buy()
    creative = lib.creative(name="E2E original")
    request = lib.request([creative], assignments=[{"creative_id": creative["creative_id"], "package_id": pkg}])
    first = await lib.client.ok("sync_creatives", {**request, "context": {"attempt": 1}})
    check_approved(only_item(first))
    assert not first.get("replayed")

    # a later change must survive the replay: a replay has no effect of its own
    await lib.sync([dict(creative, name="E2E changed meanwhile")])

    second = await lib.client.ok("sync_creatives", {**request, "context": {"attempt": 2}})
    assert second.get("replayed") is True, f"replay not flagged: {second}"
    assert without(second, "replayed", "context") == without(first, "replayed", "context"), (
        "a replay must return the stored response unchanged"
    )
    assert second.get("context") == {"attempt": 2}
    assert (await lib.get(creative["creative_id"]))["name"] == "E2E changed meanwhile", "the replay was executed again"

    other = lib.creative()
    changed = {**request, "creatives": [creative, other], "context": {"attempt": 3}}
    result = await lib.client.call("sync_creatives", changed)
    assert result.is_error, f"same key with another payload succeeded: {result.dump()}"
    assert result.code == "IDEMPOTENCY_CONFLICT", result.dump()
    assert "field" not in result.error, "a conflict must not point into the cached payload"
    assert result.structured.get("context") == {"attempt": 3}
    assert await lib.get(other["creative_id"]) is None, "a conflicting request was executed"

    fresh = await lib.client.ok("sync_creatives", {**request, "idempotency_key": key()})
    assert not fresh.get("replayed"), "a new key is a new request"
    item = only_item(fresh)
    check_approved(item, "updated")  # back to the original name
    assert (await lib.get(creative["creative_id"]))["name"] == "E2E original"


@pytest.mark.parametrize("bad_key", [None, "short", "has spaces in it, 0123456789"], ids=["missing", "short", "bad_chars"])
async def test_missing_or_malformed_idempotency_key(lib, bad_key):
    creative = lib.creative()
    request = without(lib.request([creative], context={"k": 1}), "idempotency_key")
    if bad_key is not None:
        request["idempotency_key"] = bad_key
    result = await lib.client.call("sync_creatives", request, valid_request=False)
    assert result.is_error, f"sync_creatives with idempotency_key={bad_key!r} succeeded: {result.dump()}"
    assert result.code == "INVALID_REQUEST" and result.error.get("field") == "idempotency_key", result.dump()
    assert result.structured.get("context") == {"k": 1}
    assert await lib.get(creative["creative_id"]) is None


async def test_errors_are_not_cached(lib):
    creative = lib.creative()
    request = lib.request([creative])
    refused = await lib.client.call("sync_creatives", {**request, "validation_mode": "bogus"}, valid_request=False)
    assert refused.is_error, refused.dump()
    assert refused.code == "INVALID_REQUEST" and refused.error.get("field") == "validation_mode", refused.dump()
    assert await lib.get(creative["creative_id"]) is None
    body = await lib.client.ok("sync_creatives", request)
    assert not body.get("replayed"), "an error was cached under the idempotency key"
    check_approved(only_item(body))


# -- per-principal libraries -------------------------------------------------------------------


def _scrub(text: str, *ids: str) -> str:
    for value in ids:
        text = text.replace(value, "<ID>")
    return text


async def test_libraries_are_per_principal(server, schemas, own_lib):
    owner = own_lib
    creative = owner.creative(name="E2E owner's")
    mb, (pkg,) = await owner.buy()
    await owner.sync([creative])

    _, token = server.create_principal(f"E2E Creatives Intruder {uuid.uuid4().hex[:6]}")
    async with connect(server.mcp_url, schemas, token, style="bearer") as other_client:
        other = Library(other_client, owner.formats)
        body = await other_client.ok("list_creatives", {"filters": {"statuses": ALL_STATUSES}})
        assert body["creatives"] == [] and body["query_summary"]["total_matching"] == 0, (
            f"another principal sees creatives: {body}"
        )
        assert await other.get(creative["creative_id"]) is None
        for intruder in (other, Library(other_client, owner.formats, owner.domain)):  # own account, owner's natural key
            found = await intruder.ids(account=intruder.account, filters={"creative_ids": [creative["creative_id"]]})
            assert found == [], f"another principal lists the creative: {found}"

        other_mb, (other_pkg,) = await other.buy()
        mine = other.creative()
        ghost = unique_id("ghost")
        # the intruder assigns the owner's creative, and an unknown one, to its own package
        body = await other.sync(
            [mine],
            assignments=[
                {"creative_id": creative["creative_id"], "package_id": other_pkg},
                {"creative_id": ghost, "package_id": other_pkg},
            ],
        )
        results = items_by_id(body)
        foreign_error = (results.get(creative["creative_id"], {}).get("assignment_errors") or {}).get(other_pkg)
        ghost_error = (results.get(ghost, {}).get("assignment_errors") or {}).get(other_pkg)
        assert foreign_error, f"assigning another principal's creative must be an assignment error: {body}"
        assert ghost_error
        assert _scrub(foreign_error, creative["creative_id"]) == _scrub(ghost_error, ghost), (
            "a foreign creative must look like an unknown one"
        )
        assert approvals(await other.media_buy(other_mb), other_pkg) == []
        assert (await other.media_buy(other_mb))["status"] == "pending_creatives"

        # the owner assigns its creative to the intruder's package, and to an unknown package
        unknown_pkg = "pkg_e2e_" + uuid.uuid4().hex
        body = await owner.sync(
            [creative],
            assignments=[
                {"creative_id": creative["creative_id"], "package_id": other_pkg},
                {"creative_id": creative["creative_id"], "package_id": unknown_pkg},
            ],
        )
        item = only_item(body)
        assert not item.get("assigned_to"), f"assigned to another principal's package: {item}"
        errors = item.get("assignment_errors") or {}
        assert errors.get(other_pkg) and errors.get(unknown_pkg), f"both assignments must fail: {item}"
        assert _scrub(errors[other_pkg], other_pkg) == _scrub(errors[unknown_pkg], unknown_pkg), (
            "a foreign package must look like an unknown one"
        )
        assert approvals(await other.media_buy(other_mb), other_pkg) == []

        # the same creative_id in another library is another creative
        same_id = other.creative(creative_id=creative["creative_id"], name="E2E intruder's")
        check_approved(only_item(await other.sync([same_id])), "created")
        assert (await other.get(creative["creative_id"]))["name"] == "E2E intruder's"

    assert (await owner.get(creative["creative_id"]))["name"] == "E2E owner's"
    assert await owner.ids() == [creative["creative_id"]]
    assert (await owner.media_buy(mb))["status"] == "pending_creatives"


# -- list_creatives: filters -------------------------------------------------------------------


async def test_filters(own_lib):
    lib = own_lib
    alpha = lib.creative(unique_id("alpha"), name="E2E Alpha banner", tags=["x", "y"])
    beta = lib.creative(unique_id("beta"), name="E2E Beta banner", tags=["x"])
    gamma = lib.creative(unique_id("gamma"), fmt=LEADERBOARD, name="E2E Gamma", tags=["y", "z"])
    video = lib.creative(unique_id("video"), fmt=VIDEO, name="E2E Video spot")
    gone = lib.creative(unique_id("gone"), name="E2E Gone banner", tags=["x"])
    await lib.sync([alpha, beta, gamma, video, gone])
    await lib.sync([dict(gone, status="archived")])
    mb1, (pkg1,) = await lib.buy()
    mb2, (pkg2,) = await lib.buy()
    await lib.sync([alpha, beta], assignments=[
        {"creative_id": alpha["creative_id"], "package_id": pkg1},
        {"creative_id": beta["creative_id"], "package_id": pkg2},
    ])
    ids = {c["name"]: c["creative_id"] for c in (alpha, beta, gamma, video, gone)}
    A, B, G, V, X = (ids[n] for n in ("E2E Alpha banner", "E2E Beta banner", "E2E Gamma", "E2E Video spot", "E2E Gone banner"))

    cases = [
        ({}, [A, B, G, V]),
        ({"statuses": ["approved"]}, [A, B, G, V]),
        ({"statuses": ["archived"]}, [X]),
        ({"statuses": ["approved", "archived"]}, [A, B, G, V, X]),
        ({"statuses": ["rejected", "pending_review"]}, []),
        ({"creative_ids": [A, G, X]}, [A, G]),
        ({"creative_ids": [A, G, X], "statuses": ALL_STATUSES}, [A, G, X]),
        ({"name_contains": "banner"}, [A, B]),
        ({"name_contains": "Gamma"}, [G]),
        ({"tags": ["x", "y"]}, [A]),
        ({"tags": ["x"]}, [A, B]),
        ({"tags_any": ["z", "x"]}, [A, B, G]),
        ({"tags_any": ["nope"]}, []),
        ({"format_ids": [lib.format_id(LEADERBOARD)]}, [G]),
        ({"format_ids": [lib.format_id(VIDEO), lib.format_id(DISPLAY)]}, [A, B, V]),
        ({"media_buy_ids": [mb1]}, [A]),
        ({"media_buy_ids": [mb1, mb2]}, [A, B]),
        ({"assigned_to_packages": [pkg2]}, [B]),
        ({"unassigned": True}, [G, V]),
        ({"tags_any": ["x"], "unassigned": True}, []),
        ({"tags": ["y"], "name_contains": "banner"}, [A]),
    ]
    for filters, expected in cases:
        args = {"filters": filters} if filters else {}
        body = await lib.client.ok("list_creatives", {**args, "pagination": {"max_results": 100}})
        got = [c["creative_id"] for c in body["creatives"]]
        assert sorted(got) == sorted(expected), f"filters {filters}: got {got}, expected {expected}"
        assert body["query_summary"]["total_matching"] == len(expected), f"filters {filters}: {body['query_summary']}"
        assert body["query_summary"]["returned"] == len(got)
        assert body["pagination"]["has_more"] is False and "cursor" not in body["pagination"]
        if "total_count" in body["pagination"]:
            assert body["pagination"]["total_count"] == len(expected)


async def test_include_assignments(own_lib):
    lib = own_lib
    mb, (p1, p2) = await lib.buy(packages=2)
    a, b = lib.creative(), lib.creative()
    await lib.sync([a, b], assignments=[
        {"creative_id": a["creative_id"], "package_id": p1},
        {"creative_id": a["creative_id"], "package_id": p2},
    ])
    plain = await lib.listed()
    assert all("assignments" not in c for c in plain), "assignments without include_assignments"
    detailed = {c["creative_id"]: c for c in await lib.listed(include_assignments=True)}
    assert assigned_packages(detailed[a["creative_id"]]) == sorted([p1, p2])
    assert assigned_packages(detailed[b["creative_id"]]) == []


# -- list_creatives: sorting and pagination ----------------------------------------------------


async def _check_sort(lib: Library, field: str, direction: str, expected: list[str]) -> None:
    body = await lib.client.ok("list_creatives", {"sort": {"field": field, "direction": direction}, "include_assignments": True})
    got = [c["creative_id"] for c in body["creatives"]]
    assert got == expected, f"sort {field} {direction}: got {got}, expected {expected}"
    applied = body["query_summary"].get("sort_applied")
    if applied is not None:
        assert applied.get("field") == field and applied.get("direction") == direction, f"sort_applied: {applied}"


async def test_sort_by_name(own_lib):
    lib = own_lib
    names = {"E2E Name C": unique_id(), "E2E Name A": unique_id(), "E2E Name D": unique_id(), "E2E Name B": unique_id()}
    await lib.sync([lib.creative(cid, name=name) for name, cid in names.items()])
    ordered = [names[n] for n in sorted(names)]
    await _check_sort(lib, "name", "asc", ordered)
    await _check_sort(lib, "name", "desc", ordered[::-1])


async def test_sort_by_dates(own_lib):
    lib = own_lib
    first, second, third = (lib.creative(unique_id(tag)) for tag in ("first", "second", "third"))
    for creative in (first, second, third):
        await lib.sync([creative])
        await asyncio.sleep(1.1)  # dates have one-second resolution
    await lib.sync([dict(first, name="E2E touched")])
    order = [c["creative_id"] for c in (first, second, third)]
    await _check_sort(lib, "created_date", "asc", order)
    await _check_sort(lib, "created_date", "desc", order[::-1])
    await _check_sort(lib, "updated_date", "desc", [order[0], order[2], order[1]])
    await _check_sort(lib, "updated_date", "asc", [order[1], order[2], order[0]])


async def test_sort_by_assignment_count(own_lib):
    lib = own_lib
    mb, (p1, p2) = await lib.buy(packages=2)
    two, none, one = lib.creative(), lib.creative(), lib.creative()
    await lib.sync([two, none, one], assignments=[
        {"creative_id": two["creative_id"], "package_id": p1},
        {"creative_id": two["creative_id"], "package_id": p2},
        {"creative_id": one["creative_id"], "package_id": p1},
    ])
    order = [none["creative_id"], one["creative_id"], two["creative_id"]]
    await _check_sort(lib, "assignment_count", "asc", order)
    await _check_sort(lib, "assignment_count", "desc", order[::-1])


async def test_sort_by_status_groups_statuses(own_lib):
    lib = own_lib
    creatives = [lib.creative() for _ in range(4)]
    await lib.sync(creatives)
    await lib.sync([dict(creatives[1], status="archived"), dict(creatives[3], status="archived")])
    first = {}
    for direction in ("asc", "desc"):
        body = await lib.client.ok(
            "list_creatives",
            {"filters": {"statuses": ["approved", "archived"]}, "sort": {"field": "status", "direction": direction}},
        )
        statuses = [c["status"] for c in body["creatives"]]
        assert sorted(statuses) == ["approved", "approved", "archived", "archived"], statuses
        assert statuses[0] == statuses[1] != statuses[2] == statuses[3], f"sort by status {direction}: {statuses}"
        applied = body["query_summary"].get("sort_applied")
        if applied is not None:
            assert applied.get("field") == "status" and applied.get("direction") == direction, applied
        first[direction] = statuses[0]
    assert first["asc"] != first["desc"], "desc must reverse the status order"


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"sort": {"field": "name", "direction": "desc"}},
        {"sort": {"field": "created_date", "direction": "desc"}},
        {"filters": {"statuses": ["approved", "archived"]}, "sort": {"field": "status", "direction": "asc"}},
    ],
    ids=["default", "name_desc", "created_desc", "with_archived"],
)
async def test_pagination_walk(own_lib, args):
    lib = own_lib
    names = ["E2E Page " + letter for letter in "ECADB"]
    creatives = [lib.creative(name=name) for name in names]
    await lib.sync(creatives)
    if "filters" in args:
        await lib.sync([dict(creatives[2], status="archived")])
    total = 5
    everything = await lib.client.ok("list_creatives", {**args, "pagination": {"max_results": 100}})
    full = [c["creative_id"] for c in everything["creatives"]]
    assert sorted(full) == sorted(c["creative_id"] for c in creatives)
    assert everything["query_summary"]["total_matching"] == total

    for size in (1, 2, 3):
        walked, pages = await lib.client.walk("list_creatives", args, "creatives", size)
        walked_ids = [c["creative_id"] for c in walked]
        assert len(walked_ids) == len(set(walked_ids)), f"page size {size} repeated creatives: {walked_ids}"
        assert walked_ids == full, f"page size {size} lost, repeated or reordered creatives: {walked_ids} vs {full}"
        assert len(pages) == -(-total // size)
        for page in pages:
            summary = page["query_summary"]
            assert summary["total_matching"] == total, f"total_matching must be exact on every page: {summary}"
            assert summary["returned"] == len(page["creatives"]), f"returned must equal the page size: {summary}"
            if "total_count" in page["pagination"]:
                assert page["pagination"]["total_count"] == total
        assert [len(p["creatives"]) for p in pages][:-1] == [size] * (len(pages) - 1), "only the last page may be short"


# -- raw JSON-RPC ------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", CREATIVE_TOOLS)
def test_raw_without_credentials_is_401(server, tool):
    response = raw.post(server.mcp_url, raw.tool_call(tool, {}), raw.headers(None))
    assert response.status_code == 401, f"{tool}: {response.status_code} {response.text[:500]}"
    assert response.headers.get("www-authenticate", "").startswith("Bearer ")

