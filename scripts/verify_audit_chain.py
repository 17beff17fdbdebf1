"""Verify the audit trail: every chain (one per clinic, plus `platform`) must run 1, 2, 3 … with each event's
prev_hash equal to the hash of the one before and its own hash matching its content.

    python scripts/verify_audit_chain.py [--credentials .appwrite-local/credentials.json] [--chain CLINIC_ID]

Chains are found from their first events and from the clinics table (a clinic whose events were all removed shows
as empty). Prints one line per chain and, for a broken one, the first broken link (chain, seq, row id, reason).
Exit code 0 when every chain is intact, 1 otherwise. Streams pages of 1,000 rows, so memory stays flat."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appwrite.query import Query

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]
from rxcore.audit import TABLE, Break, verify_chain  # noqa: E402
from rxcore.tables import Tables  # noqa: E402
from scripts import connection  # noqa: E402


class Counted:
    def __init__(self, rows: Iterator[dict[str, Any]]):
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            self.count += 1
            yield row


def chains(tables: Tables) -> list[str]:
    names = {row["chain"] for row in tables.each(TABLE, [Query.equal("seq", 1), Query.select(["$id", "chain"])])}
    # every clinic has a chain once anything happened in it
    names.update(row["$id"] for row in tables.each("clinics", [Query.select(["$id"])]))
    return sorted(names)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    connection.add_arguments(cli)
    cli.add_argument("--chain", action="append", help="verify only this chain (repeatable)")
    cli.add_argument("--database", default="main")
    args = cli.parse_args(argv)
    tables = Tables(connection.client_from(args, cli), args.database)
    broken: list[Break] = []
    for chain in args.chain or chains(tables):
        rows = Counted(tables.each(TABLE, [Query.equal("chain", chain), Query.order_asc("seq")]))
        problem = verify_chain(rows)
        if problem is None:
            print(f"{chain}: intact, {rows.count} events" if rows.count else f"{chain}: no events")
        else:
            broken.append(problem)
            print(f"{chain}: BROKEN at seq {problem.seq} (row {problem.row_id or '-'}): {problem.reason}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
