#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postfwd_ruleset
short_description: Validate sending quotas and render them as a postfwd ruleset
version_added: "0.2.0"
description:
  - Turns per-user sending quotas (messages, recipients and bytes per hour and per day for SASL
    users), per-address quotas for unauthenticated clients, exemptions and per-user overrides
    into the ruleset of postfwd 1.35, the policy server Debian ships.
  - Refuses, before anything is written anywhere, a quota of zero or below, an unknown limit
    name, a user with two sets of limits, a user both exempt and limited, overlapping exempt
    networks, and quotas that make another one unreachable (an hourly quota above the daily
    one, fewer recipients than messages).
  - A quota that is hit gives a 4xx reply (C(450 4.7.1) by default) whose text names the quota
    and the user or client address; postfwd logs the rule and the SASL user name.
  - The ruleset is meant for C(smtpd_end_of_data_restrictions), because only at END-OF-MESSAGE does
    Postfix send the real C(recipient_count) and C(size). Other requests get C(DUNNO).
  - Computes only; it changes nothing. Write RV(ruleset) with M(ansible.builtin.copy) and check
    it with postfwd's own parser (C(postfwd --showconfig)) through C(validate), as the
    mailguard.postfix.policy_service role does.
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  user_limits:
    description:
      - Quotas of every authenticated (SASL) user, as a mapping of limit name to a whole number
        greater than 0. Limit names are C(messages_per_hour), C(messages_per_day),
        C(recipients_per_hour), C(recipients_per_day), C(bytes_per_hour) and C(bytes_per_day).
      - A limit left out, or set to C(null), is not enforced.
    type: dict
    default: {}
  user_overrides:
    description:
      - Per-user limits that replace the matching ones of O(user_limits) for that user; the
        other defaults still apply. A limit set to C(null) lifts that default for the user.
      - Each item is C(user) plus limit names, for example C(user=alice) with C(messages_per_hour=500).
    type: list
    elements: dict
    default: []
  client_limits:
    description:
      - Quotas per client IP address for clients that did not authenticate, with the same
        limit names as O(user_limits); C(null) is not enforced either.
    type: dict
    default: {}
  exempt_users:
    description: SASL user names exempt from every quota.
    type: list
    elements: str
    default: []
  exempt_networks:
    description:
      - Client networks (CIDR) exempt from every quota, authenticated or not. Networks may not
        overlap.
    type: list
    elements: str
    default: []
  exempt_senders:
    description:
      - Envelope sender addresses exempt from every quota. Anyone can claim a sender address,
        so keep this for senders that only trusted clients can use.
    type: list
    elements: str
    default: []
  reply:
    description: The 4xx code and enhanced status of the refusal when a quota is hit.
    type: str
    default: 450 4.7.1
  hook:
    description:
      - The policy service entry that will ask postfwd from the restriction lists, checked as
        M(mailguard.postfix.restrictions) checks its O(mailguard.postfix.restrictions#module:policy_services),
        so that a caller can refuse it before postfwd is installed.
      - Keys C(name), C(endpoint), C(stage), C(timeout), C(default_action) and
        C(applies_to_authenticated). The default action must be C(DUNNO) or a 4xx reply, never a 5xx.
    type: dict
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only computes; it never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
seealso:
  - name: postfwd manual
    description: Rule syntax and the C(rate), C(rcpt) and C(size) limit actions.
    link: https://postfwd.org/doc.html
  - name: Postfix SMTP access policy delegation
    description: What Postfix sends to a policy server, and when.
    link: https://www.postfix.org/SMTPD_POLICY_README.html
  - module: mailguard.postfix.restrictions
    description: Computes the restriction lists that call the policy server.
notes:
  - postfwd counts in fixed windows that start with the first counted message, not in sliding
    windows. A message refused by one limit has already been counted by the limits before it.
"""

EXAMPLES = r"""
- name: Render the quotas
  mailguard.postfix.postfwd_ruleset:
    user_limits:
      messages_per_hour: 200
      recipients_per_hour: 500
      messages_per_day: 1000
      bytes_per_day: 524288000
    user_overrides:
      - user: newsletter
        messages_per_hour: 2000
        recipients_per_hour: 5000
        messages_per_day: 10000
    client_limits:
      messages_per_hour: 100
    exempt_networks: [192.0.2.0/28]
  register: quotas

# mailguard-postfwd-check is installed by the mailguard.postfix.policy_service role.
- name: Put the ruleset live only when postfwd can read it
  ansible.builtin.copy:
    content: "{{ quotas.ruleset }}"
    dest: /etc/postfix/postfwd.cf
    owner: root
    group: root
    mode: "0644"
    validate: /usr/local/sbin/mailguard-postfwd-check %s
"""

RETURN = r"""
ruleset:
  description: The postfwd ruleset, one rule a line.
  returned: success
  type: str
rules:
  description: Each rule with its id, its text and why it is there.
  returned: success
  type: list
  elements: dict
  sample: [{"id": "MG_USER_1_MESSAGES_PER_HOUR", "text": "id=MG_USER_1_MESSAGES_PER_HOUR; ...",
            "why": "User alice may send 5 messages per hour."}]
rule_count:
  description: Number of rules, for comparing with what postfwd parsed.
  returned: success
  type: int
user_limits:
  description: The validated default quotas of authenticated users.
  returned: success
  type: dict
  sample: {"messages_per_hour": 200}
user_overrides:
  description: Per user, the quotas that apply to that user (defaults and overrides merged).
  returned: success
  type: dict
  sample: {"alice": {"messages_per_hour": 5, "recipients_per_hour": 500}}
client_limits:
  description: The validated quotas per unauthenticated client address.
  returned: success
  type: dict
exempt_users:
  description: Users exempt from every quota.
  returned: success
  type: list
  elements: str
exempt_networks:
  description: Client networks exempt from every quota, normalised.
  returned: success
  type: list
  elements: str
exempt_senders:
  description: Envelope senders exempt from every quota.
  returned: success
  type: list
  elements: str
hook:
  description: The validated policy service entry, normalised, for the restrictions module.
  returned: when O(hook) is given
  type: dict
  sample: {"name": "postfwd", "endpoint": "inet:127.0.0.1:10040", "stage": "end_of_data", "timeout": "10s",
           "default_action": "DUNNO", "applies_to_authenticated": true}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailguard.postfix.plugins.module_utils import postfwd_ruleset as pr
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_builder as rb


def argument_spec():
    return dict(
        user_limits=dict(type="dict", default={}),
        user_overrides=dict(type="list", elements="dict", default=[]),
        client_limits=dict(type="dict", default={}),
        exempt_users=dict(type="list", elements="str", default=[]),
        exempt_networks=dict(type="list", elements="str", default=[]),
        exempt_senders=dict(type="list", elements="str", default=[]),
        reply=dict(type="str", default=pr.DEFAULT_REPLY),
        hook=dict(type="dict"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    hook = module.params["hook"]
    try:
        result = pr.build(module.params)
        if hook is not None:
            result["hook"] = rb.policy_service(hook, "hook (%s)" % (hook.get("name") or "unnamed"))
    except (pr.QuotaError, rb.IntentError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
