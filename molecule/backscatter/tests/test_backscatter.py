"""Hosts hardened by playbooks/harden.yml emit no backscatter (mx1: Debian 12, mx2: Debian 13).

The traffic is the one prepare sent to the same hosts while they were stock
(../stock/test_stock.py), which accepted the forged messages and bounced
them to victim; here each one must be
refused during the SMTP session, the spammer's by cheap checks and the
clean client's forged mail to forwarding recipients by SPF, while clean
mail still arrives.
"""

import functools
import json
import os
import pathlib
import smtplib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

import backscatter_lab  # noqa: E402  pylint: disable=wrong-import-position
from lab_hosts import address, host  # noqa: E402  pylint: disable=wrong-import-position

MX = backscatter_lab.MX
FORGED = ["forged-unknown_user", "forged-forward", "forged-virtual_alias", "forged-unknown_relay",
          "forged-stale_alias"]
# Checks that cost no more than a local table or a DNS lookup of the client.
CHEAP = {"helo_not_fqdn", "helo_invalid", "reverse_client_hostname", "dnsbl:bl.lab.test",
         "local_recipient_table", "relay_recipient_table", "virtual_alias_table"}


@functools.lru_cache(maxsize=None)
def record():
    return backscatter_lab.send_traffic("bs-")


def row(mx, client, case):
    return backscatter_lab.rows_by_case(record())[(mx, client, case)]


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("case", FORGED)
def test_forged_mail_from_the_spammer_is_refused_in_the_session_by_a_cheap_check(mx, case):
    result = row(mx, "spammer", case)
    assert result["outcome"] == "rejected_at_rcpt", result
    assert result["refused_by"] in CHEAP, result


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("case", FORGED)
def test_the_spammers_bare_helo_decides_with_a_5xx_before_any_lookup(mx, case):
    # The spammer has no reverse DNS and is blocklisted too: those checks
    # would answer 450 or cost queries. The no-lookup HELO check runs first.
    result = row(mx, "spammer", case)
    assert result["reply"].startswith("5"), result
    assert result["refused_by"] == "helo_not_fqdn", result


@pytest.mark.parametrize("case, check", [
    ("forged-unknown_user", "local_recipient_table"),
    ("forged-unknown_relay", "relay_recipient_table"),
    ("forged-forward", "spf"),
    ("forged-virtual_alias", "spf"),
])
@pytest.mark.parametrize("mx", MX)
def test_forged_mail_from_a_clean_client_is_refused_by_the_check_for_its_recipient(mx, case, check):
    result = row(mx, "legit", case)
    assert result["outcome"] == "rejected_at_rcpt", result
    assert result["reply"].startswith("5"), result
    assert result["refused_by"] == check, result


@pytest.mark.parametrize("mx", MX)
def test_forged_mail_to_an_alias_whose_target_is_gone_is_refused_by_verification(mx):
    # The forged domain publishes no SPF, so only the remote provider can
    # tell: reject_unverified_recipient asks it before mx1 accepts. Under
    # load the first answer may be the 450 "verification in progress".
    result = row(mx, "legit", "forged-stale_alias")
    assert result["outcome"] == "rejected_at_rcpt", result
    assert result["refused_by"] == "recipient_verification", result


def test_victim_received_no_bounce():
    assert backscatter_lab.bounces_to_victim(record()) == []


@pytest.mark.parametrize("mx", MX)
def test_queue_holds_no_bounce(mx):
    assert backscatter_lab.queued_bounces(record(), mx) == 0


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("case, mailbox", backscatter_lab.CLEAN_MAIL)
def test_clean_mail_arrives(mx, case, mailbox):
    backscatter_lab.assert_clean_mail_delivered(record(), mx, case, mailbox)


@pytest.mark.parametrize("mx", MX)
def test_a_forgers_notify_success_sends_no_notice_to_the_forged_sender(mx):
    # Port 25 no longer offers DSN, so the client asks for no notice: the
    # message is delivered and victim gets nothing (the stock twin: one
    # notice per host). Submission keeps DSN for authenticated users.
    result = backscatter_lab.forged_notify_request("bs-", mx)
    assert not result["dsn_offered"], result
    assert result["delivered"], result
    assert result["notices"] == [], result


