# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the report action plugins share: their base class, and reading and writing files on the controller."""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase


def plain(value):
    """The task's data as plain JSON types, as a module would have received it."""
    return json.loads(json.dumps(value, default=to_text))


class ReportAction(ActionBase):
    """An action that runs on the controller only: its arguments checked against ARGUMENT_SPEC, then act().

    ``act(args)`` returns the result, or raises AnsibleActionFail with the
    message for the operator.
    """

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    ARGUMENT_SPEC = {}

    def run(self, tmp=None, task_vars=None):
        result = super(ReportAction, self).run(tmp, task_vars)
        try:
            _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
            result.update(self.act(args))
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=to_text(exc.message))
        return result

    def act(self, args):
        raise NotImplementedError


def read_existing(path):
    try:
        with open(path, 'rb') as handle:
            return to_text(handle.read(), errors='surrogate_or_strict')
    except FileNotFoundError:
        return None
    except UnicodeError:
        # Not what a report plugin writes: rewrite it.
        return ''


def write_atomically(path, content):
    """Write ``path`` through a file beside it, renamed over it; an existing file keeps its mode."""
    directory = os.path.dirname(path)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.report.')
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(to_bytes(content, errors='surrogate_or_strict'))
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
