# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters for the collection's Markdown reports (the playbooks' templates)."""

from __future__ import annotations

from ansible_collections.mailguard.postfix.plugins.module_utils.report import md_escape


class FilterModule(object):
    """The Markdown escaper of the audit report, for templates."""

    def filters(self):
        return {"md_escape": md_escape}
