"""Derive the next weekly release from a model: some records changed, added and removed, with an exact account
of which medicines rows that touches (the oracle the end-to-end sync tests compare against)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from .model import LAYOUT, Release

TYPES = ("vtm", "vmp", "vmpp", "amp", "ampp")
VMP_ORDER = [
    "VPID",
    "VPIDDT",
    "VPIDPREV",
    "VTMID",
    "INVALID",
    "NM",
    "ABBREVNM",
    "BASISCD",
    "NMDT",
    "NMPREV",
    "BASIS_PREVCD",
    "NMCHANGECD",
    "COMBPRODCD",
    "PRES_STATCD",
    "SUG_F",
    "GLU_F",
    "PRES_F",
    "CFC_F",
    "NON_AVAILCD",
    "NON_AVAILDT",
    "DF_INDCD",
    "UDFS",
    "UDFS_UOMCD",
    "UNIT_DOSE_UOMCD",
]


@dataclass
class ReleaseDiff:
    added: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TYPES})
    changed: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TYPES})
    removed: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TYPES})

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            kind: {t: len(codes) for t, codes in getattr(self, kind).items() if codes}
            for kind in ("added", "changed", "removed")
        }


def _ordered(record: dict[str, str], updates: dict[str, str], order: list[str]) -> dict[str, str]:
    merged = {**record, **updates}
    return {key: merged[key] for key in order if key in merged}


def derive(release: Release) -> ReleaseDiff:
    """Turn `release` into the next week's release in place and return what changed."""
    builder = release.builder
    rng = random.Random(release.seed * 7919 + release.generation + 1)
    builder.rng = builder.ids.rng = rng
    release.generation += 1
    release.date += dt.timedelta(days=7)
    today = release.date.isoformat()
    diff = ReleaseDiff()
    amps = release.main("amp")
    ampps = release.main("ampp")
    in_combination = {r["PRNTAPPID"] for recs in release.records("ampp", "COMB_CONTENT").values() for r in recs}
    in_combination |= {r["CHLDAPPID"] for recs in release.records("ampp", "COMB_CONTENT").values() for r in recs}
    packs_of: dict[str, list[str]] = {}
    for appid, (rec,) in ampps.items():
        packs_of.setdefault(rec["APID"], []).append(appid)

    # Removed: whole AMPs with their packs (never one inside a combination pack).
    removable = [a for a in amps if not set(packs_of.get(a, [])) & in_combination]
    for apid in rng.sample(removable, max(2, len(amps) // 500)):
        _drop(release, "amp", apid)
        diff.removed["amp"].add(apid)
        for appid in packs_of.get(apid, []):
            _drop(release, "ampp", appid)
            release.gtins.pop(appid, None)
            diff.removed["ampp"].add(appid)

    candidates = sorted(ampps)
    rng.shuffle(candidates)
    n = max(3, len(ampps) // 100)
    repriced, discontinued, regtin = candidates[:n], candidates[n : 2 * n], []
    for appid in repriced:
        (price,) = release.records("ampp", "MEDICINAL_PRODUCT_PRICE")[appid]
        old = int(price["PRICE"])
        price.clear()
        price.update(
            {
                "APPID": appid,
                "PRICE": str(old + rng.randrange(1, 500)),
                "PRICEDT": today,
                "PRICE_PREV": str(old),
                "PRICE_BASISCD": "0001",
            }
        )
    for appid in discontinued:
        rec = ampps[appid][0]
        if rec.get("DISCCD") == "0001":
            rec["DISCCD"] = "0000"  # reinstated
        else:
            rec.update({"DISCCD": "0001", "DISCDT": today})
    for appid in candidates[2 * n :]:
        if len(regtin) >= max(2, n // 3):
            break
        current = release.gtins.get(appid)
        if current and len(current) == 1:
            current[0]["ENDDT"] = (release.date - dt.timedelta(days=1)).isoformat()
            current.append({"GTIN": builder.ids.gtin(), "STARTDT": today})
            regtin.append(appid)
    diff.changed["ampp"].update(repriced, discontinued, regtin)

    # Renamed VMPs: the VMP and every VMPP (whose name starts with the VMP name) change.
    products = [p for p in builder.products if not p.appliance and p.vpid in release.main("vmp")]
    for product in rng.sample(products, max(1, len(products) // 1000)):
        (vmp,) = release.main("vmp")[product.vpid]
        new_name = product.name + " (new formulation)"
        release.main("vmp")[product.vpid] = [
            _ordered(
                vmp,
                {
                    "NM": new_name,
                    "NMDT": today,
                    "NMPREV": product.name,
                    "BASIS_PREVCD": vmp["BASISCD"],
                    "NMCHANGECD": "0004",
                },
                VMP_ORDER,
            )
        ]
        for vppid in product.vmpps:
            (vmpp,) = release.main("vmpp")[vppid]
            vmpp["NM"] = new_name + vmpp["NM"][len(product.name) :]
            diff.changed["vmpp"].add(vppid)
        product.name = new_name
        diff.changed["vmp"].add(product.vpid)

    # Added: new brands, each with one pack, and a new pack size of an existing VMP.
    suppliers = builder.lookups.suppliers
    for product in rng.sample(products, max(2, len(amps) // 300)):
        apid, _, desc = builder.make_amp(product, rng.choice(suppliers), brand=True)
        appid = builder.make_ampp(apid, product, desc, product.vmpps[0])
        diff.added["amp"].add(apid)
        diff.added["ampp"].add(appid)
    product = rng.choice(products)
    vppid = builder.ids.extension()
    release.main("vmpp")[vppid] = [
        {
            "VPPID": vppid,
            "NM": f"{product.name} 999 {product.unit}",
            "VPID": product.vpid,
            "QTYVAL": "999.00",
            "QTY_UOMCD": release.main("vmpp")[product.vmpps[0]][0]["QTY_UOMCD"],
        }
    ]
    product.vmpps.append(vppid)
    diff.added["vmpp"].add(vppid)
    # A removed record that was also changed is just removed.
    for kind in TYPES:
        diff.changed[kind] -= diff.removed[kind]
    return diff


def _drop(release: Release, file: str, code: str) -> None:
    for _, _, spec in (entry for entry in LAYOUT if entry[0] == file):
        for group, _ in spec:
            release.records(file, group).pop(code, None)
