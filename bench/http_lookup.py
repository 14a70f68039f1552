"""Repository lookup by EUI-64 over HTTP with 10^6 certificates stored: requests/s and latency (issue 6 (b)).

    .venv/bin/python bench/http_lookup.py --rows 1000000 --db sqlite --duration 20 --connections 1 4 16

Fills a fresh SMKI database with ``--rows`` certificate rows (the bulk INSERT of
bench/repository_queries.py: device certificates in DS/KA pairs per EUI-64, 1% organisation, 0.1% of
those revoked), starts the real server (``smki serve --host 127.0.0.1 --port <free port>`` as a
subprocess on that home/database) and waits for ``/health``. Untimed, it checks with httpx that a sample
of EUI-64s returns exactly the certificates stored for them. Then ``wrk`` (another process, ``--latency``)
drives ``GET /v1/repository/certificates?eui=<EUI-64>`` for ``--duration`` seconds per connection count,
a Lua script picking a random stored EUI-64 for every request and counting non-2xx answers. The raw bound
``raw_bound(1, 3.0)`` (bench/baseline.py) is measured just before and just after the wrk runs.

SQLite: a file in a temporary home. PostgreSQL (``--db postgres``): a schema of its own at
postgresql+psycopg://postgres@127.0.0.1:5432/test (or SMKI_BENCH_POSTGRES_URL), dropped afterwards. The
server and the temporary files are removed on every exit, error or Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import machine, raw_bound
from batch_issuance import drop as drop_schema
from repository_queries import EUI_BASE, eui_of, fill, serial_of

from smki.storage import Database

POSTGRES = os.environ.get("SMKI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SMKI = str(Path(sys.executable).with_name("smki"))
PATH = "/v1/repository/certificates"

# One random stored EUI-64 per request; non-2xx answers counted per thread and summed in done().
# EUI-64 = EUI_BASE + k with k < 2^48 (formatted in two 24-bit halves: LuaJIT numbers are doubles).
LUA = """
local n = {n_euis}
local prefix = "{prefix}"
local counter = 0
local threads = {{}}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  non2xx = 0
  responses = 0
  empty = 0
end

function request()
  local k = math.random(0, n - 1)
  local eui = prefix .. string.format("%06X%06X", math.floor(k / 16777216), k % 16777216)
  return wrk.format("GET", "{path}?eui=" .. eui)
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif string.find(body, '"count":0,', 1, true) then
    empty = empty + 1  -- a 200 with no certificate: the EUI-64 asked for is not stored
  end
end

function done(summary, latency, requests)
  local bad, seen, none = 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    seen = seen + t:get("responses")
    none = none + t:get("empty")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "responses": %d, "non2xx": %d, ' ..
    '"empty": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, seen, bad, none, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def prepare_database(kind: str, home: Path) -> tuple[str, str | None]:
    """Create the empty database (and schema); return the URL the server is to use and the schema."""
    if kind == "sqlite":
        return f"sqlite:///{home / 'smki.db'}", None
    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{POSTGRES}?options=-csearch_path%3D{schema}", schema


