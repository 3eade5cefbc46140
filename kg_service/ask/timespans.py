"""Time windows named in questions: "last month", "past 2 weeks", "in 2024", "上个月", "最近7天", "2024年5月".

`find_time_window` reads the first time expression of a question and turns it into a date
window relative to a reference day (today, unless a test gives another). Both bounds are
inclusive, so "last month" asked on 2026-12-05 is 2026-11-01 to 2026-11-30, and "past 7 days"
is 2026-11-29 to 2026-12-05. The keyword rules and the model mapper both use it, so that a
small language model never has to do date arithmetic.

Usage::

    window = find_time_window("Why did AC-3 stop last week?", date(2026, 12, 5))
    window.since, window.until, window.phrase    # 2026-11-23, 2026-11-29, "last week"
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import NamedTuple

# Counts in words, in English and Chinese ("两" is a second Chinese form of two).
ENGLISH_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                   "eight": 8, "nine": 9, "ten": 10, "twelve": 12}
CHINESE_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# Maximum window length per unit, which bounds the date arithmetic. A question without a window
# still reaches older work orders.
MAX_UNITS = {"day": 3660, "week": 520, "month": 120, "year": 10}


class TimeWindow(NamedTuple):
    """An inclusive date window and the words of the question that named it."""

    since: date | None
    until: date | None
    phrase: str


def _add_months(day: date, months: int) -> date:
    """Return `day` moved by `months` calendar months, on the last day of the month where it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _month_window(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _rolling(count: int, unit: str, today: date) -> tuple[date, date]:
    """Return the window of the last `count` units that ends today, today included."""
    if unit == "day":
        return today - timedelta(days=count - 1), today
    if unit == "week":
        return today - timedelta(days=7 * count - 1), today
    months = count * (12 if unit == "year" else 1)
    return _add_months(today, -months) + timedelta(days=1), today


def _chinese_number(text: str) -> int | None:
    """Return the value of a count written with digits or Chinese numerals up to 99 ("三", "十二", "二十"), else None."""
    if text.isdigit():
        return int(text)
    if text in CHINESE_DIGITS:
        return CHINESE_DIGITS[text]
    tens, ten, ones = text.partition("十")
    if not ten or not all(character in CHINESE_DIGITS for character in tens + ones) or len(tens) > 1 or len(ones) > 1:
        return None
    tens_value = CHINESE_DIGITS[tens] if tens else 1
    ones_value = CHINESE_DIGITS[ones] if ones else 0
    return tens_value * 10 + ones_value


def _unit(word: str) -> str:
    word = word.lower().rstrip("s")
    return {"天": "day", "日": "day", "周": "week", "星期": "week", "个星期": "week", "礼拜": "week", "个礼拜": "week",
            "月": "month", "个月": "month", "年": "year"}.get(word, word)


def _valid_count(count: int | None, unit: str) -> bool:
    return count is not None and 1 <= count <= MAX_UNITS[unit]


def _english_rolling(match: re.Match[str], today: date) -> tuple[date, date] | None:
    count_text = (match.group("count") or "one").lower()
    count = int(count_text) if count_text.isdigit() else ENGLISH_NUMBERS.get(count_text)
    unit = _unit(match.group("unit"))
    return _rolling(count, unit, today) if _valid_count(count, unit) else None


def _chinese_rolling(match: re.Match[str], today: date) -> tuple[date, date] | None:
    if match.group("half"):
        return _rolling(6, "month", today)
    unit = _unit(match.group("unit"))
    if match.group("count") is None and match.group("unit") in ("日", "年"):
        # "近日" (these days) and "近年" (recent years) name no length.
        return None
    count = _chinese_number(match.group("count") or "一")
    return _rolling(count, unit, today) if _valid_count(count, unit) else None


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _calendar(name: str, today: date) -> tuple[date, date]:
    """Return the window of a named calendar period: today, yesterday, this or last week, month, quarter or year."""
    if name == "today":
        return today, today
    if name == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if name == "this week":
        return _week_start(today), today
    if name == "last week":
        start = _week_start(today) - timedelta(days=7)
        return start, start + timedelta(days=6)
    if name == "this month":
        return today.replace(day=1), today
    if name == "last month":
        previous = _add_months(today.replace(day=1), -1)
        return _month_window(previous.year, previous.month)
    if name == "this quarter":
        return _quarter_start(today), today
    if name == "last quarter":
        start = _add_months(_quarter_start(today), -3)
        return start, _month_window(start.year, start.month + 2)[1]
    if name == "this year":
        return date(today.year, 1, 1), today
    return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)


