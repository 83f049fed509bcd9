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
  - Meant to run once on the controller, with C(delegate_to=localhost) and C(run_once=true), after the
    facts were gathered on every host. The playbook C(mailguard.postfix.audit) does exactly that.
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
      - Give an absolute path. A relative one is resolved against the working directory of the module,
        which under C(ansible-playbook) is the directory of the playbook, not the one it was started from.
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

import datetime
import errno
import hashlib
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.mailguard.postfix.plugins.module_utils import report

FORMATS = ('json', 'markdown', 'html')
SUMMARY_FILES = {'json': 'summary.json', 'markdown': 'summary.md', 'html': 'summary.html'}

_UNSAFE_FILENAME_CHARS = re.compile(r'[^A-Za-z0-9._-]')


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def host_filename(hostname):
    """A file name for a host that cannot escape the hosts directory.

    Inventory hostnames are nearly always safe already and are kept as they
    are; anything else gets a hash suffix so two hosts never collide after
    their unsafe characters were replaced.
    """
    safe = _UNSAFE_FILENAME_CHARS.sub('_', hostname).lstrip('.')
    if safe != hostname or not safe:
        digest = hashlib.sha1(to_bytes(hostname, errors='surrogate_or_strict')).hexdigest()[:8]
        safe = '%s-%s' % (safe or 'host', digest)
    return safe + '.json'


def plan_files(dest, hosts, summary, formats):
    """(path, kind, content) for every file the report consists of."""
    planned = []
    if 'json' in formats:
        for hostname in sorted(hosts):
            path = os.path.join(dest, 'hosts', host_filename(to_text(hostname)))
            planned.append((path, 'plain', report.host_json(hosts[hostname]), to_text(hostname)))
        planned.append((os.path.join(dest, SUMMARY_FILES['json']), 'json', report.summary_json(summary), None))
    if 'markdown' in formats:
        planned.append((os.path.join(dest, SUMMARY_FILES['markdown']), 'markdown',
                        report.render_markdown(summary), None))
    if 'html' in formats:
        planned.append((os.path.join(dest, SUMMARY_FILES['html']), 'html', report.render_html(summary), None))
    return planned


def read_existing(path):
    try:
        with open(path, 'rb') as handle:
            return to_text(handle.read(), errors='surrogate_or_strict')
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    except UnicodeError:
        # Not what this module writes: rewrite it.
        return ''


def write_atomically(module, path, content):
    fd, tmp_path = tempfile.mkstemp(dir=module.tmpdir, prefix='audit_report.')
    with os.fdopen(fd, 'wb') as handle:
        handle.write(to_bytes(content, errors='surrogate_or_strict'))
    module.atomic_move(tmp_path, path)


def file_diff(path, kind, before, after):
    if kind == 'html':
        # The page repeats the Markdown with markup; showing it twice buries the change.
        return {'before_header': path, 'after_header': path,
                'before': '' if before is None else '(previous HTML page)\n',
                'after': '(HTML page with the content of summary.md)\n'}
    return {'before_header': path, 'after_header': path, 'before': before or '', 'after': after}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='dict', required=True),
            dest=dict(type='path', required=True),
            formats=dict(type='list', elements='str', choices=list(FORMATS), default=list(FORMATS)),
        ),
        supports_check_mode=True,
    )
    hosts = module.params['hosts']
    dest = os.path.abspath(module.params['dest'])
    formats = set(module.params['formats'])

    if os.path.exists(dest) and not os.path.isdir(dest):
        module.fail_json(msg='dest %s exists and is not a directory; give a directory for the report' % dest)

    generated_at = utc_now()
    summary = report.build_summary(hosts, generated_at=generated_at)

    files = {}
    changed_files = []
    diffs = []
    to_write = []
    for path, kind, content, hostname in plan_files(dest, hosts, summary, formats):
        if hostname is not None:
            files.setdefault('hosts', {})[hostname] = path
        else:
            files[kind] = path
        try:
            before = read_existing(path)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot read %s to compare it with the new report: %s; '
                                 'check the permissions of %s' % (path, to_native(exc), dest))
        if before is not None and report.comparable(kind, before) == report.comparable(kind, content):
            continue
        changed_files.append(path)
        to_write.append((path, content))
        if module._diff:
            diffs.append(file_diff(path, kind, before, content))

    if to_write and not module.check_mode:
        try:
            for directory in (dest, os.path.join(dest, 'hosts')):
                if 'json' in formats or directory == dest:
                    if not os.path.isdir(directory):
                        os.makedirs(directory)
            for path, content in to_write:
                write_atomically(module, path, content)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot write the report into %s: %s; the directory must be writable '
                                 'by the user running the module on the controller' % (dest, to_native(exc)),
                             changed_files=changed_files)

    result = dict(changed=bool(changed_files), summary=summary, files=files, changed_files=changed_files)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
