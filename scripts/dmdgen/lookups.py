"""The 26 f_lookup2 tables: small ones copied from the published code lists (../shared/reference/dmd.md §2.8),
big SNOMED-keyed ones (units, forms, routes, suppliers) seeded with real entries and filled to release size."""

from __future__ import annotations

import random

from .ids import IdMaker

# (table, row type, [(CD, DESC), ...]) for the local-code tables, in the file's order.
FIXED: list[tuple[str, list[tuple[str, str]]]] = [
    ("COMBINATION_PACK_IND", [("0001", "Combination pack"), ("0002", "Component only pack")]),
    ("COMBINATION_PROD_IND", [("0001", "Combination Product"), ("0002", "Component only product")]),
    (
        "BASIS_OF_NAME",
        [
            ("0001", "rINN - Recommended International Non-proprietary"),
            ("0002", "BAN - British Approved Name"),
            ("0003", "BANM - British Approved Name (Modified)"),
            ("0004", "INNM"),
            ("0005", "pINN"),
            ("0006", "USAN"),
            ("0007", "Other"),
        ],
    ),
    (
        "NAMECHANGE_REASON",
        [
            ("0000", ""),
            ("0001", "Replacement of a temporary name"),
            ("0002", "New approved generic name"),
            ("0003", "Basis of name changed"),
            ("0004", "Other"),
        ],
    ),
    (
        "VIRTUAL_PRODUCT_PRES_STATUS",
        [
            ("0001", "Valid as a prescribable product"),
            ("0002", "Invalid to prescribe in NHS primary care"),
            ("0003", "Not recommended to prescribe as a VMP"),
            ("0004", "Never valid to prescribe as a VMP"),
            ("0005", "Not recommended to prescribe as a VMP due to patient training"),
            ("0009", "Caution \u2013 AMP level prescribing advised"),
        ],
    ),
    (
        "CONTROL_DRUG_CATEGORY",
        [
            ("0000", "No Controlled Drug Status"),
            ("0001", "Schedule 1 (CD Lic)"),
            ("0002", "Schedule 2 (CD)"),
            ("0003", "Schedule 2 (CD Exempt Safe Custody)"),
            ("0004", "Schedule 3 (CD No Register)"),
            ("0005", "Schedule 3 (CD No Register Exempt Safe Custody)"),
            ("0006", "Schedule 3 (CD No Register Phenobarbital)"),
            ("0007", "Schedule 3 (CD No Register Temazepam)"),
            ("0008", "Schedule 4 (CD Anab)"),
            ("0009", "Schedule 4 (CD Benz)"),
            ("0010", "Schedule 5 (CD Inv)"),
        ],
    ),
    (
        "LICENSING_AUTHORITY",
        [
            ("0000", "None"),
            ("0001", "Medicines - MHRA/EMA"),
            ("0002", "Devices"),
            ("0003", "Unknown"),
            ("0004", "Traditional Herbal Medicines"),
        ],
    ),
]
FIXED_AFTER_SUPPLIER: list[tuple[str, list[tuple[str, str]]]] = [
    ("BASIS_OF_STRNTH", [("0001", "Based on Ingredient Substance"), ("0002", "Based on Base Substance")]),
    ("REIMBURSEMENT_STATUS", [("0000", "Not allowed (not in Drug Tariff)"), ("0001", "Allowed (in Drug Tariff)")]),
    ("SPEC_CONT", [("0001", "Special container"), ("0002", "Sub-pack is a special container")]),
    ("DND", [("0001", "Discount not deducted - automatic"), ("0002", "Discount not deducted - endorsement required")]),
    ("VIRTUAL_PRODUCT_NON_AVAIL", [("0000", "Actual Products Available"), ("0001", "Actual Products not Available")]),
    ("DISCONTINUED_IND", [("0000", "Reinstated"), ("0001", "Discontinued Flag")]),
    ("DF_INDICATOR", [("1", "Discrete"), ("2", "Continuous"), ("3", "Not applicable")]),
    (
        "PRICE_BASIS",
        [
            ("0001", "NHS Indicative Price"),
            ("0002", "No Price Available"),
            ("0003", "No Price product centrally funded"),
            ("0004", "No Price priced when manufactured"),
        ],
    ),
    ("LEGAL_CATEGORY", [("0001", "GSL"), ("0002", "P"), ("0003", "POM"), ("0004", "Not Applicable")]),
    (
        "AVAILABILITY_RESTRICTION",
        [
            ("0001", "None"),
            ("0002", "Restricted Availability"),
            ("0003", "Individual Patient Supply"),
            ("0004", "Imported"),
            ("0005", "Clinical Trial"),
            ("0006", "Special"),
            ("0007", "Extemp"),
            ("0009", "Not available"),
        ],
    ),
    (
        "LICENSING_AUTHORITY_CHANGE_REASON",
        [
            ("0001", "Licence Granted"),
            ("0002", "Transferred"),
            ("0003", "Withdrawn Manufacturer"),
            ("0004", "Withdrawn CHM"),
            ("0005", "Suspended CHM"),
            ("0006", "Discontinued/Expired/Lapsed"),
            ("0007", "Reintroduced"),
            ("0008", "No Reason Available"),
        ],
    ),
]
DT_PAYMENT_CATEGORY = [
    ("0001", "Part VIIIA Category A"),
    ("0003", "Part VIIIA Category C"),
    ("0005", "Part IXa"),
    ("0006", "Part IXb"),
    ("0007", "Part IXc"),
    ("0008", "Part IXr"),
    ("0009", "Part X"),
    ("0010", "Parts IXb and IXc"),
    ("0011", "Part VIIIA Category M"),
    ("0012", "Part VIIIB"),
]

