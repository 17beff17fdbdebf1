"""Shared domain code for the platform's Appwrite functions (rules, services, adapters).

It never imports `appwrite_local`: functions run unchanged on a real Appwrite. Filled in by the feature
issues (dm+d sync, prescribing, dispensing, patients, billing, notifications).
"""
