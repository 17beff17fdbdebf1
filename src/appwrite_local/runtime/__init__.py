"""A Python function runtime speaking the open-runtimes v5 HTTP contract (standard library only)."""
