"""Fixtures shared by the end-to-end modules that need Stripe (billing-process, token wallets)."""

from __future__ import annotations

import pytest

from tests.support import stripe_local


@pytest.fixture(scope="module")
def stripe_server(platform, platform_admin):
    """localstripe as billing-process's Stripe on the platform server, one per module."""
    with stripe_local.serving_billing(platform, platform_admin) as instance:
        yield instance
