"""Shared set-up for module tests: exit_json and fail_json end main() with the result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from unittest.mock import MagicMock

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible.playbook.task import Task


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


@pytest.fixture
def run_main(monkeypatch, module_exit):
    """Run a module's main() as Ansible runs it; returns (result, warnings).

    ``run_main(module.main, args, check_mode=False, diff=False, **internal)``:
    check and diff mode, and further internal arguments (``_ansible_remote_tmp``
    ...), go in as Ansible passes them. The warnings are the module's warn()
    calls of that run. Each test module patches run_command and the like
    with the fakes it needs before calling it.
    """
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))

    def runner(main, args, check_mode=False, diff=False, **internal):
        del warnings[:]
        args = dict(args, **internal)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            with pytest.raises(module_exit) as exc:
                main()
        return exc.value.result, list(warnings)

    return runner


@pytest.fixture
def run_read_only(monkeypatch, run_main):
    """Run a module that must run no command; returns (result, commands it ran, warnings).

    ``run_read_only(module.main, args, check_mode=False)``: run_command
    answers rc 0 and records each argv, so a test can assert the list is empty.
    """

    def runner(main, args, check_mode=False):
        commands = []
        monkeypatch.setattr(basic.AnsibleModule, "run_command",
                            lambda self, argv, **kwargs: commands.append(argv) or (0, "", ""))
        result, warnings = run_main(main, args, check_mode=check_mode)
        return result, commands, warnings

    return runner


@pytest.fixture
def run_action():
    """``run_action(plugin, args, check_mode=False, diff=False)``: see _run_action."""
    return _run_action


def _run_action(plugin, args, check_mode=False, diff=False):
    """Run an action plugin's ActionModule as a task would; returns its result (failed=False unless it failed).

    The plugins run on the controller and need no connection: the test fails
    if one is used.
    """
    task = MagicMock(Task)
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    task.action = 'mailguard.postfix.%s' % plugin.__name__.rsplit('.', 1)[-1]
    connection = MagicMock()
    action = plugin.ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    result = action.run(task_vars={})
    result.setdefault('failed', False)
    assert not connection.method_calls, connection.method_calls
    return result
