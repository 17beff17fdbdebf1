"""Verify every token wallet: its entries run 1, 2, 3 ... with each `balance_after` following from the one before,
and the wallet caches their sum (and the number of the last one).

    python scripts/verify_wallets.py [--credentials .appwrite-local/credentials.json] [--wallet WALLET_ID]

Prints one line per wallet and, for one that disagrees, the first entry that does (its number and idempotency key).
Exit code 0 when every wallet agrees with its ledger, 1 otherwise. Streams pages of 1,000 rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appwrite.query import Query

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]
from rxcore.tables import Tables  # noqa: E402
from rxcore.wallet.ledger import verify_wallet  # noqa: E402
from scripts import connection  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    connection.add_arguments(cli)
    cli.add_argument("--wallet", action="append", help="verify only this wallet id (repeatable)")
    cli.add_argument("--database", default="main")
    args = cli.parse_args(argv)
    tables = Tables(connection.client_from(args, cli), args.database)
    if args.wallet:
        wallets = [tables.get("wallets", w) or {"$id": w, "entity_type": "?", "entity_id": "?"} for w in args.wallet]
    else:
        wallets = tables.each("wallets", [Query.select(["$id", "entity_type", "entity_id", "balance"])])
    wrong = 0
    for wallet in wallets:
        problem = verify_wallet(tables, wallet["$id"])
        owner = f"{wallet['entity_type']} {wallet['entity_id']}"
        if problem is None:
            print(f"{wallet['$id']} ({owner}): agrees, balance {wallet.get('balance', 0)}")
        else:
            wrong += 1
            print(f"{wallet['$id']} ({owner}): DISAGREES: {problem}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