def start_server(
    home: Path, url: str, kind: str, port: int, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("SMKI_HOME", None)
    if kind == "postgres":
        env["SMKI_DATABASE_URL"] = url
    else:
        env.pop("SMKI_DATABASE_URL", None)
    with log.open("wb") as out:
        return subprocess.Popen(
            [SMKI, "serve", "--home", str(home), "--host", "127.0.0.1", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as a whole below
        )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_healthy(
    base: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 180.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"smki serve exited with {server.returncode}:\n{tail(log)}")
        try:
            answer = httpx.get(base + "/health", timeout=5)
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"smki serve did not answer /health within {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def expected_serials(k: int, rows: int) -> set[str]:
    """The serials stored for EUI-64 number ``k``: rows 2k and 2k+1 (see repository_queries.fill)."""
    return {serial_of(i) for i in (2 * k, 2 * k + 1) if i < rows}


def verify(base: str, rows: int, n_euis: int, sample: int) -> int:
    """Untimed: a sample of EUI-64s (and the first, the last and one not stored) answer as stored."""
    chosen = {0, n_euis - 1, *random.sample(range(n_euis), min(sample, n_euis))}
    with httpx.Client(base_url=base, timeout=30) as client:
        for k in sorted(chosen):
            eui = eui_of(2 * k)
            answer = client.get(PATH, params={"eui": eui})
            assert answer.status_code == 200, (eui, answer.status_code, answer.text[:300])
            items = answer.json()["items"]
            got = {item["serial"] for item in items}
            assert got == expected_serials(k, rows), (eui, got, expected_serials(k, rows))
            for item in items:
                assert item["entity_id"].replace("-", "") == eui, (eui, item["entity_id"])
                assert item["pem"].startswith("-----BEGIN CERTIFICATE-----"), item["pem"][:40]
        missing = f"{EUI_BASE + n_euis:016X}"
        answer = client.get(PATH, params={"eui": missing})
        assert answer.status_code == 200 and answer.json()["count"] == 0, (missing, answer.text[:300])
    return len(chosen) + 1


def run_wrk(base: str, lua: Path, connections: int, threads: int, duration: int) -> dict[str, Any]:
    threads = max(1, min(threads, connections))
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency",
        "-s", str(lua), f"{base}{PATH}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"no summary from the wrk script:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result.update(connections=connections, threads=threads, command=" ".join(command))
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=20, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (at most the connections).")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--verify-sample", type=int, default=200, help="EUI-64s checked with httpx.")
    parser.add_argument("--bound-seconds", type=float, default=3.0)
    parser.add_argument("--server-workers", type=int, default=1, help="`smki serve --workers`.")
    args = parser.parse_args()
    if args.rows < 2:
        parser.error("--rows must be at least 2")
    if shutil.which("wrk") is None:
        print("wrk is not installed; install it with:")
        print("apt-get install -y wrk")
        return 2
    # SIGTERM as well as Ctrl-C unwinds through the finally blocks below (server stopped, files removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(machine())
    started = datetime.now(UTC)
    print(f"started {started:%Y-%m-%d %H:%M} UTC, load average {load_average()}")
    n_euis = (args.rows + 1) // 2
    server: subprocess.Popen[bytes] | None = None
    schema: str | None = None
    with tempfile.TemporaryDirectory(prefix="smki-http-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        log = Path(tmp) / "serve.log"
        try:
            url, schema = prepare_database(args.db, home)
            db = Database(url)
            db.upgrade()
            start = time.perf_counter()
            fill(db, args.rows)
            db.dispose()
            seconds = time.perf_counter() - start
            print(f"{args.db}: filled {args.rows:,} rows ({n_euis:,} EUI-64s) in {seconds:.0f} s (untimed)")

            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(home, url, args.db, port, log, args.server_workers)
            health = wait_healthy(base, server, log)
            print(f"smki serve pid {server.pid} ({args.server_workers} worker process(es)) on {base}: "
                  f"/health {health.get('status')}, database {health.get('database')}")  # fmt: skip
            checked = verify(base, args.rows, n_euis, args.verify_sample)
            print(f"verified (untimed, httpx): {checked} EUI-64 lookups answer the stored certificates")

            lua = Path(tmp) / "lookup.lua"
            prefix = f"{EUI_BASE >> 48:04X}"
            assert EUI_BASE & ((1 << 48) - 1) == 0 and n_euis < 1 << 48
            lua.write_text(LUA.format(n_euis=n_euis, prefix=prefix, path=PATH), encoding="utf-8")
            run_wrk(base, lua, 1, 1, 2)  # warm-up (connection pools, caches), not reported

            load_before = load_average()
            before = raw_bound(1, args.bound_seconds)
            print(f"raw bound before: {before:,.0f} sign+verify/s (load average {load_before})")
            results = []
            for connections in args.connections:
                result = run_wrk(base, lua, connections, args.threads, args.duration)
                result["load"] = os.getloadavg()[0]  # 1-minute load average at the end of the run
                results.append(result)
                print(f"  {connections:>3} connections: {result['rate']:,.0f} req/s, "
                      f"p50 {result['p50_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms, "
                      f"non-2xx {result['non2xx']}/{result['responses']}, "
                      f"empty {result['empty']}")  # fmt: skip
            after = raw_bound(1, args.bound_seconds)
            load_after = load_average()
            print(f"raw bound after: {after:,.0f} sign+verify/s (load average {load_after})")
            if server.poll() is not None:
                raise RuntimeError(f"smki serve died during the runs:\n{tail(log)}")
            lines = log.read_text(errors="replace").splitlines()
            server_errors = sum(1 for line in lines if '" 5' in line or "Traceback" in line)
        finally:
            if server is not None:
                stop_server(server)
            drop_schema(schema)  # batch_issuance.drop, on the same server

    mean = (before + after) / 2
    print()
    print(f"{args.db}, {args.rows:,} certificate rows, `GET {PATH}?eui=<random stored EUI-64>`, "
          f"wrk {args.duration} s per row, one `smki serve` process (uvicorn, 1 worker); "
          f"{started:%Y-%m-%d %H:%M} UTC; load average before {load_before}, after {load_after}")  # fmt: skip
    print()
    print(
        "| database | rows | connections (wrk threads) | requests | requests/s | p50 (ms) | p99 (ms) "
        "| non-2xx | socket errors | load avg (1 min) at end | raw bound P=1 before / after (ops/s) "
        "| requests/s ÷ mean raw bound |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        fraction = r["non2xx"] / r["responses"] if r["responses"] else float("nan")
        socket_errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
        print(
            f"| {args.db} | {args.rows:,} | {r['connections']} ({r['threads']}) | {r['requests']:,} "
            f"| {r['rate']:,.0f} | {r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {fraction:.0%} "
            f"| {socket_errors} | {r['load']:.1f} | {before:,.0f} / {after:,.0f} | {r['rate'] / mean:.3f} |"
        )
    print()
    print(f"server log: {server_errors} lines with a 5xx status or a traceback; "
          f"answers without a certificate: {sum(r['empty'] for r in results)}")  # fmt: skip
    bad = [r for r in results if r["non2xx"] or r["empty"] or r["responses"] != r["requests"]]
    if bad or server_errors:
        print("FAILED: non-2xx answers or server errors (see above)")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted (server stopped, temporary files removed)", file=sys.stderr)
        sys.exit(130)
