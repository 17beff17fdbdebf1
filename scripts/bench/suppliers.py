"""Supplier price-list import benchmark (run by hand: `make bench-suppliers`).

A fresh local server with the product's appwrite.json and the test world; a supplier admin uploads each list to the
`supplier_lists` bucket and runs supplier-import's `import` (synchronously, through the official SDK, as the admin
would). Measured: the five fixtures (test_data/suppliers/), then a generated `--rows`-product list in the Tasmanian
Botanics layout (scripts/make_supplier_fixtures.py --big) imported three ways: first into an empty catalogue, again
unchanged, and with every price changed. Each time: the call's wall time and the function's own duration, side by
side with a dry run of the same file (read and check only). Target (issue 21): <= 5 s for 20,000 rows.
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.id import ID  # noqa: E402
from appwrite.input_file import InputFile  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402
from appwrite.services.storage import Storage  # noqa: E402
from appwrite.services.users import Users  # noqa: E402
from scripts import make_supplier_fixtures  # noqa: E402
from scripts.bench.common import machine_line, save_summary  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support.rx_world import World  # noqa: E402

FIXTURES = REPO / "test_data" / "suppliers"


def run_import(world: World, supplier: str, path: Path, dry_run: bool = False) -> dict:
    client = world.people["supplier_admin"].client
    file_id = Storage(client).create_file("supplier_lists", ID.unique(), InputFile.from_path(str(path))).id
    body = {"action": "import", "supplier": supplier, "fileId": file_id, "dryRun": dry_run}
    started = time.perf_counter()
    execution = Functions(client).create_execution("supplier-import", json.dumps(body))
    wall = time.perf_counter() - started
    answer = json.loads(execution.responsebody)
    if int(execution.responsestatuscode) != 200:
        raise RuntimeError(f"{supplier}: {execution.responsestatuscode} {answer} {execution.errors}")
    return {"wall_s": round(wall, 2), "inside_s": round(execution.duration, 2), "counts": answer["counts"]}


def show(name: str, result: dict) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in result["counts"].items() if v)
    print(f"{name:28s} {result['wall_s']:6.2f} s (function {result['inside_s']:5.2f} s)  {counts}", flush=True)


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--rows", type=int, default=20_000)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-suppliers-") as tmp:
        folder = Path(tmp)
        big = make_supplier_fixtures.big(args.rows, folder / "big.xlsx")
        changed = make_supplier_fixtures.big(args.rows, folder / "big-repriced.xlsx", price_offset=1)
        server, world = start_world(folder)
        try:
            Users(world.admin).update_labels(world.user("supplier_admin", "Supplier Admin").id, ["supplieradmin"])
            summary: dict = {"rows": args.rows}
            for path in sorted(FIXTURES.glob("*.xlsx")):
                show(path.stem, run_import(world, path.stem, path))
            runs = (("dry run (read + check)", big, True), ("first import", big, False),
                    ("same list again", big, False), ("every price changed", changed, False))  # fmt: skip
            for name, path, dry in runs:
                result = run_import(world, "tasmanian-botanics", path, dry)
                show(f"{args.rows:,} rows: {name}", result)
                summary[name] = result
            first = summary["first import"]["wall_s"]
            verdict = "met" if first <= 5 else "NOT met"
            print(f"first import of {args.rows:,} rows: {first} s (target <= 5 s: {verdict})", flush=True)
            save_summary("suppliers", summary)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
