# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speak SMTP to a server, one probe case per session, and judge the replies.

A case opens a connection, greets, optionally starts TLS and authenticates,
sends MAIL FROM and each RCPT TO, and by default stops there (RSET, QUIT), so
nothing is delivered. Every reply is recorded with its stage; failures of the
transport (refused connection, timeout, TLS error) are recorded as such and
never count as an acceptance.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import smtplib
import socket
import ssl

STAGES = ("connect", "helo", "starttls", "auth", "mail", "rcpt", "data")
EXPECTATIONS = ("accept", "reject", "connect", "helo", "mail", "rcpt", "data")

ERROR_REFUSED = "connection_refused"
ERROR_TIMEOUT = "timeout"
ERROR_TLS = "tls_error"
ERROR_DISCONNECTED = "disconnected"
ERROR_NETWORK = "network_error"
ERROR_AUTH = "auth_unsupported"


def _text(message):
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return str(message or "")


class ProbeCase(object):
    """One SMTP transaction to try, and what the caller expects of it."""

    def __init__(self, name, mail_from, rcpt_to, expect="reject", expect_class=None, deliver=False,
                 body=None):
        self.name = name
        self.mail_from = mail_from
        self.rcpt_to = list(rcpt_to)
        self.expect = expect
        self.expect_class = expect_class
        self.deliver = deliver
        self.body = body


def relay_battery(domain, remote_domain, local_part="relaytest", ip_literal=None):
    """The classic relay-test address forms: each must be refused by a closed relay.

    ``domain`` is a domain this server accepts mail for, ``remote_domain`` one
    it must not relay to. With ``ip_literal`` (the server's address), the
    forms that hide the remote address behind an IP literal are added.
    """
    remote = "%s@%s" % (local_part, remote_domain)
    forms = [
        ("plain", remote),
        ("trailing_dot", "%s." % remote),
        ("percent_hack", "%s%%%s@%s" % (local_part, remote_domain, domain)),
        ("bang_path", "%s!%s@%s" % (remote_domain, local_part, domain)),
        ("source_route", "@%s:%s" % (domain, remote)),
        ("quoted_local_part", '"%s"@%s' % (remote, domain)),
        ("double_at", "%s@%s" % (remote, domain)),
        ("uucp_style", "%s!%s" % (remote_domain, local_part)),
    ]
    if ip_literal:
        literal = "[%s]" % ip_literal
        forms.extend([
            ("ip_literal_percent", "%s%%%s@%s" % (local_part, remote_domain, literal)),
            ("ip_literal_quoted", '"%s"@%s' % (remote, literal)),
            ("ip_literal_bang", "%s!%s@%s" % (remote_domain, local_part, literal)),
        ])
    return forms


def first_refusal(stages):
    """The first stage whose reply is a 4xx/5xx or a transport error, or None."""
    for stage in stages:
        if stage.get("error"):
            return stage
        code = stage.get("code") or 0
        if stage["stage"] == "rcpt":
            continue
        if code >= 400:
            return stage
    rcpts = [s for s in stages if s["stage"] == "rcpt"]
    if rcpts and all((s.get("code") or 0) >= 400 for s in rcpts):
        return rcpts[0]
    return None


