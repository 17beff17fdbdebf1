"""PHP-style parameter flattening as the SDKs send it (appwrite_local.api.parse_php_params)."""

from __future__ import annotations

from appwrite_local.api import parse_php_params, parse_query_string


def test_indexed_lists_nested_dicts_and_empty_brackets():
    params = parse_php_params(
        [("queries[1]", "b"), ("queries[0]", "a"), ("x[k]", "v"), ("y[]", "1"), ("y[]", "2"), ("plain", "p")]
    )
    assert params == {"queries": ["a", "b"], "x": {"k": "v"}, "y": ["1", "2"], "plain": "p"}


def test_url_encoded_brackets():
    assert parse_query_string("queries%5B0%5D=%7B%7D&total=false") == {"queries": ["{}"], "total": "false"}


def test_multipart_permission_lists():
    assert parse_php_params([("permissions[0]", 'read("any")'), ("permissions[1]", 'update("users")')]) == {
        "permissions": ['read("any")', 'update("users")']
    }
