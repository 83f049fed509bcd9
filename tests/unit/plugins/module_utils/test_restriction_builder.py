"""restriction_builder: each rule, each refusal, and properties over any accepted intent."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mailguard.postfix.plugins.module_utils import findings as fnd
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_config as pc
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_builder as rb
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm

DEBIAN12 = "3.7.11"
DEBIAN13 = "3.10.1"
ZEN = {"name": "zen.spamhaus.org", "filter": "127.0.0.[2..11]"}
DBL = {"name": "dbl.spamhaus.org", "type": "sender", "filter": "127.0.1.[2..99]"}


def build(**intent):
    intent.setdefault("postfix_version", DEBIAN12)
    return rb.build(intent)


def refused(match, **intent):
    with pytest.raises(rb.IntentError, match=match):
        build(**intent)


def names(result, stage):
    return [e["name"] for e in result["stages"][stage]["entries"]]


def texts(result, stage):
    return [e["text"] for e in result["stages"][stage]["entries"]]


def index_of(result, stage, name):
    return names(result, stage).index(name)


def reparsed(result):
    """The main.cf stages as postfix_facts would parse them after applying the result."""
    return pc.stage_lists(result["parameters"])


def effective_stages(result):
    """service key -> stages parsed from main.cf merged with the service's overrides."""
    views = {rb.MAIN_CF: reparsed(result)}
    for key, overrides in result["services"].items():
        merged = dict(result["parameters"])
        merged.update(overrides)
        views[key] = pc.stage_lists(merged, overrides)
    return views


# ---------------------------------------------------------------------------
# relay guard and layout


@pytest.mark.parametrize("profile", rb.PROFILES)
@pytest.mark.parametrize("version", ["3.5.25", DEBIAN12, "3.8.6", DEBIAN13])
def test_relay_list_is_permits_then_a_5xx_guard(profile, version):
    result = build(profile=profile, postfix_version=version)
    assert result["parameters"]["smtpd_relay_restrictions"] == \
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    assert "defer_unauth_destination" not in result["parameters"]["smtpd_recipient_restrictions"]


def test_recipient_list_refuses_unknown_users_for_everyone_then_guards_relay():
    result = build()
    assert names(result, "recipient")[:4] == [
        "reject_unlisted_recipient", "permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"]
    assert result["stages"]["recipient"]["entries"][0]["applies_to"] == "all"
    assert result["parameters"]["smtpd_reject_unlisted_recipient"] == "yes"


def test_every_entry_says_what_it_costs_and_why_it_stands_there():
    result = build(own_domains=["example.test"], dnsbls=[ZEN])
    for stage in rb.BUILD_STAGES:
        info = result["stages"][stage]
        assert info["parameter"] == rm.STAGE_PARAMETERS[stage]
        assert info["value"] == ", ".join(texts(result, stage))
        assert result["parameters"][info["parameter"]] == info["value"]
        for entry in info["entries"]:
            assert entry["cost"] in rm.COST_RANK
            assert entry["reason"]


def test_stage_without_checks_for_untrusted_clients_has_no_permits():
    result = build(profile="baseline")
    assert result["parameters"]["smtpd_helo_restrictions"] == ""
    assert result["parameters"]["smtpd_sender_restrictions"] == ""
    assert result["parameters"]["smtpd_end_of_data_restrictions"] == ""


def test_trusted_and_authenticated_clients_skip_dns_and_syntax_checks():
    result = build(dnsbls=[ZEN])
    recipient = names(result, "recipient")
    assert recipient.index("permit_sasl_authenticated") < recipient.index("reject_unknown_reverse_client_hostname")
    assert recipient.index("permit_mynetworks") < recipient.index("reject_rbl_client")
    client = names(result, "client")
    assert client[:2] == ["permit_mynetworks", "permit_sasl_authenticated"]


DEFAULT_CLIENT = ("permit_mynetworks, permit_sasl_authenticated, reject_invalid_helo_hostname, "
                  "reject_non_fqdn_helo_hostname, reject_non_fqdn_sender, reject_non_fqdn_recipient")


@pytest.mark.parametrize("version", [DEBIAN12, DEBIAN13])
def test_the_defaults_put_every_no_lookup_check_first_and_every_lookup_last(version):
    result = build(postfix_version=version, own_domains=["example.test"], dnsbls=[ZEN])
    parameters = result["parameters"]
    assert parameters["smtpd_delay_reject"] == "yes"
    assert parameters["smtpd_client_restrictions"] == DEFAULT_CLIENT
    assert parameters["smtpd_helo_restrictions"] == ""
    assert parameters["smtpd_sender_restrictions"] == ""
    assert parameters["smtpd_recipient_restrictions"] == (
        "reject_unlisted_recipient, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, "
        "check_sender_access hash:/etc/postfix/own_domains_as_sender, reject_unknown_reverse_client_hostname, "
        "reject_unknown_sender_domain, reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]")


def test_the_evaluation_order_is_returned_in_smtpd_order_with_costs():
    result = build(own_domains=["example.test"], dnsbls=[ZEN])
    order = result["evaluation_order"]
    assert [item["position"] for item in order] == list(range(len(order)))
    assert [item["stage"] for item in order] == ["client"] * 6 + ["relay"] * 3 + ["recipient"] * 8
    deciding = [item["cost"] for item in order if item["action"] != rm.ACTION_PERMIT]
    assert deciding == ["none"] * 4 + ["local"] * 4 + ["dns"] * 3
    # Postfix before 3.6 evaluates the recipient list before the relay list.
    old = build(postfix_version="3.5.25")["evaluation_order"]
    assert old[-1]["stage"] == "relay"


def test_reasons_say_where_an_entry_stands_in_the_whole_chain():
    result = build(dnsbls=[ZEN])
    client = dict((e["name"], e["reason"]) for e in result["stages"]["client"]["entries"])
    assert "smtpd_client_restrictions, the first list smtpd evaluates" in client["reject_non_fqdn_helo_hostname"]
    recipient = dict((e["name"], e["reason"]) for e in result["stages"]["recipient"]["entries"])
    assert "costs no query of its own" in recipient["reject_unknown_reverse_client_hostname"]
    assert "mail those refuse costs no DNS query" in recipient["reject_rbl_client"]


def test_reverse_dns_check_comes_after_the_definitive_cheap_refusals_and_before_queries():
    result = build(own_domains=["example.test"], dnsbls=[ZEN], profile="paranoid", postfix_version=DEBIAN13)
    recipient = names(result, "recipient")
    first_dns = min(i for i, e in enumerate(result["stages"]["recipient"]["entries"]) if e["cost"] == "dns")
    assert recipient[first_dns] == "reject_unknown_client_hostname"
    assert recipient.index("check_sender_access") < first_dns


# ---------------------------------------------------------------------------
# profiles


def test_baseline_checks_syntax_and_sender_domain_but_not_reverse_dns():
    result = build(profile="baseline")
    assert "reject_unknown_sender_domain" in names(result, "recipient")
    assert "reject_invalid_helo_hostname" in names(result, "client")
    assert "reject_unknown_reverse_client_hostname" not in names(result, "recipient")
    assert "strict_rfc821_envelopes" not in result["parameters"]


def test_strict_adds_reverse_dns_fqdn_helo_and_unlisted_sender():
    result = build(profile="strict")
    assert "reject_unknown_reverse_client_hostname" in names(result, "recipient")
    assert "reject_non_fqdn_helo_hostname" in names(result, "client")
    assert result["parameters"]["strict_rfc821_envelopes"] == "yes"
    assert result["parameters"]["smtpd_reject_unlisted_sender"] == "yes"
    assert result["parameters"]["unknown_address_reject_code"] == "550"


