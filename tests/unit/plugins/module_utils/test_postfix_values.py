"""The one reading of Postfix times, booleans and reply codes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv


@pytest.mark.parametrize("text, default_unit, expected", [
    ("10s", "s", 10), ("5m", "s", 300), ("2h", "s", 7200), ("1d", "s", 86400), ("1w", "s", 604800),
    ("30", "s", 30), ("30", "m", 1800), (" 7s ", "s", 7), (0, "s", 0), ("0", "h", 0),
])
def test_a_postfix_time_in_seconds(text, default_unit, expected):
    assert pv.seconds(text, default_unit) == expected


@pytest.mark.parametrize("text", ["", None, "10 s", "-5s", "1.5h", "10x", "s", "10ms", "1h30m", "１０s"])
def test_what_is_not_a_postfix_time(text):
    assert pv.seconds(text) is None


@pytest.mark.parametrize("text, unit", [("10s", "s"), ("3d", "d"), ("30", ""), ("nonsense", "")])
def test_the_unit_of_a_time(text, unit):
    assert pv.time_unit(text) == unit


@pytest.mark.parametrize("value, expected", [
    ("yes", True), ("YES", True), (" yes ", True), ("true", True), ("on", True), ("1", True), (True, True),
    ("no", False), ("", False), (None, False), (False, False), ("maybe", False), (["yes"], False),
])
def test_a_postfix_boolean(value, expected):
    assert pv.is_yes(value) is expected


@pytest.mark.parametrize("text, defer, reject", [
    ("451 4.3.5 Policy service unavailable", True, False),
    ("451 Try later", True, False),
    ("450", True, False),
    ("  451   4.3.5   spaced  ", True, False),
    ("451 5.3.5 mixed", False, False),
    ("451 4.3.5 {braces}", False, False),
    ("550 5.7.1 No", False, True),
    ("REJECT policy down", False, True),
    ("reject", False, True),
    ("DUNNO", False, False),
    ("OK", False, False),
    ("4511 too long", False, False),
])
def test_defer_and_reject_replies(text, defer, reject):
    assert pv.is_defer_reply(text) is defer
    assert pv.is_reject_reply(text) is reject


@pytest.mark.parametrize("text, expected", [
    ("450 4.7.1", True), ("421 4.4.2", True), ("450", False), ("550 5.7.1", False), ("450 4.7.1 text", False),
    ("450 5.7.1", False),
])
def test_a_defer_code_with_its_status(text, expected):
    assert pv.is_defer_code(text) is expected


def test_severities_rank_worst_first_and_unknown_last():
    assert [pv.severity_rank(s) for s in pv.SEVERITIES] == list(range(len(pv.SEVERITIES)))
    assert pv.severity_rank("bogus") == len(pv.SEVERITIES)
    assert pv.SEVERITIES[0] == "critical" and pv.SEVERITIES[-1] == "info"
