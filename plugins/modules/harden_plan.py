#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harden_plan
short_description: Plan the main.cf parameters and master.cf services the harden role sets
version_added: "0.2.0"
description:
  - Computes, from a host's Postfix facts and the restriction lists of
    M(mailguard.postfix.restrictions), the main.cf parameters and master.cf services the
    C(mailguard.postfix.harden) role hands to M(mailguard.postfix.postconf), with what it decided
    about postscreen and port 25.
  - Changes nothing and runs no command; it reads only the record the role keeps on the host when
    it turns postscreen on (O(postscreen_state_file)).
  - "Removes C(luser_relay), C(soft_bounce) and C(unverified_recipient_defer_code): each accepts what
    cannot be delivered or turns a refusal into a later bounce, and Postfix's default for each refuses
    during the session. Sets C(compatibility_level) (O(compatibility_level), the host's explicit level,
    else C(3.6)) and gives an explicitly empty C(local_recipient_maps) Debian's default back."
  - "With O(postscreen), postscreen answers on port 25 with Debian's master.cf lines for it (smtpd
    behind it as C(smtpd/pass), C(dnsblog), C(tlsproxy)), chrooted or not like the smtpd it replaces,
    whose overrides the smtpd behind postscreen takes over. The plan's record (RV(postscreen.new_record))
    keeps the smtpd entry replaced, the services added and the earlier values of the parameters set;
    without O(postscreen) and with a record, they come back. A postscreen the role did not put there stays."
  - The smtpd that answers on port 25 discards the C(dsn) EHLO keyword unless O(port25_dsn), and offers
    no AUTH unless O(port25_auth) (an C(smtpd_sasl_auth_enable = yes) in main.cf meant for submission
    reaches port 25 too).
  - Services whose own overrides open relaying (critical or high relay findings of
    M(mailguard.postfix.postfix_facts)) lose those overrides, so that main.cf's lists apply to them.
  - A restriction class the role wrote that the lists no longer use goes with its parameter; the
    operator's own classes stay in C(smtpd_restriction_classes).
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  facts:
    description:
      - The host's C(ansible_facts.postfix) from M(mailguard.postfix.postfix_facts). The plan reads
        C(services), C(parameters), C(effective), C(findings), C(compatibility_level) and
        C(compatibility_level_explicit); the rest may be left out.
    type: dict
    required: true
  restrictions:
    description:
      - The result of M(mailguard.postfix.restrictions), or at least its C(parameters), C(services)
        and C(managed_classes).
    type: dict
    required: true
  spf_parameters:
    description: main.cf entries of the SPF policy server, in the form of M(mailguard.postfix.postconf).
    type: list
    elements: dict
    default: []
  spf_services:
    description: master.cf entries of the SPF policy server, in the form of M(mailguard.postfix.postconf).
    type: list
    elements: dict
    default: []
  postscreen:
    description: Whether postscreen answers on port 25.
    type: bool
    default: false
  postscreen_deep_protocol_tests:
    description: With O(postscreen), also its pipelining, non-SMTP command and bare newline tests.
    type: bool
    default: false
  port25_dsn:
    description: Offer DSN on port 25 (forged senders can then ask for notices to them).
    type: bool
    default: false
  port25_auth:
    description: Offer AUTH on port 25 when main.cf switches SASL on.
    type: bool
    default: false
  extra_parameters:
    description: main.cf parameters given by the operator; they win over everything computed.
    type: dict
    default: {}
  compatibility_level:
    description: The C(compatibility_level) to set; empty keeps the host's explicit one, else C(3.6).
    type: str
    default: ""
  postscreen_state_file:
    description:
      - The record of the postscreen the role turned on, in JSON. A missing file means no record.
    type: path
    required: true
notes:
  - Supports check mode; it changes nothing in either mode.
seealso:
  - module: mailguard.postfix.restrictions
  - module: mailguard.postfix.postconf
"""

EXAMPLES = r"""
- name: Plan what the harden role would set
  mailguard.postfix.harden_plan:
    facts: "{{ ansible_facts.postfix }}"
    restrictions: "{{ computed }}"
    postscreen: true
    postscreen_state_file: /var/lib/mailguard-postfix/postscreen.json
  register: plan

- name: Apply the plan
  mailguard.postfix.postconf:
    parameters: "{{ plan.parameters }}"
    services: "{{ plan.services }}"
"""

RETURN = r"""
parameters:
  description: main.cf entries for M(mailguard.postfix.postconf) (C(name) and C(value), or C(state=absent)).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: smtpd_relay_restrictions, value: "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"}
    - {name: soft_bounce, state: absent}
services:
  description: master.cf entries for M(mailguard.postfix.postconf), each C(service/type) once.
  returned: always
  type: list
  elements: dict
  sample:
    - {service: smtpd, type: pass, command: smtpd, overrides: {smtpd_discard_ehlo_keywords: "silent-discard,dsn"}}
port25_smtpd:
  description: The service that answers SMTP on port 25 once the plan is applied.
  returned: always
  type: str
  sample: smtp/inet
port25_changes:
  description: The overrides the plan gives that service for DSN and AUTH.
  returned: always
  type: dict
  sample: {smtpd_discard_ehlo_keywords: "silent-discard,dsn", smtpd_sasl_auth_enable: "no"}
relay_opening_services:
  description: Services whose own overrides open relaying and lose them.
  returned: always
  type: list
  elements: str
postscreen:
  description: What the plan decided about postscreen on port 25.
  returned: always
  type: dict
  contains:
    running:
      description: postscreen answers on port 25 now.
      type: bool
    turning_on:
      description: The plan puts postscreen on port 25.
      type: bool
    record:
      description: What O(postscreen_state_file) holds, V({}) when there is none.
      type: dict
    new_record:
      description:
        - What to write to O(postscreen_state_file) once the change is live, when RV(postscreen.turning_on)
          (C(smtp_inet), the smtpd entry replaced; C(added), the services added; C(parameters), the
          earlier values of the parameters set, null for those left at Postfix's default).
      type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailguard.postfix.plugins.module_utils import harden_plan as hp

OPTIONS = ("spf_parameters", "spf_services", "postscreen", "postscreen_deep_protocol_tests", "port25_dsn",
           "port25_auth", "extra_parameters", "compatibility_level")


def read_record(path):
    """The record in ``path``; {} when there is none. Raises ValueError on a file that is no record."""
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        text = handle.read()
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError("it holds no JSON object")
    return record


def main():
    module = AnsibleModule(
        argument_spec=dict(
            facts=dict(type="dict", required=True),
            restrictions=dict(type="dict", required=True),
            spf_parameters=dict(type="list", elements="dict", default=[]),
            spf_services=dict(type="list", elements="dict", default=[]),
            postscreen=dict(type="bool", default=False),
            postscreen_deep_protocol_tests=dict(type="bool", default=False),
            port25_dsn=dict(type="bool", default=False),
            port25_auth=dict(type="bool", default=False),
            extra_parameters=dict(type="dict", default={}),
            compatibility_level=dict(type="str", default=""),
            postscreen_state_file=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    path = module.params["postscreen_state_file"]
    try:
        record = read_record(path)
    except (IOError, OSError, ValueError) as exc:
        module.fail_json(msg="Cannot read the postscreen record %s: %s. It is the role's own JSON record of what "
                             "it replaced on port 25; restore it from a backup, or remove it if postscreen was "
                             "not turned on by the role. Nothing was changed." % (path, exc))
    options = dict((name, module.params[name]) for name in OPTIONS)
    result = hp.plan(module.params["facts"], module.params["restrictions"], options, record)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
