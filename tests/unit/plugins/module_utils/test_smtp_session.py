"""SMTP probe sessions against a scripted fake server: verdicts and transport errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import smtplib
import socket

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import smtp_session as smtp

from fake_smtp import FakeSMTP


def run(replies, case, **session_args):
    log = []
    session = smtp.Session("192.0.2.25", 25, 5, "client.example.net",
                           smtp_factory=lambda **kw: FakeSMTP(replies, log), **session_args)
    stages = session.run(case)
    return stages, smtp.judge(case, stages), log


def test_refusal_at_rcpt_with_5xx_passes_and_nothing_is_delivered():
    case = smtp.ProbeCase("forged", "x@victim.test", ["nobody@example.test"], "rcpt", "5xx")
    stages, (outcome, passed, _reason), log = run(
        {"rcpt": (550, b"5.1.1 <nobody@example.test>: Recipient address rejected")}, case)
    assert outcome == "rejected_at_rcpt" and passed
    assert ("data", None) not in log and ("rset", None) in log
    assert stages[-1] == {"stage": "rcpt", "code": 550, "argument": "nobody@example.test",
                          "text": "5.1.1 <nobody@example.test>: Recipient address rejected"}


def test_a_4xx_does_not_pass_when_5xx_is_expected():
    case = smtp.ProbeCase("relay", "x@victim.test", ["a@remote.test"], "rcpt", "5xx")
    _stages, (outcome, passed, reason), _log = run({"rcpt": (454, b"4.7.1 Relay access denied")}, case)
    assert outcome == "rejected_at_rcpt" and not passed and "454" in reason


def test_acceptance_fails_a_reject_expectation():
    case = smtp.ProbeCase("relay", "x@victim.test", ["a@remote.test"], "reject")
    _stages, (outcome, passed, _reason), _log = run({}, case)
    assert outcome == "accepted" and not passed


def test_refusal_at_mail_is_not_a_refusal_at_rcpt():
    case = smtp.ProbeCase("own", "postmaster@example.test", ["carol@example.test"], "rcpt")
    _stages, (outcome, passed, _reason), log = run({"mail": (553, b"5.7.1 not our user")}, case)
    assert outcome == "rejected_at_mail" and not passed
    assert not [entry for entry in log if entry[0] == "rcpt"]


def test_one_accepted_recipient_among_refused_ones_is_an_acceptance():
    case = smtp.ProbeCase("mixed", "x@victim.test", ["a@example.test", "b@example.test"], "reject")
    _stages, (outcome, passed, _reason), _log = run({("rcpt", "a@example.test"): (550, b"no")}, case)
    assert outcome == "accepted" and not passed


@pytest.mark.parametrize("error, kind", [
    (ConnectionRefusedError(111, "Connection refused"), "connection_refused"),
    (socket.timeout("timed out"), "timeout"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "disconnected"),
])
def test_transport_errors_are_errors_never_acceptances_nor_refusals(error, kind):
    for expect in ("accept", "reject", "rcpt"):
        case = smtp.ProbeCase("c", "x@victim.test", ["a@example.test"], expect)
        _stages, (outcome, passed, _reason), _log = run({"connect": error}, case)
        assert outcome == "error:%s" % kind and passed is False


def test_tls_error_is_reported_as_such():
    case = smtp.ProbeCase("c", "x@victim.test", ["a@example.test"], "accept")
    _stages, (outcome, passed, _reason), _log = run({"starttls": smtplib.SMTPNotSupportedError("no STARTTLS")},
                                                    case, starttls=True)
    assert outcome == "error:tls_error" and not passed


def test_deliver_sends_data_and_records_the_queue_reply():
    case = smtp.ProbeCase("legit", "carol@example.test", ["carol@example.test"], "accept", deliver=True)
    stages, (outcome, passed, _reason), log = run({"data": (250, b"2.0.0 Ok: queued as 4F1")}, case)
    assert outcome == "accepted" and passed
    assert stages[-1]["stage"] == "data" and ("rset", None) not in log


def test_content_refused_after_data_is_a_refusal_at_data():
    case = smtp.ProbeCase("spam", "x@victim.test", ["bob@ext.test"], "data", deliver=True)
    _stages, (outcome, passed, _reason), _log = run({"data": (554, b"5.7.1 spam")}, case)
    assert outcome == "rejected_at_data" and passed


def test_auth_failure_is_a_refusal_at_auth():
    case = smtp.ProbeCase("u1", "u1@example.test", ["x@remote.test"], "accept")
    _stages, (outcome, _passed, _reason), log = run(
        {"auth": smtplib.SMTPAuthenticationError(535, b"5.7.8 Error: authentication failed")},
        case, auth_user="u1", auth_password="wrong")
    assert outcome == "rejected_at_auth"
    assert not [entry for entry in log if entry[0] == "mail"]


def test_relay_test_addresses_are_sent_verbatim():
    route = "@example.test:relaytest@remote.test"
    case = smtp.ProbeCase("source_route", "forged@victim.test", [route], "reject")
    _stages, _verdict, log = run({}, case)
    assert ("rcpt", route) in log and ("mail", "forged@victim.test") in log


def test_relay_battery_covers_the_classic_forms():
    forms = dict(smtp.relay_battery("example.test", "remote.test", ip_literal="192.0.2.25"))
    assert forms["percent_hack"] == "relaytest%remote.test@example.test"
    assert forms["bang_path"] == "remote.test!relaytest@example.test"
    assert forms["source_route"] == "@example.test:relaytest@remote.test"
    assert forms["quoted_local_part"] == '"relaytest@remote.test"@example.test'
    assert forms["ip_literal_percent"] == "relaytest%remote.test@[192.0.2.25]"
    assert len(forms) == 11


@pytest.mark.parametrize("text, check", [
    ("5.7.1 Service unavailable; Client host [10.88.0.7] blocked using bl.lab.test", "dnsbl:bl.lab.test"),
    ("5.7.1 Service unavailable; Sender address [x@spam.test] blocked using dbl.lab.test; listed",
     "dnsbl:dbl.lab.test"),
    ("5.7.25 Client host rejected: cannot find your reverse hostname, [10.88.0.7]", "reverse_client_hostname"),
    ("5.5.2 <bogus>: Helo command rejected: need fully-qualified hostname", "helo_not_fqdn"),
    ("5.7.23 <alice@example.test>: Recipient address rejected: Message rejected due to: SPF fail - "
     "not authorized.", "spf"),
    ("5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in local recipient table",
     "local_recipient_table"),
    ("5.1.1 <x@relay.test>: Recipient address rejected: User unknown in relay recipient table",
     "relay_recipient_table"),
    ("5.1.1 <gone@example.test>: Recipient address rejected: undeliverable address: host ext.lab.test said: "
     "550 5.1.1 User unknown", "recipient_verification"),
    ("4.1.1 <gone@example.test>: Recipient address rejected: unverified address: Address verification in "
     "progress", "recipient_verification"),
    ("5.1.7 <x@nowhere.test>: Sender address rejected: undeliverable address: host mx said: 550 SPF fail",
     "sender_verification"),
    ("5.7.1 <x@elsewhere.test>: Relay access denied", "relay_denied"),
    ("5.7.1 <postmaster@example.test>: Sender address rejected: Access denied", "sender_access"),
    ("5.7.1 <carol@example.test>: Sender address rejected: Mail from example.test is accepted only from "
     "authenticated users", "own_domain_sender"),
    ("4.7.1 <u1@example.test>: Sender address rejected: hourly message quota of 5 reached", "rate_limit"),
    ("2.0.0 Ok", None),
    ("", None),
])
def test_refusing_check_names_the_check_from_postfixs_reply(text, check):
    assert smtp.refusing_check(text) == check


def test_deciding_reply_is_the_first_refusal_else_the_last_reply():
    accepted = [{"stage": "connect", "code": 220, "text": "hi"}, {"stage": "data", "code": 250, "text": "queued"}]
    assert smtp.deciding_reply(accepted)["text"] == "queued"
    refused = accepted[:1] + [{"stage": "mail", "code": 553, "text": "no"}, {"stage": "rcpt", "code": 503, "text": "x"}]
    assert smtp.deciding_reply(refused)["code"] == 553
    assert smtp.deciding_reply([]) is None