def test_paranoid_requires_forward_confirmed_dns_and_a_resolvable_helo():
    result = build(profile="paranoid", postfix_version=DEBIAN13)
    assert "reject_unknown_client_hostname" in names(result, "recipient")
    assert "reject_unknown_reverse_client_hostname" not in names(result, "recipient")
    assert "reject_unknown_helo_hostname" in names(result, "recipient")
    assert result["parameters"]["smtpd_forbid_bare_newline"] == "reject"


def test_unknown_profile_is_refused():
    refused("profile 'lax'", profile="lax")


# ---------------------------------------------------------------------------
# versions


@pytest.mark.parametrize("version, pipelining, bare_newline", [
    ("3.5.19", None, None),
    ("3.5.20", "yes", None),
    ("3.7.5", None, None),
    ("3.7.6", "yes", None),
    ("3.7.9", "yes", "yes"),
    ("3.7.10", "yes", "normalize"),
    (DEBIAN12, "yes", "normalize"),
    ("3.8.4", "yes", "yes"),
    ("3.8.5", "yes", "normalize"),
    ("3.9.0", "yes", "normalize"),
    (DEBIAN13, "yes", "normalize"),
])
def test_protocol_protections_follow_the_version(version, pipelining, bare_newline):
    parameters = build(postfix_version=version)["parameters"]
    assert parameters.get("smtpd_forbid_unauth_pipelining") == pipelining
    assert parameters.get("smtpd_forbid_bare_newline") == bare_newline
    # The data-stage check stands on every version, for services and old releases alike.
    assert parameters["smtpd_data_restrictions"].startswith("reject_unauth_pipelining")


def test_versions_without_the_protections_are_warned_about():
    warnings = build(postfix_version="3.7.5")["warnings"]
    assert any("smtpd_forbid_unauth_pipelining" in w for w in warnings)
    assert any("SMTP smuggling" in w for w in warnings)


@pytest.mark.parametrize("version", [DEBIAN12, DEBIAN13])
def test_the_audit_finds_no_missing_protection_in_the_result(version):
    result = build(postfix_version=version)
    values = result["parameters"]
    ids = [f["id"] for f in fnd.version_findings(rb.MAIN_CF, values, values, reparsed(result))]
    assert "unauth-pipelining-unprotected" not in ids
    assert "bare-newline-unprotected" not in ids
    assert "vrfy-enabled" not in ids


def test_relay_before_recipient_only_where_it_exists():
    assert build(postfix_version="3.6.0")["parameters"]["smtpd_relay_before_recipient_restrictions"] == "yes"
    assert "smtpd_relay_before_recipient_restrictions" not in build(postfix_version="3.5.25")["parameters"]


@pytest.mark.parametrize("version", ["2.11.3", "", "postfix", None])
def test_unusable_versions_are_refused(version):
    refused("postfix_version", postfix_version=version)


# ---------------------------------------------------------------------------
# own domains and trusted networks


def test_own_domains_are_refused_as_sender_for_unauthenticated_clients_only():
    result = build(own_domains=["Example.test", "example.test", "second.example"])
    table = "hash:/etc/postfix/own_domains_as_sender"
    assert result["tables"]["/etc/postfix/own_domains_as_sender"] == (
        "example.test REJECT 5.7.1 Mail from example.test is accepted only from authenticated users\n"
        "second.example REJECT 5.7.1 Mail from second.example is accepted only from authenticated users\n")
    assert table in result["postmap"]
    recipient = texts(result, "recipient")
    check = recipient.index("check_sender_access %s" % table)
    assert recipient.index("permit_sasl_authenticated") < check < recipient.index("reject_unknown_sender_domain")


def test_own_domains_table_must_be_a_file_this_module_can_fill():
    refused("own_domains_table", own_domains=["example.test"], own_domains_table="mysql:/etc/postfix/own.cf")
    refused("own_domains\\[1\\]", own_domains=["example.test", "not a domain"])


def test_texthash_table_needs_no_postmap():
    result = build(own_domains=["example.test"], own_domains_table="texthash:/etc/postfix/own")
    assert result["postmap"] == []
    assert "/etc/postfix/own" in result["tables"]


def test_trusted_networks_add_to_the_host_itself():
    mynetworks = build(trusted_networks=["192.0.2.0/28", "2001:db8::/48", "[2001:db8:1::]/64"])["parameters"]["mynetworks"]
    assert mynetworks == ("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 192.0.2.0/28 [2001:db8::]/48 "
                          "[2001:db8:1::]/64")
    assert build()["parameters"]["mynetworks"] == "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"


@pytest.mark.parametrize("network", ["0.0.0.0/0", "10.0.0.0/7", "::/0", "2000::/3", "example.org"])
def test_networks_too_wide_or_invalid_are_refused(network):
    refused("trusted_networks\\[0\\]", trusted_networks=[network])


# ---------------------------------------------------------------------------
# blocklists


@pytest.mark.parametrize("kind, restriction", [
    ("client", "reject_rbl_client"),
    ("reverse_client", "reject_rhsbl_reverse_client"),
    ("helo", "reject_rhsbl_helo"),
    ("sender", "reject_rhsbl_sender"),
])
def test_each_blocklist_type_follows_every_cheap_check_with_its_filter(kind, restriction):
    result = build(dnsbls=[{"name": "bl.example.net", "type": kind, "filter": "127.0.0.2"}])
    assert "%s bl.example.net=127.0.0.2" % restriction in texts(result, "recipient")
    assert texts(result, "recipient")[-1].startswith(restriction)


def test_blocklist_without_filter_is_refused_naming_the_entry():
    refused(r"dnsbls\[1\] \(bl.example.net\) has no reply filter",
            dnsbls=[ZEN, {"name": "bl.example.net"}])


def test_blocklist_without_filter_is_accepted_when_allowed_on_that_entry():
    result = build(dnsbls=[{"name": "bl.example.net", "allow_unfiltered": True}])
    assert "reject_rbl_client bl.example.net" in texts(result, "recipient")
    # Reported, but not a reason to fail.
    assert [f["id"] for f in result["findings"]] == ["dnsbl-without-reply-filter"]
    assert rb.blocking_findings(result["findings"], ["reject_rbl_client bl.example.net"]) == []


@pytest.mark.parametrize("reply_filter, match", [
    ("127.0.0.[2..11", "not a Postfix reply filter"),
    ("127.0.0", "not a Postfix reply filter"),
    ("127.0.0.[11..2]", "not a range of octets"),
    ("10.0.0.2", "inside 127.0.0.0/8"),
    ("127.[0..255].[0..255].[2..255]", "error"),
    ("127.0.0.[1..11]", "127.0.0.1"),
])
def test_unsafe_reply_filters_are_refused(reply_filter, match):
    refused(match, dnsbls=[{"name": "zen.spamhaus.org", "filter": reply_filter}])


def test_filter_matching_follows_postfix_ranges_and_lists():
    assert rb.filter_matches("127.0.0.[2..11]", "127.0.0.11")
    assert not rb.filter_matches("127.0.0.[2..11]", "127.0.0.12")
    assert rb.filter_matches("127.0.[0;1].[2;4..5]", "127.0.1.5")
    assert not rb.filter_matches("127.0.[0;1].[2;4..5]", "127.0.1.3")