# The texts Postfix's smtpd (and postscreen) write into a refusal, and the
# check that writes each; the first match wins. These are Postfix's own reply
# texts (smtpd_check.c and postscreen), not settings, so they hold for every
# configuration; a text from a policy service is recognised by its usual words.
_REFUSAL_TEXTS = (
    (r"blocked using (\S+?)[;,.]?(\s|$)", "dnsbl"),
    (r"cannot find your reverse hostname", "reverse_client_hostname"),
    (r"cannot find your hostname", "client_hostname"),
    (r"Helo command rejected: need fully-qualified hostname", "helo_not_fqdn"),
    (r"Helo command rejected: Invalid name", "helo_invalid"),
    (r"Helo command rejected: Host not found", "helo_unknown"),
    (r"Sender address rejected: need fully-qualified address", "sender_not_fqdn"),
    (r"Sender address rejected: Domain not found", "sender_domain_unknown"),
    (r"Recipient address rejected: need fully-qualified address", "recipient_not_fqdn"),
    (r"Recipient address rejected: Domain not found", "recipient_domain_unknown"),
    # Address verification: the same words for both; the stage says whose.
    (r"Recipient address rejected: (undeliverable|unverified) address", "recipient_verification"),
    (r"Sender address rejected: (undeliverable|unverified) address", "sender_verification"),
    (r"SPF", "spf"),
    (r"User unknown in local recipient table", "local_recipient_table"),
    (r"User unknown in virtual alias table", "virtual_alias_table"),
    (r"User unknown in virtual mailbox table", "virtual_mailbox_table"),
    (r"User unknown in relay recipient table", "relay_recipient_table"),
    (r"Relay access denied", "relay_denied"),
    # The text of the harden role's own-domains table (restrictions module).
    (r"Sender address rejected: Mail from \S+ is accepted only from authenticated users", "own_domain_sender"),
    (r"Sender address rejected: Access denied|Sender address rejected: not logged in", "sender_access"),
    (r"Recipient address rejected: Access denied", "recipient_access"),
    (r"Client host rejected: Access denied", "client_access"),
    (r"Improper use of SMTP command pipelining", "unauth_pipelining"),
    (r"protocol error|[Nn]on-SMTP command|pregreet|talking too soon", "protocol"),
    (r"[Rr]ate limit|[Qq]uota|[Tt]oo many", "rate_limit"),
)


def refusing_check(text):
    """Name of the check that wrote a refusal, from Postfix's reply text, or None."""
    for pattern, name in _REFUSAL_TEXTS:
        match = re.search(pattern, text or "")
        if match:
            if name == "dnsbl":
                return "dnsbl:%s" % match.group(1)
            return name
    return None


def deciding_reply(stages):
    """The reply that decided the session: the first refusal, else the last reply."""
    refusal = first_refusal(stages)
    if refusal is not None:
        return refusal
    return stages[-1] if stages else None


def judge(case, stages):
    """Compare what happened with what the case expects.

    Returns ``(outcome, passed, reason)``: outcome is ``accepted``,
    ``rejected_at_<stage>`` or ``error:<kind>``. A transport error never
    passes an expectation, whichever it is.
    """
    refusal = first_refusal(stages)
    if refusal is not None and refusal.get("error"):
        outcome = "error:%s" % refusal["error"]
        return outcome, False, "the probe could not judge the server: %s" % refusal.get("text", "")
    if refusal is None:
        outcome = "accepted"
    else:
        outcome = "rejected_at_%s" % refusal["stage"]
    if case.expect == "accept":
        return outcome, refusal is None, "expected acceptance"
    if refusal is None:
        return outcome, False, "expected a refusal%s, the server accepted" % (
            "" if case.expect == "reject" else " at %s" % case.expect.upper())
    if case.expect not in ("reject", refusal["stage"]):
        return outcome, False, "expected a refusal at %s, got one at %s" % (case.expect.upper(), refusal["stage"].upper())
    code = refusal.get("code") or 0
    if case.expect_class == "5xx" and not 500 <= code < 600:
        return outcome, False, "expected a 5xx refusal, got %d" % code
    if case.expect_class == "4xx" and not 400 <= code < 500:
        return outcome, False, "expected a 4xx refusal, got %d" % code
    return outcome, True, "refused as expected"


