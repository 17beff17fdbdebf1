"""The streaming dm+d parser: every field of every record type, routed by file and group, whatever the layout."""

from __future__ import annotations

import io

import pytest

from rxcore.dmd.parser import DmdFormatError, parse

HEAD = '<?xml version="1.0" encoding="utf-8" ?>\n'
NS = 'xmlns="" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def records(kind: str, xml: str, unrouted: dict | None = None):
    return list(parse(kind, io.BytesIO(xml.encode("utf-8")), unrouted))


def element(tag: str, fields: dict[str, str]) -> str:
    return f"<{tag}>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + f"</{tag}>"


# One record per type with every field the v2.3 schema defines (optional ones included).
VTM = {
    "VTMID": "68088000",
    "INVALID": "1",
    "NM": "Acebutolol",
    "ABBREVNM": "Acebut",
    "VTMIDPREV": "9906511000001107",
    "VTMIDDT": "2004-09-01",
}
ING = {"ISID": "387567009", "ISIDDT": "2018-06-11", "ISIDPREV": "669361000168106", "INVALID": "1", "NM": "Wheat"}
VMP = {
    "VPID": "318412000",
    "VPIDDT": "2015-03-01",
    "VPIDPREV": "9906011000001104",
    "VTMID": "68088000",
    "INVALID": "1",
    "NM": "Acebutolol 100mg capsules",
    "ABBREVNM": "Acebut 100mg caps",
    "BASISCD": "0001",
    "NMDT": "2021-05-10",
    "NMPREV": "Acebutolol 100mg caps",
    "BASIS_PREVCD": "0002",
    "NMCHANGECD": "0004",
    "COMBPRODCD": "0001",
    "PRES_STATCD": "0001",
    "SUG_F": "0001",
    "GLU_F": "0001",
    "PRES_F": "0001",
    "CFC_F": "0001",
    "NON_AVAILCD": "0001",
    "NON_AVAILDT": "2024-02-05",
    "DF_INDCD": "1",
    "UDFS": "1.000",
    "UDFS_UOMCD": "428641000",
    "UNIT_DOSE_UOMCD": "428641000",
}
VPI = {
    "VPID": "318412000",
    "ISID": "387567009",
    "BASIS_STRNTCD": "0002",
    "BS_SUBID": "387567009",
    "STRNT_NMRTR_VAL": "100",
    "STRNT_NMRTR_UOMCD": "258684004",
    "STRNT_DNMTR_VAL": "5",
    "STRNT_DNMTR_UOMCD": "258773002",
}
ONT = {"VPID": "318412000", "FORMCD": "0003"}
DFORM = {"VPID": "318412000", "FORMCD": "385049006"}
DROUTE = {"VPID": "318412000", "ROUTECD": "26643006"}
CONTROL = {"VPID": "318412000", "CATCD": "0002", "CATDT": "2014-06-10", "CAT_PREVCD": "0000"}
VMPP = {
    "VPPID": "1000011000001105",
    "INVALID": "1",
    "NM": "Acebutolol 100mg capsules 84 capsule",
    "ABBREVNM": "Acebut 100mg caps 84",
    "VPID": "318412000",
    "QTYVAL": "84.00",
    "QTY_UOMCD": "428641000",
    "COMBPACKCD": "0001",
}
DTINFO = {"VPPID": "1000011000001105", "PAY_CATCD": "0001", "PRICE": "1121", "DT": "2017-04-01", "PREVPRICE": "461"}
VCC = {"PRNTVPPID": "1000011000001105", "CHLDVPPID": "1000111000001106"}
AMP = {
    "APID": "2000011000001101",
    "INVALID": "1",
    "VPID": "318412000",
    "NM": "Sectral 100mg capsules",
    "ABBREVNM": "Sectral 100",
    "DESC": "Sectral 100mg capsules (Sanofi)",
    "NMDT": "2022-01-17",
    "NM_PREV": "Sectral caps",
    "SUPPCD": "2070501000001104",
    "LIC_AUTHCD": "0001",
    "LIC_AUTH_PREVCD": "0003",
    "LIC_AUTHCHANGECD": "0001",
    "LIC_AUTHCHANGEDT": "2010-01-01",
    "COMBPRODCD": "0002",
    "FLAVOURCD": "0001",
    "EMA": "0001",
    "PARALLEL_IMPORT": "0001",
    "AVAIL_RESTRICTCD": "0001",
}
AP_ING = {"APID": "2000011000001101", "ISID": "387567009", "STRNTH": "2.000", "UOMCD": "258684004"}
LIC_ROUTE = {"APID": "2000011000001101", "ROUTECD": "26643006"}
AP_INFO = {"APID": "2000011000001101", "SZ_WEIGHT": "10cm", "COLOURCD": "0001", "PROD_ORDER_NO": "GZ123"}
AMPP = {
    "APPID": "1714711000001106",
    "INVALID": "1",
    "NM": "Sectral 100mg capsules (Sanofi) 84 capsule",
    "ABBREVNM": "Sectral 100 84",
    "VPPID": "1000011000001105",
    "APID": "2000011000001101",
    "COMBPACKCD": "0002",
    "LEGAL_CATCD": "0003",
    "SUBP": "1 x 84 capsule",
    "DISCCD": "0001",
    "DISCDT": "2025-08-01",
}
PACK = {
    "APPID": "1714711000001106",
    "REIMB_STATCD": "0001",
    "REIMB_STATDT": "2020-01-01",
    "REIMB_STATPREVCD": "0000",
    "PACK_ORDER_NO": "P1",
}
PRESCRIB = {
    "APPID": "1714711000001106",
    "SCHED_2": "0001",
    "ACBS": "0001",
    "PADM": "0001",
    "FP10_MDA": "0001",
    "SCHED_1": "0001",
    "HOSP": "0001",
    "NURSE_F": "0001",
    "ENURSE_F": "0001",
    "DENT_F": "0001",
}
PRICE = {
    "APPID": "1714711000001106",
    "PRICE": "529",
    "PRICEDT": "2025-04-01",
    "PRICE_PREV": "500",
    "PRICE_BASISCD": "0001",
}
REIMB = {
    "APPID": "1714711000001106",
    "PX_CHRGS": "1",
    "DISP_FEES": "1",
    "BB": "0001",
    "LTD_STAB": "0001",
    "CAL_PACK": "0001",
    "SPEC_CONTCD": "0001",
    "DND": "0001",
    "FP34D": "0001",
}
ACC = {"PRNTAPPID": "1714711000001106", "CHLDAPPID": "1714811000001104"}