def test_backscatterer_is_only_asked_about_bounces():
    refused("ips.backscatterer.org", dnsbls=[{"name": "ips.backscatterer.org", "filter": "127.0.0.2"}])
    result = build(dnsbls=[{"name": "ips.backscatterer.org", "type": "null_sender_client", "filter": "127.0.0.2"}])
    assert result["parameters"]["null_sender_blocklists"] == "reject_rbl_client ips.backscatterer.org=127.0.0.2"
    assert "null_sender_blocklists" in result["parameters"]["smtpd_restriction_classes"]
    assert result["tables"]["/etc/postfix/null_sender_access"] == "<> null_sender_blocklists\n"
    assert "check_sender_access hash:/etc/postfix/null_sender_access" in texts(result, "recipient")
    assert "ips.backscatterer.org" not in result["parameters"]["smtpd_recipient_restrictions"]


def test_the_same_list_twice_for_one_type_is_refused():
    refused("given twice", dnsbls=[ZEN, ZEN])


def test_postscreen_scores_client_lists_with_weights_and_smtpd_does_not_query_them():
    result = build(postscreen=True, dnsbls=[
        dict(ZEN, weight=3), {"name": "bl.spamcop.net", "filter": "127.0.0.2", "weight": 2},
        {"name": "list.dnswl.org", "filter": "127.0.[0..255].[1..3]", "weight": -2}, DBL])
    parameters = result["parameters"]
    assert parameters["postscreen_dnsbl_sites"] == (
        "zen.spamhaus.org=127.0.0.[2..11]*3, bl.spamcop.net=127.0.0.2*2, list.dnswl.org=127.0.[0..255].[1..3]*-2")
    # The list trusted most blocks alone.
    assert parameters["postscreen_dnsbl_threshold"] == "3"
    assert parameters["postscreen_dnsbl_action"] == "enforce"
    assert "reject_rbl_client" not in parameters["smtpd_recipient_restrictions"]
    assert "reject_rhsbl_sender dbl.spamhaus.org=127.0.1.[2..99]" in texts(result, "recipient")
    assert any("master.cf runs postscreen" in w for w in result["warnings"])


def test_postscreen_threshold_must_be_reachable():
    refused("cannot be reached", postscreen=True, postscreen_threshold=5, dnsbls=[dict(ZEN, weight=3)])
    assert build(postscreen=True, postscreen_threshold=2, dnsbls=[dict(ZEN, weight=3)])[
        "parameters"]["postscreen_dnsbl_threshold"] == "2"


def test_negative_weight_needs_postscreen():
    refused("negative weight", dnsbls=[{"name": "list.dnswl.org", "filter": "127.0.[0..255].[1..3]", "weight": -2}])
    refused("weight 0", dnsbls=[dict(ZEN, weight=0)])


# ---------------------------------------------------------------------------
# policy services


def policy(**fields):
    base = {"name": "postfwd", "endpoint": "inet:127.0.0.1:10040", "timeout": "10s"}
    base.update(fields)
    return base


def test_recipient_policy_comes_after_the_guard_and_every_cheaper_check():
    result = build(own_domains=["example.test"], policy_services=[policy()],
                   forwarding={"recipients_table": "hash:/etc/postfix/fwd", "spf_policy": "unix:private/policyd-spf"})
    recipient = texts(result, "recipient")
    assert recipient[-1] == "check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }"
    assert recipient.index("reject_unauth_destination") < recipient.index("check_recipient_access hash:/etc/postfix/fwd")
    assert result["stages"]["recipient"]["entries"][-1]["cost"] == "external"


def test_a_4xx_default_action_with_text_is_braced():
    result = build(policy_services=[policy(default_action="451 4.3.5 Policy service unavailable")])
    assert texts(result, "recipient")[-1] == (
        "check_policy_service { inet:127.0.0.1:10040, timeout=10s, "
        "{ default_action=451 4.3.5 Policy service unavailable } }")
    # The audit reads the braced action back, so it does not report a missing default action.
    parsed = reparsed(result)["recipient"]["entries"][-1]
    assert rm.policy_attributes(parsed["args"][0])[1]["default_action"].startswith("451 4.3.5 Policy")


@pytest.mark.parametrize("timeout", [None, ""])
def test_policy_without_timeout_is_refused(timeout):
    refused(r"policy_services\[0\] \(postfwd\) has no timeout", policy_services=[policy(timeout=timeout)])


@pytest.mark.parametrize("timeout", ["0s", "ten", "10x", "6m"])
def test_policy_timeout_must_be_a_short_postfix_time(timeout):
    refused(r"policy_services\[0\] \(postfwd\)", policy_services=[policy(timeout=timeout)])


@pytest.mark.parametrize("action, match", [
    ("550 5.7.1 No", "permanent rejection"),
    ("REJECT policy down", "permanent rejection"),
    ("OK", "must be DUNNO or a 4xx"),
    ("451 5.3.5 mixed", "must be DUNNO or a 4xx"),
    ("451 4.3.5 {braces}", "must be DUNNO or a 4xx"),
])
def test_policy_default_action_must_fail_open_or_temporarily(action, match):
    refused(match, policy_services=[policy(default_action=action)])


def test_policy_endpoint_and_duplicate_names_are_checked():
    refused("endpoint", policy_services=[policy(endpoint="127.0.0.1:10040")])
    refused("used twice", policy_services=[policy(), policy(stage="data")])


def test_policy_for_authenticated_users_runs_before_any_permit_in_data():
    result = build(policy_services=[policy(stage="data", applies_to_authenticated=True)])
    data = names(result, "data")
    assert data == ["reject_unauth_pipelining", "reject_multi_recipient_bounce", "check_policy_service"]
    assert result["stages"]["data"]["entries"][-1]["applies_to"] == "all"


def test_policy_for_untrusted_clients_in_data_stands_behind_the_permits():
    result = build(policy_services=[policy(stage="end_of_data")])
    assert names(result, "end_of_data") == ["permit_mynetworks", "permit_sasl_authenticated", "check_policy_service"]


def test_policy_for_authenticated_users_in_the_recipient_stage_is_refused():
    refused("belongs|Put it in stage data",
            policy_services=[policy(applies_to_authenticated=True)])


def test_both_kinds_of_policy_in_one_stage_are_refused():
    refused("Move one of them to end_of_data", policy_services=[
        policy(stage="data", applies_to_authenticated=True),
        policy(name="spf", endpoint="unix:private/policyd-spf", stage="data")])


# ---------------------------------------------------------------------------
# forwarding


FORWARDING = {"recipients_table": "hash:/etc/postfix/forwarding_recipients",
              "spf_policy": "unix:private/policyd-spf"}


def test_forwarding_recipients_get_a_stricter_class_selected_after_the_guard():
    result = build(forwarding=dict(FORWARDING, recipients=["Carol@example.test", "alice@"],
                                   dnsbls=[{"name": "b.barracudacentral.org", "filter": "127.0.0.2"}]))
    parameters = result["parameters"]
    assert parameters["smtpd_restriction_classes"] == "forwarding_recipients"
    assert parameters["forwarding_recipients"] == (
        "reject_rbl_client b.barracudacentral.org=127.0.0.2, "
        "check_policy_service { unix:private/policyd-spf, timeout=10s, default_action=DUNNO }")
    assert result["tables"]["/etc/postfix/forwarding_recipients"] == (
        "carol@example.test forwarding_recipients\nalice@ forwarding_recipients\n")
    recipient = texts(result, "recipient")
    assert recipient.index("reject_unauth_destination") < \
        recipient.index("check_recipient_access hash:/etc/postfix/forwarding_recipients")
    assert "unverified_recipient_reject_code" not in parameters