CALENDAR_WORDS = {"today": "today", "yesterday": "yesterday", "this week": "this week", "last week": "last week",
                  "this month": "this month", "last month": "last month", "this quarter": "this quarter",
                  "last quarter": "last quarter", "previous quarter": "last quarter", "this year": "this year",
                  "last year": "last year", "今天": "today", "今日": "today", "昨天": "yesterday", "昨日": "yesterday",
                  "本周": "this week", "这周": "this week", "这个星期": "this week", "上周": "last week",
                  "上星期": "last week", "上个星期": "last week", "上个礼拜": "last week", "本月": "this month",
                  "这个月": "this month", "上个月": "last month", "上月": "last month", "今年": "this year",
                  "本年": "this year", "去年": "last year", "本季度": "this quarter", "这个季度": "this quarter",
                  "上季度": "last quarter", "上个季度": "last quarter", "上一季度": "last quarter"}

_ENGLISH_CALENDAR = "|".join(sorted((re.escape(word) for word in CALENDAR_WORDS if word.isascii()), key=len,
                                    reverse=True))
_CHINESE_CALENDAR = "|".join(sorted((re.escape(word) for word in CALENDAR_WORDS if not word.isascii()), key=len,
                                    reverse=True))
_COUNT_WORDS = "|".join(ENGLISH_NUMBERS)
_CHINESE_COUNT = "[0-9]+|[零一二两三四五六七八九十]{1,3}"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
MONTHS = {name: number for number, name in enumerate(calendar.month_name) if name}
MONTHS.update({name[:3]: number for name, number in list(MONTHS.items())})


