"""dm+d sync benchmark (run by hand: `make bench-dmd`).

1. Generates a full-size synthetic release (Nov-2025 counts; cached under .bench/ between runs).
2. Parse-only: the streaming parser over every member, records/s (one process, no writes).
3. Full sync: a fresh local server with the product's appwrite.json; the zip uploaded to Storage; the real
   trud-medicine-sync function executed asynchronously through the API; wall time from the execution request to
   its completion, records/s and rows written/s; peak RSS (VmHWM) of the function worker and of the server.
4. Unchanged re-sync: the same upload executed again (synchronously): the skip path.
Targets (issue 4): full sync <= 60 s, parse-only >= 150k records/s, worker peak RSS <= 250 MB, re-sync <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.client import Client  # noqa: E402
from appwrite.id import ID  # noqa: E402
from appwrite.input_file import InputFile  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402
from appwrite.services.storage import Storage  # noqa: E402
from scripts import apply_schema  # noqa: E402
from scripts.bench.common import machine_line  # noqa: E402
from tests.support.local_server import LocalServer, free_port  # noqa: E402

from rxcore.dmd.archive import KINDS, ReleaseArchive  # noqa: E402
from rxcore.dmd.parser import parse  # noqa: E402

FULL = REPO / ".bench" / "nhsbsa_dmd_11.2.0_20261116000001.zip"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pids(server_pid: int, function_id: str) -> list[int]:
    """The server's child processes running this function's worker (found through /proc, no extra packages)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server_pid and f"APPWRITE_FUNCTION_ID={function_id}".encode() in environ:
            out.append(int(entry.name))
    return out


def parse_only(path: Path) -> tuple[int, float]:
    archive = ReleaseArchive(str(path))
    started = time.perf_counter()
    count = 0
    for kind in KINDS:
        with archive.open(kind) as stream:
            for record in parse(kind, stream):
                count += len(record.gtins) if record.gtins is not None else 1
    archive.close()
    return count, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regenerate", action="store_true", help="write the full release again")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    if args.regenerate or not FULL.exists():
        FULL.parent.mkdir(exist_ok=True)
        from scripts.make_dmd_release import main as make_release

        make_release(["--scale", "full", "--out", str(FULL)])
    with zipfile.ZipFile(FULL) as zf:
        xml_bytes = sum(i.file_size for i in zf.infolist())
    print(f"release {FULL.name}: {FULL.stat().st_size / 1e6:.1f} MB zip, {xml_bytes / 1e6:.0f} MB inside", flush=True)

    records, seconds = parse_only(FULL)
    print(f"parse only: {records:,} records in {seconds:.1f} s = {records / seconds:,.0f} records/s", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-dmd-") as tmp:
        server = LocalServer(Path(tmp) / "data", free_port()).start(["--appwrite-json", str(REPO / "appwrite.json")])
        try:
            creds = str(server.data_dir / "credentials.json")
            assert apply_schema.main(["--file", str(REPO / "appwrite.json"), "--credentials", creds]) == 0
            client = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
            file_id = Storage(client).create_file("dmd_uploads", ID.unique(), InputFile.from_path(str(FULL))).id
            body = json.dumps({"operation": "sync", "bucketId": "dmd_uploads", "fileId": file_id})
            functions = Functions(client)
            started = time.perf_counter()
            execution = functions.create_execution("trud-medicine-sync", body, xasync=True)
            while getattr(execution.status, "value", execution.status) in ("waiting", "processing", "scheduled"):
                time.sleep(1)
                execution = functions.get_execution("trud-medicine-sync", execution.id)
            total = time.perf_counter() - started
            # An asynchronous execution keeps no response body (as in Appwrite): ask the function for the status.
            answer = functions.create_execution("trud-medicine-sync", '{"operation": "status"}')
            status = json.loads(answer.responsebody)
            result = status["lastComplete"] or {}
            if not result or (status["last"] or {}).get("$id") != result.get("$id"):
                print(f"sync failed: {status}\n{execution.logs[-2000:]}\n{execution.errors[-2000:]}")
                return 1
            last_log = execution.logs.strip().splitlines()[-1] if execution.logs else ""
            counts = result["counts"]
            parsed = sum(counts["records_parsed"].values())
            written = sum(t["written"] for t in counts["tables"].values())
            workers = worker_pids(server.process.pid, "trud-medicine-sync")
            worker_rss = max((peak_rss_mb(pid) for pid in workers), default=float("nan"))
            print(
                f"full sync: {total:.1f} s wall ({result['seconds']:.1f} s inside the function); "
                f"{parsed:,} records parsed = {parsed / total:,.0f} records/s; {written:,} rows written = "
                f"{written / total:,.0f} rows/s",
                flush=True,
            )
            print(f"  {last_log}", flush=True)
            print(
                f"peak RSS: function worker {worker_rss:.0f} MB, server {peak_rss_mb(server.process.pid):.0f} MB",
                flush=True,
            )

            started = time.perf_counter()
            execution = functions.create_execution("trud-medicine-sync", body)
            resync = time.perf_counter() - started
            print(f"unchanged re-sync: {resync:.2f} s -> {execution.responsebody}", flush=True)
            print(
                f"targets: full sync <= 60 s ({total:.1f}), parse >= 150k/s ({records / seconds:,.0f}), "
                f"worker RSS <= 250 MB ({worker_rss:.0f}), re-sync <= 5 s ({resync:.2f})"
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