@pytest.mark.parametrize("mx", MX)
def test_a_notify_request_where_dsn_is_not_offered_is_refused_not_honoured(mx):
    # A spam tool that sends NOTIFY regardless gets a 5xx for the option,
    # not a notice: smtpd refuses DSN options once the keyword is discarded.
    client = smtplib.SMTP(address("bs-" + mx), 25, timeout=60)
    try:
        client.ehlo("legit.lab.test")
        assert client.docmd("MAIL", "FROM:<forged@victim.test>")[0] == 250
        code, text = client.docmd("RCPT", "TO:<carol@example.test> NOTIFY=SUCCESS")
    finally:
        client.close()
    assert code == 501 and b"DSN support is disabled" in text, (code, text)


def rcpt_reply(mx, mail_from, rcpt_to):
    """MAIL and RCPT from the controller (published as prober.lab.test); nothing is delivered."""
    client = smtplib.SMTP(address("bs-" + mx), 25, timeout=60)
    try:
        client.ehlo("prober.lab.test")
        client.docmd("MAIL", "FROM:<%s>" % mail_from)
        return client.docmd("RCPT", "TO:<%s>" % rcpt_to)
    finally:
        client.rset()
        client.quit()


@pytest.mark.parametrize("mx", MX)
def test_a_dead_spf_server_lets_mail_through_instead_of_stopping_it(mx):
    # SPF is fail-open (default_action=DUNNO after a timeout): an SPF server
    # that cannot run must not refuse or defer mail. The same probe is the
    # twin: with the server alive it is refused for SPF.
    forged = ("forged@victim.test", "alice@example.test")
    code, text = rcpt_reply(mx, *forged)
    assert code == 550 and b"SPF" in text, (code, text)
    target = host("bs-" + mx)
    target.check_output("chmod 0 /usr/bin/policyd-spf")
    # smtpd keeps its connection to a policy server between sessions; end
    # the running ones so that the next session must start a new one.
    target.run("pkill -f /usr/bin/policyd-spf")
    try:
        code, text = rcpt_reply(mx, *forged)
    finally:
        target.check_output("chmod 0755 /usr/bin/policyd-spf")
    assert code == 250, (code, text)


# --- what each request costs in DNS (counted at the lab DNS server) ----------


@functools.lru_cache(maxsize=None)
def dns_costs():
    record()  # the lab's traffic first: its deliveries are over when counting starts
    rows = [backscatter_lab.dns_cost("bs-", mx, request) for mx in MX
            for request in backscatter_lab.LOCAL_REFUSALS + [backscatter_lab.CLEAN_REQUEST]]
    print(backscatter_lab.dns_cost_table(rows, "DNS queries per request, hardened hosts:"))
    stock = backscatter_lab.evidence_path("stock-dns-costs.json")
    if stock.exists():
        print(backscatter_lab.dns_cost_table(json.loads(stock.read_text()),
                                             "The same requests to the same hosts before hardening (prepare):"))
    return dict(((r["mx"], r["client"], r["case"]), r) for r in rows)


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("client, case, _sender, _rcpt, check", backscatter_lab.LOCAL_REFUSALS)
def test_mail_a_local_check_refuses_costs_no_dns_query_and_gets_that_checks_5xx(
        mx, client, case, _sender, _rcpt, check):
    result = dns_costs()[(mx, client, case)]
    assert result["stage"] == "rcpt" and result["code"] >= 500, result
    assert result["refused_by"] == check, result
    assert result["other_queries"] == [], result


@pytest.mark.parametrize("mx", MX)
def test_the_count_sees_the_lookups_of_mail_that_passes_the_cheap_checks(mx):
    # The counting can fail: clean mail reaches the DNS checks, and the
    # sender domain lookup shows up (smtpd asks for it in every session; a
    # blocklist answer it keeps in a per-process cache, so after the lab's
    # traffic the list may not be asked again).
    client, case = backscatter_lab.CLEAN_REQUEST[:2]
    result = dns_costs()[(mx, client, case)]
    assert result["code"] == 250, result
    assert result["client_name_queries"] >= 2, result
    assert any(q.startswith("legit.test. ") for q in result["other_queries"]), result