# Real SNOMED ids for the units, forms and routes the generator uses by name.
UNITS = {
    "mg": "258684004",
    "ml": "258773002",
    "g": "258682000",
    "tablet": "428673006",
    "vial": "415818006",
    "capsule": "428641000",
    "microgram": "258685003",
    "ampoule": "413516001",
    "dose": "3317411000001100",
    "patch": "419702001",
    "sachet": "733010002",
    "dressing": "3318611000001103",
}
FORMS = {
    "tablets": "385055001",
    "capsules": "385049006",
    "oral solution": "385023001",
    "solution for injection": "385219001",
    "cream": "385099005",
    "transdermal patches": "385114002",
    "inhalation powder": "385203008",
    "eye drops": "385124005",
    "oral suspension": "385024007",
    "granules": "385043007",
    "ointment": "385101003",
    "buccal tablets": "385085006",
}
ROUTES = {
    "oral": "26643006",
    "intravenous": "47625008",
    "cutaneous": "448598008",
    "transdermal": "45890007",
    "inhalation": "18679011000001101",
    "ocular": "54485002",
    "intramuscular": "78421000",
    "subcutaneous": "34206005",
    "auricular": "10547007",
    "buccal": "54471007",
}
# Suppliers with names that exercise escaping and non-ASCII text.
SUPPLIERS = [
    "Mawdsley-Brooks & Company Ltd",
    "Laboratoires Th\u00e9a",
    "\u00c5lborg Pharma A/S",
    "Accord Healthcare Ltd",
    "Procter & Gamble (Health & Beauty Care) Ltd",
    "M\u00fcller Medical GmbH",
    "Dr. Reddy's Laboratories (UK) Ltd",
    "Zentiva Pharma UK Ltd",
    "Th\u00e9ramex HQ UK Ltd",
    "Sandoz Ltd",
    "Teva UK Ltd",
    "Viatris UK Healthcare Ltd",
    "Aspire Pharma Ltd",
    "Bristol Laboratories Ltd",
    "Crescent Pharma Ltd",
    "Kyowa Kirin Ltd <Hospital>",
    "Glenmark Pharmaceuticals Europe Ltd",
    "Ranbaxy (UK) Ltd",
    "Flynn Pharma Ltd",
    "Thornton & Ross Ltd",
]
_SUPPLIER_WORDS = [
    "Albion",
    "Beacon",
    "Cedar",
    "Dunmore",
    "Elm",
    "Fenwick",
    "Granite",
    "Harbour",
    "Iona",
    "Juniper",
    "Kestrel",
    "Larch",
    "Meridian",
    "Northgate",
    "Oakfield",
    "Pennine",
    "Quay",
    "Riverside",
    "Severn",
    "Thames",
    "Upland",
    "Vale",
    "Westbrook",
    "York",
]
_SUPPLIER_TAILS = [
    "Pharma Ltd",
    "Healthcare Ltd",
    "Medical Ltd",
    "Laboratories Ltd",
    "Generics (UK) Ltd",
    "Pharmaceuticals plc",
    "Care & Health Ltd",
]


