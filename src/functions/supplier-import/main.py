"""supplier-import: see docs/functions/supplier-import.md. Thin shell over rxcore.suppliers.service."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the deployment root holds rxcore/

from rxcore.function_shell import run  # noqa: E402
from rxcore.suppliers.service import actions  # noqa: E402


def main(context):
    return run(context, actions)
