"""Test function: answers with everything the runtime gave it (request, headers, environment)."""

import hashlib
import os


def main(context):
    req = context.req
    context.log("echo called with", {"method": req.method})
    print("a native print")
    env = {k: v for k, v in os.environ.items() if k.startswith(("APPWRITE_", "GREETING"))}
    return context.res.json(
        {
            "body": req.body,
            "bodyText": req.body_text,
            "bodySha256": hashlib.sha256(req.body_binary).hexdigest(),
            "headers": req.headers,
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "queryString": req.query_string,
            "scheme": req.scheme,
            "host": req.host,
            "port": req.port,
            "url": req.url,
            "env": env,
        },
        200,
        {"x-echo": "yes"},
    )
