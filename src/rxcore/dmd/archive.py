"""A dm+d release zip: find each member by its file-name pattern (names carry the DDMMYY extract date), open the
nested GTIN zip through the outer member, and fail with a clear message when something is missing."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass

from rxcore.errors import BadRequest, ServiceError

MEMBER = re.compile(r"^(?:.*/)?f_([a-z]+)2_\d(\d{6})\.xml$", re.IGNORECASE)
GTIN_ZIP = re.compile(r"^(?:.*/)?week\d{6}-r2_\d-GTIN\.zip$", re.IGNORECASE)
GTIN_MEMBER = re.compile(r"^(?:.*/)?f_gtin2_\d(\d{6})\.xml$", re.IGNORECASE)
RELEASE_NAME = re.compile(r"^nhsbsa_dmd_(\d{1,2}\.\d+\.\d+)_(\d{8})\d{6}\.zip$", re.IGNORECASE)
# Parse order: lookups and ingredients first, then each product level after the level it refers to, GTINs
# before packs (a pack row carries its current GTIN).
KINDS = ("lookup", "ingredient", "vtm", "vmp", "vmpp", "amp", "gtin", "ampp")


def archive_error(message: str) -> ServiceError:
    return BadRequest("dmd_archive_invalid", message)


@dataclass(frozen=True)
class ReleaseName:
    key: str  # "11.2.0_20261116000001": unique per release, used as the dmd_releases row id
    version: str | None
    date: dt.date | None


def release_name(file_name: str, sha256: str) -> ReleaseName:
    """Identify a release by its TRUD archive name; a zip with another name is keyed by its checksum."""
    match = RELEASE_NAME.match(file_name.rsplit("/", 1)[-1])
    if not match:
        return ReleaseName(f"sha256-{sha256[:24].lower()}", None, None)
    version, day = match.groups()
    return ReleaseName(
        file_name.rsplit("/", 1)[-1][len("nhsbsa_dmd_") : -4], version, dt.datetime.strptime(day, "%Y%m%d").date()
    )


class ReleaseArchive:
    def __init__(self, path: str):
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise archive_error(f"The release is not a readable zip archive: {exc}") from None
        self.members: dict[str, str] = {}
        for name in self.zip.namelist():
            match = MEMBER.match(name)
            kind = match.group(1).lower() if match else ("gtin" if GTIN_ZIP.match(name) else None)
            if kind in KINDS:
                if kind in self.members:
                    raise archive_error(f"The release has two {kind} files: {self.members[kind]} and {name}")
                self.members[kind] = name
        missing = [kind for kind in KINDS if kind not in self.members]
        if missing:
            raise archive_error(
                "The release is missing "
                + ", ".join(f"the {k} file" for k in missing)
                + " (expected f_<kind>2_3DDMMYY.xml members and a nested weekWWYYYY-r2_3-GTIN.zip)"
            )

    @contextmanager
    def open(self, kind: str):
        """A binary stream of one member; the GTIN XML is read through its nested zip without extracting."""
        try:
            if kind != "gtin":
                with self.zip.open(self.members[kind]) as stream:
                    yield stream
                return
            with self.zip.open(self.members["gtin"]) as outer, zipfile.ZipFile(outer) as inner:
                names = [n for n in inner.namelist() if GTIN_MEMBER.match(n)]
                if len(names) != 1:
                    raise archive_error(f"{self.members['gtin']} must hold exactly one f_gtin2_*.xml, found {names}")
                with inner.open(names[0]) as stream:
                    yield stream
        except zipfile.BadZipFile as exc:
            raise archive_error(f"The {kind} member is damaged: {exc}") from None

    def close(self) -> None:
        self.zip.close()
