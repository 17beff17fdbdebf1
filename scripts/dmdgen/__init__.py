"""Synthetic, schema-faithful NHS dm+d releases (see scripts/make_dmd_release.py and test_data/README.md)."""
