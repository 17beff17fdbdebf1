"""Set up clinics and their people on an Appwrite (the local server by default), for set-up and demos.

    python scripts/clinic_admin.py create-clinic --name "Riverside Online Clinic" --country UK --ods A81001 \
        --address "1 River Street, Leeds" --admin-email owner@example.com --admin-password '...'
    python scripts/clinic_admin.py add-practitioner --clinic CLINIC_ID --email dr@example.com --name "Dr A Prescott" \
        --role prescriber --body GMC --number 1234567 [--prescriber-number 2425739 --provider-number 4024742F]
    python scripts/clinic_admin.py add-patient --clinic CLINIC_ID --data '{"given_name": "Jane", ...}'
    python scripts/clinic_admin.py link-patient --patient PATIENT_ID --email jane@example.com
    python scripts/clinic_admin.py demo      # a UK clinic with a prescriber, a pharmacist and a linked patient

Users are created when the email is new (a password is then required). Each command prints JSON. Connection:
--credentials FILE (default $APPWRITE_LOCAL_DATA/credentials.json, else .appwrite-local/credentials.json) or
--endpoint/--project/--key."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from datetime import date
from pathlib import Path

from appwrite.client import Client
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.users import Users

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]
from rxcore import clinics  # noqa: E402
from rxcore.identifiers import InvalidIdentifier  # noqa: E402
from rxcore.patients import InvalidPatient  # noqa: E402
from scripts import connection  # noqa: E402


def user_for(client: Client, email: str, name: str | None, password: str | None) -> str:
    users = Users(client)
    found = users.list([Query.equal("email", email.lower())]).users
    if found:
        return found[0].id
    if not password or len(password) < 8:
        raise InvalidIdentifier(f"{email} has no account yet: give a password of at least 8 characters")
    return users.create(ID.unique(), email=email.lower(), password=password, name=name or email).id


def create_clinic(client: Client, args: argparse.Namespace) -> dict:
    admin = user_for(client, args.admin_email, args.admin_name, args.admin_password)
    clinic = clinics.create_clinic(
        client,
        name=args.name,
        country=args.country,
        admin_user_id=admin,
        ods_code=args.ods,
        hpio=args.hpio,
        state=args.state,
        address=args.address,
    )
    return {"clinicId": clinic["$id"], "adminUserId": admin}


def add_practitioner(client: Client, args: argparse.Namespace) -> dict:
    user = user_for(client, args.email, args.name, args.password)
    row = clinics.add_practitioner(
        client,
        clinic_id=args.clinic,
        user_id=user,
        name=args.name,
        role=args.role,
        registration_body=args.body,
        registration_number=args.number,
        prescriber_number=args.prescriber_number,
        provider_number=args.provider_number,
        hpii=args.hpii,
    )
    return {"userId": user, "practitioner": row["$id"], "clinics": row["clinic_ids"]}


def add_patient(client: Client, args: argparse.Namespace) -> dict:
    row = clinics.add_patient(client, clinic_id=args.clinic, data=json.loads(args.data), today=date.today())
    return {"patientId": row["$id"]}


def link_patient(client: Client, args: argparse.Namespace) -> dict:
    user = user_for(client, args.email, args.name, args.password)
    clinics.link_patient_account(client, patient_id=args.patient, user_id=user)
    return {"patientId": args.patient, "userId": user}


def demo(client: Client, args: argparse.Namespace) -> dict:
    """A UK clinic with an owner, a prescriber, a pharmacist and a patient with an account; prints the logins."""
    password = secrets.token_urlsafe(12)
    tag = secrets.token_hex(3)
    email = {role: f"{role}-{tag}@demo.example" for role in ("owner", "prescriber", "pharmacist", "patient")}
    owner = user_for(client, email["owner"], "Clinic Owner", password)
    clinic = clinics.create_clinic(
        client,
        name="Riverside Online Clinic (demo)",
        country="UK",
        admin_user_id=owner,
        ods_code="A81001",
        address="1 River Street, Leeds LS1 4AP",
    )["$id"]
    for role, name, body, number in (
        ("prescriber", "Dr Alice Prescott", "GMC", "1234567"),
        ("pharmacist", "Priya Patel", "GPhC", "2033467"),
    ):
        user = user_for(client, email[role], name, password)
        clinics.add_practitioner(
            client,
            clinic_id=clinic,
            user_id=user,
            name=name,
            role=role,
            registration_body=body,
            registration_number=number,
        )
    patient = clinics.add_patient(
        client,
        clinic_id=clinic,
        today=date.today(),
        data={
            "given_name": "Jane",
            "family_name": "Doe",
            "date_of_birth": "1980-02-29",
            "nhs_number": "9990000018",
            "address": "14 Park Lane, Leeds",
            "postcode": "LS1 4AP",
            "email": "jane@demo.example",
        },
    )
    clinics.link_patient_account(
        client, patient_id=patient["$id"], user_id=user_for(client, email["patient"], "Jane Doe", password)
    )
    medicines = None if args.no_medicines else load_demo_catalogue(client)
    return {
        "clinicId": clinic,
        "patientId": patient["$id"],
        "logins": email,
        "password": password,
        "medicines": medicines,
    }


DEMO_RELEASE = REPO / "test_data" / "dmd" / "nhsbsa_dmd_11.2.0_20261116000001.zip"


def load_demo_catalogue(client: Client) -> dict:
    """The small synthetic dm+d release (test_data/dmd) synced through trud-medicine-sync, as an admin would
    upload a real one: the demo prescriber then has medicines to prescribe. Skipped when it is already loaded."""
    from appwrite.input_file import InputFile
    from appwrite.services.functions import Functions
    from appwrite.services.storage import Storage

    from rxcore.tables import Tables

    if Tables(client).list("medicines", [Query.limit(1)]):
        # Never replace a catalogue that is there (a real release would be retired row by row by the demo one).
        return {"status": "skipped", "reason": "the catalogue already has medicines"}
    upload = Storage(client).create_file("dmd_uploads", ID.unique(), InputFile.from_path(str(DEMO_RELEASE)))
    body = {"action": "sync", "bucketId": "dmd_uploads", "fileId": upload.id}
    execution = Functions(client).create_execution("trud-medicine-sync", json.dumps(body))
    result = json.loads(execution.responsebody or "{}")
    if int(execution.responsestatuscode) != 200:
        raise SystemExit(f"loading the demo catalogue failed: {result}")
    return {"status": result.get("status"), "release": result.get("release")}


COMMANDS = {
    "create-clinic": create_clinic,
    "add-practitioner": add_practitioner,
    "add-patient": add_patient,
    "link-patient": link_patient,
    "demo": demo,
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    connection.add_arguments(root)
    commands = root.add_subparsers(dest="command", required=True)
    c = commands.add_parser("create-clinic")
    c.add_argument("--name", required=True)
    c.add_argument("--country", choices=["UK", "AU"], required=True)
    c.add_argument("--ods", help="UK: the clinic's ODS code")
    c.add_argument("--hpio", help="AU: the clinic's HPI-O")
    c.add_argument("--state", help="AU: NSW, VIC, QLD, SA, WA, TAS, NT or ACT")
    c.add_argument("--address")
    c.add_argument("--admin-email", required=True)
    c.add_argument("--admin-name")
    c.add_argument("--admin-password")
    p = commands.add_parser("add-practitioner")
    for flag in ("--clinic", "--email", "--name", "--number"):
        p.add_argument(flag, required=True)
    p.add_argument("--role", choices=["prescriber", "pharmacist"], required=True)
    p.add_argument("--body", choices=["GMC", "GPhC", "NMC", "HCPC", "AHPRA"], required=True)
    for flag in ("--prescriber-number", "--provider-number", "--hpii", "--password"):
        p.add_argument(flag)
    a = commands.add_parser("add-patient")
    a.add_argument("--clinic", required=True)
    a.add_argument("--data", required=True, help="JSON object of patients columns")
    link = commands.add_parser("link-patient")
    link.add_argument("--patient", required=True)
    link.add_argument("--email", required=True)
    link.add_argument("--name")
    link.add_argument("--password")
    demo_parser = commands.add_parser("demo")
    demo_parser.add_argument("--no-medicines", action="store_true", help="skip loading the small dm+d release")
    return root


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    client = connection.client_from(args, cli)
    try:
        result = COMMANDS[args.command](client, args)
    except InvalidPatient as exc:
        print(json.dumps({"error": "patient_invalid", "fields": exc.errors}), file=sys.stderr)
        return 2
    except InvalidIdentifier as exc:
        print(json.dumps({"error": "invalid", "message": str(exc)}), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
