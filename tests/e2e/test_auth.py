"""Users (server side), Account (session, JWT), Teams and memberships, and the account rate limit."""

from __future__ import annotations

import bcrypt
import pytest
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.account import Account
from appwrite.services.teams import Teams
from appwrite.services.users import Users
from argon2 import PasswordHasher

from tests.support.sdk import error_of

pytestmark = pytest.mark.e2e


def test_users_crud_labels_prefs_status(admin, people):
    users = Users(admin)
    user_id = ID.unique()
    created = users.create(user_id, email=f"{user_id}@Example.TEST", password="password123", name="Ann Smith")
    assert created.email == f"{user_id}@example.test" and created.status is True and created.prefs.data == {}
    assert created.hash == "argon2" and created.password.startswith("$argon2id$")
    assert error_of(users.create, user_id, email="other@example.test").type == "user_already_exists"
    assert error_of(users.create, ID.unique(), email=created.email).type == "user_already_exists"
    assert error_of(users.create, ID.unique(), email="not-an-email").type == "general_argument_invalid"
    assert error_of(users.create, ID.unique(), password="short").type == "general_argument_invalid"

    assert users.update_labels(user_id, ["prescriber", "admin"]).labels == ["prescriber", "admin"]
    assert users.update_prefs(user_id, {"lang": "en-GB"}).data == {"lang": "en-GB"}
    assert users.get_prefs(user_id).data == {"lang": "en-GB"}
    found = users.list(queries=[Query.equal("$id", user_id)])
    assert found.total == 1 and found.users[0].name == "Ann Smith"
    assert users.list(search="Ann Smith").total >= 1
    assert users.list(queries=[Query.contains("labels", ["prescriber"]), Query.equal("$id", user_id)]).total == 1
    err = error_of(users.list, queries=[Query.equal("secretField", "x")])
    assert (err.code, err.type) == (400, "general_argument_invalid")

    users.update_status(user_id, False)
    err = error_of(Account(admin).create_email_password_session, created.email, "password123")
    assert (err.code, err.type) == (401, "user_blocked")
    users.update_status(user_id, True)
    assert Account(admin).create_email_password_session(created.email, "password123").userid == user_id

    users.delete(user_id)
    assert error_of(users.get, user_id).type == "user_not_found"


def test_imported_password_hashes(admin):
    users, account = Users(admin), Account(admin)
    argon_id, bcrypt_id = ID.unique(), ID.unique()
    users.create_argon2_user(argon_id, f"{argon_id}@example.test", PasswordHasher().hash("argon-secret"))
    users.create_bcrypt_user(
        bcrypt_id, f"{bcrypt_id}@example.test", bcrypt.hashpw(b"bcrypt-secret", bcrypt.gensalt(rounds=4)).decode()
    )
    assert account.create_email_password_session(f"{argon_id}@example.test", "argon-secret").userid == argon_id
    assert account.create_email_password_session(f"{bcrypt_id}@example.test", "bcrypt-secret").userid == bcrypt_id
    err = error_of(account.create_email_password_session, f"{bcrypt_id}@example.test", "wrong-secret")
    assert (err.code, err.type) == (401, "user_invalid_credentials")


def test_session_ssr_pattern_and_jwt(admin, people, guest):
    person = people.create("Sam")
    session = Account(admin).create_email_password_session(person["email"], person["password"])
    assert session.secret and session.provider == "email" and session.current is True
    client = people.client().set_session(session.secret)
    account = Account(client)
    me = account.get()
    assert me.id == person["id"] and me.email == person["email"]
    assert me.password is None  # secrets go only to API keys
    assert account.update_prefs({"theme": "dark"}).prefs.data == {"theme": "dark"}
    assert account.get_prefs().data == {"theme": "dark"}
    assert account.update_name("Samuel").name == "Samuel"
    assert account.get_session("current").id == session.id
    assert [s.id for s in account.list_sessions().sessions] == [session.id]
    err = error_of(account.create_email_password_session, person["email"], person["password"])
    assert (err.code, err.type) == (401, "user_session_already_exists")

    token = Users(admin).create_jwt(person["id"], session_id=session.id, duration=60).jwt
    jwt_account = Account(people.client().set_jwt(token))
    assert jwt_account.get().id == person["id"]
    bad = Account(people.client().set_jwt(token[:-4] + "AAAA"))
    assert error_of(bad.get).type == "user_jwt_invalid"

    account.delete_session("current")
    assert error_of(account.get).code == 401  # the session is gone: a guest now
    assert error_of(jwt_account.get).type == "user_jwt_invalid"  # its JWT named that session
    err = error_of(Account(guest).get)
    assert (err.code, err.type) == (401, "general_unauthorized_scope")
    assert 'missing scopes (["account"])' in err.message


