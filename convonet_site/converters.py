"""The `id` path converter: a database id in the range every backend stores (1 to 2^63 - 1); `index`, a
position counted from 0 (django-rq's queue numbers) with the same bound.

Django's `int` converter takes any length of digits, and an id past 2^63 - 1 reaches the database
driver, which raises `OverflowError` (a 500) instead of finding nothing. Out-of-range ids never match
here, so every URL that takes an id answers 404 for them, like any other id that does not exist.
Registered once, by `ConvonetSiteConfig.ready()`, before any URLconf is loaded.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(f"id {value} is out of range")  # the URL does not match: 404
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)


class IndexConverter(IdConverter):
    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 <= number <= MAX_ID:
            raise ValueError(f"index {value} is out of range")
        return number