def test_one_to_one_aliases_get_the_class_plus_verification_of_the_remote_address():
    result = build(forwarding=dict(FORWARDING, recipients=["carol@example.test", "dave@example.test"],
                                   verify_recipients=["Dave@example.test"]))
    parameters = result["parameters"]
    assert parameters["smtpd_restriction_classes"] == "forwarding_recipients, forwarding_recipients_verified"
    assert parameters["forwarding_recipients_verified"] == (
        parameters["forwarding_recipients"] + ", reject_unverified_recipient")
    assert result["tables"]["/etc/postfix/forwarding_recipients"] == (
        "carol@example.test forwarding_recipients\ndave@example.test forwarding_recipients_verified\n")
    assert parameters["unverified_recipient_reject_code"] == "550"
    assert parameters["unverified_recipient_defer_code"] == "450"


def test_verification_alone_needs_no_other_check_but_plain_recipients_do():
    result = build(profile="strict", forwarding={"recipients_table": "hash:/etc/postfix/fwd",
                                                 "verify_recipients": ["dave@example.test"]})
    assert result["parameters"]["smtpd_restriction_classes"] == "forwarding_recipients_verified"
    assert result["parameters"]["forwarding_recipients_verified"] == "reject_unverified_recipient"
    refused("get nothing stricter", forwarding={"recipients_table": "hash:/etc/postfix/fwd",
                                                "recipients": ["carol@example.test"],
                                                "verify_recipients": ["dave@example.test"]})


def test_forwarding_class_never_permits():
    entries = build(forwarding=FORWARDING)["restriction_classes"]["forwarding_recipients"]["entries"]
    assert all(not e["name"].startswith("permit") for e in entries)


def test_baseline_forwarding_class_adds_the_checks_the_profile_lacks():
    value = build(profile="baseline", forwarding={"recipients_table": "hash:/etc/postfix/fwd"})[
        "parameters"]["forwarding_recipients"]
    assert value == "reject_non_fqdn_helo_hostname, reject_unknown_reverse_client_hostname"


def test_forwarding_with_nothing_stricter_is_refused():
    refused("nothing stricter", forwarding={"recipients_table": "hash:/etc/postfix/fwd"})


def test_forwarding_table_of_another_type_gets_no_content():
    result = build(forwarding=dict(FORWARDING, recipients_table="proxy:mysql:/etc/postfix/fwd.cf"))
    assert result["tables"] == {}
    refused("only a file table", forwarding=dict(FORWARDING, recipients_table="mysql:/etc/postfix/fwd.cf",
                                                 recipients=["carol@example.test"]))


@pytest.mark.parametrize("name", ["mynetworks", "smtpd_client_restrictions", "permit", "Bad-Name", "relay_x"])
def test_forwarding_class_may_not_replace_a_parameter(name):
    refused("forwarding.class", forwarding=dict(FORWARDING, **{"class": name}))


def test_forwarding_recipients_must_be_addresses_and_spf_an_endpoint():
    refused(r"forwarding.recipients\[0\]", forwarding=dict(FORWARDING, recipients=["carol"]))
    refused("forwarding.spf_policy", forwarding=dict(FORWARDING, spf_policy="policyd-spf"))


# ---------------------------------------------------------------------------
# relay domains


def test_relay_domains_without_recipient_validation_are_refused():
    refused("backscatter", relay_domains=["relay.example.test"])


def test_relay_domains_with_a_recipient_table():
    parameters = build(relay_domains=["relay.example.test"], relay_recipient_maps="hash:/etc/postfix/relay_rcpt")[
        "parameters"]
    assert parameters["relay_domains"] == "relay.example.test"
    assert parameters["relay_recipient_maps"] == "hash:/etc/postfix/relay_rcpt"
    assert "reject_unverified_recipient" not in str(parameters)


@pytest.mark.parametrize("maps, config_directory, expected", [
    ("hash:/etc/postfix/relay_rcpt", None,
     [("hash:/etc/postfix/relay_rcpt", "hash", "/etc/postfix/relay_rcpt", True)]),
    # texthash: is read as it is: its file must exist, postmap must not touch it.
    ("texthash:/etc/postfix/relay_rcpt", None,
     [("texthash:/etc/postfix/relay_rcpt", "texthash", "/etc/postfix/relay_rcpt", False)]),
    ("hash:$config_directory/relay_rcpt", "/etc/postfix-mx", [
        ("hash:$config_directory/relay_rcpt", "hash", "/etc/postfix-mx/relay_rcpt", True)]),
    ("hash:${config_directory}/a, cdb:$(config_directory)/b", None, [
        ("hash:${config_directory}/a", "hash", "/etc/postfix/a", True),
        ("cdb:$(config_directory)/b", "cdb", "/etc/postfix/b", True)]),
    ("proxy:hash:/etc/postfix/a lmdb:/etc/postfix/b", None, [
        ("proxy:hash:/etc/postfix/a", "hash", "/etc/postfix/a", True),
        ("lmdb:/etc/postfix/b", "lmdb", "/etc/postfix/b", True)]),
    ("proxy:mysql:/etc/postfix/relay.cf", None, [("proxy:mysql:/etc/postfix/relay.cf", "mysql", None, False)]),
])
def test_relay_recipient_tables_are_returned_parsed_for_the_checks_before_going_live(maps, config_directory, expected):
    intent = dict(relay_domains=["relay.example.test"], relay_recipient_maps=maps)
    if config_directory:
        intent["config_directory"] = config_directory
    result = build(**intent)
    assert result["parameters"]["relay_recipient_maps"] == maps
    assert [(t["table"], t["type"], t["path"], t["compile"]) for t in result["operator_tables"]] == expected


@pytest.mark.parametrize("entry, expected", [
    ("check_sender_access hash:$config_directory/sender_access",
     [("hash:$config_directory/sender_access", "hash", "/etc/postfix-mx/sender_access", True)]),
    ("check_client_access cidr:/etc/postfix/clients.cidr",
     [("cidr:/etc/postfix/clients.cidr", "cidr", "/etc/postfix/clients.cidr", False)]),
    ("check_helo_access proxy:mysql:/etc/postfix/helo.cf", [("proxy:mysql:/etc/postfix/helo.cf", "mysql", None, False)]),
    ("check_recipient_access inline:{ abuse@example.test=OK }", []),
    ("reject_rhsbl_sender dbl.example.test=127.0.1.[2..99]", []),
])
def test_the_tables_of_custom_access_checks_are_returned_for_the_checks_before_going_live(entry, expected):
    result = build(config_directory="/etc/postfix-mx", custom=[{"stage": "recipient", "entry": entry}])
    assert [(t["table"], t["type"], t["path"], t["compile"]) for t in result["operator_tables"]] == expected


def test_a_table_named_by_relay_recipient_maps_and_a_custom_check_is_returned_once():
    result = build(relay_domains=["relay.example.test"], relay_recipient_maps="hash:/etc/postfix/relay_rcpt",
                   custom=[{"stage": "recipient", "entry": "check_recipient_access hash:/etc/postfix/relay_rcpt"}])
    assert [t["path"] for t in result["operator_tables"]] == ["/etc/postfix/relay_rcpt"]


def test_the_class_names_the_lists_may_write_are_returned_whether_used_or_not():
    assert build()["managed_classes"] == [
        "forwarding_recipients", "forwarding_recipients_verified", "null_sender_blocklists", "verify_relay_recipients"]
    named = build(forwarding=dict(FORWARDING, **{"class": "fwd_strict"}))
    assert "fwd_strict" in named["managed_classes"] and "fwd_strict_verified" in named["managed_classes"]


