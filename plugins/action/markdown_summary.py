# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""markdown_summary: write a playbook's Markdown summary on the controller (documented in plugins/modules/)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native

from jinja2.exceptions import UndefinedError

from ansible_collections.mailguard.postfix.plugins.plugin_utils import report_render
from ansible_collections.mailguard.postfix.plugins.plugin_utils.report_files import (
    ReportAction, plain, read_existing, write_atomically)

ARGUMENT_SPEC = dict(
    summary=dict(type='str', required=True, choices=sorted(report_render.PLAYBOOK_SUMMARIES)),
    data=dict(type='dict', required=True),
    dest=dict(type='path', required=True),
)


class ActionModule(ReportAction):
    """Renders the summary with the collection's Markdown environment and writes it when it changed."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def act(self, args):
        return self._write(args['summary'], plain(args['data']), os.path.abspath(args['dest']))

    def _write(self, name, data, dest):
        try:
            content = report_render.render_summary(name, data)
        except (KeyError, UndefinedError) as exc:
            raise AnsibleActionFail('cannot write the %s summary: %s' % (name, to_native(exc)))
        if not os.path.isdir(os.path.dirname(dest)):
            raise AnsibleActionFail('the directory of %s does not exist; create it first' % dest)
        try:
            before = read_existing(dest)
        except (IOError, OSError) as exc:
            raise AnsibleActionFail('cannot read %s: %s' % (dest, to_native(exc)))
        changed = before != content
        if changed and not self._task.check_mode:
            try:
                write_atomically(dest, content)
            except (IOError, OSError) as exc:
                raise AnsibleActionFail('cannot write %s: %s' % (dest, to_native(exc)))
        result = dict(changed=changed, dest=dest)
        if self._task.diff:
            result['diff'] = [{'before_header': dest, 'after_header': dest, 'before': before or '', 'after': content}]
        return result
