# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""audit_report: write the fleet report on the controller (documented in plugins/modules/audit_report.py).

It runs where ansible-playbook runs, whatever host the task is for: it
builds the summary with module_utils/report.py, renders the Markdown and
HTML with plugin_utils/report_render.py (Jinja2 templates), and writes only
the files whose content changed, each atomically.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.mailguard.postfix.plugins.module_utils import report
from ansible_collections.mailguard.postfix.plugins.plugin_utils import report_render
from ansible_collections.mailguard.postfix.plugins.plugin_utils.report_files import (
    ReportAction, plain, read_existing, write_atomically)

FORMATS = ('json', 'markdown', 'html')
SUMMARY_FILES = {'json': 'summary.json', 'markdown': 'summary.md', 'html': 'summary.html'}

ARGUMENT_SPEC = dict(
    hosts=dict(type='dict', required=True),
    dest=dict(type='path', required=True),
    formats=dict(type='list', elements='str', choices=list(FORMATS), default=list(FORMATS)),
)

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
    """(path, kind, content, hostname) for every file the report consists of."""
    planned = []
    if 'json' in formats:
        for hostname in sorted(hosts):
            path = os.path.join(dest, 'hosts', host_filename(to_text(hostname)))
            planned.append((path, 'plain', report.host_json(hosts[hostname]), to_text(hostname)))
        planned.append((os.path.join(dest, SUMMARY_FILES['json']), 'json', report.summary_json(summary), None))
    if 'markdown' in formats:
        planned.append((os.path.join(dest, SUMMARY_FILES['markdown']), 'markdown',
                        report_render.render_markdown(summary), None))
    if 'html' in formats:
        planned.append((os.path.join(dest, SUMMARY_FILES['html']), 'html', report_render.render_html(summary), None))
    return planned


def file_diff(path, kind, before, after):
    if kind == 'html':
        # The page repeats the Markdown with markup; showing it twice buries the change.
        return {'before_header': path, 'after_header': path,
                'before': '' if before is None else '(previous HTML page)\n',
                'after': '(HTML page with the content of summary.md)\n'}
    return {'before_header': path, 'after_header': path, 'before': before or '', 'after': after}


class ActionModule(ReportAction):
    """Builds, renders and writes the fleet report on the controller."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def act(self, args):
        return self._report(plain(args['hosts']), os.path.abspath(args['dest']), set(args['formats']))

    def _report(self, hosts, dest, formats):
        if os.path.exists(dest) and not os.path.isdir(dest):
            raise AnsibleActionFail('dest %s exists and is not a directory; give a directory for the report' % dest)

        summary = report.build_summary(hosts, generated_at=utc_now())
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
                raise AnsibleActionFail('cannot read %s to compare it with the new report: %s; '
                                        'check the permissions of %s' % (path, to_native(exc), dest))
            if before is not None and report.comparable(kind, before) == report.comparable(kind, content):
                continue
            changed_files.append(path)
            to_write.append((path, content))
            if self._task.diff:
                diffs.append(file_diff(path, kind, before, content))

        if to_write and not self._task.check_mode:
            try:
                for directory in (dest, os.path.join(dest, 'hosts')):
                    if ('json' in formats or directory == dest) and not os.path.isdir(directory):
                        os.makedirs(directory)
                for path, content in to_write:
                    write_atomically(path, content)
            except (IOError, OSError) as exc:
                raise AnsibleActionFail('cannot write the report into %s: %s; the directory must be writable '
                                        'by the user running ansible-playbook' % (dest, to_native(exc)))

        result = dict(changed=bool(changed_files), summary=summary, files=files, changed_files=changed_files)
        if self._task.diff:
            result['diff'] = diffs
        return result
