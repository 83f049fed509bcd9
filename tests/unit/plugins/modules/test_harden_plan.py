"""harden_plan as Ansible runs it: the record on the host, no command, check mode, a broken record."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json

import pytest

from ansible_collections.mailguard.postfix.plugins.modules import harden_plan

# The parts of ansible_facts.postfix the plan reads, for a Debian host with
# smtpd on port 25.
FACTS = {
    "services": [{"key": "smtp/inet", "service": "smtp", "type": "inet", "private": "n", "unpriv": "-",
                  "chroot": "y", "wakeup": "-", "maxproc": "-", "command": "smtpd", "overrides": {}}],
    "parameters": {"compatibility_level": "3.6"},
    "effective": {"smtpd_discard_ehlo_keywords": "", "smtpd_sasl_auth_enable": "no"},
    "findings": [],
    "compatibility_level": "3.6",
    "compatibility_level_explicit": True,
}
RESTRICTIONS = {"parameters": {"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"},
                "services": {}, "managed_classes": []}


@pytest.fixture
def run_module(run_read_only):
    """Run main() with the given options; returns (result, commands run, warnings)."""
    return functools.partial(run_read_only, harden_plan.main)


def args(state_file, **options):
    return dict({"facts": FACTS, "restrictions": RESTRICTIONS, "postscreen_state_file": str(state_file)}, **options)


@pytest.mark.parametrize("check_mode", [False, True])
def test_without_a_record_the_plan_turns_postscreen_on_and_runs_nothing(run_module, tmp_path, check_mode):
    result, commands, _warnings = run_module(args(tmp_path / "postscreen.json", postscreen=True), check_mode=check_mode)
    assert commands == [] and result["changed"] is False
    assert result["postscreen"]["record"] == {} and result["postscreen"]["turning_on"]
    services = dict(("%s/%s" % (s["service"], s["type"]), s) for s in result["services"])
    assert services["smtp/inet"]["command"] == "postscreen"
    assert services["smtpd/pass"]["overrides"] == {"smtpd_discard_ehlo_keywords": "silent-discard,dsn"}
    assert {"name": "smtpd_relay_restrictions", "value": RESTRICTIONS["parameters"]["smtpd_relay_restrictions"]} \
        in result["parameters"]


def test_the_record_on_the_host_brings_back_what_postscreen_replaced(run_module, tmp_path):
    state = tmp_path / "postscreen.json"
    first, _commands, _warnings = run_module(args(state, postscreen=True))
    state.write_text(json.dumps(first["postscreen"]["new_record"]))
    running = dict(FACTS, services=[dict(FACTS["services"][0], maxproc="1", command="postscreen"),
                                    {"key": "smtpd/pass", "service": "smtpd", "type": "pass", "command": "smtpd",
                                     "overrides": {}}])
    result, _commands, _warnings = run_module(dict(args(state), facts=running))
    services = dict(("%s/%s" % (s["service"], s["type"]), s) for s in result["services"])
    assert services["smtp/inet"]["command"] == "smtpd" and services["smtp/inet"]["maxproc"] == "-"
    assert services["smtpd/pass"] == {"service": "smtpd", "type": "pass", "state": "absent"}
    assert {"name": "postscreen_greet_action", "state": "absent"} in result["parameters"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_broken_record_fails_with_the_path_before_anything_changes(run_module, tmp_path, content):
    state = tmp_path / "postscreen.json"
    state.write_text(content)
    result, commands, _warnings = run_module(args(state, postscreen=True))
    assert result["failed"] and commands == []
    assert str(state) in result["msg"] and "Nothing was changed" in result["msg"]
