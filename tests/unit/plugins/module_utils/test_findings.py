"""Each finding, seeded one at a time on a real Debian Postfix configuration."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import facts as facts_mod
from ansible_collections.mailguard.postfix.plugins.module_utils import findings as fnd
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm

from fake_postfix import RELEASES, FakeCommands, FakeReader

SUBMISSION_LINE = "submission inet  n       -       y       -       -       smtpd\n"


def gather(release="debian12", reader=None, forwarding_recipients=False, **kwargs):
    return facts_mod.gather(FakeCommands(release, **kwargs), reader or FakeReader(),
                            forwarding_recipients=forwarding_recipients)


def ids(facts, service=None):
    return sorted(set(f["id"] for f in facts["findings"] if service is None or f["service"] == service))


def find(facts, fid, service=None):
    hits = [f for f in facts["findings"] if f["id"] == fid and (service is None or f["service"] == service)]
    assert hits, "%s not reported for %s; got %s" % (fid, service, json.dumps(facts["findings"], indent=1))
    return hits[0]


@pytest.mark.parametrize("release", RELEASES)
def test_stock_debian_has_no_relay_exposure_and_one_backscatter_path_dsn(release):
    # The recorded queue holds bounces on purpose; an empty queue here.
    facts = gather(release, queue="")
    assert facts["installed"] is True
    serious = [(f["id"], f["service"]) for f in facts["findings"]
               if f["category"] in ("relay", "backscatter") and pv.SEVERITY_RANK[f["severity"]] <= 2]
    # Debian's smtpd on port 25 offers DSN to anyone: forged NOTIFY=SUCCESS
    # requests have their notices sent to the forged sender.
    assert serious == [("dsn-offered-on-port-25", "smtp/inet")]
    assert facts["address_classes"]["local"]["validated"] is True


@pytest.mark.parametrize("discard, reported", [
    ("silent-discard, dsn", False),
    ("DSN", False),
    ("silent-discard", True),
    ("", True),
])
def test_dsn_on_port_25_is_judged_by_the_keywords_it_discards(discard, reported):
    in_main = gather(main={"smtpd_discard_ehlo_keywords": discard})
    in_override = gather(service_params={"smtp/inet/smtpd_discard_ehlo_keywords": discard})
    for facts in (in_main, in_override):
        assert ("dsn-offered-on-port-25" in ids(facts, "smtp/inet")) is reported, discard


def test_an_override_that_offers_dsn_again_is_reported_despite_main_cf():
    facts = gather(main={"smtpd_discard_ehlo_keywords": "dsn"},
                   service_params={"smtp/inet/smtpd_discard_ehlo_keywords": "silent-discard"})
    assert "dsn-offered-on-port-25" in ids(facts, "smtp/inet")


def test_dsn_behind_postscreen_is_judged_on_the_smtpd_pass_service():
    postscreen = ("smtp       inet  n       -       y       -       1       postscreen\n"
                  "smtpd      pass  -       -       y       -       -       smtpd\n"
                  "dnsblog    unix  -       -       y       -       0       dnsblog\n")
    facts = gather(drop_services=["smtp/inet"], extra_master=postscreen)
    assert find(facts, "dsn-offered-on-port-25")["service"] == "smtpd/pass"
    facts = gather(drop_services=["smtp/inet"], extra_master=postscreen,
                   service_params={"smtpd/pass/smtpd_discard_ehlo_keywords": "dsn"})
    assert "dsn-offered-on-port-25" not in ids(facts)


def test_dsn_is_not_judged_where_a_table_discards_keywords_by_client():
    facts = gather(main={"smtpd_discard_ehlo_keyword_address_maps": "cidr:/etc/postfix/ehlo.cidr"})
    assert "dsn-offered-on-port-25" not in ids(facts)


def test_submission_keeps_dsn_without_a_finding():
    facts = gather(extra_master=SUBMISSION_LINE)
    assert "dsn-offered-on-port-25" not in ids(facts, "submission/inet")


@pytest.mark.parametrize("release", RELEASES)
def test_stock_debian_relays_with_a_4xx_only(release):
    # Debian writes defer_unauth_destination on fresh installs.
    assert find(gather(release), "relay-defer-not-reject")["severity"] == "low"


def test_stock_debian12_lacks_the_pipelining_and_bare_newline_protections():
    assert {"unauth-pipelining-unprotected", "bare-newline-unprotected"} <= set(ids(gather("debian12")))


def test_stock_debian13_has_them_by_default():
    assert {"unauth-pipelining-unprotected", "bare-newline-unprotected"}.isdisjoint(ids(gather("debian13")))


@pytest.mark.parametrize("release", RELEASES)
def test_versions_and_compatibility_are_reported(release):
    facts = gather(release)
    assert facts["version"].startswith("3.7." if release == "debian12" else "3.10.")
    assert facts["compatibility_level_explicit"] is True


def test_unset_compatibility_level_reports_the_builtin_one():
    facts = gather(drop=["compatibility_level"], main={"compatibility_level": "0"})
    assert facts["compatibility_level"] == "0"
    assert facts["compatibility_level_explicit"] is False
    assert find(facts, "compatibility-level-unset")["service"] == "main.cf"


def test_an_allowlist_permit_before_the_relay_guard_is_an_open_relay():
    # smtpd starts (the guard counts) and relays for every listed client.
    facts = gather(main={"smtpd_relay_restrictions":
                         "permit_mynetworks permit_dnswl_client list.dnswl.test reject_unauth_destination"})
    hit = find(facts, "open-relay-permit", "main.cf")
    assert hit["severity"] == "critical" and hit["parameter"] == "smtpd_relay_restrictions"


def test_a_bare_permit_before_the_only_relay_guard_is_a_service_that_will_not_start():
    # smtpd counts no guard behind an unconditional permit and exits at start.
    facts = gather(main={"smtpd_relay_restrictions": "permit_mynetworks permit reject_unauth_destination"})
    hit = find(facts, "relay-check-missing", "main.cf")
    assert "will not start" in hit["message"]
    assert "open-relay-permit" not in ids(facts, "main.cf")
    assert "permit-shadows-reject" in ids(facts, "main.cf")


@pytest.mark.parametrize("relay", ["permit_mynetworks", "permit_mynetworks permit"])
def test_no_relay_guard_anywhere_is_reported_as_a_service_that_will_not_start(relay):
    facts = gather(main={"smtpd_relay_restrictions": relay, "smtpd_recipient_restrictions": ""})
    hit = find(facts, "relay-check-missing", "main.cf")
    assert hit["severity"] == "high"
    assert "will not start" in hit["message"]
    assert "open-relay-permit" not in ids(facts, "main.cf")


def test_master_cf_override_that_opens_relay_names_the_service():
    facts = gather(extra_master=SUBMISSION_LINE, service_params={
        "submission/inet/smtpd_relay_restrictions":
            "permit_mynetworks,permit_dnswl_client,list.dnswl.test,reject_unauth_destination"})
    hit = find(facts, "master-override-opens-relay", "submission/inet")
    assert hit["parameter"] == "smtpd_relay_restrictions"
    assert "open-relay-permit" not in ids(facts)
    stage = facts["smtpd_services"]["submission/inet"]["stages"]["relay"]
    assert stage["source"] == "master.cf"
    assert [e["name"] for e in stage["entries"]] == ["permit_mynetworks", "permit_dnswl_client",
                                                     "reject_unauth_destination"]


def test_master_cf_override_with_a_bare_permit_before_the_guard_is_a_service_that_will_not_start():
    facts = gather(extra_master=SUBMISSION_LINE, service_params={
        "submission/inet/smtpd_relay_restrictions": "permit_mynetworks,permit,reject_unauth_destination"})
    hit = find(facts, "relay-check-missing", "submission/inet")
    assert "will not start" in hit["message"]
    assert "master-override-opens-relay" not in ids(facts)


def test_service_without_overrides_inherits_main_cf_and_adds_no_findings():
    facts = gather(extra_master=SUBMISSION_LINE)
    assert ids(facts, "submission/inet") == []
    relay = facts["smtpd_services"]["submission/inet"]["stages"]["relay"]
    assert relay["source"] == "main.cf"
    assert facts["smtpd_services"]["submission/inet"]["role"] == "submission"


def test_safe_submission_override_is_not_reported():
    facts = gather(extra_master=SUBMISSION_LINE, service_params={
        "submission/inet/smtpd_relay_restrictions": "permit_sasl_authenticated,reject",
        "submission/inet/smtpd_recipient_restrictions": "permit_sasl_authenticated,reject"})
    assert not [f for f in facts["findings"] if f["service"] == "submission/inet" and f["category"] == "relay"]


@pytest.mark.parametrize("mynetworks, severity", [
    ("127.0.0.0/8 10.0.0.0/8", "high"),
    ("0.0.0.0/0", "critical"),
])
def test_wide_mynetworks(mynetworks, severity):
    hit = find(gather(main={"mynetworks": mynetworks}), "mynetworks-too-wide", "main.cf")
    assert hit["severity"] == severity


def test_mynetworks_override_in_master_cf_is_reported_for_that_service():
    facts = gather(extra_master=SUBMISSION_LINE, service_params={"submission/inet/mynetworks": "0.0.0.0/0"})
    assert "mynetworks-too-wide" in ids(facts, "submission/inet")
    assert "mynetworks-too-wide" not in ids(facts, "main.cf")


def test_permit_mx_backup():
    facts = gather(main={"smtpd_recipient_restrictions": "permit_mynetworks permit_mx_backup reject_unauth_destination"})
    assert find(facts, "permit-mx-backup")["parameter"] == "smtpd_recipient_restrictions"


def test_relay_domains_without_recipient_maps():
    facts = gather(main={"relay_domains": "relay.test"})
    assert facts["address_classes"]["relay"]["domains"] == ["relay.test"]
    assert facts["address_classes"]["relay"]["validated"] is False
    find(facts, "relay-domains-without-recipient-maps", "main.cf")


def test_relay_domains_with_recipient_maps_are_validated():
    facts = gather(main={"relay_domains": "relay.test", "relay_recipient_maps": "hash:/etc/postfix/relay_recipients"})
    assert facts["address_classes"]["relay"]["validated"] is True
    assert facts["address_classes"]["relay"]["validated_by"] == ["hash:/etc/postfix/relay_recipients"]


def test_relay_domains_verified_at_rcpt_are_validated():
    facts = gather(main={"relay_domains": "relay.test", "smtpd_recipient_restrictions":
                         "reject_unauth_destination reject_unverified_recipient"})
    assert "relay-domains-without-recipient-maps" not in ids(facts)
    assert facts["address_classes"]["relay"]["validated_by"] == ["reject_unverified_recipient"]


def test_relay_domains_verified_through_a_restriction_class_are_validated():
    facts = gather(main={"relay_domains": "relay.test",
                         "smtpd_restriction_classes": "verify_relay_recipients",
                         "verify_relay_recipients": "reject_unverified_recipient",
                         "smtpd_recipient_restrictions": "reject_unauth_destination "
                                                         "check_recipient_access hash:/etc/postfix/relay_verify"})
    assert "relay-domains-without-recipient-maps" not in ids(facts)


def test_a_final_reject_after_dns_checks_is_not_an_order_problem():
    facts = gather(main={"smtpd_client_restrictions": "reject_rbl_client zen.spamhaus.org=127.0.0.[2..11] reject"})
    assert "expensive-before-cheap" not in ids(facts)


def test_virtual_mailbox_domains_without_table():
    facts = gather(main={"virtual_mailbox_domains": "mail.test", "virtual_mailbox_maps": ""})
    assert find(facts, "virtual-domains-without-recipient-table")["parameter"] == "virtual_mailbox_maps"


@pytest.mark.parametrize("release", RELEASES)
def test_reject_unlisted_recipient_off(release):
    facts = gather(release, main={"smtpd_reject_unlisted_recipient": "no"})
    find(facts, "reject-unlisted-recipient-off")
    assert facts["address_classes"]["local"]["validated"] is False


def test_empty_local_recipient_maps():
    facts = gather(main={"local_recipient_maps": ""})
    find(facts, "local-recipient-maps-empty")


def test_luser_relay():
    assert find(gather(main={"luser_relay": "postmaster"}), "luser-relay")["severity"] == "high"


def test_catch_all_virtual_alias_and_offsite_virtual_alias():
    facts = gather(main={"virtual_alias_domains": "virt.test", "virtual_alias_maps": "hash:/etc/postfix/virtual"},
                   tables={"hash:/etc/postfix/virtual": "@virt.test root\ndave@virt.test dan@ext.test\n"})
    assert "@virt.test -> root" in find(facts, "catch-all-alias")["message"]
    assert facts["forwarding"]["virtual_aliases"]["offsite_one_to_one"] == 1


def test_unverified_recipient_defer_code_250():
    assert find(gather(main={"unverified_recipient_defer_code": "250"}),
                "unverified-recipient-defer-code-250")["severity"] == "critical"


def test_after_queue_content_filter_in_main_cf_and_in_a_service():
    facts = gather(main={"content_filter": "smtp:[127.0.0.1]:10024"}, extra_master=SUBMISSION_LINE,
                   service_params={"submission/inet/content_filter": "amavis:[127.0.0.1]:10026"})
    assert "after-queue-content-filter" in ids(facts, "main.cf")
    assert "after-queue-content-filter" in ids(facts, "submission/inet")


def test_soft_bounce():
    find(gather(main={"soft_bounce": "yes"}), "soft-bounce-on")


@pytest.mark.parametrize("release", RELEASES)
def test_recorded_bounces_to_remote_recipients_in_the_queue(release):
    # showq prints the null sender as MAILER-DAEMON; the recording has two
    # such bounces to remote.test and one ordinary message.
    facts = gather(release)
    assert facts["queue"]["null_sender"] == 2
    assert facts["queue"]["bounces_to_remote"] == 2
    assert "2 bounce(s)" in find(facts, "backscatter-in-queue")["message"]


def test_empty_sender_counts_as_a_bounce_too():
    queue = json.dumps({"queue_name": "deferred", "queue_id": "4F1", "sender": "",
                        "recipients": [{"address": "forged@victim.test", "delay_reason": "refused"}]}) + "\n"
    facts = gather(queue=queue)
    assert facts["queue"]["bounces_to_remote"] == 1


def test_forwarding_offsite_without_stricter_checks():
    reader = FakeReader(forwards={"carol": "carol@elsewhere.test\n"})
    facts = gather(reader=reader, tables={"hash:/etc/aliases": "alice: bob@ext.test\n"})
    assert facts["forwarding"]["aliases"]["offsite_examples"] == ["alice -> bob@ext.test"]
    assert facts["forwarding"]["forward_files"]["offsite"] == 1
    assert "3" not in find(facts, "forwarding-without-strict-entry")["message"].split()[0]


def test_forwarding_recipients_are_listed_in_full_only_when_asked():
    reader = FakeReader(forwards={"carol": "carol@elsewhere.test\n"})
    tables = {"hash:/etc/aliases": "alice: bob@ext.test\n"}
    assert "recipients" not in gather(reader=reader, tables=tables)["forwarding"]
    recipients = gather(reader=reader, tables=tables, forwarding_recipients=True)["forwarding"]["recipients"]
    # The recorded host answers for its own name only (mydestination).
    assert "alice@capture-deb12.lab.test" in recipients["forwarded"]
    assert "carol@capture-deb12.lab.test" in recipients["forwarded"]
    assert not any(a.endswith("@localhost") for a in recipients["forwarded"])
    assert recipients["one_to_one_virtual"] == []


def test_forwarding_with_an_access_class_at_rcpt_is_not_reported():
    facts = gather(tables={"hash:/etc/aliases": "alice: bob@ext.test\n"}, main={
        "smtpd_recipient_restrictions": "reject_unauth_destination check_recipient_access hash:/etc/postfix/fwd"})
    assert "forwarding-without-strict-entry" not in ids(facts)


def test_unreadable_forward_file_is_listed_not_fatal():
    facts = gather(reader=FakeReader(unreadable=["eve"]))
    assert facts["forwarding"]["forward_files"]["unreadable"] == ["/home/eve/.forward: Permission denied"]


def test_expensive_before_cheap():
    facts = gather(main={"smtpd_client_restrictions":
                         "reject_rbl_client zen.spamhaus.org=127.0.0.[2..11] check_client_access hash:/etc/postfix/ca"})
    hit = find(facts, "expensive-before-cheap", "main.cf")
    assert hit["parameter"] == "smtpd_client_restrictions"


def test_a_permit_that_costs_a_lookup_is_not_an_order_problem():
    facts = gather(main={"smtpd_relay_restrictions": "permit_mynetworks permit_mx_backup reject_unauth_destination"})
    assert "expensive-before-cheap" not in ids(facts)
    assert "permit-mx-backup" in ids(facts)


def test_cheap_then_expensive_is_fine():
    facts = gather(main={"smtpd_recipient_restrictions":
                         "permit_mynetworks reject_unauth_destination check_client_access hash:/etc/postfix/ca "
                         "reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]"})
    assert "expensive-before-cheap" not in ids(facts)
    assert "dnsbl-without-reply-filter" not in ids(facts)


def test_a_lookup_in_the_client_list_before_the_relay_guard_is_found_across_lists():
    # Cheap first inside the client list, but smtpd evaluates that list before
    # the relay list, whose guard would have refused relay attempts for free.
    facts = gather(main={"smtpd_client_restrictions":
                         "check_client_access hash:/etc/postfix/ca reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]"})
    found = find(facts, "expensive-before-cheap")
    assert found["parameter"] == "smtpd_client_restrictions"
    assert "'reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]' (dns) in smtpd_client_restrictions" in found["message"]
    assert "'defer_unauth_destination' (local) in smtpd_relay_restrictions" in found["message"]
    assert "smtpd_recipient_restrictions" in found["fix"]


def test_the_old_strict_layout_is_found_across_lists():
    # What the harden role wrote before one cost order across the lists: the
    # reverse-DNS check in the client list ran before the HELO and sender
    # syntax checks of the later lists.
    facts = gather(main={
        "smtpd_client_restrictions": "permit_mynetworks permit_sasl_authenticated "
                                     "reject_unknown_reverse_client_hostname",
        "smtpd_helo_restrictions": "permit_mynetworks permit_sasl_authenticated reject_invalid_helo_hostname "
                                   "reject_non_fqdn_helo_hostname",
        "smtpd_relay_restrictions": "permit_mynetworks permit_sasl_authenticated reject_unauth_destination"})
    found = find(facts, "expensive-before-cheap")
    assert "'reject_unknown_reverse_client_hostname' (dns) in smtpd_client_restrictions" in found["message"]
    assert "'reject_invalid_helo_hostname' (none) in smtpd_helo_restrictions" in found["message"]


def test_no_lookup_checks_in_the_client_list_and_lookups_in_the_recipient_list_are_clean():
    facts = gather(main={
        "smtpd_client_restrictions": "permit_mynetworks permit_sasl_authenticated reject_non_fqdn_helo_hostname "
                                     "reject_non_fqdn_sender reject_non_fqdn_recipient",
        "smtpd_relay_restrictions": "permit_mynetworks permit_sasl_authenticated reject_unauth_destination",
        "smtpd_recipient_restrictions": "reject_unlisted_recipient permit_mynetworks permit_sasl_authenticated "
                                        "reject_unauth_destination reject_unknown_reverse_client_hostname "
                                        "reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]"})
    assert "expensive-before-cheap" not in ids(facts)


def test_a_cheap_check_after_a_final_reject_or_permit_is_not_waiting_behind_the_lookup():
    # The submission layout: unauthenticated clients end at the client list's reject.
    chain = fnd.rcpt_chain({
        "client": {"entries": rm.parse_entries("permit_sasl_authenticated reject")},
        "relay": {"entries": rm.parse_entries("permit_sasl_authenticated reject_unauth_destination")},
    }, {"smtpd_relay_before_recipient_restrictions": "yes"})
    assert [e["name"] for _stage, e in chain] == ["permit_sasl_authenticated", "reject"]
    # A permit ends only its own list.
    chain = fnd.rcpt_chain({
        "client": {"entries": rm.parse_entries("reject_rbl_client zen.spamhaus.org=127.0.0.2 permit reject")},
        "recipient": {"entries": rm.parse_entries("reject_unauth_destination")},
    }, {})
    assert [e["name"] for _stage, e in chain] == ["reject_rbl_client", "permit", "reject_unauth_destination"]
    assert fnd.chain_order_problem(chain)[3]["name"] == "reject_unauth_destination"


def test_recipient_list_runs_before_the_relay_list_without_relay_before_recipient():
    stages = {
        "relay": {"entries": rm.parse_entries("permit_mynetworks reject_unauth_destination")},
        "recipient": {"entries": rm.parse_entries("reject_rbl_client zen.spamhaus.org=127.0.0.2")},
    }
    assert fnd.chain_order_problem(fnd.rcpt_chain(stages, {"smtpd_relay_before_recipient_restrictions": "no"}))
    assert fnd.chain_order_problem(fnd.rcpt_chain(stages, {"smtpd_relay_before_recipient_restrictions": "yes"})) \
        is None
    # The guard repeated in the relay list after the recipient list's own
    # gives the same answer again: nothing cheap waits behind the lookup.
    stages["recipient"]["entries"] = rm.parse_entries(
        "permit_mynetworks reject_unauth_destination reject_rbl_client zen.spamhaus.org=127.0.0.2")
    assert fnd.chain_order_problem(fnd.rcpt_chain(stages, {})) is None


def test_debians_4xx_relay_guard_after_the_recipient_lists_own_guard_is_no_cheap_check_left():
    # Postfix before 3.6 (or a compatibility level below it): the recipient
    # list runs first, and its guard has answered before Debian's
    # defer_unauth_destination in the relay list.
    stages = {
        "relay": {"entries": rm.parse_entries("permit_mynetworks permit_sasl_authenticated defer_unauth_destination")},
        "recipient": {"entries": rm.parse_entries(
            "permit_mynetworks reject_unauth_destination "
            "check_policy_service { unix:private/policyd-spf, timeout=10s, default_action=DUNNO }")},
    }
    assert fnd.chain_order_problem(fnd.rcpt_chain(stages, {})) is None


def test_a_lookup_in_the_recipient_list_before_the_relay_list_suggests_relay_first():
    stages = {
        "relay": {"parameter": "smtpd_relay_restrictions",
                  "entries": rm.parse_entries("permit_mynetworks reject_unauth_destination")},
        "recipient": {"parameter": "smtpd_recipient_restrictions",
                      "entries": rm.parse_entries("reject_rbl_client zen.spamhaus.org=127.0.0.2")},
    }
    found = fnd.chain_findings("main.cf", stages, {"smtpd_relay_before_recipient_restrictions": "no"})
    assert "smtpd_relay_before_recipient_restrictions = yes" in found[0]["fix"]


def test_a_lookup_followed_by_a_cheap_check_in_its_own_list_is_reported_once():
    facts = gather(main={"smtpd_client_restrictions":
                         "reject_rbl_client zen.spamhaus.org=127.0.0.2 reject_non_fqdn_helo_hostname",
                         "smtpd_relay_restrictions": "permit_mynetworks reject_unauth_destination"})
    found = [f for f in facts["findings"] if f["id"] == "expensive-before-cheap"]
    assert len(found) == 1, found
    assert "'reject_non_fqdn_helo_hostname' (none)" in found[0]["message"]


def test_the_reverse_dns_check_first_costs_a_450_not_a_query():
    stages = {
        "client": {"entries": rm.parse_entries("reject_unknown_reverse_client_hostname")},
        "helo": {"entries": rm.parse_entries("reject_non_fqdn_helo_hostname")},
    }
    found = fnd.chain_findings("main.cf", stages, {})
    assert found[0]["severity"] == "low"
    assert "450" in found[0]["message"] and "pays for the lookup" not in found[0]["message"]


def test_a_check_that_warn_if_reject_softens_is_no_cheap_refusal():
    stages = {
        "client": {"entries": rm.parse_entries("reject_rbl_client zen.spamhaus.org=127.0.0.2")},
        "helo": {"entries": rm.parse_entries("warn_if_reject reject_non_fqdn_helo_hostname")},
    }
    assert fnd.chain_order_problem(fnd.rcpt_chain(stages, {})) is None


def test_a_service_override_that_puts_a_lookup_first_is_found_for_that_service():
    stages = {
        "client": {"parameter": "smtpd_client_restrictions", "entries": rm.parse_entries(
            "check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }")},
        "relay": {"parameter": "smtpd_relay_restrictions", "entries": rm.parse_entries(
            "permit_mynetworks reject_unauth_destination")},
    }
    values = {"smtpd_relay_before_recipient_restrictions": "yes"}
    found = fnd.chain_findings("submission/inet", stages, values, overridden={"smtpd_client_restrictions"})
    assert [f["id"] for f in found] == ["expensive-before-cheap"]
    assert found[0]["service"] == "submission/inet"
    # The same pair with neither list overridden is main.cf's, reported there once.
    assert fnd.chain_findings("submission/inet", stages, values, overridden={"syslog_name"}) == []


def test_dnsbl_without_reply_filter():
    facts = gather(main={"smtpd_client_restrictions": "reject_rbl_client zen.spamhaus.org"})
    assert find(facts, "dnsbl-without-reply-filter")["severity"] == "high"


@pytest.mark.parametrize("entry, reported", [
    ("check_policy_service inet:127.0.0.1:10040", True),
    ("check_policy_service { inet:127.0.0.1:10040, timeout=10s }", True),
    ("check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }", False),
])
def test_policy_service_needs_timeout_and_default_action(entry, reported):
    facts = gather(main={"smtpd_end_of_data_restrictions": entry})
    assert ("policy-service-without-timeout" in ids(facts)) is reported


def test_global_policy_settings_count_as_deliberate():
    facts = gather(main={"smtpd_end_of_data_restrictions": "check_policy_service inet:127.0.0.1:10040",
                         "smtpd_policy_service_timeout": "10s",
                         "smtpd_policy_service_default_action": "DUNNO"})
    assert "policy-service-without-timeout" not in ids(facts)


def test_unknown_restriction_name():
    facts = gather(main={"smtpd_helo_restrictions": "reject_invalid_helo_hostnme"})
    assert "reject_invalid_helo_hostnme" in find(facts, "unknown-restriction")["message"]


def test_declared_restriction_class_is_not_unknown():
    facts = gather(main={"smtpd_restriction_classes": "strict",
                         "smtpd_recipient_restrictions": "reject_unauth_destination strict"})
    assert "unknown-restriction" not in ids(facts)


def test_vrfy_enabled():
    assert find(gather(main={"disable_vrfy_command": "no"}), "vrfy-enabled")["severity"] == "low"


def test_unbalanced_braces_are_a_finding_not_a_crash():
    facts = gather(main={"smtpd_client_restrictions": "check_policy_service { inet:127.0.0.1:1"})
    assert facts["main_stages"]["client"]["error"]
    find(facts, "unknown-restriction")


def test_unlistable_table_is_a_finding():
    facts = gather(main={"virtual_alias_maps": "pcre:/etc/postfix/virtual.pcre"})
    assert facts["unreadable_tables"][0]["table"] == "pcre:/etc/postfix/virtual.pcre"
    find(facts, "table-unreadable")


def test_missing_postfix_gives_a_finding():
    facts = gather(installed=False)
    assert facts["installed"] is False
    assert ids(facts) == ["postfix-not-installed"]


def test_broken_config_directory_is_a_clear_error():
    with pytest.raises(facts_mod.GatherError, match="cannot read the configuration"):
        gather(failing={"-h config_directory": (1, "", "postconf: fatal: open /etc/postfix/main.cf: No such file")})


def test_findings_are_ordered_most_severe_first():
    facts = gather(main={"unverified_recipient_defer_code": "250", "disable_vrfy_command": "no"})
    ranks = [pv.SEVERITY_RANK[f["severity"]] for f in facts["findings"]]
    assert ranks == sorted(ranks)


def test_every_finding_has_the_documented_keys():
    facts = gather(main={"luser_relay": "x", "soft_bounce": "yes", "smtpd_sender_restrictions": "permit reject"})
    for item in facts["findings"]:
        assert set(item) == {"id", "category", "severity", "service", "parameter", "message", "fix"}
        assert item["severity"] in pv.SEVERITIES


def test_stage_findings_judge_computed_lists_alone():
    stages = {stage: {"parameter": param, "entries": rm.parse_entries(text)} for stage, param, text in (
        ("relay", "smtpd_relay_restrictions", "permit_mynetworks permit_sasl_authenticated reject_unauth_destination"),
        ("recipient", "smtpd_recipient_restrictions", "reject_non_fqdn_recipient reject_unlisted_recipient "
                                                      "reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]"),
    )}
    assert fnd.stage_findings("main.cf", stages, {"smtpd_relay_before_recipient_restrictions": "yes"}) == []


@pytest.mark.parametrize("release", RELEASES)
def test_storage_reports_the_space_smtpd_wants_before_it_takes_a_message(release):
    facts = gather(release, queue="")
    storage = facts["storage"]
    # Stock Debian: no queue_minfree, message_size_limit 10240000, so smtpd
    # wants 1.5 times the limit free.
    assert storage["queue_directory"]["path"] == "/var/spool/postfix"
    assert storage["config_directory"]["path"] == "/etc/postfix"
    assert storage["queue_needed_bytes"] == 15360000
    assert storage["queue_full"] is False


def test_a_queue_with_less_free_space_than_smtpd_wants_is_full():
    reader = FakeReader(free={"/var/spool/postfix": 15360000, "/etc/postfix": 4096})
    storage = gather(reader=reader, queue="")["storage"]
    assert storage["queue_full"] is True
    assert storage["queue_directory"]["free_bytes"] == 15360000
    assert storage["config_directory"]["free_bytes"] == 4096


def test_queue_minfree_counts_when_it_asks_for_more_than_the_message_size():
    values = {"queue_directory": "/q", "queue_minfree": "50000000", "message_size_limit": "1000"}
    storage = facts_mod.storage(values, "/etc/postfix", lambda path: 40000000)
    assert storage["queue_needed_bytes"] == 50000000 and storage["queue_full"] is True


def test_unknown_free_space_is_not_judged():
    storage = facts_mod.storage({}, "/etc/postfix", lambda path: None)
    assert storage["queue_full"] is False and storage["queue_directory"]["free_bytes"] is None


# --- who may log in where, and as whom ----------------------------------------

SASL_SUBMISSION = {"submission/inet/smtpd_sasl_auth_enable": "yes",
                   "submission/inet/smtpd_sender_restrictions": "permit_sasl_authenticated,reject"}


def test_stock_debian_takes_no_password_anywhere_so_nothing_about_logins_is_reported():
    assert not [f for f in gather(extra_master=SUBMISSION_LINE)["findings"] if f["category"] == "abuse"]


def test_a_submission_service_without_sender_login_maps_lets_a_user_send_as_anyone():
    facts = gather(extra_master=SUBMISSION_LINE, service_params=SASL_SUBMISSION)
    found = find(facts, "sender-login-unbound", "submission/inet")
    assert (found["category"], found["severity"]) == ("abuse", "medium")
    # Debian's smtpd_client_auth_rate_limit is 0: nothing slows a guesser.
    assert find(facts, "auth-rate-unlimited", "submission/inet")["severity"] == "low"
    assert "auth-offered-on-port-25" not in ids(facts)


@pytest.mark.parametrize("sender_list, bound", [
    ("reject_authenticated_sender_login_mismatch,permit_sasl_authenticated,reject", True),
    ("reject_sender_login_mismatch,permit_sasl_authenticated,reject", True),
    # Behind the permit, authenticated users never reach the check.
    ("permit_sasl_authenticated,reject_authenticated_sender_login_mismatch,reject", False),
    # This one is about unauthenticated clients.
    ("reject_unauthenticated_sender_login_mismatch,permit_sasl_authenticated,reject", False),
])
def test_the_sender_login_check_counts_only_ahead_of_the_permit(sender_list, bound):
    params = dict(SASL_SUBMISSION)
    params["submission/inet/smtpd_sender_restrictions"] = sender_list
    params["submission/inet/smtpd_sender_login_maps"] = "hash:/etc/postfix/sender_logins"
    facts = gather(extra_master=SUBMISSION_LINE, service_params=params)
    assert ("sender-login-unbound" not in ids(facts, "submission/inet")) is bound


def test_a_mismatch_check_without_a_login_table_binds_nothing():
    params = dict(SASL_SUBMISSION)
    params["submission/inet/smtpd_sender_restrictions"] = \
        "reject_authenticated_sender_login_mismatch,permit_sasl_authenticated,reject"
    facts = gather(extra_master=SUBMISSION_LINE, service_params=params)
    assert "sender-login-unbound" in ids(facts, "submission/inet")


def test_auth_switched_on_in_main_cf_is_offered_on_port_25_too():
    facts = gather(main={"smtpd_sasl_auth_enable": "yes", "smtpd_client_auth_rate_limit": "10"})
    found = find(facts, "auth-offered-on-port-25", "smtp/inet")
    assert (found["category"], found["parameter"]) == ("abuse", "smtpd_sasl_auth_enable")
    assert "auth-rate-unlimited" not in ids(facts)
    # The port 25 smtpd switched off by its own override is not reported.
    facts = gather(main={"smtpd_sasl_auth_enable": "yes"},
                   service_params={"smtp/inet/smtpd_sasl_auth_enable": "no"})
    assert "auth-offered-on-port-25" not in ids(facts)


def test_a_limited_submission_with_bound_logins_has_no_login_finding():
    params = dict(SASL_SUBMISSION)
    params.update({
        "submission/inet/smtpd_sender_restrictions":
            "reject_non_fqdn_sender,reject_authenticated_sender_login_mismatch,permit_sasl_authenticated,reject",
        "submission/inet/smtpd_sender_login_maps": "regexp:/etc/postfix/sender_login_owners.regexp",
        "submission/inet/smtpd_client_auth_rate_limit": "10",
    })
    facts = gather(extra_master=SUBMISSION_LINE, service_params=params)
    assert not [f for f in facts["findings"] if f["category"] == "abuse"], ids(facts)
