"""Turn parsed dm+d records into the rows the platform stores: `medicines` (one row per VTM, VMP, VMPP, AMP and
AMPP, denormalised for clients; a pack's every GTIN is in its details), `dmd_lookups` and `dmd_ingredients`.

Sub-group records (VPI, DTINFO, PRICE_INFO, ...) come after their products in the same file, so each product file
is read twice (sub-records first, kept as compact JSON per product; then the products); across files only small
maps are kept (a VMP's VTM, form and schedule; an AMP's VMP and supplier; a pack's current GTIN). Every field of
every record is kept in the row's `details` (dm+d element names, text values); the columns hold what clients filter
and show."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from .archive import KINDS, ReleaseArchive, archive_error
from .parser import PARENT_FIELD, ROUTES, DmdFormatError, Record, parse

MAIN_TYPES = {"vmp", "vmpp", "amp", "ampp"}  # files whose products have sub-groups later in the file
# Record type -> its element name, for `details` (both CCONTENT types are CCONTENT there).
ELEMENT = {record_type: tag for routes in ROUTES.values() for (_, tag), record_type in routes.items()}
LEGAL = {"GSL": "GSL", "P": "P", "POM": "POM"}  # LEGAL_CATEGORY descriptions; anything else is NA
SCHEDULE = re.compile(r"Schedule\s+([1-5])", re.IGNORECASE)
# Fallback when a CONTROL_DRUG_CATEGORY description does not name a schedule (dmd.md §2.8).
SCHEDULE_BY_CODE = {
    "0001": "1",
    "0002": "2",
    "0003": "2",
    "0004": "3",
    "0005": "3",
    "0006": "3",
    "0007": "3",
    "0008": "4",
    "0009": "4",
    "0010": "5",
}


def exact(encoded: bytes) -> bytes:
    """A copy at its real size: orjson's bytes carry a large spare buffer, which adds up over 100k held records."""
    return memoryview(encoded).tobytes()


def flag(value: str | None) -> bool:
    """dm+d flags are "1" or "0001" when true and absent when false."""
    return value is not None and value.strip().lstrip("0") == "1"


def as_int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


@dataclass
class Counts:
    parsed: dict[str, int] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)  # references to records the release does not have
    inconsistent: int = 0  # packs whose VMPP and AMP name different VMPs
    unrouted: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, bucket: dict[str, int] | None = None) -> None:
        target = self.parsed if bucket is None else bucket
        target[key] = target.get(key, 0) + 1


@dataclass(slots=True)
class VmpFacts:
    vtm: str | None
    form: str | None
    schedule: str | None
    category: str | None