def test_every_field_of_every_vtm_and_ingredient():
    (vtm,) = records(
        "vtm", HEAD + f"<VIRTUAL_THERAPEUTIC_MOIETIES {NS}>{element('VTM', VTM)}</VIRTUAL_THERAPEUTIC_MOIETIES>"
    )
    assert (vtm.type, vtm.fields) == ("vtm", VTM)
    (ing,) = records("ingredient", HEAD + f"<INGREDIENT_SUBSTANCES {NS}>{element('ING', ING)}</INGREDIENT_SUBSTANCES>")
    assert (ing.type, ing.fields) == ("ing", ING)


def test_every_field_of_every_vmp_group():
    xml = (
        HEAD + f"<VIRTUAL_MED_PRODUCTS {NS}><!-- Generated by NHSBSA PPD -->"
        f"<VMPS>{element('VMP', VMP)}</VMPS>"
        f"<VIRTUAL_PRODUCT_INGREDIENT>{element('VPI', VPI)}</VIRTUAL_PRODUCT_INGREDIENT>"
        f"<ONT_DRUG_FORM>{element('ONT', ONT)}</ONT_DRUG_FORM><DRUG_FORM>{element('DFORM', DFORM)}</DRUG_FORM>"
        f"<DRUG_ROUTE>{element('DROUTE', DROUTE)}</DRUG_ROUTE>"
        f"<CONTROL_DRUG_INFO>{element('CONTROL_INFO', CONTROL)}</CONTROL_DRUG_INFO></VIRTUAL_MED_PRODUCTS>"
    )
    assert [(r.type, r.fields) for r in records("vmp", xml)] == [
        ("vmp", VMP),
        ("vpi", VPI),
        ("ont", ONT),
        ("dform", DFORM),
        ("droute", DROUTE),
        ("control_info", CONTROL),
    ]


