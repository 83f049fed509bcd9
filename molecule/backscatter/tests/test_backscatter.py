"""Hosts hardened by playbooks/harden.yml emit no backscatter (mx1: Debian 12, mx2: Debian 13).

The traffic is the baseline scenario's, where stock Postfix accepts the
same forged messages and bounces them to victim; here each one must be
refused during the SMTP session, the spammer's by cheap checks and the
clean client's forged mail to forwarding recipients by SPF, while clean
mail still arrives.
"""

import functools
import os
import pathlib
import smtplib
import sys

import pytest
import testinfra

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

import backscatter_lab  # noqa: E402  pylint: disable=wrong-import-position

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


@functools.lru_cache(maxsize=None)
def lab_host(mx):
    return testinfra.get_host("ansible://bs-%s?ansible_inventory=%s" % (mx, os.environ["MOLECULE_INVENTORY_FILE"]))


def rcpt_reply(mx, mail_from, rcpt_to):
    """MAIL and RCPT from the controller (published as prober.lab.test); nothing is delivered."""
    client = smtplib.SMTP(lab_host(mx).interface("eth0").addresses[0], 25, timeout=60)
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
    host = lab_host(mx)
    host.check_output("chmod 0 /usr/bin/policyd-spf")
    # smtpd keeps its connection to a policy server between sessions; end
    # the running ones so that the next session must start a new one.
    host.run("pkill -f /usr/bin/policyd-spf")
    try:
        code, text = rcpt_reply(mx, *forged)
    finally:
        host.check_output("chmod 0755 /usr/bin/policyd-spf")
    assert code == 250, (code, text)
