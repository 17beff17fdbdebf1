"""The in-memory model of one synthetic dm+d release, built from a seed, and the derivation of the next release.

Every record is a dict of element name -> text in the order NHSBSA emits the children (Appendix A of dmd.md).
`groups[file][group]` maps a parent id to that parent's records in the group, so removing a product is one `pop`
per group and the writer streams each group in parent order."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from .ids import IdMaker
from .lookups import FORMS, ROUTES, UNITS, LookupSet

# Group layout of every product file: (file, root, [(group element, record element), ...]).
LAYOUT: list[tuple[str, str, list[tuple[str | None, str]]]] = [
    ("ingredient", "INGREDIENT_SUBSTANCES", [(None, "ING")]),
    ("vtm", "VIRTUAL_THERAPEUTIC_MOIETIES", [(None, "VTM")]),
    (
        "vmp",
        "VIRTUAL_MED_PRODUCTS",
        [
            ("VMPS", "VMP"),
            ("VIRTUAL_PRODUCT_INGREDIENT", "VPI"),
            ("ONT_DRUG_FORM", "ONT"),
            ("DRUG_FORM", "DFORM"),
            ("DRUG_ROUTE", "DROUTE"),
            ("CONTROL_DRUG_INFO", "CONTROL_INFO"),
        ],
    ),
    (
        "vmpp",
        "VIRTUAL_MED_PRODUCT_PACK",
        [("VMPPS", "VMPP"), ("DRUG_TARIFF_INFO", "DTINFO"), ("COMB_CONTENT", "CCONTENT")],
    ),
    (
        "amp",
        "ACTUAL_MEDICINAL_PRODUCTS",
        [("AMPS", "AMP"), ("AP_INGREDIENT", "AP_ING"), ("LICENSED_ROUTE", "LIC_ROUTE"), ("AP_INFORMATION", "AP_INFO")],
    ),
    (
        "ampp",
        "ACTUAL_MEDICINAL_PROD_PACKS",
        [
            ("AMPPS", "AMPP"),
            ("APPLIANCE_PACK_INFO", "PACK_INFO"),
            ("DRUG_PRODUCT_PRESCRIB_INFO", "PRESCRIB_INFO"),
            ("MEDICINAL_PRODUCT_PRICE", "PRICE_INFO"),
            ("REIMBURSEMENT_INFO", "REIMB_INFO"),
            ("COMB_CONTENT", "CCONTENT"),
        ],
    ),
]
MAIN_GROUP = {"ingredient": None, "vtm": None, "vmp": "VMPS", "vmpp": "VMPPS", "amp": "AMPS", "ampp": "AMPPS"}

SCALES = {
    # Nov-2025 counts from dmd.md §1.6 for "full"; "small" keeps every structure in a few hundred records.
    "full": {"ing": 4490, "vtm": 3223, "vmp": 24390, "vmpp": 36932, "amp": 164893, "ampp": 184331, "gtin": 97633},
    "small": {"ing": 40, "vtm": 30, "vmp": 70, "vmpp": 105, "amp": 240, "ampp": 270, "gtin": 150},
}

# Named molecules (controlled-drug category, legal category, unit, forms); the rest are synthetic.
MOLECULES = [
    ("Paracetamol", "0000", "0001", "mg", ["tablets", "oral suspension"]),
    ("Ibuprofen", "0000", "0002", "mg", ["tablets", "oral suspension"]),
    ("Amoxicillin", "0000", "0003", "mg", ["capsules", "oral suspension"]),
    ("Morphine sulfate", "0002", "0003", "mg", ["oral solution", "solution for injection"]),
    ("Oxycodone hydrochloride", "0002", "0003", "mg", ["capsules", "solution for injection"]),
    ("Methylphenidate hydrochloride", "0002", "0003", "mg", ["tablets"]),
    ("Fentanyl", "0002", "0003", "microgram", ["transdermal patches"]),
    ("Cannabis sativa flower", "0002", "0003", "g", ["granules"]),
    ("Buprenorphine", "0005", "0003", "microgram", ["transdermal patches", "buccal tablets"]),
    ("Temazepam", "0007", "0003", "mg", ["tablets"]),
    ("Phenobarbital", "0006", "0003", "mg", ["tablets"]),
    ("Pregabalin", "0004", "0003", "mg", ["capsules"]),
    ("Tramadol hydrochloride", "0005", "0003", "mg", ["capsules"]),
    ("Diazepam", "0009", "0003", "mg", ["tablets"]),
    ("Testosterone", "0008", "0003", "mg", ["cream"]),
    ("Codeine phosphate", "0010", "0003", "mg", ["tablets"]),
    ("Levothyroxine sodium", "0000", "0003", "microgram", ["tablets"]),
    ("Salbutamol", "0000", "0003", "microgram", ["inhalation powder"]),
    ("Chloramphenicol", "0000", "0002", "mg", ["eye drops", "ointment"]),
    ("Cr\u00e8me d'aloe \u00e9mollient", "0000", "0001", "g", ["cream"]),
]
_SYLLABLES = ["ba", "cor", "da", "fen", "gli", "lo", "mar", "nex", "pra", "qui", "ro", "sul", "ta", "vo", "xil", "zo"]
_ENDINGS = ["pril", "sartan", "olol", "statin", "mab", "azole", "cillin", "dronate", "tidine", "vir", "zepam", "done"]
STRENGTHS = ["1", "2.5", "5", "10", "20", "25", "40", "50", "100", "200", "250", "500"]
PACK_SIZES = ["7", "14", "28", "30", "56", "60", "84", "100", "112", "500"]


@dataclass
class Product:
    """Per-VMP facts the AMP/AMPP generator needs."""

    vpid: str
    name: str
    legal: str
    unit: str
    appliance: bool
    vmpps: list[str] = field(default_factory=list)


@dataclass
class Release:
    seed: int
    scale: str
    generation: int
    date: dt.date
    lookups: LookupSet
    groups: dict[str, dict[str, dict[str, list[dict[str, str]]]]]
    gtins: dict[str, list[dict[str, str]]]  # APPID -> GTINDATA records, older first
    builder: _Builder | None = None  # kept so that a derived release can add products with fresh unique ids

    @property
    def version(self) -> str:
        first_monday = 1 + (7 - dt.date(self.date.year, self.date.month, 1).weekday()) % 7
        return f"{self.date.month}.{(self.date.day - first_monday) // 7}.0"

    @property
    def stamp(self) -> str:
        return f"{self.version}_{self.date:%Y%m%d}000001"

    @property
    def extract_date(self) -> dt.date:
        return self.date - dt.timedelta(days=4)  # the Thursday before the release Monday

    def records(self, file: str, group: str | None) -> dict[str, list[dict[str, str]]]:
        return self.groups[file][group or ""]

    def main(self, file: str) -> dict[str, list[dict[str, str]]]:
        return self.records(file, MAIN_GROUP[file])


def build(seed: int, scale: str, date: dt.date) -> Release:
    return _Builder(seed, scale).build(date)


class _Builder:
    def __init__(self, seed: int, scale: str):
        self.rng = random.Random(seed)
        self.ids = IdMaker(self.rng)
        self.seed, self.scale, self.n = seed, scale, SCALES[scale]
        self.lookups = LookupSet(self.rng, self.ids, scale)
        self.groups = {file: {(g or ""): {} for g, _ in spec} for file, _, spec in LAYOUT}
        self.gtins: dict[str, list[dict[str, str]]] = {}
        self.products: list[Product] = []

    def add(self, file: str, group: str | None, parent: str, record: dict[str, str]) -> None:
        self.groups[file][group or ""].setdefault(parent, []).append(record)

    def build(self, date: dt.date) -> Release:
        ingredients = self._ingredients()
        molecules = self._molecules(ingredients)
        self._vmps(molecules)
        self._vmpps()
        amps = self._amps()
        ampps = self._ampps(amps)
        self._gtins(ampps)
        release = Release(self.seed, self.scale, 0, date, self.lookups, self.groups, self.gtins)
        release.builder = self
        return release

    # --- products --------------------------------------------------------------------------------------------
    def _synthetic_name(self) -> str:
        rng = self.rng
        return (rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(_ENDINGS)).capitalize()

    def _ingredients(self) -> list[tuple[str, str]]:
        names = [m[0] for m in MOLECULES]
        while len(names) < self.n["ing"]:
            names.append(f"{self._synthetic_name()} {len(names)}")
        out = []
        for i, name in enumerate(names):
            isid = self.ids.core() if i % 3 else self.ids.extension("1000168" if i % 10 == 7 else "1000001")
            rec = {"ISID": isid}
            if i % 9 == 4:
                rec.update({"ISIDDT": "2018-06-11", "ISIDPREV": self.ids.extension()})
            if i % 80 == 33:
                rec["INVALID"] = "1"
            rec["NM"] = name
            self.add("ingredient", None, isid, rec)
            out.append((isid, name))
        return out

    def _molecules(self, ingredients):
        """One VTM per molecule; returns (vtmid, name, cd, legal, unit, forms, isid)."""
        out = []
        for i in range(self.n["vtm"]):
            isid, ing_name = ingredients[i % len(ingredients)]
            name, cd, legal, unit, forms = (
                MOLECULES[i]
                if i < len(MOLECULES)
                else (ing_name, "0000", "0003", self.rng.choice(["mg", "microgram"]), self.rng.sample(sorted(FORMS), 2))
            )
            vtmid = self.ids.core() if i % 2 else self.ids.extension()
            rec = {"VTMID": vtmid}
            if i % 30 == 11:
                rec["INVALID"] = "1"
            rec["NM"] = name
            if i % 50 == 3:
                rec["ABBREVNM"] = name[:20]
            if i % 3 == 1:
                rec.update({"VTMIDPREV": self.ids.extension(), "VTMIDDT": "2004-09-01"})
            self.add("vtm", None, vtmid, rec)
            out.append((vtmid, name, cd, legal, unit, forms, isid))
        return out

    def _vmps(self, molecules) -> None:
        rng, n_vmp = self.rng, self.n["vmp"]
        appliances = max(2, n_vmp // 40)
        names: set[str] = set()
        for i in range(n_vmp - appliances):
            vtmid, mol, cd, legal, unit, forms, isid = molecules[i % len(molecules)]
            form = forms[(i // len(molecules)) % len(forms)]
            strength = rng.choice(STRENGTHS)
            name = f"{mol} {strength}{unit} {form}"
            if name in names:
                name = f"{mol} {strength}{unit} {form} ({i})"
            names.add(name)
            vpid = self.ids.extension() if i % 4 else self.ids.core()
            rec = {"VPID": vpid}
            if i % 13 == 2:
                rec.update({"VPIDDT": "2015-03-01", "VPIDPREV": self.ids.extension()})
            rec["VTMID"] = vtmid
            if i % 97 == 50:
                rec["INVALID"] = "1"
            rec.update({"NM": name, "BASISCD": rng.choice(["0001", "0002", "0003", "0007"])})
            if i % 17 == 9:
                rec.update({"NMDT": "2021-05-10", "NMPREV": name.upper(), "BASIS_PREVCD": "0002", "NMCHANGECD": "0004"})
            rec["PRES_STATCD"] = "0009" if i % 41 == 0 else "0001"
            if form in ("tablets", "capsules"):
                rec.update({"SUG_F": "0001", "GLU_F": "0001"})
            if i % 53 == 27:
                rec.update({"NON_AVAILCD": "0001", "NON_AVAILDT": "2024-02-05"})
            discrete = form in ("tablets", "capsules", "transdermal patches", "buccal tablets")
            rec["DF_INDCD"] = "1" if discrete else "2"
            if discrete:
                rec.update({"UDFS": "1.000", "UDFS_UOMCD": UNITS["tablet"], "UNIT_DOSE_UOMCD": UNITS["tablet"]})
            self.add("vmp", "VMPS", vpid, rec)
            self.add(
                "vmp",
                "VIRTUAL_PRODUCT_INGREDIENT",
                vpid,
                {
                    "VPID": vpid,
                    "ISID": isid,
                    "BASIS_STRNTCD": "0001",
                    "STRNT_NMRTR_VAL": strength,
                    "STRNT_NMRTR_UOMCD": UNITS.get(unit, UNITS["mg"]),
                    **({"STRNT_DNMTR_VAL": "5", "STRNT_DNMTR_UOMCD": UNITS["ml"]} if not discrete else {}),
                },
            )
            route = {
                "tablets": "oral",
                "capsules": "oral",
                "oral solution": "oral",
                "oral suspension": "oral",
                "granules": "inhalation",
                "cream": "cutaneous",
                "ointment": "cutaneous",
                "eye drops": "ocular",
                "transdermal patches": "transdermal",
                "inhalation powder": "inhalation",
                "buccal tablets": "buccal",
            }.get(form, "intravenous")
            self.add("vmp", "ONT_DRUG_FORM", vpid, {"VPID": vpid, "FORMCD": f"{(i % 30) + 1:04d}"})
            self.add("vmp", "DRUG_FORM", vpid, {"VPID": vpid, "FORMCD": FORMS[form]})
            self.add("vmp", "DRUG_ROUTE", vpid, {"VPID": vpid, "ROUTECD": ROUTES[route]})
            if form == "solution for injection":
                self.add("vmp", "DRUG_ROUTE", vpid, {"VPID": vpid, "ROUTECD": ROUTES["intramuscular"]})
            control = {"VPID": vpid, "CATCD": cd}
            if cd != "0000" and i % 2:
                control.update({"CATDT": "2014-06-10", "CAT_PREVCD": "0000"})
            self.add("vmp", "CONTROL_DRUG_INFO", vpid, control)
            unit_name = {"capsules": "capsule", "transdermal patches": "patch"}.get(
                form, "tablet" if discrete else "ml"
            )
            self.products.append(Product(vpid, name, legal, unit_name, appliance=False))
        for i in range(appliances):
            vpid = self.ids.extension()
            name = f"Gauze swab {5 + i}cm x {5 + i}cm"
            self.add(
                "vmp",
                "VMPS",
                vpid,
                {"VPID": vpid, "NM": name, "BASISCD": "0007", "PRES_STATCD": "0001", "DF_INDCD": "3"},
            )
            self.add("vmp", "CONTROL_DRUG_INFO", vpid, {"VPID": vpid, "CATCD": "0000"})
            self.products.append(Product(vpid, name, "0004", "dressing", appliance=True))

    def _vmpps(self) -> None:
        counts = [1] * len(self.products)
        for _ in range(self.n["vmpp"] - len(counts)):
            counts[self.rng.randrange(len(counts))] += 1
        for product, count in zip(self.products, counts, strict=True):
            sizes = self.rng.sample(PACK_SIZES, min(count, len(PACK_SIZES)))
            for k in range(count):
                qty = sizes[k % len(sizes)] if k < len(sizes) else str(1000 + k)
                vppid = self.ids.extension()
                rec = {"VPPID": vppid}
                if self.rng.random() < 0.01:
                    rec["INVALID"] = "1"
                rec.update(
                    {
                        "NM": f"{product.name} {qty} {product.unit}",
                        "VPID": product.vpid,
                        "QTYVAL": f"{qty}.00",
                        "QTY_UOMCD": UNITS[product.unit],
                    }
                )
                self.add("vmpp", "VMPPS", vppid, rec)
                if self.rng.random() < 0.6:
                    price = self.rng.randrange(50, 5000)
                    self.add(
                        "vmpp",
                        "DRUG_TARIFF_INFO",
                        vppid,
                        {
                            "VPPID": vppid,
                            "PAY_CATCD": self.rng.choice(["0001", "0003", "0011"]),
                            "PRICE": str(price),
                            "DT": "2026-10-01",
                            "PREVPRICE": str(price + self.rng.randrange(-40, 40)),
                        },
                    )
                product.vmpps.append(vppid)
        packs = [p for p in self.products if len(p.vmpps) >= 2]
        for product in packs[: max(1, self.n["vmpp"] // 40)]:  # combination packs: a parent holding a child pack
            self.add(
                "vmpp", "COMB_CONTENT", product.vmpps[0], {"PRNTVPPID": product.vmpps[0], "CHLDVPPID": product.vmpps[1]}
            )

    def _amps(self) -> list[tuple[str, Product, str]]:
        rng, suppliers = self.rng, self.lookups.suppliers
        out = []
        for i in range(self.n["amp"]):
            product = self.products[i % len(self.products)] if i < len(self.products) else rng.choice(self.products)
            out.append(self.make_amp(product, rng.choice(suppliers), brand=i % 5 == 0))
        return out

    def make_amp(self, product: Product, supplier: str, brand: bool) -> tuple[str, Product, str]:
        rng = self.rng
        apid = self.ids.extension()
        name = product.name
        if brand:
            name = self._synthetic_name() + " " + name.split(" ", 1)[-1]
        desc = f"{name} ({self.lookups.desc('SUPPLIER', supplier)})"
        rec = {"APID": apid}
        if rng.random() < 0.01:
            rec["INVALID"] = "1"
        rec.update({"VPID": product.vpid, "NM": name})
        if rng.random() < 0.03:
            rec.update({"NMDT": "2022-01-17", "NM_PREV": name + " (old)"})
        rec.update({"DESC": desc, "SUPPCD": supplier, "LIC_AUTHCD": "0002" if product.appliance else "0001"})
        if rng.random() < 0.02:
            rec["PARALLEL_IMPORT"] = "0001"
        rec["AVAIL_RESTRICTCD"] = "0009" if rng.random() < 0.02 else "0001"
        self.add("amp", "AMPS", apid, rec)
        if product.appliance:
            self.add("amp", "AP_INFORMATION", apid, {"APID": apid, "SZ_WEIGHT": "10cm", "COLOURCD": "0001"})
        else:
            self.add("amp", "LICENSED_ROUTE", apid, {"APID": apid, "ROUTECD": ROUTES["oral"]})
            if rng.random() < 0.2:
                self.add(
                    "amp",
                    "AP_INGREDIENT",
                    apid,
                    {
                        "APID": apid,
                        "ISID": next(iter(self.groups["ingredient"][""])),
                        "STRNTH": "2.000",
                        "UOMCD": UNITS["mg"],
                    },
                )
        return apid, product, desc

    def _ampps(self, amps) -> list[str]:
        counts = [1] * len(amps)
        for _ in range(self.n["ampp"] - len(amps)):
            counts[self.rng.randrange(len(counts))] += 1
        out = []
        combos = max(1, self.n["ampp"] // 250)
        for (apid, product, desc), count in zip(amps, counts, strict=True):
            packs = [self.make_ampp(apid, product, desc, product.vmpps[k % len(product.vmpps)]) for k in range(count)]
            if count >= 2 and combos:  # a combination pack whose child is the AMP's second pack
                combos -= 1
                self.add("ampp", "COMB_CONTENT", packs[0], {"PRNTAPPID": packs[0], "CHLDAPPID": packs[1]})
            out.extend(packs)
        return out

    def make_ampp(self, apid: str, product: Product, desc: str, vppid: str) -> str:
        rng = self.rng
        vmpp_name = self.groups["vmpp"]["VMPPS"][vppid][0]["NM"]
        appid = self.ids.extension()
        rec = {"APPID": appid}
        if rng.random() < 0.01:
            rec["INVALID"] = "1"
        rec.update(
            {
                "NM": f"{desc} {vmpp_name[len(product.name) + 1 :]}",
                "VPPID": vppid,
                "APID": apid,
                "LEGAL_CATCD": product.legal,
            }
        )
        if rng.random() < 0.05:
            rec["SUBP"] = "1 x 28 tablet blister"
        if rng.random() < 0.1:
            rec.update({"DISCCD": "0001", "DISCDT": "2025-08-01"})
        self.add("ampp", "AMPPS", appid, rec)
        if product.appliance:
            self.add(
                "ampp",
                "APPLIANCE_PACK_INFO",
                appid,
                {"APPID": appid, "REIMB_STATCD": "0001", "PACK_ORDER_NO": f"GZ{rng.randrange(10000, 99999)}"},
            )
        if rng.random() < 0.5:
            flags = rng.choice([{"ACBS": "1"}, {"PADM": "1", "HOSP": "1"}, {"NURSE_F": "1"}, {"SCHED_2": "1"}])
            self.add("ampp", "DRUG_PRODUCT_PRESCRIB_INFO", appid, {"APPID": appid, **flags})
        price = rng.randrange(20, 20000)
        price_rec = {"APPID": appid, "PRICE": str(price)}
        if rng.random() < 0.3:
            price_rec.update({"PRICEDT": "2025-04-01", "PRICE_PREV": str(price + rng.randrange(-50, 50))})
        price_rec["PRICE_BASISCD"] = "0001"
        self.add("ampp", "MEDICINAL_PRODUCT_PRICE", appid, price_rec)
        reimb = {"APPID": appid, "PX_CHRGS": "1", "DISP_FEES": "1"}
        if rng.random() < 0.5:
            reimb["DND"] = "0001"
        self.add("ampp", "REIMBURSEMENT_INFO", appid, reimb)
        return appid

    def _gtins(self, ampps: list[str]) -> None:
        target = self.n["gtin"]
        doubles = target // 18
        chosen = self.rng.sample(ampps, target - doubles)
        for i, appid in enumerate(chosen):
            if i < doubles:
                self.gtins[appid] = [
                    {"GTIN": self.ids.gtin(), "STARTDT": "2012-02-01", "ENDDT": "2019-03-06"},
                    {"GTIN": self.ids.gtin(), "STARTDT": "2019-03-07"},
                ]
            else:
                self.gtins[appid] = [{"GTIN": self.ids.gtin(), "STARTDT": "2016-05-01"}]
