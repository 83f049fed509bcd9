#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: smtp_probe
short_description: Probe an SMTP server with test transactions, without delivering mail
version_added: "0.1.0"
description:
  - Connects to an SMTP server, greets it, optionally starts TLS and authenticates, and runs
    one SMTP session per case (MAIL FROM and one or more RCPT TO).
  - By default every session stops before DATA with RSET and QUIT, so nothing is delivered.
  - Returns every reply with its stage, and per case a verdict against the expectation
    (C(reject) anywhere, C(reject) at a named stage, or C(accept)).
  - Refused connections, timeouts and TLS errors are reported as errors, never as acceptances,
    and never pass an expectation.
  - Presets build the classic abuse cases from a few names, see O(presets).
  - The module changes nothing on any host, so it runs in check mode too.
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  host:
    description: Address or name of the SMTP server.
    type: str
    required: true
  port:
    description: TCP port.
    type: int
    default: 25
  helo:
    description: Name sent with EHLO or HELO.
    type: str
    default: probe.mailguard.invalid
  use_ehlo:
    description: Greet with EHLO (true) or HELO (false).
    type: bool
    default: true
  starttls:
    description: Issue STARTTLS after the greeting; a server that does not offer it is an error.
    type: bool
    default: false
  tls_verify:
    description: Verify the server's certificate and name during STARTTLS.
    type: bool
    default: false
  auth_user:
    description: SASL user name; when set, the session authenticates before MAIL FROM.
    type: str
  auth_password:
    description: Password for O(auth_user).
    type: str
  source_address:
    description: Local address to connect from.
    type: str
  timeout:
    description: Seconds to wait for each reply.
    type: float
    default: 10
  cases:
    description: Transactions to try, one SMTP session each.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the case in the results.
        type: str
        required: true
      mail_from:
        description: Envelope sender; an empty string is the null sender.
        type: str
        required: true
      rcpt_to:
        description: Envelope recipients.
        type: list
        elements: str
        required: true
      expect:
        description:
          - C(reject) passes when the server refuses at any stage before the message is accepted.
          - C(connect), C(helo), C(mail), C(rcpt), C(data) pass only for a refusal at that stage.
          - C(accept) passes when every stage is accepted.
        type: str
        choices: [accept, reject, connect, helo, mail, rcpt, data]
        default: reject
      expect_class:
        description: Also require the refusal to be permanent (C(5xx)) or temporary (C(4xx)).
        type: str
        choices: ['4xx', '5xx']
      deliver:
        description: Send DATA with a short test message when a recipient was accepted (for labs).
        type: bool
        default: false
      data:
        description:
          - The message to send with O(cases[].deliver), headers and body as in RFC 5322, lines
            separated by newlines. Default, a short test message naming the case.
        type: str
  presets:
    description:
      - Abuse cases built from the names in O(preset_options).
      - C(forged_sender_unknown_recipient) forged sender to a recipient that does not exist.
      - C(open_relay) the relay-test address forms (plain remote, percent hack, bang path, source
        route, quoted local part, IP literals); every one must be refused.
      - C(own_domain_sender) our own domain as sender, without authentication, to a valid recipient.
      - C(forwarding_recipient) forged sender to each recipient that forwards off-site.
    type: list
    elements: str
    choices: [forged_sender_unknown_recipient, open_relay, own_domain_sender, forwarding_recipient]
    default: []
  preset_options:
    description: Names the presets use.
    type: dict
    default: {}
    suboptions:
      domain:
        description: A domain the server accepts mail for.
        type: str
      valid_recipient:
        description: An existing recipient, for C(own_domain_sender).
        type: str
      forged_sender:
        description: The forged envelope sender.
        type: str
        default: forged@victim.test
      remote_domain:
        description: A domain the server must not relay to.
        type: str
        default: relay-target.invalid
      ip_literal:
        description: The server's address, for the IP-literal relay forms.
        type: str
      forwarding_recipients:
        description: Recipients that forward off-site.
        type: list
        elements: str
        default: []
      expect_class:
        description: Refusal class the preset cases require.
        type: str
        choices: ['4xx', '5xx']
  fail_on_mismatch:
    description: Fail the task when a case does not meet its expectation.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only speaks SMTP and stops before DATA unless a case asks to deliver.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
notes:
  - Point it only at servers you run. Delegate it to the controller or to a client host to probe
    a server from outside.
  - With O(cases[].deliver=true) a real message is sent; use that in labs only.
seealso:
  - name: Postfix backscatter howto
    description: Why refusing during the SMTP session beats bouncing later.
    link: https://www.postfix.org/BACKSCATTER_README.html
  - name: Postfix SMTP relay and access control
    description: Which restriction refuses which probe.
    link: https://www.postfix.org/SMTPD_ACCESS_README.html
