"""Prescribing and dispensing: pure rules (rules, dispense_rules, words, numbers, canonical), the PDF, and the
Appwrite adapters and services behind the prescription-create and dispensing functions."""
