"""Start a fresh `sales-agent serve` on a free port with an empty database, and stop it.

Database: a new SQLite file in a temp directory, or, when E2E_POSTGRES_URL is set (a maintenance
URL such as postgres://postgres@127.0.0.1:5432/postgres), a new randomly named Postgres database
created and dropped with `psql`.

Binary: env SALES_AGENT_BIN (relative paths are taken from the repository root), default
target/debug/sales-agent.

Catalog: the built-in demo catalog (config/demo-catalog.toml compiled into the binary), or, when
E2E_CATALOG names a catalog file (TOML or JSON), that file imported with `catalog import` before
the server starts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx

REPO = Path(__file__).resolve().parents[3]
DEMO_TOKEN = "test-token"
DEMO_TENANT = "demo"

# Environment variables of the server that must not leak from the caller into a test server.
_SERVER_ENV = (
    "SALES_AGENT_CONFIG",
    "SALES_AGENT_LISTEN",
    "SALES_AGENT_PUBLIC_URL",
    "SALES_AGENT_ALLOWED_HOSTS",
    "SALES_AGENT_LOG_FORMAT",
    "SALES_AGENT_ADAPTER",
    "AdCP_DRY_RUN",
    "DATABASE_URL",
)


def binary_path() -> Path:
    raw = os.environ.get("SALES_AGENT_BIN") or "target/debug/sales-agent"
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = REPO / path
    return path


def catalog_path() -> Path:
    """The catalog the servers run with (see the module doc)."""
    raw = os.environ.get("E2E_CATALOG")
    if not raw:
        return REPO / "config" / "demo-catalog.toml"
    path = Path(raw).expanduser()
    return path if path.is_absolute() else REPO / path


def startup_timeout() -> float:
    return float(os.environ.get("E2E_STARTUP_TIMEOUT", "60"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_maintenance_url() -> str | None:
    url = os.environ.get("E2E_POSTGRES_URL", "").strip()
    return url or None


def with_database(url: str, database: str) -> str:
    """The same Postgres server URL, pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def psql(url: str, sql: str) -> subprocess.CompletedProcess:
    if shutil.which("psql") is None:
        raise RuntimeError("E2E_POSTGRES_URL is set but psql is not on PATH")
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )


class ServerError(RuntimeError):
    pass


class Server:
    """One running server process with its own empty database."""

    def __init__(self, name: str = "e2e", config: str | None = None):
        """`config`: a configuration file's text (TOML) to run with instead of the built-in demo;
        `catalog = "demo-catalog.toml"` in it names a copy of the demo catalog beside it."""
        self.name = name
        self.binary = binary_path()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"sa-{name}-"))
        self.log_path = self.tmp / "server.log"
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.pg_maintenance = postgres_maintenance_url()
        self.pg_database: str | None = None
        if self.pg_maintenance:
            self.backend = "postgres"
            self.pg_database = "sa_e2e_" + secrets.token_hex(6)
            self.database_url = with_database(self.pg_maintenance, self.pg_database)
        else:
            self.backend = "sqlite"
            self.database_url = f"sqlite://{self.tmp / 'sales-agent.db'}"
        self.env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV}
        self.env["DATABASE_URL"] = self.database_url
        if config is not None:
            shutil.copy(REPO / "config" / "demo-catalog.toml", self.tmp / "demo-catalog.toml")
            (self.tmp / "config.toml").write_text(config)
            self.env["SALES_AGENT_CONFIG"] = str(self.tmp / "config.toml")
        self.env["SALES_AGENT_LOG_FORMAT"] = "text"
        self.env.setdefault("RUST_LOG", "info,sqlx=warn,rmcp=warn")
        self.env.setdefault("RUST_BACKTRACE", "1")
        self.env["NO_COLOR"] = "1"

    # -- addresses ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Server":
        if not self.binary.is_file():
            raise ServerError(
                f"server binary not found at {self.binary}: build it (cargo build) or set SALES_AGENT_BIN"
            )
        if self.pg_database:
            result = psql(self.pg_maintenance, f'CREATE DATABASE "{self.pg_database}"')
            if result.returncode != 0:
                raise ServerError(
                    f"cannot create database {self.pg_database}: {result.stderr.strip()}"
                )
        if os.environ.get("E2E_CATALOG"):
            result = self.cli("catalog", "import", "--tenant", DEMO_TENANT, str(catalog_path()), check=False)
            if result.returncode != 0:
                raise ServerError(f"cannot import E2E_CATALOG={catalog_path()}:\n{result.stdout}{result.stderr}")
        last_error = None
        for _attempt in range(3):
            try:
                self._spawn()
                return self
            except _PortTaken as error:  # someone grabbed the port between bind and listen
                last_error = error
        raise ServerError(f"could not start the server: {last_error}")

    def _spawn(self) -> None:
        self.port = free_port()
        env = dict(self.env, SALES_AGENT_LISTEN=f"127.0.0.1:{self.port}")
        offset = self.log_size()
        with open(self.log_path, "ab") as log:
            log.write(f"=== {self.binary} serve on 127.0.0.1:{self.port} ({self.backend}) ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [str(self.binary), "serve"],
                cwd=self.tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + startup_timeout()
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    text = self.read_log(offset)
                    if "Address already in use" in text:
                        raise _PortTaken(f"port {self.port} taken")
                    raise ServerError(
                        f"server exited with code {code} during startup; log:\n{text}"
                    )
                try:
                    if http.get(f"{self.base_url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self._kill()
        raise ServerError(
            f"server not ready on {self.base_url}/readyz within {startup_timeout()}s; log:\n{self.read_log()}"
        )

    def restart(self) -> "Server":
        """Stops the process (SIGTERM) and starts it again on the same database."""
        self._kill()
        for _attempt in range(3):
            try:
                self._spawn()
                return self
            except _PortTaken:
                continue
        raise ServerError("could not restart the server")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _kill(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stop(self, keep_files: bool = False) -> None:
        self._kill()
        if self.pg_database:
            result = psql(
                self.pg_maintenance, f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)'
            )
            if result.returncode != 0:
                print(f"warning: could not drop database {self.pg_database}: {result.stderr.strip()}")
        if not keep_files and not os.environ.get("E2E_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- logs --------------------------------------------------------------------------------

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_log(self, start: int = 0, max_lines: int | None = None) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return "(no log)"
        if max_lines is not None:
            lines = text.splitlines()
            if len(lines) > max_lines:
                text = "\n".join([f"... ({len(lines) - max_lines} earlier lines omitted)"] + lines[-max_lines:])
        return text

    # -- the administrative CLI, against the same database -----------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=self.tmp,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"sales-agent {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def create_principal(self, name: str, tenant: str = DEMO_TENANT, admin: bool = False) -> tuple[str, str]:
        """`principal create`; returns (principal_id, token)."""
        args = ["principal", "create", "--tenant", tenant, "--name", name]
        if admin:
            args.append("--admin")
        out = self.cli(*args).stdout
        fields = {}
        for line in out.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        assert fields.get("principal_id"), f"no principal_id line in:\n{out}"
        assert fields.get("token"), f"no token line in:\n{out}"
        return fields["principal_id"], fields["token"]


class _PortTaken(Exception):
    pass
