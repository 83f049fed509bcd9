#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: markdown_summary
short_description: Write the Markdown summary of a collection playbook on the controller
version_added: "0.2.0"
description:
  - Renders one of the collection's Markdown summaries, the blocklist report of the C(mailguard.postfix.dnsbl_check)
    playbook or the rollout summary of C(mailguard.postfix.harden), and writes it on the controller when its
    content changed.
  - Runs on the controller (an action plugin), whatever host the task is for, as the user running
    C(ansible-playbook).
  - The templates are Jinja2 templates in which every value is escaped with C(md_escape), so text from hosts,
    blocklists and the inventory cannot change the Markdown around it; a value the template needs that O(data)
    lacks fails the task.
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  summary:
    description:
      - Which summary. V(dnsbl-report) reads C(dnsbl_fleet); V(harden-summary) reads C(harden_fleet) and
        C(harden_summary_counts).
    type: str
    required: true
    choices: [dnsbl-report, harden-summary]
  data:
    description: The variables the summary reads, by name.
    type: dict
    required: true
  dest:
    description: The Markdown file to write. Its directory must exist.
    type: path
    required: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
seealso:
  - module: mailguard.postfix.audit_report
"""

EXAMPLES = r"""
- name: Write the blocklist report's Markdown
  mailguard.postfix.markdown_summary:
    summary: dnsbl-report
    data:
      dnsbl_fleet: "{{ dnsbl_fleet }}"
    dest: /srv/reports/dnsbl/summary.md
  run_once: true
"""

RETURN = r"""
dest:
  description: The file written, or in check mode the one that would be.
  returned: always
  type: str
  sample: /srv/reports/dnsbl/summary.md
"""
