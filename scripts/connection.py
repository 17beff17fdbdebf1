"""How the operations scripts reach an Appwrite (the local server or a real one): endpoint, project and API key,
given as flags or read from a credentials.json written by the local server."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from appwrite.client import Client


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint")
    parser.add_argument("--project")
    parser.add_argument("--key", help="API key (or set it in the credentials file)")
    parser.add_argument("--credentials", type=Path, help="a credentials.json written by the local server")


def local_credentials() -> Path:
    """The local server's credentials.json: in APPWRITE_LOCAL_DATA (as `make up` uses it), else .appwrite-local."""
    return Path(os.environ.get("APPWRITE_LOCAL_DATA") or ".appwrite-local") / "credentials.json"


def client_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Client:
    if not (args.credentials or args.endpoint):
        args.credentials = local_credentials()
        if not args.credentials.exists():
            parser.error(f"no {args.credentials}: start the local server (make up) or give --endpoint/--project/--key")
    if args.credentials:
        creds = json.loads(args.credentials.read_text())
        args.endpoint, args.project, args.key = creds["endpoint"], creds["projectId"], creds["apiKey"]
    if not (args.endpoint and args.project and args.key):
        parser.error("give --endpoint, --project and --key, or --credentials")
    return Client().set_endpoint(args.endpoint).set_project(args.project).set_key(args.key)