class LookupSet:
    """Lookup rows per table, plus the code lists the product generator draws from."""

    def __init__(self, rng: random.Random, ids: IdMaker, scale: str):
        full = scale == "full"
        self.tables: dict[str, list[dict[str, str]]] = {}
        for name, rows in FIXED:
            self.tables[name] = [{"CD": cd, "DESC": desc} for cd, desc in rows]
        self.units = self._history("UNIT_OF_MEASURE", ids, UNITS, 181 if full else 20, "unit")
        self.forms = self._history("FORM", ids, FORMS, 191 if full else 16, "form")
        self.tables["ONT_FORM_ROUTE"] = [
            {"CD": f"{i:04d}", "DESC": f"{form.replace(' ', '')}.{route}"}
            for i, (form, route) in enumerate(((f, r) for f in FORMS for r in ROUTES), start=1)
        ][: 337 if full else 30]
        self.routes = self._history("ROUTE", ids, ROUTES, 69 if full else 12, "route")
        self.tables["DT_PAYMENT_CATEGORY"] = [{"CD": cd, "DESC": desc} for cd, desc in DT_PAYMENT_CATEGORY]
        self.suppliers = self._suppliers(rng, ids, 2143 if full else 30)
        self.tables["FLAVOUR"] = [
            {"CD": f"{i:04d}", "DESC": f"Flavour {i}"} for i in range(1, (235 if full else 8) + 1)
        ]
        self.tables["COLOUR"] = [{"CD": f"{i:04d}", "DESC": f"Colour {i}"} for i in range(1, (141 if full else 8) + 1)]
        for name, rows in FIXED_AFTER_SUPPLIER:
            self.tables[name] = [{"CD": cd, "DESC": desc} for cd, desc in rows]

    def _history(self, table, ids, known: dict[str, str], size: int, noun: str) -> dict[str, str]:
        """A HistoryInfoType table: CD, optional CDDT + CDPREV, DESC. Returns name -> code."""
        rows = [{"CD": cd, "DESC": name} for name, cd in known.items()]
        while len(rows) < size:
            rows.append({"CD": ids.extension(), "DESC": f"{noun} {len(rows) + 1}"})
        for i in range(len(known), len(rows), 7):  # every 7th generated code replaced an earlier one
            rows[i] = {"CD": rows[i]["CD"], "CDDT": "2019-04-01", "CDPREV": ids.extension(), "DESC": rows[i]["DESC"]}
        self.tables[table] = rows
        return {row["DESC"]: row["CD"] for row in rows}

    def _suppliers(self, rng, ids, size: int) -> list[str]:
        rows = []
        names = list(SUPPLIERS)
        while len(names) < size:
            names.append(
                f"{rng.choice(_SUPPLIER_WORDS)} {rng.choice(_SUPPLIER_WORDS)} {rng.choice(_SUPPLIER_TAILS)}"
                f" {len(names)}"
            )
        for i, name in enumerate(names):
            row = {"CD": ids.extension()}
            if i % 11 == 5:
                row.update({"CDDT": "2020-01-06", "CDPREV": ids.extension()})
            if i % 29 == 7:
                row["INVALID"] = "1"
            row["DESC"] = name
            rows.append(row)
        self.tables["SUPPLIER"] = rows
        return [row["CD"] for row in rows if "INVALID" not in row]

    def desc(self, table: str, code: str) -> str:
        return next(row["DESC"] for row in self.tables[table] if row["CD"] == code)
