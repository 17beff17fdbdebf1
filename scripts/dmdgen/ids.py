"""SNOMED-style identifiers (Verhoeff check digit) and GTINs (GS1 check digit), unique within a release."""

from __future__ import annotations

import random

from rxcore.checkdigits import gs1_digit, verhoeff_digit


class IdMaker:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value

    def core(self) -> str:
        """A partition-00 core concept id of 6-9 digits (older VTMs, ingredients, some VMPs)."""

        def make():
            body = str(self.rng.randrange(1000, 9_999_999)) + "00"
            return body + verhoeff_digit(body)

        return self._unique(make)

    def extension(self, namespace: str = "1000001") -> str:
        """A partition-10 UK Drug Extension id of 15-17 digits."""

        def make():
            body = str(self.rng.randrange(10_000, 99_999_999)) + namespace + "10"
            return body + verhoeff_digit(body)

        return self._unique(make)

    def gtin(self) -> str:
        """A GTIN-13 (UK prefix 50) or, now and then, a GTIN-14 with a leading zero."""

        def make():
            body = "50" + "".join(self.rng.choice("0123456789") for _ in range(10))
            code = body + gs1_digit(body)
            return "0" + code if self.rng.random() < 0.08 else code

        return self._unique(make)
