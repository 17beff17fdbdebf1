"""Write a synthetic, schema-faithful NHS dm+d release zip (see test_data/README.md).

    python scripts/make_dmd_release.py --scale small --out test_data/dmd/nhsbsa_dmd_small.zip
    python scripts/make_dmd_release.py --scale full --out /tmp/dmd_full.zip
    python scripts/make_dmd_release.py --from /tmp/dmd_full.zip --out /tmp/dmd_full_next.zip

--from reads the generator's note in the zip comment (seed, scale, generation), rebuilds that release and derives
the next week's release from it (records changed, added and removed), printing a summary of the differences.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.dmdgen.derive import ReleaseDiff, derive  # noqa: E402
from scripts.dmdgen.model import Release, build  # noqa: E402
from scripts.dmdgen.writer import write_zip  # noqa: E402

DEFAULT_DATE = dt.date(2026, 11, 16)  # a Monday: releases come out on Mondays


def read_note(path: str) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        note = zf.comment.decode()
    if not note.startswith("dmdgen "):
        raise SystemExit(f"{path} was not written by this generator (no dmdgen note in the zip comment)")
    return dict(part.split("=", 1) for part in note.split()[1:])


def release_from(path: str) -> tuple[Release, ReleaseDiff]:
    """Rebuild the release in `path` and derive the one after it."""
    note = read_note(path)
    release = build(int(note["seed"]), note["scale"], dt.date.fromordinal(int(note["base"])))
    for _ in range(int(note["generation"])):
        derive(release)
    return release, derive(release)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--out", required=True, help="path of the zip to write")
    parser.add_argument("--from", dest="source", help="derive the next release from this generated zip")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=DEFAULT_DATE, help="release Monday")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.source:
        release, diff = release_from(args.source)
        print(f"derived from {args.source}: {diff.summary()}")
    else:
        if args.date.weekday() != 0:
            parser.error("--date must be a Monday (dm+d releases come out on Mondays)")
        release = build(args.seed, args.scale, args.date)
    write_zip(release, args.out, progress=lambda name: print(f"  wrote {name} ({time.monotonic() - started:.1f} s)"))
    counts = {
        file: sum(len(v) for v in release.main(file).values())
        for file in ("vtm", "ingredient", "vmp", "vmpp", "amp", "ampp")
    }
    counts["gtin"] = sum(len(v) for v in release.gtins.values())
    size = Path(args.out).stat().st_size
    print(f"release {release.stamp} -> {args.out} ({size / 1e6:.1f} MB, {time.monotonic() - started:.1f} s): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
