"""Fixtures of the report's tests (module_utils/report.py, plugin_utils/report_render.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import report

from fake_fleet import fleet as fake_fleet


@pytest.fixture
def fleet():
    """The five-host fleet of fake_fleet, fresh for each test."""
    return fake_fleet()


@pytest.fixture
def summary(fleet):
    return report.build_summary(fleet, generated_at='2024-05-04T07:15:00Z')
