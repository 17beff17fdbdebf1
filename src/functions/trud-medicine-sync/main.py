"""trud-medicine-sync: the NHS dm+d catalogue from TRUD (or an uploaded release zip) into the medicines tables.

Thin shell: everything lives in rxcore.dmd (see docs/functions/trud-medicine-sync.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the deployment root holds rxcore/

from rxcore.dmd.service import actions  # noqa: E402
from rxcore.function_shell import run  # noqa: E402


def main(context):
    return run(context, actions)
