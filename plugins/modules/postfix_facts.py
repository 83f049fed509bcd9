#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postfix_facts
short_description: Report what Postfix is really configured to do, and where it is exposed
version_added: "0.1.0"
description:
  - Reads the Postfix configuration of a host with Postfix's own commands and sets
    C(ansible_facts.postfix).
  - Reports the explicit main.cf settings (C(postconf -n)) and the effective, expanded value
    of every parameter the collection reasons about (C(postconf -x)).
  - Lists master.cf services (C(postconf -M), C(postconf -P)) and, for every smtpd and
    postscreen service, the effective restriction list of each stage after the service's
    C(-o) overrides, parsed into ordered entries with their cost class
    (C(none), C(local), C(dns), C(external)).
  - Reports the address classes (local, virtual alias, virtual mailbox, relay) and whether
    their recipients are validated during the SMTP session.
  - Inventories forwarding off-site (aliases, C(.forward) files, virtual aliases), read with
    C(postalias -s) and C(postmap -s) where the table type allows.
  - Summarises the queue (C(postqueue -j)), counting bounces to remote recipients
    (backscatter in flight).
  - Computes C(findings) for open-relay and backscatter exposures, restriction order and cost
    problems, and protections the installed version has but leaves off.
  - Runs only read commands; a host without Postfix gives C(installed=false) and a finding.
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  config_directory:
    description:
      - Postfix configuration directory to read, passed to every command as C(-c).
      - Defaults to the directory Postfix itself uses (normally C(/etc/postfix)).
    type: path
  gather_forwarding:
    description:
      - Inventory aliases, C(.forward) files and virtual aliases that forward mail off-site.
      - Costs time linear in the size of those tables.
    type: bool
    default: true
  gather_forwarding_recipients:
    description:
      - Also return every recipient address whose mail is forwarded off-site, in
        C(forwarding.recipients.forwarded), and the one-to-one virtual aliases among them in
        C(forwarding.recipients.one_to_one_virtual). Local aliases and C(.forward) owners are
        listed once per local domain.
      - Needs O(gather_forwarding). The lists are complete, not capped by O(max_examples), so they
        can be as long as the tables.
    type: bool
    default: false
  gather_queue:
    description:
      - Summarise the mail queue with C(postqueue -j).
    type: bool
    default: true
  max_examples:
    description:
      - How many examples to keep per inventory (forwards, catch-alls, queued bounces).
    type: int
    default: 10
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads; it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
seealso:
  - name: postconf(5)
    description: Postfix configuration parameters.
    link: https://www.postfix.org/postconf.5.html
  - name: Postfix backscatter howto
    description: Why accepting and bouncing later makes a server a backscatter source.
    link: https://www.postfix.org/BACKSCATTER_README.html
  - name: Postfix SMTP relay and access control
    description: How restriction lists are evaluated.
    link: https://www.postfix.org/SMTPD_ACCESS_README.html
notes:
  - The list of findings and the layout of the facts are described in C(docs/facts.md) of the
    collection.
requirements:
  - Postfix 3.x with C(postconf -x) (3.7 and 3.10 are tested).
"""

EXAMPLES = r"""
- name: Read the Postfix configuration
  mailguard.postfix.postfix_facts:

- name: Show the findings of high severity and above
  ansible.builtin.debug:
    msg: "{{ ansible_facts.postfix.findings | selectattr('severity', 'in', ['critical', 'high']) }}"

- name: Read a second instance without the slower inventories
  mailguard.postfix.postfix_facts:
    config_directory: /etc/postfix-out
    gather_forwarding: false
    gather_queue: false
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    postfix:
      description:
        - The Postfix configuration as Postfix sees it. See C(docs/facts.md) for every key.
      returned: always
      type: dict
      contains:
        installed:
          description: Whether Postfix was found.
          type: bool
          sample: true
        version:
          description: Postfix C(mail_version).
          type: str
          sample: 3.7.11
        compatibility_level:
          description: The compatibility level in force, explicit or built-in.
          type: str
          sample: "3.6"
        compatibility_level_explicit:
          description: Whether main.cf sets C(compatibility_level).
          type: bool
        config_directory:
          description: The configuration directory read.
          type: str
          sample: /etc/postfix
        parameters:
          description: Explicit main.cf parameters, unexpanded.
          type: dict
        effective:
          description: Effective expanded values of the parameters the collection reasons about.
          type: dict
        services:
          description: master.cf services with their fields and raw C(-o) overrides.
          type: list
          elements: dict
        smtpd_services:
          description: Per smtpd or postscreen service, its role and effective restriction stages.
          type: dict
        main_stages:
          description: The restriction stages as main.cf alone defines them.
          type: dict
        address_classes:
          description: Local, virtual alias, virtual mailbox and relay classes and their validation.
          type: dict
        forwarding:
          description: Aliases, .forward files and virtual aliases that forward off-site.
          type: dict
        queue:
          description: Messages per queue and bounces queued for remote recipients.
          type: dict
        storage:
          description:
            - Free bytes on the file systems of the queue and of the configuration directory, the
              space smtpd wants free before it takes a message (C(queue_needed_bytes)), and
              C(queue_full) when the queue has less, so that every client gets C(452 4.3.1).
          type: dict
        findings:
          description: Exposures found, most severe first.
          type: list
          elements: dict
          sample:
            - id: relay-domains-without-recipient-maps
              category: backscatter
              severity: high
              service: main.cf
              parameter: relay_recipient_maps
              message: relay_domains (relay.test) is set but relay_recipient_maps is empty.
              fix: List valid relay recipients in relay_recipient_maps.
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailguard.postfix.plugins.module_utils.facts import GatherError, gather
from ansible_collections.mailguard.postfix.plugins.module_utils.postfix_cli import PostfixCommands


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_directory=dict(type="path"),
            gather_forwarding=dict(type="bool", default=True),
            gather_forwarding_recipients=dict(type="bool", default=False),
            gather_queue=dict(type="bool", default=True),
            max_examples=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    config_directory = module.params["config_directory"]
    if config_directory and not os.path.isdir(config_directory):
        module.fail_json(msg="config_directory %s does not exist or is not a directory" % config_directory)
    if module.params["gather_forwarding_recipients"] and not module.params["gather_forwarding"]:
        module.fail_json(msg="gather_forwarding_recipients needs gather_forwarding: true")
    if module.params["max_examples"] < 0:
        module.fail_json(msg="max_examples must be 0 or more, got %d" % module.params["max_examples"])

    cmds = PostfixCommands(module, config_directory=config_directory)
    try:
        facts = gather(cmds,
                       gather_forwarding=module.params["gather_forwarding"],
                       gather_queue=module.params["gather_queue"],
                       max_examples=module.params["max_examples"],
                       forwarding_recipients=module.params["gather_forwarding_recipients"])
    except GatherError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ansible_facts={"postfix": facts})


if __name__ == "__main__":
    main()
