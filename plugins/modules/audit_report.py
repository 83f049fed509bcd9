#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: audit_report
short_description: Write a fleet report of Postfix audit findings as JSON, Markdown and HTML
version_added: "0.1.0"
description:
  - Takes the C(ansible_facts.postfix) of many hosts, as reported by M(mailguard.postfix.postfix_facts),
    and writes one report for the whole fleet into a directory.
  - Runs on the controller (an action plugin), whatever host the task is for, as the user running
    C(ansible-playbook); give it C(run_once=true) after the facts were gathered on every host. The playbook
    C(mailguard.postfix.audit) does exactly that.
  - The Markdown and HTML come from Jinja2 templates in which every value is escaped, C(md_escape) for
    Markdown and HTML escaping for the page, and an undefined value fails the task.
  - The report counts findings by severity and by host, lists the hosts that could not be audited, and shows
    a table of key controls per host (relay protection, recipient validation, postscreen, VRFY, pipelining and
    bare-newline protection, backscatter in the queue, off-site forwarding).
  - Everything that came from a host, hostnames included, is escaped in the Markdown and HTML output.
  - A file is only rewritten when its content changed. The generation time written into the summaries is
    left out of that comparison, so an audit that finds the same state reports C(changed=false) and leaves
    the earlier time in place; the time therefore tells when the findings last changed.
  - Files of hosts that are no longer in O(hosts) stay in the C(hosts) directory untouched;
    C(summary.json) lists the hosts of the latest run.
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  hosts:
    description:
      - Inventory hostname to the C(ansible_facts.postfix) dict of that host.
      - For a host that was unreachable or whose audit failed, give a string that says why instead of a dict;
        the host is then reported as not audited with that text.
      - A dict with C(installed=false) is a host without Postfix; only its findings are reported.
      - Missing keys in a facts dict are reported as unknown rather than failing.
    type: dict
    required: true
  dest:
    description:
      - Directory to write the report into. It is created, with a C(hosts) subdirectory, when missing.
      - Give an absolute path. A relative one is resolved against the working directory of
        C(ansible-playbook).
    type: path
    required: true
  formats:
    description:
      - Which files to write.
      - V(json) writes C(summary.json) and one C(hosts/<host>.json) per host with its facts (or its error).
      - V(markdown) writes C(summary.md).
      - V(html) writes C(summary.html), a single page with inline CSS and no external assets or scripts.
    type: list
    elements: str
    choices: [json, markdown, html]
    default: [json, markdown, html]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reports which files would be written and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - One diff per file that changes. The HTML page is named but not shown, as its change is the one the
        Markdown diff shows.
notes:
  - Host files are named after the inventory hostname. Characters other than letters, digits, C(.), C(_)
    and C(-) are replaced, and a short hash of the real name is appended so that two hosts never share a file.
seealso:
  - module: mailguard.postfix.postfix_facts
  - name: postconf(5)
    description: The Postfix configuration parameters the findings and controls refer to.
    link: https://www.postfix.org/postconf.5.html
"""

EXAMPLES = r"""
- name: Read Postfix configuration on every mail host
  mailguard.postfix.postfix_facts:

- name: Write the fleet report on the controller
  mailguard.postfix.audit_report:
    # A host without facts (unreachable, failed) is reported as not audited.
    hosts: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
              | map(attribute='ansible_facts.postfix', default='no facts were gathered'))) }}
    dest: /srv/reports/postfix
  delegate_to: localhost
  run_once: true
  register: postfix_report

- name: Only the Markdown summary, for a merge request comment
  mailguard.postfix.audit_report:
    hosts:
      mx1.example.org: "{{ hostvars['mx1.example.org'].ansible_facts.postfix }}"
      mx2.example.org: "unreachable: ssh: connect to host mx2.example.org port 22: Connection timed out"
    dest: "{{ lookup('ansible.builtin.env', 'PWD') }}/audit-report"
    formats: [markdown]
  delegate_to: localhost
  run_once: true

- name: Fail when any host has a high or critical finding
  ansible.builtin.assert:
    that: postfix_report.summary.at_or_above.high == 0
    fail_msg: "{{ postfix_report.summary.at_or_above.high }} finding(s) of severity high or worse"
  run_once: true
"""

RETURN = r"""
summary:
  description:
    - The fleet summary. Severities are always ordered V(critical), V(high), V(medium), V(low), V(info).
  returned: always
  type: dict
  contains:
    generated_at:
      description: When this summary was made, UTC, ISO 8601.
      type: str
      sample: "2024-05-04T07:15:00Z"
    hosts_total:
      description: Number of hosts given.
      type: int
      sample: 3
    host_order:
      description: Hosts in report order, those that could not be audited first, then by their worst finding.
      type: list
      elements: str
    hosts_audited:
      description: Hosts with Postfix whose facts were read.
      type: list
      elements: str
    hosts_without_postfix:
      description: Hosts whose facts say C(installed=false).
      type: list
      elements: str
    hosts_failed:
      description: Hosts that were unreachable or whose audit failed.
      type: list
      elements: str
      sample: [mx3.example.org]
    findings_total:
      description: Number of findings on all hosts.
      type: int
    by_severity:
      description: Number of findings of each severity.
      type: dict
      sample: {critical: 1, high: 0, medium: 3, low: 2, info: 5}
    at_or_above:
      description: Number of findings of each severity or worse; V(medium) counts critical, high and medium.
      type: dict
      sample: {critical: 1, high: 1, medium: 4, low: 6, info: 11}
    by_category:
      description: Number of findings per category (relay, backscatter, order, version, host).
      type: dict
    by_id:
      description: Per finding id, its worst severity, category, number of occurrences and the hosts that have it.
      type: dict
    worst_severity:
      description: The worst severity found on any host, or null when there is no finding.
      type: str
      sample: critical
    by_host:
      description:
        - Per host, C(status) (V(audited), V(not-installed) or V(failed)), C(error), C(counts) by severity,
          C(findings_total), C(worst_severity), the normalised C(findings) and the key C(controls).
        - Each control is C({ok, value, display, detail, state}); C(ok) is true, false or null when unknown
          or when the control is informational.
      type: dict
files:
  description: Paths of the files this report consists of, whether or not this run changed them.
  returned: always
  type: dict
  contains:
    json:
      description: Path of C(summary.json), when V(json) is among O(formats).
      type: str
      sample: /srv/reports/postfix/summary.json
    markdown:
      description: Path of C(summary.md), when V(markdown) is among O(formats).
      type: str
    html:
      description: Path of C(summary.html), when V(html) is among O(formats).
      type: str
      sample: /srv/reports/postfix/summary.html
    hosts:
      description: Inventory hostname to the path of its JSON file, when V(json) is among O(formats).
      type: dict
      sample: {mx1.example.org: /srv/reports/postfix/hosts/mx1.example.org.json}
changed_files:
  description: Files that were written, or in check mode would be written.
  returned: always
  type: list
  elements: str
  sample: [/srv/reports/postfix/summary.md]
"""
