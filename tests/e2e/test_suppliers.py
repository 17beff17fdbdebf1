"""supplier-import end to end: the five suppliers' synthetic lists (test_data/suppliers/) imported through the real
function by a supplier admin who uploaded them, re-imports and changed lists counted, malformed files refused whole,
the permission matrix, and clinicians' search and comparison."""

from __future__ import annotations

import csv
import io

import pytest
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.query import Query
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users
from openpyxl import load_workbook

from tests.support.local_server import REPO

pytestmark = pytest.mark.e2e
FIXTURES = REPO / "test_data" / "suppliers"
EXPECTED = {  # rows read, products added, rows rejected (the fixture README says why)
    "alma": (6, 4, 2),
    "botanitech": (6, 5, 1),
    "medreleaf": (6, 6, 0),
    "phytoca": (3, 3, 0),
    "tasmanian-botanics": (7, 6, 1),
}


@pytest.fixture(scope="module")
def world(rx):
    if "supplier_admin" not in rx.people:
        Users(rx.admin).update_labels(rx.user("supplier_admin", "Supplier Admin").id, ["supplieradmin"])
        Users(rx.admin).update_labels(rx.user("supplier_admin2", "Second Supplier Admin").id, ["supplieradmin"])
        rx.user("shopper", "A Patient")
    return rx


def upload(world, who: str, content: bytes, filename: str) -> str:
    file = InputFile.from_bytes(content, filename=filename)
    return Storage(world.people[who].client).create_file("supplier_lists", ID.unique(), file).id


def run(world, who: str | None, action: str, **body):
    return world.execute(who, "supplier-import", {"action": action} | body)


def import_file(world, supplier: str, content: bytes, filename: str, dry_run: bool = False, who="supplier_admin"):
    file_id = upload(world, who, content, filename)
    return run(world, who, "import", supplier=supplier, fileId=file_id, dryRun=dry_run)


def products(world, supplier: str) -> dict[str, dict]:
    rows = world.tables.list("supplier_products", [Query.equal("supplier", supplier), Query.limit(500)])
    return {r["product_name"]: r for r in rows}


def test_each_fixture_imports_to_the_expected_rows_and_again_to_no_change(world):
    for supplier, (read, added, rejected) in EXPECTED.items():
        content = (FIXTURES / f"{supplier}.xlsx").read_bytes()
        code, answer = import_file(world, supplier, content, f"{supplier}.xlsx")
        assert code == 200, answer
        counts = answer["counts"]
        assert (counts["rows"], counts["added"], counts["rejected"]) == (read, added, rejected), (supplier, answer)
        assert all(p["severity"] in ("error", "warning") and p["line"] and p["message"] for p in answer["problems"])
        code, again = import_file(world, supplier, content, f"{supplier}.xlsx")
        assert again["counts"]["unchanged"] == added and again["counts"]["added"] == again["counts"]["changed"] == 0

    tempo = products(world, "medreleaf")["Tempo 26"]
    assert (tempo["brand"], tempo["form"], tempo["strain_type"], tempo["cultivar"]) == (
        "IndiMed", "flower", "hybrid", "Sourdough")  # fmt: skip
    assert (tempo["thc_op"], tempo["thc_max"], tempo["thc_unit"], tempo["cbd_max"]) == ("=", 26.0, "%", 0.5)
    assert (tempo["pack_size"], tempo["pack_unit"], tempo["retail_price"], tempo["wholesale_price"]) == (
        15.0, "g", "99.00", "66.00")  # fmt: skip
    assert (tempo["tga_category"], tempo["schedule"], tempo["status"]) == (5, "S8", "active")
    cartridge = products(world, "medreleaf")["IndiMed THC Resin Cartridge"]
    assert (cartridge["form"], cartridge["thc_max"], cartridge["thc_unit"], cartridge["cbd_op"]) == (
        "vape_cartridge", 800.0, "mg/g", "<")  # fmt: skip
    locomotive = products(world, "alma")["Crystal Locomotive THC28"]
    assert (locomotive["brand"], locomotive["form"], locomotive["retail_gst"]) == ("El Camino", "flower", "inc")
    beta = products(world, "alma")["Beta T20"]
    assert (beta["thc_min"], beta["thc_max"]) == (20.0, 24.0)
    pastille = products(world, "phytoca")["Phytoca T5 Pastille"]
    assert (pastille["form"], pastille["thc_max"], pastille["thc_unit"], pastille["pack_size"], pastille["code"]) == (
        "pastille", 5.0, "mg/unit", 30.0, "PHY-002")  # fmt: skip
    spray = products(world, "tasmanian-botanics")["Nabiximols Oromucosal Spray"]
    assert (spray["artg"], spray["access"], spray["tga_category"]) == ("123456", ["ARTG"], 3)
    capsule = products(world, "tasmanian-botanics")["Althea CBD25 Capsule"]
    assert (capsule["brand"], capsule["schedule"], capsule["cbd_max"], capsule["cbd_unit"]) == (
        "Althea", "S4", 25.0, "mg/unit")  # fmt: skip
    northern = products(world, "botanitech")["INC T10 Mango Mint Northern Lights"]
    assert (northern["code"], northern["retail_price"], northern["access"]) == ("9300000000011", None, ["AP", "SAS-B"])


