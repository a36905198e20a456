"""Validation against the AdCP 3.0.6 JSON Schemas shipped in @adcp/sdk@6.11.0.

ADCP_SCHEMAS_DIR (default ~/.cache/sales-agent/npm/node_modules/@adcp/sdk/dist/lib/schemas-data/3.0)
is the schema root. Every `*.json` with an `$id` under it is put into a `referencing` registry
(the same way shared/adcp/tools/validate.py does), so the modular schemas (account/*) resolve
their `$ref`s; the bundled task schemas (bundled/<domain>/<tool>-response.json) need none.
A missing directory is an error, never a skip.

`format: date-time` is checked (RFC 3339: a full date, `T`, a time and a `Z` or `±hh:mm` offset) by a
checker of our own: jsonschema only checks it when the optional rfc3339-validator package is
installed, and without that check `start_time: "asap"` matches both arms of the schemas' `oneOf`
(`const "asap"` and `format date-time`) and every create_media_buy request would be "invalid".
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DEFAULT_DIR = "~/.cache/sales-agent/npm/node_modules/@adcp/sdk/dist/lib/schemas-data/3.0"
# The comply_test_controller schemas, which the npm package lacks (ADCP_COMPLIANCE_SCHEMAS_DIR;
# default: ../shared/adcp/compliance-schemas beside the repository, as CI has it).
DEFAULT_COMPLIANCE_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "adcp" / "compliance-schemas"
BASE = "https://adcp.local"
CONTROLLER_REQUEST = "compliance/comply-test-controller-request.json"
CONTROLLER_RESPONSE = "compliance/comply-test-controller-response.json"

# Tool → response schema, relative to the schema root.
RESPONSE_SCHEMAS = {
    "get_adcp_capabilities": "bundled/protocol/get-adcp-capabilities-response.json",
    "get_products": "bundled/media-buy/get-products-response.json",
    "list_creative_formats": "bundled/media-buy/list-creative-formats-response.json",
    "sync_accounts": "account/sync-accounts-response.json",
    "list_accounts": "account/list-accounts-response.json",
    "create_media_buy": "bundled/media-buy/create-media-buy-response.json",
    "update_media_buy": "bundled/media-buy/update-media-buy-response.json",
    "get_media_buys": "bundled/media-buy/get-media-buys-response.json",
    "sync_creatives": "bundled/creative/sync-creatives-response.json",
    "list_creatives": "bundled/creative/list-creatives-response.json",
    "tasks/get": "bundled/core/tasks-get-response.json",
    "tasks_get": "bundled/core/tasks-get-response.json",
    "tasks/list": "bundled/core/tasks-list-response.json",
    "tasks_list": "bundled/core/tasks-list-response.json",
    "comply_test_controller": CONTROLLER_RESPONSE,
}
# The submitted arm of tools whose main response schema has none (DIGEST §2.4).
SUBMITTED_SCHEMAS = {
    "create_media_buy": "media-buy/create-media-buy-async-response-submitted.json",
    "update_media_buy": "media-buy/update-media-buy-async-response-submitted.json",
    "sync_creatives": "creative/sync-creatives-async-response-submitted.json",
}
REQUEST_SCHEMAS = {
    "get_adcp_capabilities": "bundled/protocol/get-adcp-capabilities-request.json",
    "get_products": "bundled/media-buy/get-products-request.json",
    "list_creative_formats": "bundled/media-buy/list-creative-formats-request.json",
    "sync_accounts": "account/sync-accounts-request.json",
    "list_accounts": "account/list-accounts-request.json",
    "create_media_buy": "bundled/media-buy/create-media-buy-request.json",
    "update_media_buy": "bundled/media-buy/update-media-buy-request.json",
    "get_media_buys": "bundled/media-buy/get-media-buys-request.json",
    "sync_creatives": "bundled/creative/sync-creatives-request.json",
    "list_creatives": "bundled/creative/list-creatives-request.json",
    "tasks/get": "bundled/core/tasks-get-request.json",
    "tasks_get": "bundled/core/tasks-get-request.json",
    "tasks/list": "bundled/core/tasks-list-request.json",
    "tasks_list": "bundled/core/tasks-list-request.json",
    "comply_test_controller": CONTROLLER_REQUEST,
}
# Tools whose response schema has an error arm (`{errors[]}`, oneOf with the success arm): an
# MCP error result (`adcp_error` + `errors[]` + `context`) must validate against it as a whole.
ERROR_ARM_TOOLS = ("create_media_buy", "update_media_buy", "sync_creatives")
ERROR_SCHEMA = "core/error.json"
PROPERTY_SCHEMA = "core/property.json"
PRODUCT_SCHEMA = "core/product.json"
FORMAT_SCHEMA = "core/format.json"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_rfc3339(value) -> bool:
    """RFC 3339 date-time with a mandatory offset (non-strings pass: `type` checks those)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def format_checker() -> FormatChecker:
    checker = FormatChecker(())
    checker.checkers = dict(Draft7Validator.FORMAT_CHECKER.checkers)
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(is_rfc3339)
    return checker


