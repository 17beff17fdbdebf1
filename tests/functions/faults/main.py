"""Test function: each path fails in one of the ways the runtime must report."""

import os
import time


def main(context):
    path = context.req.path
    if path == "/raise":
        raise ValueError("deliberate failure")
    if path == "/no-return":
        context.log("about to forget the return")
        return None
    if path == "/sleep":
        time.sleep(float(context.req.query.get("s", "5")))
        return context.res.text("woke up")
    if path == "/crash":
        os._exit(3)
    if path == "/binary":
        return context.res.binary(bytes([0, 1, 2, 255]), 200, {"content-type": "application/octet-stream"})
    if path == "/redirect":
        return context.res.redirect("https://example.test/next")
    if path == "/empty":
        return context.res.empty()
    if path == "/status":
        return context.res.text("teapot", 418)
    if path == "/log-secret":
        context.log("the secret is", os.environ.get("SHOUTED", ""))
        return context.res.text("logged")
    if path == "/error-log":
        context.error("something went wrong", [1, 2])
        return context.res.json({"ok": False}, 400)
    return context.res.text("fine")