def _changed_tasmanian_list() -> bytes:
    """The Tasmanian Botanics list a month later: Opal's price up, Sora gone, a new Jade line."""
    book = load_workbook(FIXTURES / "tasmanian-botanics.xlsx")
    sheet = book["Tasmanian Botanics Product List"]
    for row in sheet.iter_rows(min_row=3):
        if row[1].value == "THC 23 Opal":
            row[9].value = 125.0
        if row[1].value == "THC 30 Sora":
            for cell in row:
                cell.value = None
        if row[1].value == "THC 20 Jade":
            row[8].value, row[9].value = 70.0, 105.0
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_changed_list_adds_changes_discontinues_and_keeps_price_history(world):
    supplier = "tasmanian-botanics"
    if "THC 23 Opal" not in products(world, supplier):
        import_file(world, supplier, (FIXTURES / f"{supplier}.xlsx").read_bytes(), "tb.xlsx")
    before = {name: row["status"] for name, row in products(world, supplier).items()}
    code, dry = import_file(world, supplier, _changed_tasmanian_list(), "tb-december.xlsx", dry_run=True)
    assert code == 200 and dry["dryRun"] is True
    assert {name: row["status"] for name, row in products(world, supplier).items()} == before, (
        "a dry run writes nothing"
    )
    code, answer = import_file(world, supplier, _changed_tasmanian_list(), "tb-december.xlsx")
    counts = answer["counts"]
    assert (counts["added"], counts["changed"], counts["discontinued"], counts["rejected"]) == (1, 1, 1, 0), counts
    assert dry["counts"] == counts
    now = products(world, supplier)
    assert now["THC 30 Sora"]["status"] == "discontinued" and now["THC 30 Sora"]["discontinued_at"]
    assert now["THC 20 Jade"]["retail_price"] == "105.00"
    code, opal = run(world, "prescriber", "get", productId=now["THC 23 Opal"]["$id"])
    assert [p["retail_price"] for p in opal["prices"]] == ["125.00", "120.00"], "newest first"
    current, replaced = opal["prices"]
    assert current["superseded_at"] is None and current["import_id"] == answer["importId"]
    assert replaced["superseded_at"] == current["effective_at"] and replaced["import_id"] != answer["importId"]
    kept = world.tables.list("supplier_prices", [Query.equal("supplier", supplier), Query.limit(100)])
    assert [r["product_id"] for r in kept] == [now["THC 23 Opal"]["$id"]], (
        "a history row only for the price the list replaced (Jade, refused last time, is new: its price is current)"
    )
    code, found = run(world, "prescriber", "search", supplier=supplier, includeDiscontinued=False)
    assert "THC 30 Sora" not in {p["product_name"] for p in found["products"]}


