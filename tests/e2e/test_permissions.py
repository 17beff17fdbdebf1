"""Table and row permissions, as a guest, a session user, a JWT user, team members and labelled users."""

from __future__ import annotations

import pytest
from appwrite.id import ID
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from appwrite.services.tables_db import TablesDB
from appwrite.services.teams import Teams

from tests.support.sdk import error_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def notes(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Permissions")
    tables.create_table(
        database_id,
        "notes",
        "Notes",
        row_security=True,
        permissions=[Permission.create(Role.users())],
        columns=[{"key": "text", "type": "varchar", "size": 100, "required": True}],
    )
    yield tables, database_id
    tables.delete(database_id)


def test_row_security_owner_only(notes, people):
    tables, database_id = notes
    alice, bob = people.create("Alice"), people.create("Bob")
    as_alice, as_bob = TablesDB(people.session_client(alice)), TablesDB(people.jwt_client(bob))

    row = as_alice.create_row(database_id, "notes", ID.unique(), {"text": "alice's"})
    assert sorted(row.permissions) == sorted(
        [f'read("user:{alice["id"]}")', f'update("user:{alice["id"]}")', f'delete("user:{alice["id"]}")']
    )
    as_bob.create_row(database_id, "notes", ID.unique(), {"text": "bob's"})

    assert [r.data["text"] for r in as_alice.list_rows(database_id, "notes").rows] == ["alice's"]
    assert [r.data["text"] for r in as_bob.list_rows(database_id, "notes").rows] == ["bob's"]
    err = error_of(as_bob.get_row, database_id, "notes", row.id)
    assert (err.code, err.type) == (404, "row_not_found")
    err = error_of(as_bob.update_row, database_id, "notes", row.id, {"text": "hijack"})
    assert (err.code, err.type) == (401, "user_unauthorized")
    err = error_of(as_bob.delete_row, database_id, "notes", row.id)
    assert (err.code, err.type) == (401, "user_unauthorized")
    assert tables.get_row(database_id, "notes", row.id).data["text"] == "alice's"  # nothing changed

    err = error_of(
        as_alice.create_row,
        database_id,
        "notes",
        ID.unique(),
        {"text": "x"},
        permissions=[Permission.read(Role.user(bob["id"]))],
    )
    assert (err.code, err.type) == (401, "user_unauthorized")  # may only grant roles she holds
    shared = as_alice.create_row(
        database_id,
        "notes",
        ID.unique(),
        {"text": "public"},
        permissions=[Permission.read(Role.any()), Permission.write(Role.user(alice["id"]))],
    )
    assert f'update("user:{alice["id"]}")' in shared.permissions  # write = update + delete on rows
    assert [r.data["text"] for r in as_bob.list_rows(database_id, "notes").rows] == ["bob's", "public"]


def test_guests_and_table_level(notes, people, guest):
    tables, database_id = notes
    as_guest = TablesDB(guest)
    err = error_of(as_guest.create_row, database_id, "notes", ID.unique(), {"text": "anon"})
    assert (err.code, err.type) == (401, "user_unauthorized")
    assert as_guest.list_rows(database_id, "notes").total == 0

    tables.create_table(
        database_id,
        "closed",
        "No row security",
        permissions=[Permission.read(Role.users())],
        columns=[{"key": "text", "type": "varchar", "size": 10, "required": False}],
    )
    tables.create_row(database_id, "closed", "only", {"text": "x"}, permissions=[Permission.read(Role.any())])
    err = error_of(as_guest.list_rows, database_id, "closed")
    assert (err.code, err.type) == (401, "user_unauthorized")  # row permissions ignored without rowSecurity
    err = error_of(as_guest.get_row, database_id, "closed", "only")
    assert (err.code, err.type) == (404, "row_not_found")
    as_user = TablesDB(people.session_client(people.create()))
    assert as_user.list_rows(database_id, "closed").total == 1

    tables.update_table(database_id, "closed", "Disabled", enabled=False)
    err = error_of(as_user.list_rows, database_id, "closed")
    assert (err.code, err.type) == (404, "table_not_found")
    assert tables.list_rows(database_id, "closed").total == 1  # keys still see disabled tables

    # The database's metadata is cached: disabling it takes effect at once, and enabling it again too.
    as_user.list_rows(database_id, "notes")
    tables.update(database_id, "Disabled database", enabled=False)
    err = error_of(as_user.list_rows, database_id, "notes")
    assert (err.code, err.type) == (404, "database_not_found")
    assert tables.get(database_id).enabled is False  # keys still see it
    tables.update(database_id, "Enabled again", enabled=True)
    as_user.list_rows(database_id, "notes")


def test_team_roles_and_labels(notes, people, admin):
    tables, database_id = notes
    doctor, nurse, outsider, pharmacist = (people.create(n) for n in ("Doc", "Nurse", "Out", "Pharm"))
    teams = Teams(admin)
    team_id = ID.unique()
    teams.create(team_id, "Clinic")
    teams.create_membership(team_id, ["prescriber"], user_id=doctor["id"])
    teams.create_membership(team_id, ["staff"], user_id=nurse["id"])
    from appwrite.services.users import Users

    Users(admin).update_labels(pharmacist["id"], ["pharmacist"])

    tables.create_row(
        database_id,
        "notes",
        "team-row",
        {"text": "clinic"},
        permissions=[
            Permission.read(Role.team(team_id)),
            Permission.update(Role.team(team_id, "prescriber")),
            Permission.read(Role.label("pharmacist")),
        ],
    )
    as_doctor, as_nurse = TablesDB(people.session_client(doctor)), TablesDB(people.session_client(nurse))
    as_outsider, as_pharmacist = TablesDB(people.session_client(outsider)), TablesDB(people.session_client(pharmacist))
    assert as_nurse.get_row(database_id, "notes", "team-row").data["text"] == "clinic"
    assert as_pharmacist.get_row(database_id, "notes", "team-row").id == "team-row"
    assert error_of(as_outsider.get_row, database_id, "notes", "team-row").code == 404
    assert error_of(as_nurse.update_row, database_id, "notes", "team-row", {"text": "n"}).code == 401
    assert as_doctor.update_row(database_id, "notes", "team-row", {"text": "rx"}).data["text"] == "rx"
    assert as_outsider.list_rows(database_id, "notes", queries=[Query.equal("$id", "team-row")]).total == 0
