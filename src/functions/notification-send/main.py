"""notification-send: see docs/functions/notification-send.md. Thin shell over rxcore.notify.service."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the deployment root holds rxcore/

from rxcore.function_shell import run  # noqa: E402
from rxcore.notify.service import actions  # noqa: E402


def main(context):
    return run(context, actions)
