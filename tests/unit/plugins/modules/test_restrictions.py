"""restrictions as Ansible runs it: argument spec, no command, check mode, refusals."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm
from ansible_collections.mailguard.postfix.plugins.modules import restrictions

MX_INTENT = {
    "postfix_version": "3.7.11",
    "own_domains": ["example.org"],
    "trusted_networks": ["192.0.2.0/28"],
    "submission": {"sender_login_maps": "hash:/etc/postfix/sender_logins"},
    "dnsbls": [{"name": "zen.spamhaus.org", "filter": "127.0.0.[2..11]"},
               {"name": "dbl.spamhaus.org", "type": "sender", "filter": "127.0.1.[2..99]"}],
    "policy_services": [{"name": "postfwd", "endpoint": "inet:127.0.0.1:10040", "stage": "end_of_data",
                         "timeout": "10s", "applies_to_authenticated": True}],
    "forwarding": {"recipients_table": "hash:/etc/postfix/forwarding_recipients",
                   "recipients": ["carol@example.org"], "spf_policy": "unix:private/policyd-spf"},
}


@pytest.fixture
def run_module(run_read_only):
    """Run main() with the given options; returns (result, commands run, warnings)."""
    return functools.partial(run_read_only, restrictions.main)


def test_computes_the_lists_of_an_mx_without_running_anything(run_module):
    result, commands, warnings = run_module(MX_INTENT)
    assert "failed" not in result
    assert result["changed"] is False
    assert commands == []
    assert warnings == []
    parameters = result["parameters"]
    assert parameters["smtpd_relay_restrictions"] == \
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    assert parameters["smtpd_forbid_unauth_pipelining"] == "yes"
    assert parameters["smtpd_restriction_classes"] == "forwarding_recipients"
    assert set(result["services"]) == {"smtp/inet", "submission/inet", "smtps/inet"}
    assert result["service_parameters"]["smtps/inet/smtpd_tls_wrappermode"] == "yes"
    assert result["tables"]["/etc/postfix/forwarding_recipients"] == "carol@example.org forwarding_recipients\n"
    assert result["postmap"] == ["hash:/etc/postfix/own_domains_as_sender", "hash:/etc/postfix/forwarding_recipients"]
    assert result["findings"] == []
    recipient = result["stages"]["recipient"]
    assert [e["name"] for e in recipient["entries"]][:4] == [
        "reject_unlisted_recipient", "permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"]
    assert all(set(("text", "cost", "reason")) <= set(e) for e in recipient["entries"])
    json.dumps(result)


def test_check_mode_gives_the_same_result(run_module):
    normal = run_module(MX_INTENT)[0]
    checked = run_module(MX_INTENT, check_mode=True)[0]
    assert checked == normal


def test_forwarding_class_option_is_named_like_postfix_calls_it(run_module):
    intent = dict(MX_INTENT, forwarding=dict(MX_INTENT["forwarding"], **{"class": "offsite_forwarders"}))
    result = run_module(intent)[0]
    assert result["parameters"]["smtpd_restriction_classes"] == "offsite_forwarders"
    assert "check_recipient_access hash:/etc/postfix/forwarding_recipients" in \
        result["parameters"]["smtpd_recipient_restrictions"]


def test_old_versions_are_computed_with_a_warning(run_module):
    result, _commands, warnings = run_module({"postfix_version": "3.7.5"})
    assert "smtpd_forbid_unauth_pipelining" not in result["parameters"]
    assert any("smtpd_forbid_unauth_pipelining" in w for w in warnings)


@pytest.mark.parametrize("change, message", [
    ({"dnsbls": [{"name": "bl.example.net"}]}, r"dnsbls[0] (bl.example.net) has no reply filter"),
    ({"custom": [{"stage": "relay", "entry": "permit", "position": "first"}]},
     "custom[0] (permit in relay) puts permit ahead of reject_unauth_destination"),
    ({"custom": [{"stage": "client", "entry": "reject_if_bad"}]}, "reject_if_bad is not a Postfix restriction"),
    ({"custom": [{"stage": "recipient", "entry": "permit_mx_backup"}]}, "permit_mx_backup"),
    ({"policy_services": [{"name": "spf", "endpoint": "unix:private/policyd-spf", "timeout": "10s",
                           "default_action": "550 5.7.1 SPF down"}]}, "policy_services[0] (spf): default_action"),
    ({"relay_domains": ["relay.example.org"]}, "relay_domains (relay.example.org)"),
])
def test_unsafe_intent_fails_naming_the_input(run_module, change, message):
    result = run_module(dict(MX_INTENT, **change))[0]
    assert result["failed"] is True
    assert message in result["msg"]


def test_policy_without_timeout_is_stopped_by_the_argument_spec(run_module):
    result = run_module(dict(MX_INTENT, policy_services=[{"name": "spf", "endpoint": "unix:private/policyd-spf"}]))[0]
    assert result["failed"] is True
    assert "timeout" in result["msg"]


def test_wrong_choices_are_stopped_by_the_argument_spec(run_module):
    result = run_module(dict(MX_INTENT, profile="lenient"))[0]
    assert result["failed"] is True
    assert "profile" in result["msg"]


def test_every_returned_list_parses_back_into_known_restrictions(run_module):
    result = run_module(MX_INTENT)[0]
    classes = result["parameters"]["smtpd_restriction_classes"].split(", ")
    for stage, info in result["stages"].items():
        entries = rm.parse_entries(info["value"], classes)
        assert all(e["known"] for e in entries), stage