def test_search_and_compare_for_clinicians(world):
    for supplier in ("medreleaf", "tasmanian-botanics", "phytoca"):
        if not products(world, supplier):
            import_file(world, supplier, (FIXTURES / f"{supplier}.xlsx").read_bytes(), f"{supplier}.xlsx")
    code, found = run(world, "prescriber", "search", query="Tempo")
    assert code == 200 and {p["product_name"] for p in found["products"]} >= {"Tempo 19", "Tempo 26"}
    code, oils = run(world, "pharmacist", "search", form="oil", schedule="S8", cbdMin=10)
    assert code == 200 and oils["products"] and all(p["form"] == "oil" and p["cbd_max"] >= 10 for p in oils["products"])
    code, cheap = run(world, "prescriber", "search", form="flower", priceMax=100)
    assert cheap["products"] and all(float(p["retail_price"]) <= 100 for p in cheap["products"])
    code, registered = run(world, "prescriber", "search", pathway="ARTG")
    assert [p["product_name"] for p in registered["products"]] == ["Nabiximols Oromucosal Spray"]
    tempo = products(world, "medreleaf")["Tempo 26"]
    code, compared = run(world, "prescriber", "compare", productId=tempo["$id"], by="thc")
    per_mg = [p["price_per_mg_thc"] for p in compared["equivalents"]]
    assert code == 200 and len(per_mg) >= 3 and per_mg == sorted(per_mg)
    assert {p["form"] for p in compared["equivalents"]} == {"flower"}
    assert len({p["supplier"] for p in compared["equivalents"]}) >= 2, "across suppliers"


def test_who_may_do_what(world):
    content = (FIXTURES / "phytoca.xlsx").read_bytes()
    admin_file = upload(world, "supplier_admin", content, "phytoca.xlsx")
    assert (
        run(world, "prescriber", "import", supplier="phytoca", fileId=admin_file)[1]["type"]
        == "supplier_admin_required"
    )
    assert run(world, "supplier_admin2", "import", supplier="phytoca", fileId=admin_file)[0] == 404, "not their upload"
    assert run(world, "shopper", "search")[0] == 403
    assert run(world, "shopper", "get", productId="anything")[0] == 403
    assert run(world, "supplier_admin", "search")[0] == 200
    assert run(world, "prescriber", "suppliers")[0] == 200
    with pytest.raises(AppwriteException) as refused:
        upload(world, "shopper", content, "phytoca.xlsx")
    assert refused.value.code in (401, 403)
    with pytest.raises(AppwriteException) as guest:
        world.execute(None, "supplier-import", {"action": "search"})
    assert guest.value.code == 401
    with pytest.raises(AppwriteException) as direct:  # no user reads the tables: only through the function
        TablesDB(world.people["prescriber"].client).list_rows("main", "supplier_products")
    assert direct.value.code == 401


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_malformed_files_are_refused_whole_and_write_nothing(world):
    supplier = "tasmanian-botanics"
    before = len(world.tables.list("supplier_products", [Query.limit(5000)]))
    header = ["Brand", "Product Name", "Active Ingredients", "Dose Form", "Pack Size", "Drug Schedule", "TGA Category"]
    big = [header] + [["TB", f"Line {n}", "THC 20%", "Flower", "10 g", "S8", "5"] for n in range(50_000)]
    cases = [
        (b"%PDF-1.4 not a spreadsheet", "list.xlsx", "not an Excel workbook"),
        (_csv([["Brand", "Product Name", "Dose Form"], ["TB", "X", "Flower"]]), "list.csv", "missing required column"),
        (_csv([["Name", "Strength"], ["X", "THC 20%"]]), "list.csv", "no header row"),
        ((FIXTURES / "botanitech.xlsx").read_bytes(), "botanitech.xlsx", "No sheet named"),
        (_csv(big), "huge.csv", "more than 25,000 rows"),
    ]
    for content, name, message in cases:
        code, answer = import_file(world, supplier, content, name)
        assert (code, answer["type"]) == (400, "supplier_file_invalid") and message in answer["message"], answer
    code, unknown = import_file(world, "no-such-supplier", b"x", "x.csv")
    assert code == 404 and unknown["type"] == "supplier_not_found"
    assert len(world.tables.list("supplier_products", [Query.limit(5000)])) == before


