"""appwrite_local: an Appwrite-API-compatible server in one process (SQLite, no Docker).

The official Appwrite SDKs work against it unchanged. See docs/local-server.md for what is emulated and
every known difference from Appwrite.
"""

__version__ = "0.1.0"