def test_every_field_of_every_vmpp_and_amp_group():
    vmpp = (
        HEAD + f"<VIRTUAL_MED_PRODUCT_PACK {NS}><VMPPS>{element('VMPP', VMPP)}</VMPPS>"
        f"<DRUG_TARIFF_INFO>{element('DTINFO', DTINFO)}</DRUG_TARIFF_INFO>"
        f"<COMB_CONTENT>{element('CCONTENT', VCC)}</COMB_CONTENT></VIRTUAL_MED_PRODUCT_PACK>"
    )
    assert [(r.type, r.fields) for r in records("vmpp", vmpp)] == [
        ("vmpp", VMPP),
        ("dtinfo", DTINFO),
        ("vmpp_ccontent", VCC),
    ]
    amp = (
        HEAD + f"<ACTUAL_MEDICINAL_PRODUCTS {NS}><AMPS>{element('AMP', AMP)}</AMPS>"
        f"<AP_INGREDIENT>{element('AP_ING', AP_ING)}</AP_INGREDIENT>"
        f"<LICENSED_ROUTE>{element('LIC_ROUTE', LIC_ROUTE)}</LICENSED_ROUTE>"
        f"<AP_INFORMATION>{element('AP_INFO', AP_INFO)}</AP_INFORMATION></ACTUAL_MEDICINAL_PRODUCTS>"
    )
    assert [(r.type, r.fields) for r in records("amp", amp)] == [
        ("amp", AMP),
        ("ap_ing", AP_ING),
        ("lic_route", LIC_ROUTE),
        ("ap_info", AP_INFO),
    ]


def test_every_field_of_every_ampp_group_and_ccontent_is_typed_by_its_file():
    xml = (
        HEAD + f"<ACTUAL_MEDICINAL_PROD_PACKS {NS}><AMPPS>{element('AMPP', AMPP)}</AMPPS>"
        f"<APPLIANCE_PACK_INFO>{element('PACK_INFO', PACK)}</APPLIANCE_PACK_INFO>"
        f"<DRUG_PRODUCT_PRESCRIB_INFO>{element('PRESCRIB_INFO', PRESCRIB)}</DRUG_PRODUCT_PRESCRIB_INFO>"
        f"<MEDICINAL_PRODUCT_PRICE>{element('PRICE_INFO', PRICE)}</MEDICINAL_PRODUCT_PRICE>"
        f"<REIMBURSEMENT_INFO>{element('REIMB_INFO', REIMB)}</REIMBURSEMENT_INFO>"
        f"<COMB_CONTENT>{element('CCONTENT', ACC)}</COMB_CONTENT></ACTUAL_MEDICINAL_PROD_PACKS>"
    )
    assert [(r.type, r.fields) for r in records("ampp", xml)] == [
        ("ampp", AMPP),
        ("pack_info", PACK),
        ("prescrib_info", PRESCRIB),
        ("price_info", PRICE),
        ("reimb_info", REIMB),
        ("ampp_ccontent", ACC),
    ]


def test_a_pack_with_two_gtins_keeps_both_in_order_and_the_gtin_root_needs_no_xmlns():
    xml = (
        HEAD + '<GTIN_DETAILS xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<!-- Generated by NHSBSA PPD on 2019/04/01 05:30:06 --><AMPPS><AMPP><AMPPID>1714711000001106</AMPPID>"
        "<GTINDATA><GTIN>8712400158572</GTIN><STARTDT>2010-02-01</STARTDT><ENDDT>2013-07-21</ENDDT></GTINDATA>"
        "<GTINDATA><GTIN>08712400360258</GTIN><STARTDT>2013-07-22</STARTDT></GTINDATA></AMPP></AMPPS>"
        "</GTIN_DETAILS>"
    )
    (rec,) = records("gtin", xml)
    assert rec.type == "gtin" and rec.fields == {"AMPPID": "1714711000001106"}
    assert rec.gtins == [
        {"GTIN": "8712400158572", "STARTDT": "2010-02-01", "ENDDT": "2013-07-21"},
        {"GTIN": "08712400360258", "STARTDT": "2013-07-22"},
    ]  # leading zero kept


