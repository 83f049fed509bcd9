"""Shared set-up for module tests: exit_json and fail_json end main() with the result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils import basic


class ModuleExit(Exception):
    """Raised in place of exit_json/fail_json; carries the module's result."""

    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


@pytest.fixture
def module_exit(monkeypatch):
    """Patch AnsibleModule so that main() raises ModuleExit; returns the class to catch."""

    def exit_json(self, **result):
        raise ModuleExit(result)

    def fail_json(self, **result):
        result["failed"] = True
        raise ModuleExit(result)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    return ModuleExit