@pytest.mark.parametrize("mx", MX)
def test_the_audit_of_a_hardened_host_finds_no_lookup_before_a_cheaper_check(mx):
    # postfix_facts judges the order across the lists of every smtpd service
    # (the audit scenario's risky hosts are its twin: there it finds one).
    facts = backscatter_lab.postfix_facts("bs-" + mx)
    order = [f for f in facts["findings"] if f["category"] == "order"]
    assert order == [], order
    client = [e["name"] for e in facts["main_stages"]["client"]["entries"]]
    assert client[-1] == "reject_non_fqdn_recipient", client


# --- a dead resolver ----------------------------------------------------------

DEAD_DNS_REFUSALS = [r for r in backscatter_lab.LOCAL_REFUSALS
                     if r[1] in ("bare_helo-unknown_user", "unknown_user", "unknown_relay")]


@functools.lru_cache(maxsize=None)
def dead_dns_replies():
    dns_costs()
    replies = {}
    backscatter_lab.stop_dns("bs-")
    try:
        for mx in MX:
            for client, case, sender, rcpt, _check in DEAD_DNS_REFUSALS + [backscatter_lab.CLEAN_REQUEST]:
                replies[(mx, case)] = backscatter_lab.smtp_request("bs-", client, mx, sender, rcpt)
    finally:
        backscatter_lab.start_dns("bs-", MX)
    client, case, sender, rcpt, _check = backscatter_lab.CLEAN_REQUEST
    for mx in MX:
        replies[(mx, "retry-" + case)] = backscatter_lab.smtp_request("bs-", client, mx, sender, rcpt)
    print("Replies with the lab DNS server stopped, hardened hosts:")
    for (mx, case), reply in sorted(replies.items()):
        print("  %-4s %-24s %d %s" % (mx, case, reply["code"], reply["text"].replace("\n", " ")))
    return replies


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("client, case, _sender, _rcpt, check", DEAD_DNS_REFUSALS)
def test_with_the_resolver_dead_forged_mail_to_unknown_users_is_still_refused_for_good(
        mx, client, case, _sender, _rcpt, check):
    reply = dead_dns_replies()[(mx, case)]
    assert reply["code"] >= 500, reply
    assert backscatter_lab.smtp_session.refusing_check(reply["text"]) == check, reply


@pytest.mark.parametrize("mx", MX)
def test_with_the_resolver_dead_clean_mail_gets_a_4xx_and_is_accepted_on_retry(mx):
    case = backscatter_lab.CLEAN_REQUEST[1]
    reply = dead_dns_replies()[(mx, case)]
    assert 400 <= reply["code"] < 500, reply
    retry = dead_dns_replies()[(mx, "retry-" + case)]
    assert retry["code"] == 250, retry


# --- harden_spf: "off" takes the SPF policy server out again ------------------


def _harden(mx, extra_vars):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-l", "bs-" + mx,
               str(pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"),
               "-e", json.dumps(extra_vars)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_spf_off_removes_the_policy_server_and_its_package_and_a_new_run_brings_them_back():
    target = host("bs-mx1")
    forged = ("forged@victim.test", "alice@example.test")
    config = "postconf -n; postconf -M"
    try:
        _harden("mx1", {"harden_spf": "off"})
        assert "policyd-spf" not in target.check_output(config)
        assert not target.package("postfix-policyd-spf-python").is_installed
        # The twin of the SPF refusal above: without the policy server the
        # forged forward is no longer refused for SPF.
        code, text = rcpt_reply("mx1", *forged)
        assert b"SPF" not in text, (code, text)
    finally:
        _harden("mx1", {})
    now = target.check_output(config)
    assert "policyd-spf_time_limit = 3600s" in now
    assert "argv=/usr/bin/policyd-spf" in now
    code, text = rcpt_reply("mx1", *forged)
    assert code == 550 and b"SPF" in text, (code, text)