def test_lookup_rows_are_typed_by_their_table_and_dnd_the_table_is_not_dnd_the_field():
    xml = (
        f"<LOOKUP {NS}><LEGAL_CATEGORY><INFO><CD>0003</CD><DESC>POM</DESC></INFO></LEGAL_CATEGORY>"
        "<SUPPLIER><INFO><CD>2070501000001104</CD><CDDT>2020-01-06</CDDT><CDPREV>9906511000001107</CDPREV>"
        "<INVALID>1</INVALID><DESC>Mawdsley-Brooks &amp; Company Ltd</DESC></INFO></SUPPLIER>"
        "<DND><INFO><CD>0001</CD><DESC>Discount not deducted</DESC></INFO></DND>"
        "<NAMECHANGE_REASON><INFO><CD>0000</CD><DESC></DESC></INFO></NAMECHANGE_REASON></LOOKUP>"
    )
    rows = records("lookup", xml)  # one line, no XML declaration
    assert [(r.table, r.fields) for r in rows] == [
        ("LEGAL_CATEGORY", {"CD": "0003", "DESC": "POM"}),
        (
            "SUPPLIER",
            {
                "CD": "2070501000001104",
                "CDDT": "2020-01-06",
                "CDPREV": "9906511000001107",
                "INVALID": "1",
                "DESC": "Mawdsley-Brooks & Company Ltd",
            },
        ),
        ("DND", {"CD": "0001", "DESC": "Discount not deducted"}),
        ("NAMECHANGE_REASON", {"CD": "0000", "DESC": ""}),  # an empty element is "", not a crash
    ]


def test_entities_non_ascii_children_out_of_order_and_whitespace_layout():
    xml = (
        "<ACTUAL_MEDICINAL_PRODUCTS>\n  <AMPS>\n    <AMP>\n      <DESC>Cr\u00e8me &lt;Th\u00e9a&gt; &amp; Co"
        " (\u00c5lborg)</DESC>\n      <AVAIL_RESTRICTCD>0001</AVAIL_RESTRICTCD>\n      <APID>2000011000001101</APID>"
        "\n      <NM>Cr&#232;me</NM>\n    </AMP>\n  </AMPS>\n  <AP_INGREDIENT/>\n</ACTUAL_MEDICINAL_PRODUCTS>"
    )
    (amp,) = records("amp", xml)  # no declaration, indented, empty group element
    assert amp.fields == {
        "DESC": "Cr\u00e8me <Th\u00e9a> & Co (\u00c5lborg)",
        "AVAIL_RESTRICTCD": "0001",
        "APID": "2000011000001101",
        "NM": "Cr\u00e8me",
    }


def test_records_in_unknown_places_are_counted_not_misread():
    unrouted: dict[str, int] = {}
    xml = (
        f"<ACTUAL_MEDICINAL_PROD_PACKS {NS}><AMPPS><AMPP><APPID>1</APPID></AMPP></AMPPS>"
        "<SURPRISE_GROUP><CCONTENT><PRNTAPPID>1</PRNTAPPID></CCONTENT></SURPRISE_GROUP>"
        "</ACTUAL_MEDICINAL_PROD_PACKS>"
    )
    assert [r.type for r in records("ampp", xml, unrouted)] == ["ampp"]
    assert unrouted == {"SURPRISE_GROUP/CCONTENT": 1}


def test_many_records_stream_with_the_tree_released():
    body = "".join(element("VTM", {"VTMID": str(i), "NM": f"n{i}"}) for i in range(5000))
    stream = io.BytesIO(f"<VIRTUAL_THERAPEUTIC_MOIETIES>{body}</VIRTUAL_THERAPEUTIC_MOIETIES>".encode())
    seen = 0
    for rec in parse("vtm", stream):
        assert rec.fields["NM"] == f"n{seen}"  # never emptied by an early clear()
        seen += 1
    assert seen == 5000


@pytest.mark.parametrize(
    "xml",
    [
        "<VIRTUAL_THERAPEUTIC_MOIETIES><VTM><VTMID>1</VTMID>",
        "<VIRTUAL_THERAPEUTIC_MOIETIES><VTM></VTMX></VIRTUAL_THERAPEUTIC_MOIETIES>",
        "not xml at all",
    ],
)
def test_malformed_xml_is_a_format_error(xml):
    with pytest.raises(DmdFormatError, match="malformed XML"):
        records("vtm", xml)


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<VIRTUAL_THERAPEUTIC_MOIETIES><VTM><VTMID>1</VTMID><NM>&x;</NM></VTM></VIRTUAL_THERAPEUTIC_MOIETIES>"
    )
    (vtm,) = records("vtm", xml)
    assert "TOP SECRET" not in vtm.fields["NM"]