def _iso(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _range(match: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    first, second = _iso(match.group("first")), _iso(match.group("second"))
    if first is None or second is None:
        return None
    return (first, second) if first <= second else (second, first)


def _since(match: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    day = _iso(match.group("day"))
    return (day, None) if day is not None else None


def _until(match: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    day = _iso(match.group("day"))
    if day is None:
        return None
    # "until" and "up to" include the day; "before" does not.
    return (None, day - timedelta(days=1)) if match.group(0).lower().startswith("before") else (None, day)


YEAR = r"(?:19|20)\d{2}"
MONTH_NAMES = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|"
               r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
# A month, a year or a day that "since", "before" and their Chinese forms can start or end a window at.
PERIOD = (rf"(?:(?:{MONTH_NAMES})\s+{YEAR}|{YEAR}\s*年\s*\d{{1,2}}\s*月|{YEAR}[-/]\d{{1,2}}(?:[-/]\d{{1,2}})?|"
          rf"{YEAR}\s*年|{YEAR})")
QUARTERS = {"1": 1, "2": 2, "3": 3, "4": 4, "一": 1, "二": 2, "三": 3, "四": 4, "first": 1, "second": 2, "third": 3,
            "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}


def _period(text: str) -> tuple[date, date] | None:
    """Return the first and last day of a month, a year or a day written as PERIOD matches it, else None."""
    text = text.strip()
    named = re.fullmatch(rf"(?P<month>{MONTH_NAMES})\s+(?P<year>{YEAR})", text, re.I)
    if named:
        month = MONTHS.get(named.group("month").capitalize()[:3])
        return _month_window(int(named.group("year")), month) if month else None
    numeric = re.fullmatch(rf"(?P<year>{YEAR})(?:\s*年\s*(?P<cn>\d{{1,2}})\s*月|[-/](?P<month>\d{{1,2}})"
                           r"(?:[-/](?P<day>\d{1,2}))?|\s*年)?", text)
    if not numeric:
        return None
    year = int(numeric.group("year"))
    month_text = numeric.group("cn") or numeric.group("month")
    if month_text is None:
        return date(year, 1, 1), date(year, 12, 31)
    month = int(month_text)
    if not 1 <= month <= 12:
        return None
    if numeric.group("day") is None:
        return _month_window(year, month)
    try:
        day = date(year, month, int(numeric.group("day")))
    except ValueError:
        return None
    return day, day


def _since_period(match: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    period = _period(match.group("period"))
    if period is None:
        return None
    # "after May 2024" starts once May is over; "since" and "from" include the period.
    after = match.group(0).lower().startswith("after")
    return (period[1] + timedelta(days=1), None) if after else (period[0], None)


def _before_period(match: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    period = _period(match.group("period"))
    if period is None:
        return None
    inclusive = match.group(0).lower().startswith(("until", "up to", "through"))
    return (None, period[1]) if inclusive else (None, period[0] - timedelta(days=1))


def _year_range(match: re.Match[str], today: date) -> tuple[date, date] | None:
    first, second = sorted((int(match.group("first")), int(match.group("second"))))
    return date(first, 1, 1), date(second, 12, 31)


def _quarter(match: re.Match[str], today: date) -> tuple[date, date] | None:
    values = match.groupdict()
    quarter = QUARTERS[(values.get("q") or values.get("q2") or values.get("ord")).lower()]
    year = int(values.get("year") or values.get("year2") or values.get("year3"))
    start = date(year, 3 * quarter - 2, 1)
    return start, _month_window(year, 3 * quarter)[1]


def _english_month(match: re.Match[str], today: date) -> tuple[date, date] | None:
    month = MONTHS.get(match.group("month").capitalize()[:3]) or MONTHS.get(match.group("month").capitalize())
    return _month_window(int(match.group("year")), month) if month else None


def _chinese_month(match: re.Match[str], today: date) -> tuple[date, date] | None:
    month = int(match.group("month"))
    return _month_window(int(match.group("year")), month) if 1 <= month <= 12 else None


def _year(match: re.Match[str], today: date) -> tuple[date, date]:
    year = int(match.group("year"))
    return date(year, 1, 1), date(year, 12, 31)


Reader = Callable[[re.Match[str], date], tuple[date | None, date | None] | None]

# Tried in this order, so a precise expression wins over a part of it ("2024年5月" over "2024年").
PATTERNS: list[tuple[re.Pattern[str], Reader]] = [
    (re.compile(rf"(?:between|from)\s+(?P<first>{ISO_DATE})\s+(?:and|to|until)\s+(?P<second>{ISO_DATE})", re.I),
     _range),
    (re.compile(rf"(?P<first>{ISO_DATE})\s*(?:到|至|~|—|－)\s*(?P<second>{ISO_DATE})"), _range),
    (re.compile(rf"(?:\b(?:in|during|from|between)\s+)?\b(?P<first>{YEAR})\s*(?:and|to|through|until|-|–|—)\s*"
                rf"(?P<second>{YEAR})\b(?![-/]\d)", re.I), _year_range),
    (re.compile(rf"(?P<first>{YEAR})\s*年?\s*(?:到|至|~|—|－)\s*(?P<second>{YEAR})\s*年"), _year_range),
    (re.compile(rf"\b(?:Q(?P<q>[1-4])\s+(?P<year>{YEAR})|(?P<year2>{YEAR})\s*Q(?P<q2>[1-4])|"
                rf"(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\s+(?:of\s+)?(?P<year3>{YEAR}))\b",
                re.I), _quarter),
    (re.compile(rf"(?P<year>{YEAR})\s*年\s*(?:第\s*(?P<q>[一二三四1-4])\s*季度|(?:Q|q)(?P<q2>[1-4]))"), _quarter),
    (re.compile(rf"(?:since|after|from)\s+(?P<day>{ISO_DATE})", re.I), _since),
    (re.compile(rf"(?:自|从)\s*(?P<day>{ISO_DATE})\s*(?:以来|起|开始)?"), _since),
    (re.compile(rf"(?:until|before|up to)\s+(?P<day>{ISO_DATE})", re.I), _until),
    (re.compile(rf"\b(?:since|after|from)\s+(?P<period>{PERIOD})(?![-/]?\d)", re.I), _since_period),
    (re.compile(rf"(?:自|从)\s*(?P<period>{PERIOD})\s*(?:以来|起|开始)"), _since_period),
    (re.compile(rf"\b(?:until|before|up to|through|prior to)\s+(?P<period>{PERIOD})(?![-/]?\d)", re.I),
     _before_period),
    (re.compile(rf"(?P<period>{PERIOD})\s*(?:以前|之前)"), _before_period),
    (re.compile(rf"(?:in|during|over|for)\s+(?:the\s+)?(?:last|past|previous)\s+(?:(?P<count>\d+|{_COUNT_WORDS})\s+)?"
                r"(?P<unit>days?|weeks?|months?|years?)\b", re.I), _english_rolling),
    (re.compile(rf"\b(?:last|past|previous)\s+(?P<count>\d+|{_COUNT_WORDS})\s+(?P<unit>days?|weeks?|months?|years?)\b",
                re.I), _english_rolling),
    (re.compile(r"\bpast\s+(?P<count>)(?P<unit>day|week|month|year)\b", re.I), _english_rolling),
    (re.compile(rf"(?:最近|近|过去)(?:(?P<half>半年)|(?P<count>{_CHINESE_COUNT})?\s*"
                r"(?P<unit>个星期|星期|个礼拜|礼拜|个月|天|日|周|月|年))"), _chinese_rolling),
    (re.compile(rf"\b(?:{_ENGLISH_CALENDAR})\b", re.I), lambda match, today: _calendar(
        CALENDAR_WORDS[match.group(0).lower()], today)),
    (re.compile(_CHINESE_CALENDAR), lambda match, today: _calendar(CALENDAR_WORDS[match.group(0)], today)),
    (re.compile(r"(?P<year>(?:19|20)\d{2})\s*年\s*(?P<month>\d{1,2})\s*月"), _chinese_month),
    (re.compile(r"\b(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
                r"sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\s+(?P<year>(?:19|20)\d{2})\b", re.I),
     _english_month),
    (re.compile(r"\b(?P<year>(?:19|20)\d{2})[-/](?P<month>\d{1,2})\b(?![-/]\d)"), _chinese_month),
    (re.compile(r"(?P<year>(?:19|20)\d{2})\s*年"), _year),
    (re.compile(r"\b(?:in|during|of|for)\s+(?P<year>(?:19|20)\d{2})\b(?![-/]\d)", re.I), _year),
]


def find_time_window(question: str, today: date) -> TimeWindow | None:
    """Return the time window of the first time expression in `question`, or None when it names none."""
    found: list[tuple[int, int, TimeWindow]] = []
    for priority, (pattern, reader) in enumerate(PATTERNS):
        for match in pattern.finditer(question):
            window = reader(match, today)
            if window is not None:
                found.append((match.start(), priority, TimeWindow(window[0], window[1], match.group(0).strip())))
                break
    if not found:
        return None
    return min(found)[2]


# Date-like text that reads as no date: an impossible day or month ("2024-02-30", "2024年13月"), a
# fifth quarter, a year outside 1900-2099 after a time word ("in 2100", "2100年"). Such a question
# must not silently cover all time, or a whole year for a bad month.
DATE_LIKE = [re.compile(r"(?<![0-9])\d{4}-\d{1,2}(?:-\d{1,2})?(?![0-9])"),
             re.compile(r"(?<![0-9])\d{4}\s*年\s*\d{1,2}\s*月")]
BAD_QUARTER = re.compile(r"\bQ[05-9]\s*\d{4}\b", re.I)
YEAR_LIKE = [re.compile(r"\b(?:in|since|before|after|during|from|until)\s+(?P<year>\d{4})\b", re.I),
             re.compile(r"(?<![0-9])(?P<year>\d{4})\s*年")]
READABLE_YEARS = range(1900, 2100)


def unreadable_time_phrase(question: str) -> str | None:
    """Return date-like text of the question that names no real date or period ("2024-02-30", "in 2100"), else None."""
    for pattern in DATE_LIKE:
        for match in pattern.finditer(question):
            if _period(match.group(0)) is None:
                return match.group(0).strip()
    bad_quarter = BAD_QUARTER.search(question)
    if bad_quarter is not None:
        return bad_quarter.group(0)
    for pattern in YEAR_LIKE:
        for match in pattern.finditer(question):
            if int(match.group("year")) not in READABLE_YEARS:
                return match.group(0).strip()
    return None


def window_words(facts: dict, lang: str) -> str:
    """Return the date window of a result as words: after a count in English, before it in Chinese ("" without one)."""
    since, until = facts.get("since"), facts.get("until")
    if not since and not until:
        return ""
    if lang == "zh":
        if since and until:
            return f"在 {since} 当天" if since == until else f"在 {since} 至 {until} 期间"
        return f"自 {since} 以来" if since else f"在 {until} 及以前"
    if since and until:
        return f" on {since}" if since == until else f" between {since} and {until}"
    return f" since {since}" if since else f" until {until}"