"""

EXAMPLES = r"""
- name: A forged sender to an unknown user is refused with a 5xx at RCPT
  mailguard.postfix.smtp_probe:
    host: mx1.example.test
    helo: client.example.net
    cases:
      - name: forged_unknown
        mail_from: someone@victim.test
        rcpt_to: [no-such-user@example.test]
        expect: rcpt
        expect_class: 5xx
    fail_on_mismatch: true
  delegate_to: localhost

- name: The open-relay battery
  mailguard.postfix.smtp_probe:
    host: "{{ ansible_host }}"
    presets: [open_relay]
    preset_options:
      domain: example.test
      remote_domain: relay-target.invalid
      ip_literal: "{{ ansible_host }}"
  delegate_to: localhost
  register: relay_probe
"""

RETURN = r"""
cases:
  description: One entry per case, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The case name.
      type: str
      sample: forged_unknown
    mail_from:
      description: The envelope sender used.
      type: str
    rcpt_to:
      description: The recipients tried.
      type: list
      elements: str
    expect:
      description: The expectation.
      type: str
      sample: rcpt
    outcome:
      description: C(accepted), C(rejected_at_STAGE) or C(error:KIND).
      type: str
      sample: rejected_at_rcpt
    passed:
      description: Whether the outcome meets the expectation.
      type: bool
    reason:
      description: Why the case passed or not.
      type: str
    reply:
      description: The reply that decided the session (the first refusal, else the last reply), code and text.
      type: str
      sample: "550 5.7.1 <alice@example.test>: Recipient address rejected: Message rejected due to: SPF fail"
    refused_by:
      description:
        - The check that refused, named from Postfix's reply text, for example C(helo_not_fqdn),
          C(dnsbl:bl.example.net), C(spf), C(local_recipient_table), C(relay_recipient_table),
          C(recipient_verification), C(relay_denied), C(sender_access), C(own_domain_sender) (the
          harden role's table of own domains).
        - C(null) when the session was not refused or the text names no known check.
      type: str
      sample: spf
    stages:
      description: Each reply, with C(stage), C(code), C(text), C(argument) or C(error).
      type: list
      elements: dict
      sample:
        - {stage: connect, code: 220, text: mx1.example.test ESMTP Postfix}
        - {stage: rcpt, code: 550, text: "5.1.1 <x@example.test>: Recipient address rejected", argument: x@example.test}
passed:
  description: Whether every case met its expectation.
  returned: always
  type: bool
failed_cases:
  description: Names of the cases that did not meet their expectation.
  returned: always
  type: list
  elements: str
"""

import uuid

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailguard.postfix.plugins.module_utils import smtp_session as smtp


def preset_cases(presets, options):
    domain = options.get("domain")
    forged = options.get("forged_sender") or "forged@victim.test"
    expect_class = options.get("expect_class")
    cases = []
    for preset in presets:
        if preset in ("forged_sender_unknown_recipient", "open_relay", "own_domain_sender") and not domain:
            raise ValueError("preset %s needs preset_options.domain" % preset)
        if preset == "forged_sender_unknown_recipient":
            unknown = "no-such-user-%s@%s" % (uuid.uuid4().hex[:10], domain)
            cases.append(smtp.ProbeCase("forged_sender_unknown_recipient", forged, [unknown], "rcpt", expect_class))
        elif preset == "open_relay":
            for form, address in smtp.relay_battery(domain, options.get("remote_domain") or "relay-target.invalid",
                                                    ip_literal=options.get("ip_literal")):
                cases.append(smtp.ProbeCase("open_relay_%s" % form, forged, [address], "reject", expect_class))
        elif preset == "own_domain_sender":
            if not options.get("valid_recipient"):
                raise ValueError("preset own_domain_sender needs preset_options.valid_recipient")
            cases.append(smtp.ProbeCase("own_domain_sender", "postmaster@%s" % domain,
                                        [options["valid_recipient"]], "reject", expect_class))
        elif preset == "forwarding_recipient":
            recipients = options.get("forwarding_recipients") or []
            if not recipients:
                raise ValueError("preset forwarding_recipient needs preset_options.forwarding_recipients")
            for rcpt in recipients:
                cases.append(smtp.ProbeCase("forwarding_recipient_%s" % rcpt, forged, [rcpt], "reject", expect_class))
    return cases


def _reply(stage):
    if not stage:
        return ""
    if stage.get("error"):
        return "%s: %s" % (stage["error"], stage.get("text", ""))
    return ("%s %s" % (stage.get("code") or "", stage.get("text", ""))).strip()


def _crlf(message):
    if message is None:
        return None
    return "\r\n".join(message.replace("\r\n", "\n").split("\n"))


def _line_break(text):
    return any(ord(char) < 0x20 or ord(char) == 0x7f for char in str(text or ""))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=25),
            helo=dict(type="str", default="probe.mailguard.invalid"),
            use_ehlo=dict(type="bool", default=True),
            starttls=dict(type="bool", default=False),
            tls_verify=dict(type="bool", default=False),
            auth_user=dict(type="str"),
            auth_password=dict(type="str", no_log=True),
            source_address=dict(type="str"),
            timeout=dict(type="float", default=10),
            cases=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                mail_from=dict(type="str", required=True),
                rcpt_to=dict(type="list", elements="str", required=True),
                expect=dict(type="str", default="reject", choices=list(smtp.EXPECTATIONS)),
                expect_class=dict(type="str", choices=["4xx", "5xx"]),
                deliver=dict(type="bool", default=False),
                data=dict(type="str"),
            )),
            presets=dict(type="list", elements="str", default=[], choices=[
                "forged_sender_unknown_recipient", "open_relay", "own_domain_sender", "forwarding_recipient"]),
            preset_options=dict(type="dict", default={}, options=dict(
                domain=dict(type="str"),
                valid_recipient=dict(type="str"),
                forged_sender=dict(type="str", default="forged@victim.test"),
                remote_domain=dict(type="str", default="relay-target.invalid"),
                ip_literal=dict(type="str"),
                forwarding_recipients=dict(type="list", elements="str", default=[]),
                expect_class=dict(type="str", choices=["4xx", "5xx"]),
            )),
            fail_on_mismatch=dict(type="bool", default=False),
        ),
        required_by=dict(auth_password=["auth_user"]),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, got %s" % params["timeout"])
    if not 1 <= params["port"] <= 65535:
        module.fail_json(msg="port must be a TCP port from 1 to 65535, got %s" % params["port"])
    if _line_break(params["helo"]):
        module.fail_json(msg="helo %r holds a line break or control character" % params["helo"])
    for case in params["cases"]:
        if not case["rcpt_to"]:
            module.fail_json(msg="case %s has no rcpt_to" % case["name"])
        # An address is sent inside one SMTP command: a line break in it
        # would send commands of its own.
        for where, address in [("mail_from", case["mail_from"])] + [
                ("rcpt_to[%d]" % index, rcpt) for index, rcpt in enumerate(case["rcpt_to"])]:
            if _line_break(address):
                module.fail_json(msg="case %s: %s %r holds a line break or control character, which would end "
                                     "the SMTP command and start another; nothing was sent"
                                     % (case["name"], where, address))
    try:
        cases = [smtp.ProbeCase(c["name"], c["mail_from"], c["rcpt_to"], c["expect"], c["expect_class"],
                                c["deliver"], _crlf(c["data"])) for c in params["cases"]]
        cases.extend(preset_cases(params["presets"], params["preset_options"] or {}))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not cases:
        module.fail_json(msg="nothing to probe: give cases or presets")
    if any(c.deliver for c in cases) and module.check_mode:
        module.fail_json(msg="deliver: true sends mail and cannot run in check mode")

    session = smtp.Session(params["host"], params["port"], params["timeout"], params["helo"],
                           use_ehlo=params["use_ehlo"], starttls=params["starttls"],
                           tls_verify=params["tls_verify"], auth_user=params["auth_user"],
                           auth_password=params["auth_password"], source_address=params["source_address"])
    results = []
    for case in cases:
        stages = session.run(case)
        outcome, passed, reason = smtp.judge(case, stages)
        results.append({
            "name": case.name,
            "mail_from": case.mail_from,
            "rcpt_to": case.rcpt_to,
            "expect": case.expect,
            "expect_class": case.expect_class,
            "outcome": outcome,
            "passed": passed,
            "reason": reason,
            "reply": _reply(smtp.deciding_reply(stages)),
            "refused_by": (smtp.refusing_check(smtp.first_refusal(stages).get("text"))
                           if outcome.startswith("rejected_at_") else None),
            "stages": stages,
        })
    failed = [r["name"] for r in results if not r["passed"]]
    delivered = any(s["stage"] == "data" and (s.get("code") or 0) < 400 for r in results for s in r["stages"])
    result = dict(changed=delivered, cases=results, passed=not failed, failed_cases=failed)
    if failed and params["fail_on_mismatch"]:
        # Each failed case with what it expected and the reply that decided,
        # so that a rollout's summary can say why a host failed its probe.
        why = ["%s (%s; %s%s)" % (r["name"], r["reason"], r["outcome"], (": " + r["reply"]) if r["reply"] else "")
               for r in results if not r["passed"]]
        module.fail_json(msg="%d of %d probe case(s) did not meet their expectation: %s"
                         % (len(failed), len(results), "; ".join(why)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