class Session(object):
    """A thin recorder around smtplib that never raises for protocol replies."""

    def __init__(self, host, port, timeout, helo, use_ehlo=True, starttls=False, tls_verify=False,
                 auth_user=None, auth_password=None, source_address=None, smtp_factory=smtplib.SMTP):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.helo = helo
        self.use_ehlo = use_ehlo
        self.starttls = starttls
        self.tls_verify = tls_verify
        self.auth_user = auth_user
        self.auth_password = auth_password
        self.source_address = source_address
        self.smtp_factory = smtp_factory

    def run(self, case):
        stages = []
        client = None
        try:
            client = self.smtp_factory(timeout=self.timeout,
                                       source_address=(self.source_address, 0) if self.source_address else None)
            code, text = client.connect(self.host, self.port)
            stages.append({"stage": "connect", "code": code, "text": _text(text)})
            if code >= 400:
                return stages
            code, text = client.ehlo(self.helo) if self.use_ehlo else client.helo(self.helo)
            stages.append({"stage": "helo", "code": code, "text": _text(text)})
            if code >= 400:
                return stages
            if self.starttls:
                context = ssl.create_default_context()
                if not self.tls_verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                code, text = client.starttls(context=context)
                stages.append({"stage": "starttls", "code": code, "text": _text(text)})
                if code >= 400:
                    return stages
                code, text = client.ehlo(self.helo)
                stages.append({"stage": "helo", "code": code, "text": _text(text)})
            if self.auth_user:
                code, text = self._auth(client)
                stages.append({"stage": "auth", "code": code, "text": _text(text)})
                if code >= 400:
                    return stages
            # docmd sends the address as given: smtplib's mail()/rcpt() re-parse
            # it and would turn relay-test forms such as source routes into
            # something else entirely.
            code, text = client.docmd("MAIL", "FROM:<%s>" % case.mail_from)
            stages.append({"stage": "mail", "code": code, "text": _text(text), "argument": case.mail_from})
            if code >= 400:
                return stages
            accepted = 0
            for rcpt in case.rcpt_to:
                code, text = client.docmd("RCPT", "TO:<%s>" % rcpt)
                stages.append({"stage": "rcpt", "code": code, "text": _text(text), "argument": rcpt})
                accepted += 1 if code < 400 else 0
            if case.deliver and accepted:
                try:
                    code, text = client.data(case.body or _default_body(case))
                except smtplib.SMTPDataError as exc:
                    code, text = exc.smtp_code, exc.smtp_error
                stages.append({"stage": "data", "code": code, "text": _text(text)})
            else:
                client.rset()
        except smtplib.SMTPNotSupportedError as exc:
            stages.append({"stage": _next_stage(stages), "error": ERROR_AUTH if self.auth_user else ERROR_TLS,
                           "text": str(exc)})
        except smtplib.SMTPServerDisconnected as exc:
            stages.append({"stage": _next_stage(stages), "error": ERROR_DISCONNECTED, "text": str(exc)})
        except ConnectionRefusedError as exc:
            stages.append({"stage": "connect", "error": ERROR_REFUSED, "text": str(exc)})
        except (socket.timeout, TimeoutError) as exc:
            stages.append({"stage": _next_stage(stages), "error": ERROR_TIMEOUT, "text": str(exc) or "timed out"})
        except ssl.SSLError as exc:
            stages.append({"stage": "starttls", "error": ERROR_TLS, "text": str(exc)})
        except (OSError, smtplib.SMTPException) as exc:
            stages.append({"stage": _next_stage(stages), "error": ERROR_NETWORK, "text": str(exc)})
        finally:
            if client is not None:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()
        return stages

    def _auth(self, client):
        try:
            return client.login(self.auth_user, self.auth_password)
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code, exc.smtp_error
        except smtplib.SMTPNotSupportedError as exc:
            return 0, "AUTH not offered: %s" % exc


def _next_stage(stages):
    order = ["connect", "helo", "mail", "rcpt", "data"]
    if not stages:
        return "connect"
    last = stages[-1]["stage"]
    if last in order and last != "data":
        return order[order.index(last) + 1] if last != "rcpt" else "rcpt"
    return last


def _default_body(case):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: mailguard.postfix probe %s\r\n\r\n"
            "Test message sent by mailguard.postfix.smtp_probe.\r\n" % (case.mail_from, case.rcpt_to[0], case.name))
