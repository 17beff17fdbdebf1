"""The sync refuses a release that looks broken before retiring anything; `force` accepts one that shrank."""

from __future__ import annotations

import orjson
import pytest

from rxcore.dmd.sync import MEDICINE_TYPES, DmdSync
from rxcore.errors import ServiceError


class LastRelease:
    """Only what the check reads: the last complete release's counts."""

    def __init__(self, records: int):
        counts = {"medicines": {t: {"records": records, "written": records} for t in MEDICINE_TYPES}}
        self.row = {"$id": "11.2.0_20261116000001", "counts": orjson.dumps(counts).decode()}

    def last_complete_release(self):
        return self.row


def per_type(records: int) -> dict:
    return {t: {"records": records, "written": 0} for t in MEDICINE_TYPES}


def test_a_release_that_shrank_by_half_is_refused_unless_forced():
    sync = DmdSync(LastRelease(1000), log=lambda _: None)
    sync._check(per_type(500), force=False)  # exactly half is still accepted
    with pytest.raises(ServiceError) as caught:
        sync._check(per_type(499), force=False)
    assert caught.value.type == "dmd_release_shrank" and "force" in caught.value.message
    sync._check(per_type(499), force=True)


def test_a_type_with_no_records_is_refused_even_when_forced():
    sync = DmdSync(LastRelease(1000), log=lambda _: None)
    for force in (False, True):
        with pytest.raises(ServiceError) as caught:
            sync._check({**per_type(1000), "vmpp": {"records": 0, "written": 0}}, force=force)
        assert caught.value.type == "dmd_release_incomplete"