def test_the_report_names_each_bad_cell_with_formulas_made_inert(world):
    code, answer = import_file(world, "alma", (FIXTURES / "alma.xlsx").read_bytes(), "alma.xlsx")
    code, status = run(world, "supplier_admin", "import_status", importId=answer["importId"])
    assert code == 200 and status["import"]["counts"]["rejected"] == 2
    rows = list(csv.reader(io.StringIO(status["reportCsv"])))
    assert rows[0] == ["sheet", "line", "column", "value", "severity", "message"]
    formula = next(r for r in rows if "spreadsheet formula" in r[5])
    assert formula[1] == "8" and formula[3].startswith("'="), "the value is shown, never run"
    assert any(r[1] == "11" and r[2] == "THC" for r in rows)


# --- prescribing supplier products in Australia ----------------------------------------------------------------------
def _supplier_product(world, name: str) -> dict:
    supplier = "tasmanian-botanics"
    if name not in products(world, supplier) or products(world, supplier)[name]["status"] != "active":
        import_file(world, supplier, (FIXTURES / f"{supplier}.xlsx").read_bytes(), "tb.xlsx")
    return products(world, supplier)[name]


def _cannabis_item(product_id: str, **extra) -> dict:
    return {"supplierProductId": product_id, "dose": "0.1 g vaporised up to three times a day", "quantity": 1,
            "unit": "jar", "quantityWords": "one"} | extra  # fmt: skip


def test_an_s8_supplier_product_needs_its_approval_then_is_signed_printed_and_dispensed(world):
    import pypdfium2

    flower = _supplier_product(world, "THC 23 Opal")
    setting = {"clinicId": world.clinics["au"], "patientId": world.patients["au"]["$id"]}
    code, refused = world.prescribe("au_prescriber", **setting, authorityNumber="VIC-PERMIT-9",
                                    items=[_cannabis_item(flower["$id"])])  # fmt: skip
    assert (code, refused["type"]) == (400, "supplier_pathway_required"), refused
    code, refused = world.prescribe("au_prescriber", **setting, authorityNumber="VIC-PERMIT-9",
                                    items=[_cannabis_item(flower["$id"], pathway="SAS-B")])  # fmt: skip
    assert (code, refused["type"]) == (400, "supplier_approval_required")
    approved = _cannabis_item(flower["$id"], pathway="SAS-B", approvalNumber="SASB-2026-1")
    code, refused = world.prescribe("au_prescriber", **setting, items=[approved])
    assert (code, refused["type"]) == (400, "s8_authority_required"), "the S8 rules still apply"
    code, uk = world.prescribe("prescriber", clinicId=world.clinics["uk"], patientId=world.patients["uk"]["$id"],
                               items=[_cannabis_item(flower["$id"], pathway="SAS-B", approvalNumber="X")])  # fmt: skip
    assert (code, uk["type"]) == (400, "supplier_product_not_in_uk")

    item = _cannabis_item(flower["$id"], pathway="SAS-B", approvalNumber="SASB-2026-000123", repeats=2,
                          repeatIntervalDays=28)  # fmt: skip
    code, signed = world.prescribe("au_prescriber", **setting, authorityNumber="VIC-PERMIT-9", items=[item], sign=True)
    assert code == 200, signed
    prescription, row = signed["prescription"], signed["items"][0]
    assert prescription["controlled"] is True and row["schedule"] == "S8"
    assert (row["supplier_product_id"], row["pathway"], row["approval_number"], row["tga_category"]) == (
        flower["$id"], "SAS-B", "SASB-2026-000123", 5)  # fmt: skip
    assert row["name"] == "Tasmanian Botanics THC 23 Opal (THC 23%, CBD 0%) dried flower, 10 g"
    content = Storage(world.people["au_prescriber"].client).get_file_download("prescription_pdfs", prescription["$id"])
    text = "\n".join(page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(content))
    for expected in ("THC 23 Opal", "TGA Category 5 medicinal cannabis; SAS-B approval SASB-2026-000123",
                     "CONTROLLED DRUG - S8", "Quantity: 1 (one) jar", "confirm the patient's identity"):  # fmt: skip
        assert expected in text, expected

    code, verified = world.execute(
        "au_pharmacist", "dispensing", {"action": "verify", "number": prescription["number"]}
    )
    assert code == 200 and verified["verification"]["dispensable"] is True, verified
    body = {"action": "dispense", "number": prescription["number"], "idempotencyKey": "cannabis-1",
            "items": [{"itemId": row["$id"], "quantity": 1}]}  # fmt: skip
    code, supplied = world.execute("au_pharmacist", "dispensing", body)
    assert code == 200, supplied
    assert supplied["records"][0]["quantity"] == 1