def test_relay_recipient_tables_are_not_returned_without_relay_domains():
    assert build()["operator_tables"] == []


@pytest.mark.parametrize("maps, message", [
    ("relay_recipients", "is not a Postfix table"),
    ("hash:/etc/postfix/a, nothing", "is not a Postfix table"),
    ("hash:$queue_directory/relay", r"other than \$config_directory"),
])
def test_bad_relay_recipient_tables_are_refused_with_the_table_named(maps, message):
    refused(message, relay_domains=["relay.example.test"], relay_recipient_maps=maps)


def test_relay_recipient_verification_probes_the_relay_domains():
    result = build(relay_domains=["relay.example.test", "b.example.test"], relay_recipient_verification=True)
    parameters = result["parameters"]
    assert parameters["verify_relay_recipients"] == "reject_unverified_recipient"
    assert parameters["relay_recipient_maps"] == ""
    assert result["tables"]["/etc/postfix/relay_recipient_verification"] == (
        "relay.example.test verify_relay_recipients\nb.example.test verify_relay_recipients\n")
    assert "check_recipient_access hash:/etc/postfix/relay_recipient_verification" in texts(result, "recipient")
    assert parameters["address_verify_map"] == "btree:$data_directory/verify_cache"


def test_contradictory_relay_validation_is_refused():
    refused("choose one", relay_domains=["relay.example.test"], relay_recipient_maps="hash:/x",
            relay_recipient_verification=True)
    refused("needs relay_domains", relay_recipient_verification=True)


# ---------------------------------------------------------------------------
# custom entries


@pytest.mark.parametrize("entry, match", [
    ("reject_everything_bad", "not a Postfix restriction"),
    ("permit_mx_backup", "deprecated"),
    ("reject_unverified_sender", "backscatterer"),
    ("permit_naked_ip_address", "removed"),
    ("check_policy_service inet:127.0.0.1:10040", "policy_services"),
    ("reject_rbl_client bl.example.net", "no reply filter"),
    ("reject_rbl_client ips.backscatterer.org=127.0.0.2", "null_sender_client"),
    ("check_client_access", "cannot be parsed"),
    ("reject_non_fqdn_sender reject_non_fqdn_recipient", "exactly one"),
])
def test_refused_custom_entries(entry, match):
    refused(match, custom=[{"stage": "client", "entry": entry}])


@pytest.mark.parametrize("stage, entry, position", [
    ("relay", "permit", "first"),
    ("relay", "permit_auth_destination", "before:reject_unauth_destination"),
    ("recipient", "permit_dnswl_client list.dnswl.org=127.0.[0..255].[1..3]", "first"),
    ("relay", "check_sender_access hash:/etc/postfix/sender_ok", "after:permit_sasl_authenticated"),
    ("recipient", "check_helo_access hash:/etc/postfix/helo_ok", "before:reject_unauth_destination"),
])
def test_custom_permit_ahead_of_the_relay_guard_is_refused(stage, entry, position):
    refused("ahead of reject_unauth_destination", custom=[{"stage": stage, "entry": entry, "position": position}])


def test_checks_on_what_the_client_proves_may_precede_the_guard():
    result = build(custom=[{"stage": "relay", "entry": "check_client_access cidr:/etc/postfix/relay_clients",
                            "position": "first"}])
    assert names(result, "relay")[0] == "check_client_access"
    assert result["stages"]["relay"]["entries"][0]["pinned"] is True


def test_custom_entry_after_the_guard_may_permit():
    result = build(custom=[{"stage": "recipient", "entry": "permit_auth_destination"}])
    recipient = names(result, "recipient")
    assert recipient.index("reject_unauth_destination") < recipient.index("permit_auth_destination")


def test_custom_last_keeps_the_stage_cheapest_first():
    result = build(dnsbls=[ZEN], custom=[{"stage": "recipient", "entry": "check_client_access cidr:/etc/postfix/c"}])
    recipient = names(result, "recipient")
    assert recipient.index("check_client_access") < recipient.index("reject_unknown_reverse_client_hostname")


def test_custom_access_table_stays_in_its_stage_where_its_ok_ends_only_that_list():
    result = build(custom=[{"stage": "client", "entry": "check_client_access cidr:/etc/postfix/c"}])
    assert names(result, "client")[-1] == "check_client_access"


@pytest.mark.parametrize("stage", ["client", "helo", "sender"])
def test_custom_lookup_that_only_refuses_joins_the_lookups_of_the_recipient_list(stage):
    entry = "reject_rhsbl_helo dbl.spamhaus.org=127.0.1.[2..99]"
    result = build(custom=[{"stage": stage, "entry": entry}])
    assert entry in texts(result, "recipient")
    assert entry not in texts(result, stage)
    moved = [e for e in result["stages"]["recipient"]["entries"] if e["text"] == entry][0]
    assert "stage %s, position last" % stage in moved["reason"]
    assert "smtpd_recipient_restrictions" in moved["reason"]


@pytest.mark.parametrize("stage", ["recipient", "relay"])
@pytest.mark.parametrize("version", ["3.5.18", "3.7.11"])
def test_custom_no_lookup_check_joins_the_client_list(stage, version):
    # From the relay list too: after the relay guard's table lookups (and, before Postfix 3.6,
    # after the recipient list's DNS checks) a syntax check would no longer come first.
    result = build(custom=[{"stage": stage, "entry": "reject_non_fqdn_helo_hostname"}],
                   profile="baseline", postfix_version=version)
    assert "reject_non_fqdn_helo_hostname" in names(result, "client")
    assert "reject_non_fqdn_helo_hostname" not in names(result, stage)
    assert names(result, "relay")[-1] == "reject_unauth_destination"


def test_custom_lookup_in_an_access_table_ahead_of_the_relay_guard_is_refused():
    refused("the custom entry 'check_client_mx_access cidr:/etc/postfix/mx' \\(dns\\) in the client stage .*"
            "Give it stage recipient",
            custom=[{"stage": "client", "entry": "check_client_mx_access cidr:/etc/postfix/mx"}])
    result = build(custom=[{"stage": "recipient", "entry": "check_client_mx_access cidr:/etc/postfix/mx"}])
    assert "check_client_mx_access" in names(result, "recipient")


@pytest.mark.parametrize("stage", ["client", "helo", "sender"])
def test_an_allowlist_before_the_lookups_is_told_that_it_no_longer_exempts_from_them(stage):
    result = build(dnsbls=[ZEN], custom=[{"stage": stage, "entry": "check_client_access cidr:/etc/postfix/ok"}])
    assert any("custom[0]" in w and "exempts from none of them" in w and "stage recipient" in w
               for w in result["warnings"]), result["warnings"]


def test_an_allowlist_in_the_recipient_list_says_what_its_ok_skips():
    result = build(dnsbls=[ZEN], custom=[{"stage": "recipient", "entry": "check_sender_access hash:/etc/postfix/ok"}])
    entry = [e for e in result["stages"]["recipient"]["entries"] if e["name"] == "check_sender_access"][0]
    assert "skipping every DNS and policy check after it" in entry["reason"]
    recipient = names(result, "recipient")
    assert recipient.index("check_sender_access") < recipient.index("reject_rbl_client")
    assert not any("exempts from none" in w for w in result["warnings"])


