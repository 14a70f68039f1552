"""As a new user: `smki init`, then `smki serve`; fetch /health and the certificates; check them with openssl
and `smki lint`; and the passphrase appears nowhere (arguments, output, database, files)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from smki.api.app import create_app
from smki.storage import Database

SMKI = str(Path(sys.executable).parent / "smki")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer /health in time")


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def openssl_verify(ca_file: Path, cert: Path, untrusted: Path | None = None) -> None:
    args = ["openssl", "verify", "-x509_strict", "-CAfile", str(ca_file)]
    if untrusted is not None:
        args += ["-untrusted", str(untrusted)]
    done = subprocess.run([*args, str(cert)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stdout + done.stderr


def initialised_home(
    tmp_path: Path, url: str
) -> tuple[Path, dict[str, str], str, subprocess.CompletedProcess[str]]:
    """`smki init` on a new home with a passphrase file, as a user runs it: home, env, passphrase, run."""
    home = tmp_path / "smki-home"
    home.mkdir()
    passphrase = "Pp-" + secrets.token_hex(16)
    passphrase_file = home / "passphrase"
    passphrase_file.write_text(passphrase + "\n")
    passphrase_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMKI_")}
    env.update(SMKI_DATABASE_URL=url, SMKI_KEY_PASSPHRASE_FILE=str(passphrase_file))
    init = subprocess.run(
        [SMKI, "init", "--home", str(home)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert init.returncode == 0, init.stdout + init.stderr
    return home, env, passphrase, init


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_new_user_inits_serves_and_downloads_certificates_that_verify(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    home, env, passphrase, init = initialised_home(tmp_path, url)
    passphrase_file = home / "passphrase"
    assert "Root OCA Certificate" in init.stdout and "L3.23(i)" in init.stdout

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with running(
        [SMKI, "serve", "--home", str(home), "--host", "127.0.0.1", "--port", str(port)], env, log
    ) as server:
        health = wait_for_health(base, server)
        assert health.status_code == 200
        state = health.json()
        assert state["status"] == "ok" and state["initialised"] is True and state["database"] == "reachable"
        assert {a["name"] for a in state["authorities"]} == {"ZA", "Z1", "E300", "E357", "IA", "I1"}
        assert len(state["commissioning_certificates"]) == 5 and state["certificates"] == 11

        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert passphrase.encode() not in cmdline and b"serve" in cmdline

        listing = httpx.get(f"{base}/ca").json()["authorities"]
        assert len(listing) == 6
        for item in listing + httpx.get(f"{base}/certificates/commissioning").json()["certificates"]:
            pem = httpx.get(item["links"]["pem"])
            der = httpx.get(item["links"]["der"])
            assert pem.status_code == der.status_code == 200
            assert pem.headers["content-type"].startswith("application/x-pem-file")
            cert = x509.load_pem_x509_certificate(pem.content)
            assert cert.public_bytes(serialization.Encoding.DER) == der.content
            assert f"{cert.serial_number:032X}" == item["serial"]
            (downloads / f"{item['name']}.pem").write_bytes(pem.content)
        by_ca_name = httpx.get(f"{base}/ca/Z1.pem")
        assert by_ca_name.content == (downloads / "issuing-oca.pem").read_bytes()

        for path, status, code in (
            ("/ca/missing.pem", 404, "download.not_found"),
            ("/ca/root-oca.txt", 400, "download.bad_extension"),
            ("/certificates/commissioning/nobody.der", 404, "download.not_found"),
            ("/no/such/page", 404, "http.not_found"),
        ):
            answer = httpx.get(base + path)
            assert answer.status_code == status
            assert answer.json()["code"] == code and set(answer.json()) == {"code", "message", "clause"}
        assert httpx.post(f"{base}/health").json()["code"] == "http.method_not_allowed"

    # openssl validates every Issuing CA against its Root and every commissioning certificate to the Root OCA.
    for hierarchy in ("oca", "dca", "ica"):
        openssl_verify(downloads / f"root-{hierarchy}.pem", downloads / f"issuing-{hierarchy}.pem")
    commissioning = sorted(downloads.glob("dcc-*.pem"))
    assert len(commissioning) == 5
    for cert_path in commissioning:
        openssl_verify(downloads / "root-oca.pem", cert_path, untrusted=downloads / "issuing-oca.pem")

    # `smki lint` passes on all of them, and on the commissioning certificates against their issuer.
    lint_all = subprocess.run(
        [SMKI, "lint", str(downloads)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert lint_all.returncode == 0, lint_all.stdout + lint_all.stderr
    assert lint_all.stdout.count("conforms") == 11
    lint_issued = subprocess.run(
        [SMKI, "lint", "--issuer", str(downloads / "issuing-oca.pem"), *map(str, commissioning)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert lint_issued.returncode == 0, lint_issued.stdout + lint_issued.stderr

    # The passphrase is nowhere: outputs, logs, the database, or any file under HOME but its own.
    secret = passphrase.encode()
    for text in (init.stdout, init.stderr, log.read_text()):
        assert passphrase not in text
    assert "GET /health" in log.read_text()
    _assert_database_free_of(url, secret)
    for path in home.rglob("*"):
        if path.is_file() and path != passphrase_file:
            assert secret not in path.read_bytes(), path


def _assert_database_free_of(url: str, secret: bytes) -> None:
    db = Database(url)
    inspector = sa.inspect(db.engine)
    tables = inspector.get_table_names()
    assert {"certificates", "issuance_intents", "certificate_authorities", "audit_log"} <= set(tables)
    rows = 0
    with db.engine.connect() as conn:
        for table in tables:
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                rows += 1
                for value in row:
                    raw = value if isinstance(value, bytes | memoryview) else str(value).encode()
                    assert secret not in bytes(raw), table
    assert rows > 20
    db.dispose()


def test_app_on_an_uninitialised_home_says_so(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'smki.db'}")
    client = TestClient(create_app(tmp_path, database=db))
    fresh = client.get("/health")
    assert fresh.status_code == 200
    assert fresh.json()["initialised"] is False and "smki init" in fresh.json()["hint"]
    db.upgrade()
    assert client.get("/health").json()["initialised"] is False
    assert client.get("/ca").json() == {"authorities": []}
    assert client.get("/certificates/commissioning").json() == {"certificates": []}
    missing = client.get("/ca/root-oca.pem")
    assert missing.status_code == 404 and missing.json()["code"] == "download.not_found"
    db.dispose()


def test_health_reports_an_unreachable_database_as_json(tmp_path: Path) -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    client = TestClient(create_app(tmp_path, database=db))
    answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["error"]["code"] == "storage.unreachable"
    listing = client.get("/ca")
    assert listing.status_code == 503
    assert listing.json()["code"] == "storage.unreachable"
    assert set(listing.json()) == {"code", "message", "clause"}
    json.dumps(body)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_serve_with_two_worker_processes_answers_from_both_and_stops_cleanly(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    home, env, _, _ = initialised_home(tmp_path, database_url_for(kind))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    args = [SMKI, "serve", "--home", str(home), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with running(args, env, log) as server:
        assert wait_for_health(base, server).json()["initialised"] is True
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _children(server.pid)
        assert len(workers) >= 2, workers
        # Every process serves the same home: the same answers, whichever worker takes the connection.
        answers = {httpx.get(f"{base}/ca/Z1.pem").content for _ in range(20)}
        assert len(answers) == 1 and b"BEGIN CERTIFICATE" in answers.pop()
        listing = httpx.get(f"{base}/v1/repository/certificates", params={"issuer": "Z1"})
        assert listing.status_code == 200 and len(listing.json()["items"]) == 5
    assert server.returncode is not None
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not left, f"outlived the server: {left}"
    assert log.read_text().count("Application startup complete") >= 2


def test_connections_accepted_on_a_workers_socket_get_tcp_nodelay() -> None:
    # A uvicorn worker accepts on a socket rebuilt from the supervisor's descriptor (protocol number 0):
    # asyncio leaves Nagle on for its connections, and keep-alive requests stall ~40 ms on delayed ACKs.
    import asyncio

    from smki.api.server import HTTP_PROTOCOL, NoDelayHTTPProtocol, set_nodelay

    assert f"{NoDelayHTTPProtocol.__module__}:{NoDelayHTTPProtocol.__name__}" == HTTP_PROTOCOL
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    as_in_a_worker = socket.fromfd(listener.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    assert as_in_a_worker.proto == 0
    seen: dict[str, int] = {}

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            connection = transport.get_extra_info("socket")
            seen["before"] = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            set_nodelay(transport)
            seen["after"] = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=as_in_a_worker)
        port = as_in_a_worker.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if "after" in seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(main())
    listener.close()
    assert seen == {"before": 0, "after": 1}
