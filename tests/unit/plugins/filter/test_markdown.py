"""The md_escape filter the playbooks' Markdown templates use."""

from __future__ import annotations

from ansible_collections.mailguard.postfix.plugins.filter.markdown import FilterModule
from ansible_collections.mailguard.postfix.plugins.module_utils.report import md_escape


def test_the_filter_is_the_reports_escaper():
    assert FilterModule().filters()["md_escape"] is md_escape


def test_a_hostile_reason_stays_in_its_table_cell():
    text = FilterModule().filters()["md_escape"]("mx|1 <script>\n# heading [x](y)")
    assert "\n" not in text
    assert "|" not in text.replace("\\|", "")
    assert "<" not in text.replace("\\<", "")
    assert "[" not in text.replace("\\[", "")