def test_a_pin_that_names_an_entry_of_another_list_says_where_it_went():
    refused("reject_unknown_sender_domain stands in the recipient stage",
            custom=[{"stage": "sender", "entry": "check_sender_access hash:/etc/postfix/a",
                     "position": "before:reject_unknown_sender_domain"}])


def test_custom_unconditional_end_goes_to_the_very_end():
    result = build(profile="baseline", custom=[
        {"stage": "client", "entry": "reject"},
        {"stage": "client", "entry": "check_client_access cidr:/etc/postfix/c"}])
    assert names(result, "client") == ["permit_mynetworks", "permit_sasl_authenticated",
                                       "reject_invalid_helo_hostname", "reject_non_fqdn_sender",
                                       "reject_non_fqdn_recipient", "check_client_access", "reject"]


def test_custom_unconditional_end_behind_dns_checks_is_refused():
    refused("leave the permit out", dnsbls=[ZEN], custom=[{"stage": "recipient", "entry": "permit"}])
    refused("stage without DNS", dnsbls=[ZEN], custom=[{"stage": "recipient", "entry": "reject"}])


def test_custom_pin_that_puts_a_lookup_before_cheap_checks_is_refused():
    refused("the custom entry 'reject_rhsbl_helo dbl.spamhaus.org=127.0.1.\\[2..99\\]'",
            custom=[{"stage": "helo", "entry": "reject_rhsbl_helo dbl.spamhaus.org=127.0.1.[2..99]",
                     "position": "first"}])


def test_custom_pin_before_and_after_named_entries():
    result = build(custom=[
        {"stage": "client", "entry": "check_sender_access hash:/etc/postfix/a",
         "position": "before:reject_non_fqdn_sender"},
        {"stage": "client", "entry": "check_sender_access hash:/etc/postfix/b",
         "position": "after:check_sender_access hash:/etc/postfix/a"}])
    sender = texts(result, "client")
    a = sender.index("check_sender_access hash:/etc/postfix/a")
    assert sender[a + 1] == "check_sender_access hash:/etc/postfix/b"
    assert sender[a + 2] == "reject_non_fqdn_sender"


def test_custom_anchor_must_exist():
    refused("names no entry", custom=[{"stage": "data", "entry": "sleep 1", "position": "before:permit_mynetworks"}])
    refused("position 'middle'", custom=[{"stage": "data", "entry": "sleep 1", "position": "middle"}])


def test_warn_if_reject_must_be_pinned_and_never_soften_the_guard():
    refused("warn_if_reject changes", custom=[{"stage": "client", "entry": "warn_if_reject"}])
    refused("open relay", custom=[{"stage": "relay", "entry": "warn_if_reject",
                                   "position": "before:reject_unauth_destination"}])
    result = build(custom=[{"stage": "recipient", "entry": "warn_if_reject",
                            "position": "before:reject_unknown_reverse_client_hostname"}])
    client = names(result, "recipient")
    assert client[client.index("warn_if_reject") + 1] == "reject_unknown_reverse_client_hostname"


def test_custom_defer_ahead_of_the_guard_fails_the_self_check():
    refused("self-check.*defer_unauth_destination",
            custom=[{"stage": "relay", "entry": "defer_unauth_destination", "position": "first"}])


def test_custom_entry_behind_a_policy_for_everyone_is_refused():
    refused("Move one of them", policy_services=[policy(stage="data", applies_to_authenticated=True)],
            custom=[{"stage": "data", "entry": "check_client_access cidr:/etc/postfix/c"}])


# ---------------------------------------------------------------------------
# submission services


def test_submission_services_serve_authenticated_users_only():
    result = build(submission={"sender_login_maps": "hash:/etc/postfix/sender_logins"})
    services = result["services"]
    assert services["smtp/inet"] == {}
    submission = services["submission/inet"]
    assert submission["smtpd_tls_security_level"] == "encrypt"
    assert submission["smtpd_sasl_auth_enable"] == "yes"
    assert submission["smtpd_tls_auth_only"] == "yes"
    assert submission["smtpd_client_restrictions"] == "permit_sasl_authenticated,reject"
    assert submission["smtpd_relay_restrictions"] == "permit_sasl_authenticated,reject_unauth_destination"
    assert submission["smtpd_sender_restrictions"] == (
        "reject_non_fqdn_sender,reject_authenticated_sender_login_mismatch,permit_sasl_authenticated,reject")
    assert submission["smtpd_sender_login_maps"] == "hash:/etc/postfix/sender_logins"
    assert services["smtps/inet"]["smtpd_tls_wrappermode"] == "yes"
    assert "smtpd_tls_wrappermode" not in submission
    assert result["service_parameters"]["submission/inet/smtpd_sasl_auth_enable"] == "yes"
    for overrides in services.values():
        assert not any(" " in value for value in overrides.values())


@pytest.mark.parametrize("keyword, owner_of_u1", [
    ("local_users", "u1"),
    ("virtual_users", "u1@example.org"),
])
def test_sender_login_keywords_write_a_regexp_table_of_the_own_domains(keyword, owner_of_u1):
    result = build(own_domains=["example.org", "mail.example.net"], submission={"sender_login_maps": keyword},
                   config_directory="/etc/postfix-in")
    table = "regexp:/etc/postfix-in/sender_login_owners.regexp"
    submission = result["services"]["submission/inet"]
    assert submission["smtpd_sender_login_maps"] == table
    assert "reject_authenticated_sender_login_mismatch" in submission["smtpd_sender_restrictions"]
    content = result["tables"]["/etc/postfix-in/sender_login_owners.regexp"]
    assert table not in result["postmap"]
    # What smtpd would look up: the regexp, applied as Postfix does (case
    # insensitive, $1 the first group), gives the owner.
    rules = [line for line in content.splitlines() if line and not line.startswith("#")]
    assert len(rules) == 1
    pattern, owner = re.match(r"^/(.*)/ (\S+)$", rules[0]).groups()

    def lookup(address):
        match = re.match(pattern, address, re.IGNORECASE)
        return owner.replace("${1}", match.group(1)) if match else None

    assert lookup("u1@example.org") == owner_of_u1
    assert lookup("u1@mail.example.net") == owner_of_u1.replace("example.org", "mail.example.net")
    # Other domains and look-alikes have no owner; an extension address is
    # owned by a login of that name, not by u1.
    for address in ("u1@example.com", "u1@example.org.evil.test", "u1@exampleXorg", "u1@sub.example.org"):
        assert lookup(address) is None, address
    assert lookup("u1+tag@example.org") not in ("u1", "u1@example.org")


def test_sender_login_keyword_without_own_domains_is_refused():
    with pytest.raises(rb.IntentError, match="local_users needs own_domains"):
        build(submission={"sender_login_maps": "local_users"})


@pytest.mark.parametrize("value, message", [
    ("users", "neither a table .type:name. nor one of local_users, virtual_users"),
    ("nosuch:/etc/postfix/logins", "nosuch is not a Postfix table type"),
])
def test_sender_login_maps_that_are_no_table_nor_keyword_are_refused(value, message):
    with pytest.raises(rb.IntentError, match=message):
        build(own_domains=["example.org"], submission={"sender_login_maps": value})


def test_sender_login_table_must_be_a_regexp_file():
    with pytest.raises(rb.IntentError, match="only a file table can hold .regexp."):
        build(own_domains=["example.org"],
              submission={"sender_login_maps": "local_users", "sender_login_table": "hash:/etc/postfix/logins"})


