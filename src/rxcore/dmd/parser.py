"""Streaming parse of dm+d XML files into flat records, routed by file and group.

Why this shape (see ../shared/reference/dmd.md §6):
- lxml `iterparse` with a `tag=` filter reports only record elements, so a record's children are intact when it
  ends (clearing every element on its own end event is the bug that emptied an earlier importer's records);
- after a record is read it is cleared and its processed siblings are deleted, so memory stays bounded;
- the same tag means different things in different places (AMPP in f_ampp2 vs f_gtin2, CCONTENT under VMPP vs
  AMPP, INFO in 26 lookup tables), so a record's type comes from (file, parent group, tag), never the tag alone;
- child order is not relied on, the header comment is optional, there are no namespaces, and entities are decoded by
  the parser (external entities and DTDs are never loaded).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from lxml import etree

# file kind -> {(parent element, record element): record type}
ROUTES: dict[str, dict[tuple[str, str], str]] = {
    "lookup": {},  # INFO rows: the parent element names the lookup table
    "ingredient": {("INGREDIENT_SUBSTANCES", "ING"): "ing"},
    "vtm": {("VIRTUAL_THERAPEUTIC_MOIETIES", "VTM"): "vtm"},
    "vmp": {
        ("VMPS", "VMP"): "vmp",
        ("VIRTUAL_PRODUCT_INGREDIENT", "VPI"): "vpi",
        ("ONT_DRUG_FORM", "ONT"): "ont",
        ("DRUG_FORM", "DFORM"): "dform",
        ("DRUG_ROUTE", "DROUTE"): "droute",
        ("CONTROL_DRUG_INFO", "CONTROL_INFO"): "control_info",
    },
    "vmpp": {
        ("VMPPS", "VMPP"): "vmpp",
        ("DRUG_TARIFF_INFO", "DTINFO"): "dtinfo",
        ("COMB_CONTENT", "CCONTENT"): "vmpp_ccontent",
    },
    "amp": {
        ("AMPS", "AMP"): "amp",
        ("AP_INGREDIENT", "AP_ING"): "ap_ing",
        ("LICENSED_ROUTE", "LIC_ROUTE"): "lic_route",
        ("AP_INFORMATION", "AP_INFO"): "ap_info",
    },
    "ampp": {
        ("AMPPS", "AMPP"): "ampp",
        ("APPLIANCE_PACK_INFO", "PACK_INFO"): "pack_info",
        ("DRUG_PRODUCT_PRESCRIB_INFO", "PRESCRIB_INFO"): "prescrib_info",
        ("MEDICINAL_PRODUCT_PRICE", "PRICE_INFO"): "price_info",
        ("REIMBURSEMENT_INFO", "REIMB_INFO"): "reimb_info",
        ("COMB_CONTENT", "CCONTENT"): "ampp_ccontent",
    },
    "gtin": {("AMPPS", "AMPP"): "gtin"},
}
# The id field that links a record to its parent product (for sub-group records) or names it (main records).
PARENT_FIELD = {
    "vpi": "VPID",
    "ont": "VPID",
    "dform": "VPID",
    "droute": "VPID",
    "control_info": "VPID",
    "dtinfo": "VPPID",
    "vmpp_ccontent": "PRNTVPPID",
    "ap_ing": "APID",
    "lic_route": "APID",
    "ap_info": "APID",
    "pack_info": "APPID",
    "prescrib_info": "APPID",
    "price_info": "APPID",
    "reimb_info": "APPID",
    "ampp_ccontent": "PRNTAPPID",
}


class DmdFormatError(ValueError):
    """The file is not the dm+d XML it claims to be (malformed XML or an unknown layout)."""


@dataclass(slots=True)
class Record:
    type: str  # vtm, vmp, vpi, ..., lookup, gtin
    fields: dict[str, str]  # element name -> text ("" for an empty element); absent optional elements are absent
    table: str | None = None  # for lookup rows: the lookup table (e.g. "SUPPLIER")
    gtins: list[dict[str, str]] | None = None  # for gtin records: every GTINDATA, in file order


def _fields(element) -> dict[str, str]:
    # Comments and processing instructions have a non-str tag; they are not fields.
    return {child.tag: (child.text or "") for child in element if isinstance(child.tag, str)}


def _release(element) -> None:
    """Free a processed record and the siblings before it, so the tree never grows with the file."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def parse(
    kind: str, stream: IO[bytes], unrouted: dict[str, int] | None = None, skip: frozenset[str] = frozenset()
) -> Iterator[Record]:
    """Yield every record of one dm+d file of the given kind (a key of ROUTES), except the types in `skip` (those
    are still released from the tree, but not read).

    Records in a place the layout does not know are counted in `unrouted` (keyed "PARENT/TAG") and skipped."""
    routes = ROUTES[kind]
    tags = ["INFO"] if kind == "lookup" else sorted({tag for _, tag in routes})
    events = etree.iterparse(
        stream, events=("end",), tag=tags, resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True
    )
    try:
        for _, element in events:
            parent = element.getparent()
            parent_tag = parent.tag if parent is not None else ""
            if kind == "lookup":
                yield Record("lookup", _fields(element), table=parent_tag)
            elif kind == "gtin" and (parent_tag, element.tag) in routes:
                amppid = element.findtext("AMPPID") or ""
                data = [_fields(g) for g in element.iterchildren("GTINDATA")]
                yield Record("gtin", {"AMPPID": amppid}, gtins=data)
            else:
                record_type = routes.get((parent_tag, element.tag))
                if record_type in skip:
                    pass
                elif record_type is None:
                    if unrouted is not None:
                        key = f"{parent_tag}/{element.tag}"
                        unrouted[key] = unrouted.get(key, 0) + 1
                else:
                    yield Record(record_type, _fields(element))
            _release(element)
    except etree.XMLSyntaxError as exc:
        raise DmdFormatError(f"malformed XML: {exc}") from None