def test_a_registered_supplier_product_needs_no_approval_and_a_tampered_approval_fails_verification(world):
    spray = _supplier_product(world, "Nabiximols Oromucosal Spray")
    item = {"supplierProductId": spray["$id"], "dose": "One spray twice a day", "quantity": 1, "unit": "vial",
            "quantityWords": "one"}  # fmt: skip
    setting = {"clinicId": world.clinics["au"], "patientId": world.patients["au"]["$id"]}
    code, signed = world.prescribe("au_prescriber", **setting, authorityNumber="VIC-PERMIT-10", items=[item], sign=True)
    assert code == 200, signed
    row = signed["items"][0]
    assert (row["artg"], row["pathway"], row["approval_number"]) == ("123456", None, None)
    world.tables.update("prescription_items", row["$id"], {"artg": "999999"})
    code, verified = world.execute("au_pharmacist", "dispensing",
                                   {"action": "verify", "number": signed["prescription"]["number"]})  # fmt: skip
    assert code == 200 and verified["verification"]["signature_valid"] is False, "the approval is inside the signature"


def test_an_id_that_would_climb_out_of_its_table_is_refused(world):
    """A caller's id goes into a request path the function makes with its own key: "../../clinics/rows/<id>" would be
    resolved by the HTTP client into another table's row. Ids follow Appwrite's rule at the request and again in
    rxcore.tables, so such an id is a 400 naming the field, and nothing is read."""
    climbing = f"../../clinics/rows/{world.clinics['au']}"[:36]
    for bad in (climbing, "..", "a/b", "%2e%2e"):
        code, refused = run(world, "prescriber", "get", productId=bad)
        assert (code, refused["type"]) == (400, "general_argument_invalid"), (bad, refused)
        assert "productId" in refused["message"]


def test_the_table_layer_refuses_an_id_that_is_not_one():
    from appwrite.client import Client
    from appwrite.exception import AppwriteException

    from rxcore.tables import Tables

    tables = Tables(Client().set_endpoint("http://127.0.0.1:9/v1").set_project("p"))
    for bad in ("../../clinics/rows/x", "..", "a/b", "", "-starts-with-a-hyphen"):
        with pytest.raises(AppwriteException) as refused:
            tables.update("patients", bad, {"x": 1})
        assert refused.value.code == 400  # refused before any request (nothing listens on port 9)
