"""harden_plan: what the harden role sets, on the recorded Debian 12 and 13 configurations."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import facts as facts_mod
from ansible_collections.mailguard.postfix.plugins.module_utils import harden_plan as hp
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_builder as rb

from fake_postfix import RELEASES, FakeCommands, FakeReader

SUBMISSION_LINE = "submission inet  n       -       y       -       -       smtpd\n"
# Debian's master.cf with postscreen on port 25, as an operator (or the role) writes it.
POSTSCREEN_LINES = ("smtp      inet  n       -       y       -       1       postscreen\n"
                    "smtpd     pass  -       -       y       -       -       smtpd\n"
                    "dnsblog   unix  -       -       y       -       0       dnsblog\n"
                    "tlsproxy  unix  -       -       y       -       0       tlsproxy\n")


def gather(release="debian12", **kwargs):
    return facts_mod.gather(FakeCommands(release, **kwargs), FakeReader())


def computed(facts, **intent):
    intent.setdefault("own_domains", ["example.test"])
    return rb.build(dict(intent, postfix_version=facts["version"]))


def plan(facts, record=None, computed_result=None, **options):
    result = computed_result if computed_result is not None else computed(facts, postscreen=options.get("postscreen", False))
    return hp.plan(facts, result, options, record or {})


def params(result):
    """name -> value, or None for the parameters the plan removes."""
    return dict((p["name"], p.get("value") if p.get("state", "present") == "present" else None)
                for p in result["parameters"])


def services(result):
    return dict(("%s/%s" % (s["service"], s["type"]), s) for s in result["services"])


def postscreen_record(facts, **options):
    """The record a first run with postscreen on would write."""
    return plan(facts, postscreen=True, **options)["postscreen"]["new_record"]


def running_postscreen(release, **kwargs):
    """The host once the role turned postscreen on (Debian's lines for it in master.cf)."""
    return gather(release, drop_services=["smtp/inet"], extra_master=POSTSCREEN_LINES, **kwargs)


@pytest.mark.parametrize("release", RELEASES)
def test_stock_debian_gets_the_computed_lists_and_loses_what_turns_refusals_into_bounces(release):
    facts = gather(release)
    restrictions = computed(facts)
    result = plan(facts, computed_result=restrictions)
    values = params(result)
    for name, value in restrictions["parameters"].items():
        assert values[name] == value
    for name in hp.REMOVED_PARAMETERS:
        assert name in values and values[name] is None
    level = facts["compatibility_level"] if facts["compatibility_level_explicit"] else "3.6"
    assert values["compatibility_level"] == level
    # No postscreen: nothing about it is set or removed.
    assert not [name for name in values if name.startswith("postscreen_")]
    assert result["postscreen"] == {"running": False, "turning_on": False, "record": {},
                                    "new_record": result["postscreen"]["new_record"]}


@pytest.mark.parametrize("release", RELEASES)
def test_port_25_discards_dsn_silently_and_submission_keeps_it(release):
    facts = gather(release, extra_master=SUBMISSION_LINE)
    result = plan(facts, computed_result=computed(facts, submission={"enabled": True, "sasl": True}))
    by_key = services(result)
    assert result["port25_smtpd"] == "smtp/inet"
    assert by_key["smtp/inet"] == {"service": "smtp", "type": "inet",
                                   "overrides": {"smtpd_discard_ehlo_keywords": "silent-discard,dsn"}}
    assert "smtpd_discard_ehlo_keywords" not in by_key["submission/inet"]["overrides"]
    # An existing submission service keeps its own fields; the role owns the command and overrides.
    assert "chroot" not in by_key["submission/inet"]


@pytest.mark.parametrize("discarded, port25_dsn, expected", [
    ("", False, "silent-discard,dsn"),
    ("silent-discard, etrn", False, "silent-discard,etrn,dsn"),
    ("etrn DSN", False, None),
    ("silent-discard,dsn", False, None),
    ("silent-discard,Dsn,etrn", True, "silent-discard,etrn"),
    ("etrn", True, None),
])
def test_dsn_changes_only_when_it_must_be_added_or_taken_out(discarded, port25_dsn, expected):
    assert hp.dsn_change(discarded, port25_dsn) == expected


def test_dsn_already_discarded_by_main_cf_or_extra_parameters_adds_no_override():
    facts = gather(main={"smtpd_discard_ehlo_keywords": "dsn"})
    assert "smtp/inet" not in services(plan(facts))
    stock = gather()
    result = plan(stock, extra_parameters={"smtpd_discard_ehlo_keywords": "silent-discard,dsn"})
    assert "smtp/inet" not in services(result)
    assert params(result)["smtpd_discard_ehlo_keywords"] == "silent-discard,dsn"


def test_port25_dsn_takes_dsn_out_of_the_port_25_override_again():
    facts = gather(service_params={"smtp/inet/smtpd_discard_ehlo_keywords": "silent-discard,dsn"})
    result = plan(facts, port25_dsn=True)
    assert services(result)["smtp/inet"]["overrides"] == {"smtpd_discard_ehlo_keywords": "silent-discard"}


@pytest.mark.parametrize("release", RELEASES)
def test_sasl_switched_on_in_main_cf_is_switched_off_on_port_25_only(release):
    facts = gather(release, main={"smtpd_sasl_auth_enable": "yes"}, extra_master=SUBMISSION_LINE)
    result = plan(facts, computed_result=computed(facts, submission={"enabled": True, "sasl": True}))
    by_key = services(result)
    assert by_key["smtp/inet"]["overrides"]["smtpd_sasl_auth_enable"] == "no"
    assert by_key["submission/inet"]["overrides"].get("smtpd_sasl_auth_enable") != "no"
    assert result["port25_changes"]["smtpd_sasl_auth_enable"] == "no"
    # Asked for: port 25 keeps AUTH.
    allowed = plan(facts, port25_auth=True)
    assert "smtpd_sasl_auth_enable" not in allowed["port25_changes"]


def test_sasl_off_everywhere_needs_no_override():
    assert "smtpd_sasl_auth_enable" not in plan(gather())["port25_changes"]


@pytest.mark.parametrize("release", RELEASES)
def test_postscreen_on_replaces_smtpd_on_port_25_with_debians_lines(release):
    facts = gather(release, service_params={"smtp/inet/smtpd_tls_security_level": "may",
                                            "smtp/inet/smtpd_sasl_auth_enable": "yes"})
    result = plan(facts, postscreen=True)
    by_key = services(result)
    port25 = dict((s["key"], s) for s in facts["services"])["smtp/inet"]
    # The smtp/inet line keeps its own chroot field, becomes postscreen, loses the port 25 overrides.
    assert by_key["smtp/inet"]["command"] == "postscreen"
    assert "chroot" not in by_key["smtp/inet"]
    assert by_key["smtp/inet"]["overrides"] == {"smtpd_sasl_auth_enable": None}
    # smtpd behind it: chrooted like the smtpd it replaces, with its overrides and the port 25 changes.
    assert by_key["smtpd/pass"]["chroot"] == port25["chroot"]
    assert by_key["smtpd/pass"]["overrides"] == {"smtpd_tls_security_level": "may",
                                                 "smtpd_sasl_auth_enable": "no",
                                                 "smtpd_discard_ehlo_keywords": "silent-discard,dsn"}
    for key in ("dnsblog/unix", "tlsproxy/unix"):
        assert by_key[key]["chroot"] == port25["chroot"]
    assert result["port25_smtpd"] == "smtpd/pass"
    state = result["postscreen"]
    assert state["turning_on"] and not state["running"]
    assert state["new_record"]["smtp_inet"] == dict((k, port25[k]) for k in hp.RECORDED_FIELDS)
    assert state["new_record"]["added"] == ["smtpd/pass", "dnsblog/unix", "tlsproxy/unix"]
    # Debian leaves postscreen's parameters at their defaults: the record says so with null.
    assert state["new_record"]["parameters"]["postscreen_greet_action"] is None
    values = params(result)
    assert values["postscreen_greet_action"] == "enforce"
    assert values["postscreen_access_list"] == "permit_mynetworks"
    assert "postscreen_dnsbl_sites" in values and values["postscreen_dnsbl_sites"] is None
    assert "postscreen_pipelining_enable" not in values


def test_postscreen_deep_protocol_tests_are_asked_for_separately():
    values = params(plan(gather(), postscreen=True, postscreen_deep_protocol_tests=True))
    assert values["postscreen_pipelining_enable"] == "yes"
    assert values["postscreen_non_smtp_command_action"] == "drop"
    assert "postscreen_pipelining_enable" not in params(plan(gather(), postscreen_deep_protocol_tests=True))


def test_postscreen_dnsbl_sites_stays_when_lists_or_the_operator_give_it():
    facts = gather()
    restrictions = computed(facts, postscreen=True,
                            dnsbls=[{"name": "zen.example.test", "filter": "127.0.0.[2..11]"}])
    assert params(plan(facts, computed_result=restrictions, postscreen=True))["postscreen_dnsbl_sites"]
    extra = {"postscreen_dnsbl_sites": "list.example.test*2"}
    assert params(plan(facts, postscreen=True, extra_parameters=extra))["postscreen_dnsbl_sites"] == extra[
        "postscreen_dnsbl_sites"]


@pytest.mark.parametrize("release", RELEASES)
def test_postscreen_off_again_restores_what_the_record_kept(release):
    facts = gather(release, main={"postscreen_greet_action": "ignore"})
    record = postscreen_record(facts)
    now = running_postscreen(release, main={"postscreen_greet_action": "enforce"})
    result = plan(now, record=record)
    by_key = services(result)
    assert by_key["smtp/inet"] == dict({"service": "smtp", "type": "inet",
                                        "overrides": {"smtpd_discard_ehlo_keywords": "silent-discard,dsn"}},
                                       **record["smtp_inet"])
    for key in ("smtpd/pass", "dnsblog/unix", "tlsproxy/unix"):
        assert by_key[key] == dict(hp._stub(key), state="absent")
    values = params(result)
    assert values["postscreen_greet_action"] == "ignore"
    assert "postscreen_access_list" in values and values["postscreen_access_list"] is None
    assert result["port25_smtpd"] == "smtp/inet"
    assert not result["postscreen"]["turning_on"] and result["postscreen"]["running"]
    assert result["postscreen"]["record"] == record


def test_postscreen_on_again_keeps_the_first_record():
    facts = gather()
    record = postscreen_record(facts)
    now = running_postscreen("debian12")
    result = plan(now, record=record, postscreen=True)
    assert not result["postscreen"]["turning_on"]
    by_key = services(result)
    # The lines stand: only their command is owned.
    assert by_key["smtp/inet"] == {"service": "smtp", "type": "inet", "command": "postscreen"}
    assert by_key["smtpd/pass"]["overrides"] == {"smtpd_discard_ehlo_keywords": "silent-discard,dsn"}
    assert result["postscreen"]["new_record"]["added"] == record["added"]
    assert result["postscreen"]["new_record"]["parameters"] == record["parameters"]


def test_an_operators_postscreen_stays_when_the_role_has_no_record():
    now = running_postscreen("debian13")
    result = plan(now)
    by_key = services(result)
    assert "smtp/inet" not in by_key
    assert "state" not in by_key.get("smtpd/pass", {})
    assert result["port25_smtpd"] == "smtpd/pass"
    assert result["postscreen"]["running"] and result["postscreen"]["record"] == {}


def test_a_service_that_opens_relaying_loses_those_overrides_and_keeps_the_plans():
    facts = gather(extra_master=SUBMISSION_LINE, service_params={"submission/inet/mynetworks": "0.0.0.0/0"})
    restrictions = computed(facts, submission={"enabled": True, "sasl": True})
    result = plan(facts, computed_result=restrictions)
    assert "submission/inet" in result["relay_opening_services"]
    overrides = services(result)["submission/inet"]["overrides"]
    assert overrides["mynetworks"] is None
    assert overrides["smtpd_relay_restrictions"] == restrictions["services"]["submission/inet"]["smtpd_relay_restrictions"]


def test_relay_opening_overrides_of_port_25_do_not_follow_it_behind_postscreen():
    facts = gather(service_params={"smtp/inet/smtpd_relay_restrictions": "permit",
                                   "smtp/inet/smtpd_tls_security_level": "may"})
    result = plan(facts, postscreen=True)
    assert "smtp/inet" in result["relay_opening_services"]
    overrides = services(result)["smtpd/pass"]["overrides"]
    assert "smtpd_relay_restrictions" not in overrides
    assert overrides["smtpd_tls_security_level"] == "may"
    assert services(result)["smtp/inet"]["overrides"]["smtpd_relay_restrictions"] is None


def test_a_class_the_lists_no_longer_use_goes_and_the_operators_stay():
    facts = gather(main={"smtpd_restriction_classes": "forwarding_recipients, mine", "mine": "reject",
                         "forwarding_recipients": "reject_rbl_client list.example.test"})
    bare = {"parameters": {"smtpd_recipient_restrictions": "reject_unauth_destination"}, "services": {},
            "managed_classes": ["forwarding_recipients"]}
    values = params(plan(facts, computed_result=bare))
    assert "forwarding_recipients" in values and values["forwarding_recipients"] is None
    assert values["smtpd_restriction_classes"] == "mine"
    # Lists that name a class of their own keep the operator's beside it.
    named = dict(bare, parameters=dict(bare["parameters"], smtpd_restriction_classes="bounce_senders"),
                 managed_classes=["forwarding_recipients", "bounce_senders"])
    values = params(plan(facts, computed_result=named))
    assert values["smtpd_restriction_classes"] == "mine, bounce_senders"
    # The last class gone: the parameter goes too.
    only = gather(main={"smtpd_restriction_classes": "forwarding_recipients",
                        "forwarding_recipients": "reject_rbl_client list.example.test"})
    values = params(plan(only, computed_result=bare))
    assert "smtpd_restriction_classes" in values and values["smtpd_restriction_classes"] is None


def test_an_empty_local_recipient_maps_gets_debians_default_back():
    assert params(plan(gather(main={"local_recipient_maps": ""})))["local_recipient_maps"] == hp.LOCAL_RECIPIENT_MAPS
    assert "local_recipient_maps" not in params(plan(gather()))


def test_extra_parameters_win_over_everything_computed_and_the_spf_entries():
    facts = gather()
    spf = [{"name": "policyd-spf_time_limit", "value": "3600s"}]
    extra = {"smtpd_helo_required": "no", "policyd-spf_time_limit": "600s", "compatibility_level": "3.6"}
    values = params(plan(facts, extra_parameters=extra, spf_parameters=spf, compatibility_level="2"))
    assert values["smtpd_helo_required"] == "no"
    assert values["policyd-spf_time_limit"] == "600s"
    assert values["compatibility_level"] == "3.6"
    result = plan(facts, spf_parameters=spf, spf_services=[{"service": "policyd-spf", "type": "unix"}],
                  compatibility_level="3.10")
    assert params(result)["policyd-spf_time_limit"] == "3600s"
    assert params(result)["compatibility_level"] == "3.10"
    assert result["services"][-1] == {"service": "policyd-spf", "type": "unix"}


def test_every_service_key_stands_once_and_inputs_are_left_as_they_were():
    facts = gather(extra_master=SUBMISSION_LINE, service_params={"smtp/inet/smtpd_sasl_auth_enable": "yes",
                                                                 "submission/inet/mynetworks": "0.0.0.0/0"})
    restrictions = computed(facts, submission={"enabled": True, "sasl": True}, postscreen=True)
    before = repr((facts, restrictions))
    result = plan(facts, computed_result=restrictions, postscreen=True)
    keys = ["%s/%s" % (s["service"], s["type"]) for s in result["services"]]
    assert len(keys) == len(set(keys))
    assert repr((facts, restrictions)) == before
