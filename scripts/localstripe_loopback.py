"""Run localstripe (a stateful stand-in for Stripe's API, PyPI `localstripe`, GPL: a dev/test tool only, never in
a function's requirements) on 127.0.0.1 only; its own CLI listens on every interface.

    python scripts/localstripe_loopback.py PORT

It starts empty (the CLI would reload /tmp/localstripe.pickle). Webhook endpoints are registered with
`POST /_config/webhooks/<id>` (url, secret) after it starts; tests/support/stripe_local.py and scripts/up.py do."""

from __future__ import annotations

import sys


def main() -> None:
    from aiohttp import web
    from localstripe.resources import store
    from localstripe.server import app

    store.clear()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8420, print=None)


if __name__ == "__main__":
    main()
