"""Spoken dates to calendar dates: "today", "friday", "next week", "december fifth", "the 5th", "in 3 days".

Whisper writes numbers either way ("5th", "fifth", "twenty first"), so both are read. A date without
a year is the next one on or after today; a weekday is the next one after today.
"""

from __future__ import annotations

import calendar
import datetime
import re

from django.utils import timezone

WEEKDAYS = [name.lower() for name in calendar.day_name]
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_UNITS += "seventeen eighteen nineteen"
_ORDINAL_UNITS = "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
_ORDINAL_UNITS += "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
NUMBER_WORDS: dict[str, int] = {}
for _i, (_c, _o) in enumerate(zip(_UNITS.split(), _ORDINAL_UNITS.split(), strict=True)):
    NUMBER_WORDS[_c] = NUMBER_WORDS[_o] = _i
NUMBER_WORDS.update({"twenty": 20, "twentieth": 20, "thirty": 30, "thirtieth": 30, "a": 1, "an": 1})
_TENS_UNIT = (
    r"(?:one|first|two|second|three|third|four|fourth|five|fifth|six|sixth|seven|seventh|eight|eighth|nine|ninth)"
)
_NUMBER = r"(?:\d{1,2}(?:st|nd|rd|th)?|(?:twenty|thirty)(?:[ -]" + _TENS_UNIT + r")?|[a-z]+(?:th|st|nd|rd)|[a-z]+)"
_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"


def number(text: str) -> int | None:
    """21, "21st", "twenty first", "twenty-one", "fifth" -> int; None if it is not a number."""
    text = text.strip().lower()
    match = re.fullmatch(r"(\d{1,3})(?:st|nd|rd|th)?", text)
    if match:
        return int(match.group(1))
    parts = re.split(r"[ -]", text)
    if not parts or any(p not in NUMBER_WORDS for p in parts) or len(parts) > 2:
        return None
    if len(parts) == 2 and NUMBER_WORDS[parts[0]] not in (20, 30):
        return None
    return sum(NUMBER_WORDS[p] for p in parts)


def _day_of(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _next_month_day(today: datetime.date, month: int, day: int) -> datetime.date | None:
    found = _day_of(today.year, month, day)
    if found is not None and found < today:
        found = _day_of(today.year + 1, month, day)
    return found


def today() -> datetime.date:
    """The date a command is understood against: the one place the assistant reads the calendar.

    A command reads it once and hands it to everything that depends on a date (the speech prompt, the parser, the
    replies), so one turn never mixes two days across midnight, and a test fixes the date by passing it, or, for a
    worker process, by replacing this function (`assistant.tests.on_date`).
    """
    return timezone.localdate()


def parse_date(text: str, today: datetime.date) -> datetime.date | None:
    """The date `text` names (lower case, no punctuation), or None when it names none."""
    text = re.sub(r"^(?:on|by|for|due|until|before|at) ", "", text.strip().lower()).strip()
    text = re.sub(r"^(?:the )", "", text)
    if text in ("today", "tonight", "this evening", "end of day", "end of the day"):
        return today
    if text == "tomorrow":
        return today + datetime.timedelta(days=1)
    if text in ("the day after tomorrow", "day after tomorrow"):
        return today + datetime.timedelta(days=2)
    if text in ("next week", "a week from now", "in a week", "in one week"):
        return today + datetime.timedelta(days=7)
    if text in ("end of the week", "end of week", "the end of the week", "end of this week", "this week"):
        return today + datetime.timedelta(days=(4 - today.weekday()) % 7)  # the coming Friday (today on a Friday)
    match = re.fullmatch(r"(?:(?:this|next|coming|this coming) )?(" + "|".join(WEEKDAYS) + r")(?: next week)?", text)
    if match:
        ahead = (WEEKDAYS.index(match.group(1)) - today.weekday()) % 7 or 7
        return today + datetime.timedelta(days=ahead)
    match = re.fullmatch(r"in (" + _NUMBER + r") (day|days|week|weeks)", text)
    if match and number(match.group(1)) is not None:
        count = number(match.group(1))
        return today + datetime.timedelta(days=count * (7 if match.group(2).startswith("week") else 1))
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if match:
        return _day_of(*map(int, match.groups()))
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", text)
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        if match.group(3):
            year = int(match.group(3))
            return _day_of(year + 2000 if year < 100 else year, month, day)
        return _next_month_day(today, month, day)
    match = re.fullmatch(r"(" + _MONTH + r") (?:the )?(" + _NUMBER + r")(?:,? (\d{4}))?", text)
    if match is None:
        match = re.fullmatch(r"(?P<d>" + _NUMBER + r") (?:of )?(?P<m>" + _MONTH + r")(?:,? (?P<y>\d{4}))?", text)
        groups = (match.group("m"), match.group("d"), match.group("y")) if match else None
    else:
        groups = match.groups()
    if groups:
        month, day = MONTHS[groups[0].rstrip(".")], number(groups[1])
        if day is None:
            return None
        return _day_of(int(groups[2]), month, day) if groups[2] else _next_month_day(today, month, day)
    match = re.fullmatch(r"(" + _NUMBER + r")", text)
    if match and re.search(r"\d|(?:st|nd|rd|th)$", text):  # "the 5th", "the fifth": this month's or next month's
        day = number(text)
        if day is None:
            return None
        found = _day_of(today.year, today.month, day)
        if found is None or found < today:
            following = today.replace(day=1) + datetime.timedelta(days=32)
            found = _day_of(following.year, following.month, day)
        return found
    return None


def due_date(spoken: str, today: datetime.date) -> datetime.date | None:
    """The date a due clause names: "friday", "the 30th", and "5 days" as in "finished in 5 days"."""
    return parse_date(spoken, today) or parse_date(f"in {spoken}", today)


def speak_date(day: datetime.date, today: datetime.date) -> str:
    """How the reply says a date: "today", "tomorrow", "Friday", or "Friday, December 11"."""
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    if 1 < delta < 7:
        return day.strftime("%A")
    text = f"{day.strftime('%A, %B')} {day.day}"
    return text if day.year == today.year else f"{text}, {day.year}"
