"""Benchmark function: does nothing, so an execution measures only the platform's overhead."""


def main(context):
    return context.res.empty()
