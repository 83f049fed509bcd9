"""postfwd_ruleset as Ansible runs it: argument spec, no command, check mode, refusals."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import pytest

from ansible_collections.mailguard.postfix.plugins.modules import postfwd_ruleset


@pytest.fixture
def run_module(run_read_only):
    """Run main() with the given options; returns (result, commands run, warnings)."""
    return functools.partial(run_read_only, postfwd_ruleset.main)


INTENT = {"user_limits": {"messages_per_hour": 20}, "user_overrides": [{"user": "u1", "messages_per_hour": 5}]}


@pytest.mark.parametrize("check_mode", [False, True])
def test_renders_the_ruleset_without_running_anything(run_module, check_mode):
    result, commands, _warnings = run_module(INTENT, check_mode=check_mode)
    assert "failed" not in result
    assert result["changed"] is False
    assert commands == []
    assert "id=MG_USER_1_MESSAGES_PER_HOUR; sasl_username==u1;" in result["ruleset"]
    assert result["user_overrides"] == {"u1": {"messages_per_hour": 5}}


def test_a_zero_quota_fails_with_the_name_of_the_limit(run_module):
    result, _commands, _warnings = run_module({"user_limits": {"messages_per_day": 0}})
    assert result["failed"] is True
    assert "user_limits.messages_per_day is 0" in result["msg"]


def test_an_unknown_option_is_stopped_by_the_argument_spec(run_module):
    result, _commands, _warnings = run_module(dict(INTENT, quotas={}))
    assert result["failed"] is True
    assert "quotas" in result["msg"]


HOOK = {"name": "postfwd", "endpoint": "inet:127.0.0.1:10040", "stage": "end_of_data", "timeout": "10s",
        "default_action": "DUNNO", "applies_to_authenticated": True}


@pytest.mark.parametrize("default_action", ["DUNNO", "451 4.3.5 Sending quota service unavailable", "451 Try later"])
def test_a_hook_that_fails_open_or_with_a_4xx_comes_back_normalised(run_module, default_action):
    result, _commands, _warnings = run_module(dict(INTENT, hook=dict(HOOK, default_action="  %s " % default_action)))
    assert "failed" not in result, result.get("msg")
    assert result["hook"] == dict(HOOK, default_action=default_action)


@pytest.mark.parametrize("hook, expected", [
    ({"default_action": "554 5.7.1 no"}, "never a 5xx"),
    ({"default_action": "REJECT quota down"}, "permanent rejection"),
    ({"default_action": "OK"}, "must be DUNNO or a 4xx"),
    ({"timeout": "10 s"}, "is not a Postfix time"),
    ({"timeout": "1h"}, "longer than smtpd waits for a client"),
    ({"timeout": ""}, "has no timeout"),
    ({"endpoint": "127.0.0.1:10040"}, "is not a policy server address"),
])
def test_a_hook_that_the_restriction_lists_would_refuse_fails_naming_it(run_module, hook, expected):
    result, _commands, _warnings = run_module(dict(INTENT, hook=dict(HOOK, **hook)))
    assert result["failed"] is True
    assert expected in result["msg"] and "hook (postfwd)" in result["msg"]


def test_without_a_hook_none_is_returned(run_module):
    result, _commands, _warnings = run_module(INTENT)
    assert "hook" not in result