def test_account_create_and_users_sessions(admin, people):
    user_id = ID.unique()
    created = Account(people.client()).create(user_id, f"{user_id}@example.test", "signup-password", "New")
    assert created.id == user_id and created.password is None
    users = Users(admin)
    server_session = users.create_session(user_id)
    assert server_session.secret
    assert Account(people.client().set_session(server_session.secret)).get().id == user_id
    assert users.list_sessions(user_id).total == 1
    users.delete_sessions(user_id)
    assert users.list_sessions(user_id).total == 0


def test_teams_and_memberships(admin, people):
    owner, member = people.create("Owner"), people.create("Member")
    as_owner = Teams(people.session_client(owner))
    team_id = ID.unique()
    team = as_owner.create(team_id, "Riverside Clinic", roles=["admin"])
    assert team.total == 1 and team.prefs.data == {}
    memberships = as_owner.list_memberships(team_id)
    assert memberships.total == 1 and sorted(memberships.memberships[0].roles) == ["admin", "owner"]

    teams = Teams(admin)
    err = error_of(as_owner.create_membership, team_id, ["staff"], user_id=member["id"])
    assert err.type == "general_smtp_disabled"  # users invite by email; there is no SMTP here
    added = teams.create_membership(team_id, ["pharmacist"], user_id=member["id"])
    assert added.confirm is True and added.roles == ["pharmacist"] and added.useremail == member["email"]
    assert error_of(teams.create_membership, team_id, ["x"], user_id=member["id"]).type == "team_invite_already_exists"
    assert error_of(teams.create_membership, team_id, ["x"], user_id="ghost-user").type == "user_not_found"

    as_member = Teams(people.session_client(member))
    assert [t.id for t in as_member.list().teams] == [team_id]
    assert error_of(as_member.update_name, team_id, "Mine now").code == 401
    updated = teams.update_membership(team_id, added.id, ["pharmacist", "admin"])
    assert updated.roles == ["pharmacist", "admin"]
    assert teams.get(team_id).total == 2
    as_member.delete_membership(team_id, added.id)  # leaving a team is allowed
    assert error_of(as_member.get, team_id).type == "team_not_found"
    assert as_owner.update_name(team_id, "Riverside").name == "Riverside"
    as_owner.delete(team_id)
    assert error_of(teams.get, team_id).type == "team_not_found"


def test_session_rate_limit_per_email(admin, people):
    person = people.create()
    account = Account(people.client())
    for _ in range(10):
        assert error_of(account.create_email_password_session, person["email"], "wrong-password").code == 401
    err = error_of(account.create_email_password_session, person["email"], person["password"])
    assert (err.code, err.type) == (429, "general_rate_limit_exceeded")
    # API keys are not limited.
    assert Account(admin).create_email_password_session(person["email"], person["password"]).userid == person["id"]


def test_what_a_request_may_do_follows_every_change_at_once(admin, people):
    """A caller's user row and roles are remembered between requests only until anything about users, memberships
    or teams changes (issue 19): a deleted session, a removed label or membership, a blocked or renamed user take
    effect on the very next request, for a JWT and for a session alike."""
    from appwrite.permission import Permission
    from appwrite.role import Role
    from appwrite.services.account import Account
    from appwrite.services.tables_db import TablesDB
    from appwrite.services.teams import Teams

    tables = TablesDB(admin)
    database = ID.unique()
    tables.create(database, "Invalidation")
    tables.create_table(database, "t", "T", row_security=True,
                        columns=[{"key": "v", "type": "varchar", "size": 5, "required": False}])  # fmt: skip
    team = Teams(admin).create(ID.unique(), "Ward").id
    tables.create_row(database, "t", "by-label", {"v": "l"}, [Permission.read(Role.label("nurse"))])
    tables.create_row(database, "t", "by-team", {"v": "t"}, [Permission.read(Role.team(team))])
    person = people.create()
    users = Users(admin)
    users.update_labels(person["id"], ["nurse"])
    membership = Teams(admin).create_membership(team, ["member"], user_id=person["id"]).id
    session_client = people.session_client(person)
    jwt_client = people.jwt_client(person)
    for client in (session_client, jwt_client):
        assert {r.id for r in TablesDB(client).list_rows(database, "t").rows} == {"by-label", "by-team"}

    users.update_labels(person["id"], [])
    Teams(admin).delete_membership(team, membership)
    for client in (session_client, jwt_client):
        assert TablesDB(client).list_rows(database, "t").total == 0
        assert error_of(TablesDB(client).get_row, database, "t", "by-team").code == 404

    users.update_status(person["id"], False)
    for client in (session_client, jwt_client):
        assert error_of(Account(client).get).type == "user_blocked"
    users.update_status(person["id"], True)
    assert Account(jwt_client).get().id == person["id"]
    users.update_name(person["id"], "Renamed Nurse")  # the caller's own record, as cached between requests
    assert Account(jwt_client).get().name == Account(session_client).get().name == "Renamed Nurse"

    users.delete_sessions(person["id"])  # the JWT names one of them: it dies with it
    assert error_of(Account(jwt_client).get).type == "user_jwt_invalid"
    assert error_of(Account(session_client).get).code == 401
