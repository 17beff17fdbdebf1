"""Command line: `python -m appwrite_local [--port N] [--data DIR] ...` runs the server in the foreground."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from .app import Services, Settings, build_app, write_credentials


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m appwrite_local",
        description="Run a local Appwrite-compatible server (REST /v1 on SQLite) in the foreground. "
        "On start it writes <data>/credentials.json with the endpoint, project ID and an API key "
        "holding every scope, and prints the same. Data is kept across restarts. "
        "Stop with Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("APPWRITE_LOCAL_HOST", "127.0.0.1"),
        help="interface to listen on (default 127.0.0.1; env APPWRITE_LOCAL_HOST)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("APPWRITE_LOCAL_PORT", "8080")),
        help="TCP port (default 8080; env APPWRITE_LOCAL_PORT)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("APPWRITE_LOCAL_DATA", ".appwrite-local")),
        help="data directory: SQLite database, stored files, credentials.json "
        "(default .appwrite-local/; env APPWRITE_LOCAL_DATA)",
    )
    parser.add_argument(
        "--project-id",
        default=os.environ.get("APPWRITE_LOCAL_PROJECT", "rx-local"),
        help="project ID used when the data directory is new (default rx-local)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("APPWRITE_LOCAL_LOG_LEVEL", "warning"),
        choices=["debug", "info", "warning", "error"],
        help="log level (default warning)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the credentials on start")
    parser.add_argument(
        "--appwrite-json",
        type=Path,
        default=None,
        help="register the functions declared in this appwrite.json (their code runs from its path)",
    )
    parser.add_argument(
        "--local-control",
        action="store_true",
        default=os.environ.get("APPWRITE_LOCAL_CONTROL", "") == "1",
        help="enable the local-only /_local/ routes (move the clock, run what is due); for tests; "
        "env APPWRITE_LOCAL_CONTROL=1",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=_env_list("APPWRITE_LOCAL_TRUSTED_PROXIES"),
        metavar="IP",
        help="a reverse proxy whose X-Forwarded-For / X-Forwarded-Proto are believed (repeatable; none by default, "
        "so the client address is the TCP peer's and per-IP rate limits cannot be dodged with a header); "
        "env APPWRITE_LOCAL_TRUSTED_PROXIES, comma-separated",
    )
    parser.add_argument(
        "--allowed-hostname",
        action="append",
        default=_env_list("APPWRITE_LOCAL_ALLOWED_HOSTNAMES") or ["localhost"],
        metavar="HOST",
        help="a web platform's hostname whose browser origin may call the server with credentials (repeatable; "
        "`*.example.org` for subdomains; default localhost, which also admits 127.0.0.1 and [::1]); "
        "env APPWRITE_LOCAL_ALLOWED_HOSTNAMES, comma-separated",
    )
    parser.add_argument(
        "--build-cache",
        type=Path,
        default=Path(os.environ["APPWRITE_LOCAL_BUILD_CACHE"])
        if os.environ.get("APPWRITE_LOCAL_BUILD_CACHE")
        else None,
        help="where functions' built environments are kept, by requirements hash (default "
        "~/.cache/appwrite-local/builds; env APPWRITE_LOCAL_BUILD_CACHE)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        default=os.environ.get("APPWRITE_LOCAL_ACCESS_LOG", "") == "1",
        help="print a line per request and per execution (with the function's logs, secrets redacted) and the logs "
        "of long executions as they run; env APPWRITE_LOCAL_ACCESS_LOG=1 (make up turns it on)",
    )
    parser.add_argument(
        "--functions-domain",
        default=os.environ.get("APPWRITE_LOCAL_FUNCTIONS_DOMAIN", "functions.localhost"),
        metavar="SUFFIX",
        help="a request with `Host: <function-id>.<SUFFIX>` reaches that function, as Appwrite's "
        "_APP_DOMAIN_FUNCTIONS (default functions.localhost; also /_functions/<function-id>/...); "
        "env APPWRITE_LOCAL_FUNCTIONS_DOMAIN",
    )
    return parser.parse_args(argv)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if port_in_use(args.host, args.port):
        print(
            f"appwrite_local: port {args.port} on {args.host} is in use (is another server running?). Stop it, or "
            "choose another port with --port or APPWRITE_LOCAL_PORT.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(
        data_dir=args.data.resolve(),
        host=args.host,
        port=args.port,
        project_id=args.project_id,
        local_control=args.local_control,
        appwrite_json=args.appwrite_json.resolve() if args.appwrite_json else None,
        allowed_hostnames=tuple(args.allowed_hostname),
        build_cache=args.build_cache,
        access_log=args.access_log,
        functions_domain=args.functions_domain,
    )
    services = Services(settings)
    path = write_credentials(services)
    for problem in services.function_problems:
        print(f"appwrite.json: {problem} (function not registered)", file=sys.stderr, flush=True)
    if not args.quiet:
        print(json.dumps(services.credentials(), indent=2), flush=True)
        print(f"credentials written to {path}", flush=True)
    app = build_app(settings, services)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default; here only from proxies named by the operator.
        proxy_headers=bool(args.trusted_proxy),
        forwarded_allow_ips=",".join(args.trusted_proxy) or None,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