class CatalogueBuilder:
    """Yields (table, row) pairs for one release, in load order."""

    def __init__(self, archive: ReleaseArchive):
        self.archive = archive
        self.counts = Counts()
        self.lookups: dict[str, dict[str, str]] = {}
        self.vmps: dict[str, VmpFacts] = {}
        self.vmpp_vmp: dict[str, str] = {}
        self.amps: dict[str, tuple[str, str | None]] = {}  # APID -> (VPID, supplier name)
        self.current_gtin: dict[str, str] = {}
        self.gtin_data: dict[str, bytes] = {}  # APPID -> its GTINDATA records as JSON

    def rows(self) -> Iterator[tuple[str, dict]]:
        for kind in KINDS:
            try:
                if kind in MAIN_TYPES:
                    yield from self._grouped(kind)
                else:
                    with self.archive.open(kind) as stream:
                        yield from self._flat(kind, parse(kind, stream, self.counts.unrouted))
            except DmdFormatError as exc:
                raise archive_error(f"{self.archive.members[kind]}: {exc}") from None

    # --- files without sub-groups -----------------------------------------------------------------------------
    def _flat(self, kind: str, records: Iterator[Record]) -> Iterator[tuple[str, dict]]:
        for rec in records:
            if rec.type != "gtin":  # a GTIN file's AMPP only wraps GTINDATA records, counted in _gtins
                self.counts.add(rec.type)
            if rec.type == "lookup":
                self.lookups.setdefault(rec.table, {})[rec.fields.get("CD", "")] = rec.fields.get("DESC", "")
                yield "dmd_lookups", lookup_row(rec)
            elif rec.type == "ing":
                yield "dmd_ingredients", ingredient_row(rec.fields)
            elif rec.type == "vtm":
                yield "medicines", self._vtm(rec.fields)
            elif rec.type == "gtin":
                self._gtins(rec)

    def _gtins(self, rec: Record) -> None:
        """Every GTINDATA of a pack is kept for its details; the live one (no end date; the latest start if
        several) becomes the row's `gtin`."""
        appid = rec.fields["AMPPID"]
        self.counts.parsed["gtindata"] = self.counts.parsed.get("gtindata", 0) + len(rec.gtins)
        self.gtin_data[appid] = exact(orjson.dumps(rec.gtins))
        current = [g for g in rec.gtins if not g.get("ENDDT")]
        if current:
            self.current_gtin[appid] = max(current, key=lambda g: g.get("STARTDT", ""))["GTIN"]

    # --- files whose products come before their sub-groups -----------------------------------------------------
    def _grouped(self, kind: str) -> Iterator[tuple[str, dict]]:
        """Two passes over the member: the first keeps each product's sub-records (newline-separated JSON in one
        bytes object: small, and JSON text never holds a raw newline), the second streams the products and emits
        each row at once. Holding the sub-records rather than the products halves the memory on AMP and AMPP."""
        sub_types = frozenset(ROUTES[kind].values()) - {kind}
        subs: dict[str, bytes] = {}
        with self.archive.open(kind) as stream:
            for rec in parse(kind, stream, skip=frozenset({kind})):
                self.counts.add(rec.type)
                parent_field = PARENT_FIELD[rec.type]
                sub = {"_": rec.type, **rec.fields}
                parent = sub.pop(parent_field, "")
                previous = subs.get(parent)
                encoded = orjson.dumps(sub)
                subs[parent] = exact(encoded) if previous is None else previous + b"\n" + encoded
        make = {"vmp": self._vmp, "vmpp": self._vmpp, "amp": self._amp, "ampp": self._ampp}[kind]
        id_field = {"vmp": "VPID", "vmpp": "VPPID", "amp": "APID", "ampp": "APPID"}[kind]
        with self.archive.open(kind) as stream:
            for rec in parse(kind, stream, self.counts.unrouted, skip=sub_types):
                self.counts.add(rec.type)
                grouped: dict[str, list[dict]] = {}
                raw = subs.pop(rec.fields.get(id_field, ""), None)
                for line in raw.split(b"\n") if raw else ():
                    sub = orjson.loads(line)
                    grouped.setdefault(sub.pop("_"), []).append(sub)
                yield "medicines", make(rec.fields, grouped)
        for raw in subs.values():  # sub-records of products the file does not have
            for line in raw.split(b"\n"):
                self.counts.add(orjson.loads(line)["_"], self.counts.orphans)

    # --- one medicines row per product ------------------------------------------------------------------------
    def _base(self, type_: str, code: str, fields: dict, details: dict) -> dict:
        invalid = flag(fields.get("INVALID"))
        return {
            "$id": code,
            "code": code,
            "type": type_,
            "name": fields.get("NM", ""),
            "vtm_code": None,
            "vmp_code": None,
            "vmpp_code": None,
            "amp_code": None,
            "form": None,
            "supplier": None,
            "legal_category": None,
            "cd_schedule": None,
            "cd_category": None,
            "controlled": False,
            "price_pence": None,
            "gtin": None,
            "discontinued": False,
            "invalid": invalid,
            "available": not invalid,
            "retired": False,
            "details": orjson.dumps(details).decode(),
        }

    @staticmethod
    def _details(fields: dict, subs: dict, type_: str) -> dict:
        """The record under its own element name, then its sub-records under theirs."""
        return {ELEMENT[type_]: fields, **{ELEMENT[sub_type]: records for sub_type, records in subs.items()}}

    @staticmethod
    def _apply_vmp_facts(row: dict, facts: VmpFacts) -> dict:
        row.update(
            vtm_code=facts.vtm,
            form=facts.form,
            cd_schedule=facts.schedule,
            cd_category=facts.category,
            controlled=facts.schedule is not None,
        )
        return row

    def _with_vmp(self, row: dict, vpid: str | None) -> dict:
        facts = self.vmps.get(vpid or "")
        row["vmp_code"] = vpid
        if vpid and facts is None:
            self.counts.add(row["type"] + "->vmp", self.counts.orphans)
        return self._apply_vmp_facts(row, facts) if facts else row

    @staticmethod
    def _finish(row: dict, discontinued: bool) -> dict:
        row["discontinued"] = discontinued
        row["available"] = not (row["invalid"] or discontinued)
        return row

    def _vtm(self, fields: dict) -> dict:
        return self._base("vtm", fields.get("VTMID", ""), fields, self._details(fields, {}, "vtm"))

    def _vmp(self, fields: dict, subs: dict) -> dict:
        vpid = fields.get("VPID", "")
        forms = [self.lookups.get("FORM", {}).get(d.get("FORMCD", "")) for d in subs.get("dform", [])]
        category_code = next((c.get("CATCD") for c in subs.get("control_info", [])), None)
        category = self.lookups.get("CONTROL_DRUG_CATEGORY", {}).get(category_code or "")
        schedule = None
        if category_code and category_code.strip("0"):
            match = SCHEDULE.search(category or "")
            schedule = match.group(1) if match else SCHEDULE_BY_CODE.get(category_code)
        facts = VmpFacts(
            fields.get("VTMID") or None, next((f for f in forms if f), None), schedule, category if schedule else None
        )
        self.vmps[vpid] = facts
        row = self._apply_vmp_facts(self._base("vmp", vpid, fields, self._details(fields, subs, "vmp")), facts)
        return self._finish(row, fields.get("NON_AVAILCD") == "0001")

    def _vmpp(self, fields: dict, subs: dict) -> dict:
        vppid = fields.get("VPPID", "")
        self.vmpp_vmp[vppid] = fields.get("VPID", "")
        row = self._with_vmp(self._base("vmpp", vppid, fields, self._details(fields, subs, "vmpp")), fields.get("VPID"))
        row["price_pence"] = next((as_int(d.get("PRICE")) for d in subs.get("dtinfo", [])), None)
        return self._finish(row, False)

    def _amp(self, fields: dict, subs: dict) -> dict:
        apid = fields.get("APID", "")
        supplier = self.lookups.get("SUPPLIER", {}).get(fields.get("SUPPCD", ""))
        self.amps[apid] = (fields.get("VPID", ""), supplier)
        row = self._with_vmp(self._base("amp", apid, fields, self._details(fields, subs, "amp")), fields.get("VPID"))
        row["supplier"] = supplier
        return self._finish(row, fields.get("AVAIL_RESTRICTCD") == "0009")

    def _ampp(self, fields: dict, subs: dict) -> dict:
        appid, apid, vppid = fields.get("APPID", ""), fields.get("APID", ""), fields.get("VPPID", "")
        amp = self.amps.get(apid)
        if amp is None:
            self.counts.add("ampp->amp", self.counts.orphans)
        vmp_of_pack = self.vmpp_vmp.get(vppid)
        if vmp_of_pack is None:
            self.counts.add("ampp->vmpp", self.counts.orphans)
        elif amp and amp[0] != vmp_of_pack:
            self.counts.inconsistent += 1
        details = self._details(fields, subs, "ampp")
        gtins = self.gtin_data.pop(appid, None)
        if gtins:
            details["GTINDATA"] = orjson.loads(gtins)
        row = self._with_vmp(self._base("ampp", appid, fields, details), amp[0] if amp else vmp_of_pack)
        legal = self.lookups.get("LEGAL_CATEGORY", {}).get(fields.get("LEGAL_CATCD", ""), "")
        row.update(
            amp_code=apid or None,
            vmpp_code=vppid or None,
            supplier=amp[1] if amp else None,
            legal_category=LEGAL.get(legal.strip().upper(), "NA"),
            price_pence=next((as_int(p.get("PRICE")) for p in subs.get("price_info", [])), None),
            gtin=self.current_gtin.get(appid),
        )
        return self._finish(row, fields.get("DISCCD") == "0001")


def lookup_row(rec: Record) -> dict:
    fields = rec.fields
    key = f"{rec.table}|{fields.get('CD', '')}".encode()
    return {
        "$id": "lk" + hashlib.blake2b(key, digest_size=8).hexdigest(),
        "table": rec.table,
        "code": fields.get("CD", ""),
        "description": fields.get("DESC", ""),
        "previous_code": fields.get("CDPREV") or None,
        "code_date": fields.get("CDDT") or None,
        "invalid": flag(fields.get("INVALID")),
        "retired": False,
    }


def ingredient_row(fields: dict) -> dict:
    return {
        "$id": fields.get("ISID", ""),
        "code": fields.get("ISID", ""),
        "name": fields.get("NM", ""),
        "previous_code": fields.get("ISIDPREV") or None,
        "code_date": fields.get("ISIDDT") or None,
        "invalid": flag(fields.get("INVALID")),
        "retired": False,
    }
