"""Medicine search on a full dm+d release (run by hand: `make bench-search`).

A fresh local server with the product's appwrite.json and the test world; the full synthetic release
(`.bench/nhsbsa_dmd_…zip`, written by `make bench-dmd` or here when missing) synced through trud-medicine-sync.
Then the signed-in prescriber searches as the prescribing screen does, one query at a time: queries made from
`--queries` VMP names of the catalogue (the first word, and the first word with the start of the form: "ibuprofen",
"ibuprofen tab"), through prescription-create's `search_medicines`, side by side with the plain fulltext list the
app used before (TablesDB `listRows` with `Query.search("name", …)`, limit 20, by the same user).
Target (issue 14.14): search p95 <= 30 ms on a full release. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.id import ID  # noqa: E402
from appwrite.input_file import InputFile  # noqa: E402
from appwrite.query import Query  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402
from appwrite.services.storage import Storage  # noqa: E402
from appwrite.services.tables_db import TablesDB  # noqa: E402
from scripts.bench.common import machine_line, save_summary  # noqa: E402
from scripts.bench.dmd import FULL  # noqa: E402
from scripts.bench.rx import report, timed  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402

from rxcore.dmd.search import words  # noqa: E402


def sync(world) -> None:
    functions = Functions(world.admin)
    file_id = Storage(world.admin).create_file("dmd_uploads", ID.unique(), InputFile.from_path(str(FULL))).id
    body = json.dumps({"action": "sync", "bucketId": "dmd_uploads", "fileId": file_id})
    execution = functions.create_execution("trud-medicine-sync", body, xasync=True)
    started = time.perf_counter()
    while getattr(execution.status, "value", execution.status) in ("waiting", "processing", "scheduled"):
        time.sleep(2)
        execution = functions.get_execution("trud-medicine-sync", execution.id)
        print(f"  syncing … {time.perf_counter() - started:.0f} s", flush=True)
    if getattr(execution.status, "value", execution.status) != "completed":
        raise RuntimeError(f"sync failed: {execution.errors[-2000:]}")


def queries_from(world, count: int) -> list[str]:
    rows = world.tables.list("medicines", [Query.equal("type", "vmp"), Query.select(["$id", "name"]),
                                           Query.limit(2000)])  # fmt: skip
    random.Random(14).shuffle(rows)
    out = []
    for row in rows:
        found = words(row["name"])
        if not found or not found[0].isalpha():
            continue
        out.append(found[0])
        form = next((w for w in found[1:] if w.isalpha() and len(w) > 3), None)
        if form:
            out.append(f"{found[0]} {form[:3]}")
        if len(out) >= count:
            break
    return out[:count]


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--queries", type=int, default=200)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    if not FULL.exists():
        from scripts.make_dmd_release import main as make_release

        FULL.parent.mkdir(exist_ok=True)
        make_release(["--scale", "full", "--out", str(FULL)])
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            sync(world)
            total = sum(1 for _ in world.tables.each("medicines", [Query.select(["$id"])]))
            queries = queries_from(world, args.queries)
            print(f"{total:,} catalogue rows; {len(queries)} queries, e.g. {queries[:4]}", flush=True)
            functions = Functions(world.people["prescriber"].client)
            tables = TablesDB(world.people["prescriber"].client)
            walls, inside, plain, found = [], [], [], 0
            for query in queries[:10]:  # warm-up
                timed(functions, "prescription-create", {"action": "search_medicines", "query": query})
            for query in queries:
                wall, took, answer = timed(
                    functions, "prescription-create", {"action": "search_medicines", "query": query}
                )
                walls.append(wall)
                inside.append(took)
                found += bool(answer["medicines"])
                started = time.perf_counter()
                tables.list_rows("main", "medicines", [Query.search("name", query), Query.limit(20)])
                plain.append((time.perf_counter() - started) * 1000)
            summary = {"rows": total, "queries": len(queries), "with_results": found,
                       "search": report("search", walls, inside, 30),
                       "plain_list": report("plain", plain, plain, None)}  # fmt: skip
            print(f"{found} of {len(queries)} queries found something; search / plain list p95: "
                  f"{summary['search']['p95_ms'] / summary['plain_list']['p95_ms']:.2f}x", flush=True)  # fmt: skip
            save_summary("medicine_search", summary)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
