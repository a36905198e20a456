"""A webhook receiver on loopback for the end-to-end tests: records every delivery (path,
headers, raw body) and answers each path with a scripted sequence of statuses (then 200).
Verifies the two ways a seller authenticates itself: the RFC 9421 AdCP webhook profile
(Ed25519, checked against the seller's published JWKS) and legacy HMAC-SHA256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.scripts: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    script = receiver.scripts.get(self.path, [])
                    status = script.pop(0) if script else 200
                    receiver.deliveries.append(
                        Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str, *statuses: int) -> str:
        """A receiving URL whose first deliveries get `statuses`, the rest 200."""
        with self._lock:
            self.scripts[path] = list(statuses)
        return self.base_url + path

    def at(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.path == path]

    def wait(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries at {path} within {timeout}s, got {self.at(path)}")

    def quiet(self, path: str, count: int, seconds: float = 2.5) -> None:
        """Exactly `count` deliveries stay at `path` for a while (polled; no fixed sleep)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert len(self.at(path)) == count, self.at(path)
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_signature(delivery: Delivery, url: str, jwks: dict, now: float | None = None) -> dict:
    """Checks an RFC 9421 AdCP webhook signature; returns the signature parameters."""
    headers = delivery.headers
    digest = headers["content-digest"]
    expected = "sha-256=:" + base64.b64encode(hashlib.sha256(delivery.body).digest()).decode() + ":"
    assert digest == expected, f"content-digest {digest} does not match the body ({expected})"
    signature_input = headers["signature-input"]
    match = re.fullmatch(r'sig1=(\([^)]*\))(.*)', signature_input)
    assert match, f"malformed Signature-Input: {signature_input}"
    components, params_text = match.group(1), match.group(2)
    assert components == '("@method" "@target-uri" "@authority" "content-type" "content-digest")', components
    params = dict(re.findall(r';([a-z]+)=("[^"]*"|\d+)', params_text))
    params = {k: v.strip('"') for k, v in params.items()}
    assert params["tag"] == "adcp/webhook-signing/v1" and params["alg"] == "ed25519", params
    created, expires = int(params["created"]), int(params["expires"])
    assert 0 < expires - created <= 300, params
    now = time.time() if now is None else now
    assert created - 60 <= now <= expires, f"signature window {created}..{expires} does not hold {now}"
    assert len(_b64url(params["nonce"])) >= 16, params
    parts = urlsplit(url)
    authority = parts.netloc.lower()
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {url}',
            f'"@authority": {authority}',
            f'"content-type": {headers["content-type"]}',
            f'"content-digest": {digest}',
            f'"@signature-params": {signature_input[len("sig1="):]}',
        ]
    )
    keys = [k for k in jwks["keys"] if k["kid"] == params["keyid"]]
    assert keys, f"keyid {params['keyid']} not in the published JWKS {jwks}"
    key = keys[0]
    assert key["adcp_use"] == "webhook-signing" and "verify" in key["key_ops"], key
    signature = re.fullmatch(r"sig1=:([A-Za-z0-9_-]+):", headers["signature"])
    assert signature, f"malformed Signature: {headers['signature']}"
    Ed25519PublicKey.from_public_bytes(_b64url(key["x"])).verify(_b64url(signature.group(1)), base.encode())
    return params


def verify_hmac(delivery: Delivery, secret: str) -> None:
    timestamp = delivery.headers["x-adcp-timestamp"]
    assert abs(int(timestamp) - time.time()) < 300
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivery.headers["x-adcp-signature"], f"sha256={mac}")
