"""Billing: Stripe customers, token-pack payments, refunds and signed webhooks (docs/functions/billing-process.md)."""