FORMAT_CHECKER = format_checker()


class SchemaSetupError(RuntimeError):
    pass


def schemas_dir() -> Path:
    return Path(os.environ.get("ADCP_SCHEMAS_DIR") or DEFAULT_DIR).expanduser()


class Schemas:
    def __init__(self, root: Path | None = None):
        self.root = root or schemas_dir()
        if not self.root.is_dir():
            raise SchemaSetupError(
                f"AdCP schemas not found at {self.root}: run scripts/setup-test-deps.sh "
                "or set ADCP_SCHEMAS_DIR to <@adcp/sdk>/dist/lib/schemas-data/3.0"
            )
        resources = []
        for path in sorted(self.root.rglob("*.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise SchemaSetupError(f"unreadable schema {path}: {error}") from error
            if isinstance(doc, dict) and isinstance(doc.get("$id"), str):
                resources.append((BASE + doc["$id"], Resource(contents=doc, specification=DRAFT7)))
        if not resources:
            raise SchemaSetupError(f"no JSON schemas with $id under {self.root}")
        # The controller schemas refer to /schemas/core/...; the npm ones are /schemas/3.0.6/...
        compliance = Path(os.environ.get("ADCP_COMPLIANCE_SCHEMAS_DIR") or DEFAULT_COMPLIANCE_DIR)
        self._extra: dict[str, str] = {}
        for rel in (CONTROLLER_REQUEST, CONTROLLER_RESPONSE):
            path = compliance / Path(rel).name
            try:
                doc = json.loads(path.read_text().replace('"/schemas/', '"/schemas/3.0.6/'))
            except (OSError, ValueError) as error:
                raise SchemaSetupError(
                    f"comply_test_controller schema {path} unreadable ({error}): set ADCP_COMPLIANCE_SCHEMAS_DIR"
                ) from error
            resources.append((BASE + doc["$id"], Resource(contents=doc, specification=DRAFT7)))
            self._extra[rel] = BASE + doc["$id"]
        self.registry = Registry().with_resources(resources)
        self._validators: dict[str, Draft7Validator] = {}
        for rel in [*RESPONSE_SCHEMAS.values(), *REQUEST_SCHEMAS.values(), ERROR_SCHEMA, PROPERTY_SCHEMA]:
            self.validator(rel)  # every schema the suite relies on must exist

    def uri(self, rel: str) -> str:
        if rel in self._extra:
            return self._extra[rel]
        path = self.root / rel
        if not path.is_file():
            raise SchemaSetupError(f"schema {rel} missing under {self.root}")
        doc = json.loads(path.read_text())
        return BASE + doc["$id"]

    def validator(self, rel: str) -> Draft7Validator:
        if rel not in self._validators:
            uri = self.uri(rel)
            self.registry.contents(uri)
            self._validators[rel] = Draft7Validator(
                {"$ref": uri},
                registry=self.registry,
                format_checker=FORMAT_CHECKER,
            )
        return self._validators[rel]

    def errors(self, rel: str, instance) -> list[str]:
        found = sorted(self.validator(rel).iter_errors(instance), key=lambda e: list(e.absolute_path))
        out = []
        for error in found[:20]:
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            out.append(f"{where}: {error.message[:400]}")
            for sub in (error.context or [])[:6]:
                sub_where = "/" + "/".join(str(p) for p in sub.absolute_path)
                out.append(f"    ({sub_where}: {sub.message[:200]})")
        return out

    def check(self, rel: str, instance, what: str = "payload") -> None:
        problems = self.errors(rel, instance)
        if problems:
            raise AssertionError(
                f"{what} does not validate against {rel}:\n  "
                + "\n  ".join(problems)
                + "\npayload: "
                + json.dumps(instance, indent=1, default=str)[:4000]
            )
