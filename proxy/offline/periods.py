"""Periods in what people write, resolved against a fixed "now": "in March", "last month",
"this year", "since May", "between March and May 2026", "in the last 30 days", "Q1", ISO dates.

A month without a year is the latest one not after now ("in March" asked in December 2026 is
March 2026; asked in February 2026 it is March 2025). Periods are inclusive dates.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (calendar.month_name[number].lower(), calendar.month_abbr[number].lower())
}
MONTHS["sept"] = 9
_MONTH = (
    r"(?P<{g}>january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
_YEAR = r"(?:\s*,?\s*(?P<{g}>(?:19|20)\d\d))?"
_ISO = r"(?P<{g}>\d{{4}}-\d{{2}}-\d{{2}})"
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7}


@dataclass(frozen=True, slots=True)
class Period:
    start: date | None
    end: date | None
    label: str

    def iso(self) -> tuple[str | None, str | None]:
        return (self.start.isoformat() if self.start else None, self.end.isoformat() if self.end else None)

    def contains(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


def _month(name: str) -> int:
    return MONTHS[name.lower()]


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _latest_year(month: int, today: date) -> int:
    return today.year if month <= today.month else today.year - 1


def _shift_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _label(start: date, end: date) -> str:
    if start.day == 1 and end == _month_range(start.year, start.month)[1]:
        return f"{calendar.month_name[start.month]} {start.year}"
    if start == date(start.year, 1, 1) and end == date(start.year, 12, 31):
        return str(start.year)
    return f"{start.isoformat()} to {end.isoformat()}"


def _span(start: date, end: date, today: date, label: str | None = None) -> Period:
    label = label or _label(start, end)
    return Period(start, min(end, today) if start <= today else end, label)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_ISO_RANGE = _compile(r"(?:from|between)?\s*" + _ISO.format(g="a") + r"\s*(?:to|until|and|-|–)\s*" + _ISO.format(g="b"))
_ISO_SINCE = _compile(r"\b(?:since|after|from)\s+" + _ISO.format(g="a"))
_ISO_UNTIL = _compile(r"\b(?:until|till|before|up\s+to)\s+" + _ISO.format(g="a"))
_ISO_DAY = _compile(r"\b(?:on\s+)?" + _ISO.format(g="a"))
_MONTH_RANGE = _compile(
    r"\b(?:from|between)\s+"
    + _MONTH.format(g="m1")
    + _YEAR.format(g="y1")
    + r"\s+(?:to|until|till|and|through|-)\s+"
    + _MONTH.format(g="m2")
    + _YEAR.format(g="y2")
    + r"\b"
)
_SINCE_MONTH = _compile(
    r"\b(?:since|after|from)\s+(?:the\s+(?:start|beginning)\s+of\s+)?"
    + _MONTH.format(g="m")
    + _YEAR.format(g="y")
    + r"\b"
)
_UNTIL_MONTH = _compile(r"\b(?:until|till|before|up\s+to)\s+" + _MONTH.format(g="m") + _YEAR.format(g="y") + r"\b")
_IN_MONTH = _compile(
    r"\b(?:in|during|for|of|over|on|about|through|throughout)\s+(?:the\s+month\s+of\s+)?"
    + _MONTH.format(g="m")
    + _YEAR.format(g="y")
    + r"\b"
)
_MONTH_YEAR = _compile(r"\b" + _MONTH.format(g="m") + r"\s*,?\s*(?P<y>(?:19|20)\d\d)\b")
_BARE_MONTH = _compile(r"\b" + _MONTH.format(g="m") + r"\b")
_QUARTER = _compile(
    r"\b(?:q(?P<q>[1-4])|(?P<word>first|second|third|fourth)\s+quarter)(?:\s+(?:of\s+)?(?P<y>(?:19|20)\d\d))?\b"
)
_LAST_N = _compile(r"\b(?:last|past|previous)\s+(?P<n>\d+)\s+(?P<unit>days?|weeks?|months?|years?)\b")
_RELATIVE = _compile(
    r"\b(?P<which>this|last|previous|past|current)\s+(?P<unit>week|month|quarter|year)\b"
    r"|\b(?P<ytd>year\s+to\s+date|ytd|so\s+far\s+this\s+year)\b"
    r"|\b(?P<day>today|yesterday)\b"
)
_SEASON = _compile(
    r"\b(?P<p>in|during|over|this|last|for)\s+(?:the\s+)?(?P<s>spring|summer|autumn|fall|winter)"
    r"(?:\s+(?:of\s+)?(?P<y>(?:19|20)\d\d))?\b"
)
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}  # first month; three months each
_YEAR_ONLY = _compile(r"\b(?:in|during|for|of|over|since)\s+(?P<y>(?:19|20)\d\d)\b")
_QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def _month_year(m: str, y: str | None, today: date) -> tuple[int, int]:
    month = _month(m)
    return (int(y) if y else _latest_year(month, today)), month


def find_period(text: str, now: datetime) -> Period | None:
    """The period ``text`` names, if any."""
    today = now.date()
    if m := _ISO_RANGE.search(text):
        a, b = date.fromisoformat(m.group("a")), date.fromisoformat(m.group("b"))
        return Period(min(a, b), max(a, b), f"{min(a, b).isoformat()} to {max(a, b).isoformat()}")
    if m := _ISO_SINCE.search(text):
        start = date.fromisoformat(m.group("a"))
        return Period(start, today, f"since {start.isoformat()}")
    if m := _ISO_UNTIL.search(text):
        end = date.fromisoformat(m.group("a"))
        return Period(None, end, f"until {end.isoformat()}")
    if m := _ISO_DAY.search(text):
        day = date.fromisoformat(m.group("a"))
        return Period(day, day, day.isoformat())
    if m := _MONTH_RANGE.search(text):
        y1, m1 = _month_year(m.group("m1"), m.group("y1") or m.group("y2"), today)
        y2, m2 = _month_year(m.group("m2"), m.group("y2"), today)
        if (y1, m1) > (y2, m2) and not m.group("y1"):
            y1 -= 1
        start, end = _month_range(y1, m1)[0], _month_range(y2, m2)[1]
        return _span(start, end, today, f"{calendar.month_name[m1]} {y1} to {calendar.month_name[m2]} {y2}")
    if m := _SINCE_MONTH.search(text):
        y, mo = _month_year(m.group("m"), m.group("y"), today)
        start = date(y, mo, 1)
        return Period(start, today, f"since {calendar.month_name[mo]} {y}")
    if m := _UNTIL_MONTH.search(text):
        y, mo = _month_year(m.group("m"), m.group("y"), today)
        end = date(y, mo, 1) - timedelta(days=1)
        return Period(None, end, f"before {calendar.month_name[mo]} {y}")
    if m := _QUARTER.search(text):
        q = int(m.group("q")) if m.group("q") else _QUARTER_WORDS[m.group("word").lower()]
        year = (
            int(m.group("y")) if m.group("y") else (today.year if q <= (today.month - 1) // 3 + 1 else today.year - 1)
        )
        start = date(year, 3 * q - 2, 1)
        return _span(start, _month_range(year, 3 * q)[1], today, f"Q{q} {year}")
    if m := _LAST_N.search(text):
        n, unit = int(m.group("n")), m.group("unit").lower()
        if unit.startswith("month"):
            start = _shift_month(today, -n).replace(day=min(today.day, 28))
        elif unit.startswith("year"):
            start = today.replace(year=today.year - n)
        else:
            start = today - timedelta(days=n * _UNITS[unit])
        return Period(start, today, f"the last {n} {unit}")
    if m := _RELATIVE.search(text):
        return _relative(m, today)
    if m := _SEASON.search(text):
        first = _SEASONS[m.group("s").lower()]
        if m.group("y"):
            year = int(m.group("y"))
        else:  # the latest one that has begun
            year = today.year if (today.month, today.day) >= (first, 1) else today.year - 1
        start = date(year, first, 1)
        end = _shift_month(start, 3) - timedelta(days=1)
        if m.group("p").lower() == "last" and not m.group("y") and end >= today:  # the one that has ended
            start, end = date(year - 1, first, 1), _shift_month(date(year - 1, first, 1), 3) - timedelta(days=1)
            year -= 1
        return _span(start, end, today, f"{m.group('s').lower()} {year}")
    if m := _IN_MONTH.search(text) or _MONTH_YEAR.search(text):
        y, mo = _month_year(m.group("m"), m.group("y"), today)
        start, end = _month_range(y, mo)
        return _span(start, end, today)
    if m := _YEAR_ONLY.search(text):
        year = int(m.group("y"))
        if m.group(0).lower().startswith("since"):
            return Period(date(year, 1, 1), today, f"since {year}")
        return _span(date(year, 1, 1), date(year, 12, 31), today)
    if (m := _BARE_MONTH.search(text)) and m.group("m").lower() not in ("may", "mar", "jan", "sep", "dec", "jun"):
        y, mo = _month_year(m.group("m"), None, today)
        start, end = _month_range(y, mo)
        return _span(start, end, today)
    return None


def _relative(m: re.Match[str], today: date) -> Period:
    if m.group("ytd"):
        return Period(date(today.year, 1, 1), today, f"{today.year} so far")
    if day := m.group("day"):
        when = today if day.lower() == "today" else today - timedelta(days=1)
        return Period(when, when, when.isoformat())
    which, unit = m.group("which").lower(), m.group("unit").lower()
    back = 0 if which in ("this", "current") else 1
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=back)
        return _span(monday, monday + timedelta(days=6), today, f"the week of {monday.isoformat()}")
    if unit == "month":
        start = _shift_month(today, -back)
        return _span(*_month_range(start.year, start.month), today)
    if unit == "quarter":
        q_start = _shift_month(today.replace(day=1), -((today.month - 1) % 3) - 3 * back)
        q = (q_start.month - 1) // 3 + 1
        return _span(q_start, _month_range(q_start.year, q_start.month + 2)[1], today, f"Q{q} {q_start.year}")
    year = today.year - back
    return _span(date(year, 1, 1), date(year, 12, 31), today, str(year) if back else f"{year} so far")