def test_submission_view_merges_main_cf_for_the_stages_it_does_not_override():
    result = build(submission={}, policy_services=[policy(stage="end_of_data", applies_to_authenticated=True)])
    view = result["service_stages"]["submission/inet"]
    assert view["relay"]["source"] == "master.cf"
    assert view["end_of_data"]["source"] == "main.cf"
    assert view["end_of_data"]["value"].startswith("check_policy_service")


def test_submission_options():
    result = build(submission={"tls_required": False, "services": ["587/inet", "[::1]:465/inet"],
                               "sasl_type": "dovecot", "sasl_path": "private/auth"})
    assert result["services"]["587/inet"]["smtpd_tls_security_level"] == "may"
    assert result["services"]["587/inet"]["smtpd_tls_auth_only"] == "yes"
    assert result["services"]["[::1]:465/inet"]["smtpd_tls_wrappermode"] == "yes"
    assert result["services"]["587/inet"]["smtpd_sasl_type"] == "dovecot"
    assert set(build(submission={"enabled": False})["services"]) == {"smtp/inet"}


def test_submission_refusals():
    refused("submission.sasl is false", submission={"sasl": False})
    refused(r"submission.services\[0\]", submission={"services": ["smtp/inet"]})
    refused("submission.services is empty", submission={"services": []})


# ---------------------------------------------------------------------------
# the self-check


def test_a_rich_intent_leaves_no_finding():
    result = build(
        profile="paranoid", postfix_version=DEBIAN13, own_domains=["example.test"],
        trusted_networks=["192.0.2.0/28"], submission={"sender_login_maps": "hash:/etc/postfix/logins"},
        dnsbls=[ZEN, DBL, {"name": "ips.backscatterer.org", "type": "null_sender_client", "filter": "127.0.0.2"}],
        policy_services=[policy(stage="end_of_data", applies_to_authenticated=True),
                         policy(name="grey", endpoint="inet:127.0.0.1:10023", default_action="451 4.7.1 later")],
        forwarding=dict(FORWARDING, recipients=["alice@"], verify_recipients=["dave@example.test"]),
        relay_domains=["relay.example.test"], relay_recipient_verification=True)
    assert result["findings"] == []
    assert json.loads(json.dumps(result)) == result


def test_judge_reports_what_the_audit_would_report():
    result = build()
    result["parameters"]["smtpd_relay_restrictions"] = "permit_dnswl_client list.dnswl.test, reject_unauth_destination"
    result["parameters"]["smtpd_recipient_restrictions"] = "permit_mynetworks"
    blocking = rb.blocking_findings(rb.judge(result))
    assert "open-relay-permit" in [f["id"] for f in blocking]


# ---------------------------------------------------------------------------
# properties


DOMAINS = st.sampled_from(["example.test", "example.org", "mail.example.net", "xn--bcher-kva.example"])
VERSIONS = st.sampled_from(["3.5.19", "3.6.4", "3.7.5", "3.7.6", "3.7.9", DEBIAN12, "3.8.4", "3.9.1", DEBIAN13])
# Good and bad values per part of the intent. A generated intent breaks at most one part
# (chosen up front), so that most intents are accepted and the properties get exercised.
GOOD = {
    "network": ["192.0.2.0/28", "198.51.100.0/24", "2001:db8::/48", "10.0.0.0/8"],
    "filter": ["127.0.0.2", "127.0.0.[2..11]", "127.0.1.[2..99]"],
    "dnsbl_name": ["zen.spamhaus.org", "dbl.spamhaus.org", "bl.spamcop.net", "bl.example.net"],
    "weight": [1, 2, 3],
    "endpoint": ["inet:127.0.0.1:10040", "unix:private/policyd-spf"],
    "timeout": ["10s", "3", "1m"],
    "default_action": ["DUNNO", "451 4.3.5 Try later"],
}
BAD = {
    "network": ["0.0.0.0/0", "2000::/3", "not-a-network"],
    "filter": ["127.0.0.[1..11]", None, "127.255.255.[0..255]"],
    "dnsbl_name": ["ips.backscatterer.org", "not a zone"],
    "weight": [-1, 0],
    "endpoint": ["10040", "tcp:x"],
    "timeout": [None, "900s", "soon"],
    "default_action": ["550 No", "OK", "REJECT"],
}
CUSTOM_ENTRIES = st.sampled_from([
    "permit", "reject", "defer_if_permit", "warn_if_reject", "sleep 1", "permit_mynetworks",
    "permit_sasl_authenticated", "permit_auth_destination", "permit_tls_clientcerts",
    "permit_dnswl_client list.dnswl.org=127.0.[0..255].[1..3]", "reject_rbl_client bl.example.net=127.0.0.2",
    "reject_rhsbl_helo dbl.spamhaus.org=127.0.1.[2..99]", "check_client_access cidr:/etc/postfix/clients",
    "check_sender_access hash:/etc/postfix/senders", "check_recipient_access hash:/etc/postfix/rcpt",
    "check_helo_access hash:/etc/postfix/helo", "check_client_access mysql:/etc/postfix/clients.cf",
    "reject_non_fqdn_helo_hostname", "reject_unknown_helo_hostname", "reject_unauth_pipelining",
    "defer_unauth_destination", "reject_unlisted_sender", "check_sender_mx_access cidr:/etc/postfix/mx",
    "permit_mx_backup", "reject_unverified_sender", "no_such_restriction", "reject_rbl_client bl.example.net",
])
ANCHORS = st.sampled_from(["reject_unauth_destination", "permit_mynetworks", "permit_sasl_authenticated",
                           "reject_non_fqdn_sender", "reject_unauth_pipelining", "reject_unknown_sender_domain",
                           "check_policy_service", "reject_rbl_client"])
POSITIONS = st.one_of(st.just("last"), st.sampled_from(["first", "last"]),
                      st.builds(lambda kind, anchor: "%s:%s" % (kind, anchor),
                                st.sampled_from(["before", "after"]), ANCHORS))
FAULTS = ("network", "filter", "dnsbl_name", "weight", "endpoint", "timeout", "default_action")


@st.composite
def intents(draw, valid_only=False):
    """Intents of every shape; valid_only gives only intents the builder must accept."""
    fault = None if valid_only else draw(st.one_of(st.none(), st.sampled_from(FAULTS)))

    def value(kind):
        return draw(st.sampled_from(BAD[kind] if kind == fault else GOOD[kind]))

    intent = {"postfix_version": draw(VERSIONS), "profile": draw(st.sampled_from(rb.PROFILES)),
              "own_domains": draw(st.lists(DOMAINS, max_size=3)),
              "postscreen": draw(st.booleans())}
    intent["trusted_networks"] = [value("network") for _i in range(draw(st.integers(0, 2)))]
    dnsbls = []
    for _i in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(("client", "reverse_client", "helo", "sender", "null_sender_client")))
        name = "ips.backscatterer.org" if kind == "null_sender_client" and fault != "dnsbl_name" \
            else value("dnsbl_name")
        dnsbls.append({"name": name, "type": kind, "filter": value("filter"),
                       "weight": value("weight") if intent["postscreen"] or fault == "weight" else 1,
                       "allow_unfiltered": False if valid_only else draw(st.booleans())})
    intent["dnsbls"] = list(dict(((d["name"], d["type"]), d) for d in dnsbls).values())
    policies = []
    for index, stage in enumerate(draw(st.lists(st.sampled_from(rb.POLICY_STAGES), max_size=3, unique=True))):
        policies.append({"name": "p%d" % index, "endpoint": value("endpoint"), "stage": stage,
                         "timeout": value("timeout"), "default_action": value("default_action"),
                         "applies_to_authenticated": stage != "recipient" and draw(st.booleans())})
    intent["policy_services"] = policies
    if valid_only:
        intent["custom"] = draw(st.lists(st.builds(
            lambda stage, entry: {"stage": stage, "entry": entry},
            st.sampled_from(["client", "helo", "sender", "recipient"]),
            st.sampled_from(["check_client_access cidr:/etc/postfix/clients", "reject_non_fqdn_helo_hostname",
                             "reject_rbl_client bl.example.net=127.0.0.2"])), max_size=3))
    else:
        intent["custom"] = draw(st.lists(st.builds(
            lambda stage, entry, position: {"stage": stage, "entry": entry, "position": position},
            st.sampled_from(rb.BUILD_STAGES), CUSTOM_ENTRIES, POSITIONS), max_size=3))
    if draw(st.booleans()):
        intent["forwarding"] = {"recipients_table": "hash:/etc/postfix/fwd",
                                "spf_policy": "unix:private/policyd-spf",
                                "dnsbls": [{"name": value("dnsbl_name"), "type": "sender", "filter": value("filter")}
                                           for _i in range(draw(st.integers(0, 1)))],
                                "verify_recipients": draw(st.sampled_from([[], ["dave@example.test"]]))}
    if draw(st.booleans()):
        intent["relay_domains"] = draw(st.lists(DOMAINS, min_size=1, max_size=2))
        intent["relay_recipient_verification"] = True
    if draw(st.booleans()):
        intent["submission"] = {"sender_login_maps": draw(st.sampled_from([None, "hash:/etc/postfix/logins"]))}
    return intent


