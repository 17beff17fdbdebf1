"""Test function: run by its cron schedule."""


def main(context):
    context.log("tick", context.req.headers.get("x-appwrite-trigger"))
    return context.res.json({"trigger": context.req.headers.get("x-appwrite-trigger")})
