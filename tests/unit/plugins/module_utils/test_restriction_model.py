from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm


@pytest.mark.parametrize("text, tokens", [
    ("permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
     ["permit_mynetworks", "permit_sasl_authenticated", "defer_unauth_destination"]),
    ("permit_mynetworks,permit_sasl_authenticated,\n    reject_unauth_destination",
     ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"]),
    ("check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }, permit",
     ["check_policy_service", "inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO", "permit"]),
    ("check_client_access pcre:{{/^10\\./ REJECT}}, reject",
     ["check_client_access", "pcre:{{/^10\\./ REJECT}}", "reject"]),
    ("", []),
])
def test_tokenize_splits_like_postfix(text, tokens):
    assert rm.tokenize(text) == tokens


@pytest.mark.parametrize("text", ["check_policy_service { inet:x", "permit }"])
def test_tokenize_refuses_unbalanced_braces(text):
    with pytest.raises(ValueError):
        rm.tokenize(text)


def test_parse_entries_pairs_arguments_and_costs():
    entries = rm.parse_entries(
        "reject_non_fqdn_sender, check_sender_access hash:/etc/postfix/own_domains, "
        "reject_rbl_client zen.spamhaus.org=127.0.0.[2..11], "
        "check_policy_service unix:private/policy-spf, "
        "check_client_access ldap:/etc/postfix/ldap-clients.cf, "
        "check_helo_mx_access cidr:/etc/postfix/bogus_mx")
    assert [(e["name"], e["cost"], e["action"]) for e in entries] == [
        ("reject_non_fqdn_sender", rm.COST_NONE, rm.ACTION_REJECT),
        ("check_sender_access", rm.COST_LOCAL, rm.ACTION_CHECK),
        ("reject_rbl_client", rm.COST_DNS, rm.ACTION_REJECT),
        ("check_policy_service", rm.COST_EXTERNAL, rm.ACTION_CHECK),
        ("check_client_access", rm.COST_EXTERNAL, rm.ACTION_CHECK),
        ("check_helo_mx_access", rm.COST_DNS, rm.ACTION_CHECK),
    ]
    assert entries[1]["args"] == ["hash:/etc/postfix/own_domains"]
    assert [e["position"] for e in entries] == list(range(6))


def test_proxy_table_costs_what_the_proxied_table_costs():
    assert rm.table_cost("proxy:unix:passwd.byname") == rm.COST_LOCAL
    assert rm.table_cost("proxy:mysql:/etc/postfix/mysql.cf") == rm.COST_EXTERNAL


def test_grouped_policy_argument_keeps_its_braces_in_text():
    entry = rm.parse_entries("check_policy_service { inet:127.0.0.1:10040, timeout=10s }")[0]
    assert entry["text"] == "check_policy_service { inet:127.0.0.1:10040, timeout=10s }"


def test_declared_class_is_known_and_undeclared_name_is_not():
    entries = rm.parse_entries("forwarders, typo_restriction", restriction_classes=["forwarders"],
                               class_costs={"forwarders": rm.COST_DNS})
    assert entries[0]["known"] and entries[0]["cost"] == rm.COST_DNS
    assert not entries[1]["known"] and entries[1]["cost"] == rm.COST_UNKNOWN


def test_restriction_without_its_argument_is_an_error():
    with pytest.raises(ValueError, match="check_client_access needs 1"):
        rm.parse_entries("permit_mynetworks, check_client_access")


@pytest.mark.parametrize("argument, filtered", [
    ("zen.spamhaus.org", False),
    ("zen.spamhaus.org=127.0.0.[2..11]", True),
    ("zen.spamhaus.org=", False),
    ("bl.spamcop.net*2", False),
    ("bl.spamcop.net=127.0.0.2*2", True),
])
def test_dnsbl_reply_filter_detection(argument, filtered):
    assert rm.dnsbl_has_reply_filter(argument) is filtered


def test_policy_attributes():
    endpoint, attrs = rm.policy_attributes("inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO")
    assert endpoint == "inet:127.0.0.1:10040"
    assert attrs == {"timeout": "10s", "default_action": "DUNNO"}


def _entries(text):
    return rm.parse_entries(text)


@pytest.mark.parametrize("relay, recipient, state", [
    ("permit_mynetworks permit_sasl_authenticated reject_unauth_destination", "", "closed"),
    ("permit_mynetworks permit_sasl_authenticated defer_unauth_destination", "", "closed"),
    ("", "permit_mynetworks reject_unauth_destination", "closed"),
    # smtpd counts no guard behind a bare permit: it refuses to start.
    ("permit_mynetworks permit reject_unauth_destination", "", "unguarded"),
    ("permit_mynetworks permit", "permit_mynetworks permit reject_unauth_destination", "unguarded"),
    ("permit_mynetworks permit", "reject_unauth_destination", "closed"),
    ("permit_mynetworks permit reject_unauth_destination", "reject_unauth_destination", "closed"),
    ("permit_sasl_authenticated reject", "", "closed"),
    ("permit_dnswl_client list.dnswl.org=127.0.[0..255].[1..3], reject_unauth_destination", "", "open"),
    ("", "", "unguarded"),
    ("permit_mynetworks", "permit_sasl_authenticated", "unguarded"),
    ("permit_mynetworks permit", "", "unguarded"),
    ("permit", "permit_sasl_authenticated", "unguarded"),
])
def test_relay_path(relay, recipient, state):
    assert rm.relay_path(_entries(relay), _entries(recipient))[0] == state


KNOWN_NO_ARG = sorted(name for name, spec in rm.RESTRICTIONS.items() if spec[0] == 0)


@given(names=st.lists(st.sampled_from(KNOWN_NO_ARG), max_size=12),
       separators=st.lists(st.sampled_from([",", " ", ", ", "\n  ", "\t", " ,  "]), min_size=12, max_size=12))
def test_any_separator_mix_gives_the_same_entries(names, separators):
    text = "".join(name + sep for name, sep in zip(names, separators))
    assert [e["name"] for e in rm.parse_entries(text)] == names
