"""Date windows read from the time expressions of English and Chinese questions."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask.timespans import find_time_window, unreadable_time_phrase

TODAY = date(2026, 12, 5)  # a Saturday


@pytest.mark.parametrize(("question", "since", "until"), [
    ("Why did AC-3 stop last week?", date(2026, 11, 23), date(2026, 11, 29)),
    ("AC-3 work orders this week", date(2026, 11, 30), TODAY),
    ("work orders of P-101 in the past 3 months", date(2026, 9, 6), TODAY),
    ("failures in the last two weeks", date(2026, 11, 22), TODAY),
    ("AC-3 failures past week", date(2026, 11, 29), TODAY),
    ("what failed last month", date(2026, 11, 1), date(2026, 11, 30)),
    ("why does it overheat this year", date(2026, 1, 1), TODAY),
    ("history last year", date(2025, 1, 1), date(2025, 12, 31)),
    ("alarms today", TODAY, TODAY),
    ("what stopped yesterday", date(2026, 12, 4), date(2026, 12, 4)),
    ("history of AC-3 in 2024", date(2024, 1, 1), date(2024, 12, 31)),
    ("AC-3 in May 2024", date(2024, 5, 1), date(2024, 5, 31)),
    ("AC-3 work orders 2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("between 2024-05-01 and 2024-06-30", date(2024, 5, 1), date(2024, 6, 30)),
    ("from 2024-06-30 to 2024-05-01", date(2024, 5, 1), date(2024, 6, 30)),
    ("failures since 2024-03-01", date(2024, 3, 1), None),
    ("failures until 2024-03-01", None, date(2024, 3, 1)),
    ("为什么3号空压机上周停机？", date(2026, 11, 23), date(2026, 11, 29)),
    ("P-101最近7天的维修记录", date(2026, 11, 29), TODAY),
    ("最近三个月的故障", date(2026, 9, 6), TODAY),
    ("近十二个月的工单", date(2025, 12, 6), TODAY),
    ("过去半年", date(2026, 6, 6), TODAY),
    ("上个月的工单", date(2026, 11, 1), date(2026, 11, 30)),
    ("这周有什么报警", date(2026, 11, 30), TODAY),
    ("去年的维修记录", date(2025, 1, 1), date(2025, 12, 31)),
    ("2024年5月的工单", date(2024, 5, 1), date(2024, 5, 31)),
    ("2024年的工单", date(2024, 1, 1), date(2024, 12, 31)),
    ("2024-05-01至2024-06-30的工单", date(2024, 5, 1), date(2024, 6, 30)),
    ("自2024-03-01以来的故障", date(2024, 3, 1), None),
    ("AC-3 work orders since March 2024", date(2024, 3, 1), None),
    ("failures after May 2024", date(2024, 6, 1), None),
    ("failures since 2024", date(2024, 1, 1), None),
    ("自2024年3月以来的故障", date(2024, 3, 1), None),
    ("从2024年起的工单", date(2024, 1, 1), None),
    ("failures before 2024-01-01", None, date(2023, 12, 31)),
    ("failures before 2024", None, date(2023, 12, 31)),
    ("failures until May 2024", None, date(2024, 5, 31)),
    ("2024年以前的工单", None, date(2023, 12, 31)),
    ("AC-3 work orders in 2023 and 2024", date(2023, 1, 1), date(2024, 12, 31)),
    ("from 2023 to 2024", date(2023, 1, 1), date(2024, 12, 31)),
    ("2023-2024 failures", date(2023, 1, 1), date(2024, 12, 31)),
    ("2023年到2024年的工单", date(2023, 1, 1), date(2024, 12, 31)),
    ("AC-3 work orders in Q2 2024", date(2024, 4, 1), date(2024, 6, 30)),
    ("failures 2024 Q3", date(2024, 7, 1), date(2024, 9, 30)),
    ("second quarter of 2024", date(2024, 4, 1), date(2024, 6, 30)),
    ("3号空压机2024年第二季度的维修记录", date(2024, 4, 1), date(2024, 6, 30)),
    ("2024年Q4的故障", date(2024, 10, 1), date(2024, 12, 31)),
    ("AC-3 work orders in 2024/05", date(2024, 5, 1), date(2024, 5, 31)),
])
def test_window_of_question(question, since, until):
    window = find_time_window(question, TODAY)
    assert window is not None
    assert window.since == since
    assert window.until == until


@pytest.mark.parametrize("question", ["AC-3 history", "Why does AC-3 overheat?", "近日有什么问题", "近年来的故障",
                                      "last 0 days", "last 99999 days", "P-2024 bearing", "the last work order",
                                      "3号空压机的维修记录", "AC-3 work orders in 2024-13", "since 2024-02-30"])
def test_no_window_without_time_expression(question):
    assert find_time_window(question, TODAY) is None


def test_first_expression_wins():
    window = find_time_window("failures last month compared with last year", TODAY)
    assert window.phrase == "last month"


def test_month_arithmetic_clamps_day():
    window = find_time_window("failures in the past 1 month", date(2024, 3, 31))
    assert window.since == date(2024, 3, 1)
    assert window.until == date(2024, 3, 31)


@pytest.mark.parametrize("question, phrase", [
    ("Which pumps failed in 2100?", "in 2100"), ("since 2024-02-30", "2024-02-30"), ("in 2024-13", "2024-13"),
    ("2100年哪些泵发生故障？", "2100年"), ("2024年13月泵为什么故障", "2024年13月"), ("Q5 2024 pumps", "Q5 2024")])
def test_unreadable_time_found(question, phrase):
    assert unreadable_time_phrase(question) == phrase


@pytest.mark.parametrize("question", ["Which pumps failed in 2024?", "since 2024-02-28", "2024年5月", "Q2 2024",
                                      "AC-3 failures 2024-05", "最近7天", "WO-2024-0001 details"])
def test_readable_time_not_flagged(question):
    assert unreadable_time_phrase(question) is None