def pinned_first(intent, stage, text):
    """Whether the intent itself pins this custom entry early (first or before:)."""
    return any(c["stage"] == stage and c["entry"] == text and
               (c.get("position") == "first" or str(c.get("position", "")).startswith("before:"))
               for c in intent.get("custom") or [])


def assert_properties(intent, result):
    views = effective_stages(result)
    # (1) No unauthenticated path reaches a permit before reject_unauth_destination, on any service.
    for key, stages in views.items():
        state, entry = rm.relay_path(stages["relay"]["entries"], stages["recipient"]["entries"])
        assert state == "closed", (key, state, entry)
    assert "reject_unauth_destination" in result["parameters"]["smtpd_relay_restrictions"]
    # (2) Cheap before expensive within every stage and class, unless the intent pinned it.
    lists = dict((stage, info["entries"]) for stage, info in reparsed(result).items())
    lists.update((name, rm.parse_entries(result["parameters"][name])) for name in result["restriction_classes"])
    for stage, entries in lists.items():
        cheap = [i for i, e in enumerate(entries) if rm.COST_RANK[e["cost"]] <= rm.COST_RANK[rm.COST_LOCAL]]
        for i, entry in enumerate(entries):
            if rm.COST_RANK[entry["cost"]] >= rm.COST_RANK[rm.COST_DNS] and \
                    not pinned_first(intent, stage, entry["text"]):
                assert all(i > j for j in cheap), (stage, entry["text"], [e["text"] for e in entries])
    # (2b) One cost order across the lists: in smtpd's evaluation order for one RCPT command
    # (client, helo, sender, relay, recipient; recipient before relay without
    # smtpd_relay_before_recipient_restrictions), the checks that can refuse an unauthenticated
    # client never get cheaper, on any service, except entries the intent pinned. A permit ends
    # its own list, a final reject or defer the request; a check repeated later (any relay guard
    # after another) gives the same answer again.
    pinned = set((c["stage"], c["entry"]) for c in intent.get("custom") or []
                 if str(c.get("position") or "last") != "last")
    for key, stages in views.items():
        merged = dict(result["parameters"])
        merged.update(result["services"].get(key) or {})
        order = ["client", "helo", "sender"] + (
            ["relay", "recipient"] if merged.get("smtpd_relay_before_recipient_restrictions") == "yes"
            else ["recipient", "relay"])
        highest, seen, done = 0, set(), False
        for stage in order:
            for entry in stages[stage]["entries"]:
                answer = "guard" if entry["name"] in rm.RELAY_GUARDS else entry["text"]
                repeated = answer in seen
                seen.add(answer)
                if entry["name"] == "permit":
                    break
                if entry["name"] in ("reject", "defer"):
                    done = True
                    break
                if entry["action"] in (rm.ACTION_PERMIT, rm.ACTION_MODIFIER) or repeated \
                        or (stage, entry["text"]) in pinned:
                    continue
                rank = rm.COST_RANK[entry["cost"]]
                assert rank >= highest, (key, stage, entry["text"], [(s, stages[s]["value"]) for s in order])
                highest = rank
            if done:
                break
    # (3) Every blocklist carries a reply filter unless that list was allowed without one.
    allowed = set(d["name"] for d in (intent.get("dnsbls") or []) + ((intent.get("forwarding") or {}).get("dnsbls") or [])
                  if d.get("allow_unfiltered"))
    for entries in lists.values():
        for entry in entries:
            if entry["name"] in rm.DNSBL_RESTRICTIONS and not rm.dnsbl_has_reply_filter(entry["args"][0]):
                assert entry["args"][0] in allowed, entry["text"]
    # (4) The audit's rules find no relay or order problem, on main.cf and on each service.
    values = result["parameters"]
    found = fnd.stage_findings(rb.MAIN_CF, views[rb.MAIN_CF], values, values)
    for key, overrides in result["services"].items():
        if overrides:
            merged = dict(values)
            merged.update(overrides)
            found.extend(fnd.stage_findings(key, views[key], merged, values, overridden=set(overrides)))
    problems = [f for f in found if f["category"] in ("relay", "order")
                and not (f["id"] == "dnsbl-without-reply-filter" and allowed)]
    assert problems == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(intent=intents())
def test_any_accepted_intent_is_closed_ordered_filtered_and_clean(intent):
    try:
        result = rb.build(intent)
    except rb.IntentError as exc:
        # Refusals are fine; they must say what was wrong.
        assert str(exc)
        return
    assert_properties(intent, result)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(intent=intents(valid_only=True))
def test_intents_made_of_valid_parts_are_accepted(intent):
    result = rb.build(intent)
    assert_properties(intent, result)


@pytest.mark.parametrize("intent, expected", [
    ({"relay_domains": ["relay.test"], "relay_recipient_maps": "hsah:/etc/postfix/relay_recipients"},
     "relay_recipient_maps 'hsah:/etc/postfix/relay_recipients': hsah is not a Postfix table type (did you mean hash?)"),
    ({"custom": [{"stage": "sender", "entry": "check_sender_access hsah:/etc/postfix/sender_access"}]},
     "hsah is not a Postfix table type"),
    ({"own_domains_table": "hsah:/etc/postfix/own", "own_domains": ["example.org"]}, "hsah is not a Postfix table type"),
])
def test_a_table_type_postfix_does_not_know_is_refused_naming_it(intent, expected):
    with pytest.raises(rb.IntentError) as exc:
        build(**intent)
    assert expected in str(exc.value)


def test_a_unicode_domain_is_refused_with_its_ascii_form():
    with pytest.raises(rb.IntentError) as exc:
        build(own_domains=["example.org", "b\u00fccher.example"])
    assert str(exc.value).startswith(
        "own_domains[1] 'b\u00fccher.example' is an internationalised domain name: write it as xn--bcher-kva.example")


def test_the_ascii_form_of_a_unicode_domain_is_accepted():
    assert "xn--bcher-kva.example" in json.dumps(build(own_domains=["xn--bcher-kva.example"])["tables"])
