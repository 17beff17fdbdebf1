"""Event name expansion as Appwrite does it (appwrite_local.eventnames)."""

from __future__ import annotations

from appwrite_local.eventnames import could_match, event_words, generate, matches


def test_row_event_expands_to_every_wildcard_and_prefix():
    names = set(generate("databases.main.tables.posts.rows.r1.create"))
    for expected in [
        "databases.main.tables.posts.rows.r1.create",
        "databases.*.tables.*.rows.*.create",
        "databases.main.tables.posts.rows.*.create",
        "databases.*.tables.posts.rows.r1",
        "databases.main.tables.posts",
        "databases.*.tables.*",
        "databases.main",
        "databases.*",
        # legacy and tablesdb mirrors
        "databases.main.collections.posts.documents.r1.create",
        "databases.*.collections.*.documents.*.create",
        "tablesdb.*.tables.*.rows.*.create",
        "tablesdb.main.tables.posts.rows.r1.create",
    ]:
        assert expected in names, expected
    assert "databases.*.tables.*.rows.*.delete" not in names
    assert "functions.*" not in names


def test_first_name_is_the_concrete_event():
    assert generate("buckets.b1.files.f1.create")[0] == "buckets.b1.files.f1.create"
    assert set(generate("buckets.b1.files.f1.create")) >= {"buckets.*.files.*.create", "buckets.b1", "buckets.*"}


def test_attribute_suffix_events():
    names = set(generate("users.u1.update.email"))
    assert {"users.u1.update.email", "users.*.update.email", "users.*.update", "users.*", "users.u1"} <= names


def test_ids_that_look_like_actions_are_still_ids():
    names = generate("databases.main.tables.update.rows.delete.create")
    assert "databases.*.tables.*.rows.*.create" in names


def test_matching_is_exact_string_intersection():
    generated = generate("databases.main.tables.posts.rows.r1.update")
    assert matches(["databases.*.tables.posts.rows.*.update"], generated)
    assert matches(["databases.*.collections.*.documents.*"], generated)
    assert not matches(["databases.*.tables.*.rows.*.create"], generated)
    assert not matches(["databases.*.tables.po*"], generated)


def test_could_match_is_never_false_when_a_generated_name_is_subscribed():
    """The cheap pre-test must not hide a match: for every generated name of several events, a subscription to it
    passes; subscriptions naming another table or action do not."""
    events = [
        "databases.main.tables.posts.rows.r1.create",
        "databases.main.tables.outbox.rows.abc.update",
        "databases.main.tables.posts.columns.title.update",
        "buckets.photos.files.f1.create",
        "users.u1.sessions.s1.create",
    ]
    for event in events:
        for name in generate(event):
            assert could_match([name], event_words(event)), (name, event)
    assert not could_match(["databases.main.tables.outbox.rows.*.create"], event_words(events[0]))
    assert not could_match(["databases.*.tables.*.rows.*.delete"], event_words(events[0]))
    assert could_match(["databases.*.collections.*.documents.*.create"], event_words(events[0]))
