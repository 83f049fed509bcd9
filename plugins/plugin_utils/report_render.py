# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reports' Markdown and HTML, rendered on the controller from Jinja2 templates.

The audit report's templates (``templates/audit-report.md.j2`` and
``.html.j2`` beside this file) get the summary that ``module_utils/report.py``
builds and a few views of it; the playbooks' summaries (``dnsbl-report``,
``harden-summary``) get the playbook variables they name. Text from hosts
reaches them in every expression, so escaping is not left to the templates:
each environment passes every ``{{ ... }}`` result through one escaper,
``md_escape`` for Markdown and HTML escaping for the page (a value is printed
raw only when it is already ``Markup``, which only the templates' own macros
and the ``wbr`` filter make). Undefined names and keys
fail the rendering instead of printing nothing.
"""

from __future__ import annotations

import html
import os

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv
from ansible_collections.mailguard.postfix.plugins.module_utils import report

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'templates')
MARKDOWN_TEMPLATE = 'audit-report.md.j2'
HTML_TEMPLATE = 'audit-report.html.j2'
# The playbooks' Markdown summaries, by the name the markdown_summary action takes, with
# the variables each template reads.
PLAYBOOK_SUMMARIES = {
    'dnsbl-report': ('dnsbl-report.md.j2', ('dnsbl_fleet',)),
    'harden-summary': ('harden-summary.md.j2', ('harden_fleet', 'harden_summary_counts')),
}

# The severities whose findings the page shows unfolded: what a reader came
# for; low and info stay one click away so they do not bury them.
OPEN_UP_TO = 'medium'

STATUS_LABELS = {report.STATUS_AUDITED: 'audited', report.STATUS_NOT_INSTALLED: 'no Postfix',
                 report.STATUS_FAILED: 'not audited'}


def html_text(value):
    """Text from a host, escaped for HTML text and attribute values."""
    return html.escape(report.as_text(value), quote=True)


def _html_finalize(value):
    return value if isinstance(value, Markup) else Markup(html_text(value))


def _md_finalize(value):
    return str(value) if isinstance(value, Markup) else report.md_escape(value)


def _wbr(value):
    """A host name that may wrap after each dot instead of widening a crowded table."""
    return Markup(html_text(value).replace('.', '.<wbr>'))


def _environment(**options):
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True, **options)
    env.filters['wbr'] = _wbr
    return env


_LOADED = {}


def _template(name):
    if name not in _LOADED:
        if name.endswith('.html.j2'):
            env = _environment(autoescape=True, finalize=_html_finalize)
        else:
            env = _environment(autoescape=False, finalize=_md_finalize)
        _LOADED[name] = env.get_template(name)
    return _LOADED[name]


def view(summary):
    """What the templates get: the summary, and the views of it both formats show."""
    by_host = summary['by_host']
    order = summary['host_order']
    findings_of = dict((severity, []) for severity in pv.SEVERITIES)
    for name in order:
        for finding in by_host[name]['findings']:
            findings_of[finding['severity']].append({
                'host': name, 'finding': finding,
                'where': [part for part in (finding['service'], finding['parameter']) if part]})
    generated = summary.get(report.JSON_GENERATED_KEY)
    return {
        'summary': summary,
        'by_host': by_host,
        'severities': list(pv.SEVERITIES),
        'hosts_with': dict((severity, sum(1 for name in order if by_host[name]['counts'][severity]))
                           for severity in pv.SEVERITIES),
        'controls': [{'key': key, 'label': label, 'help': help_text} for key, label, help_text in report.CONTROLS],
        'unknown': report.UNKNOWN_MARK,
        'unknown_control': report.unknown_control(),
        'status_labels': STATUS_LABELS,
        'status_failed': report.STATUS_FAILED,
        'status_not_installed': report.STATUS_NOT_INSTALLED,
        'fleet_ids': report.findings_by_id_order(summary),
        'findings_of': findings_of,
        'open_severities': [s for s in pv.SEVERITIES if pv.severity_rank(s) <= pv.severity_rank(OPEN_UP_TO)],
        'generated': generated,
        'generated_readable': report.readable_time(generated) if generated else '',
    }


def _render(name, summary):
    return _template(name).render(view(summary)).rstrip('\n') + '\n'


def render_markdown(summary):
    """``summary.md``: the report in Markdown."""
    return _render(MARKDOWN_TEMPLATE, summary)


def render_summary(name, variables):
    """A playbook's Markdown summary (see PLAYBOOK_SUMMARIES) from the variables it reads.

    Raises KeyError for a name or variable that is not there, and Jinja2's
    UndefinedError for a key the template needs that the data lacks.
    """
    template, needed = PLAYBOOK_SUMMARIES[name]
    missing = [variable for variable in needed if variable not in variables]
    if missing:
        raise KeyError('%s needs %s' % (name, ', '.join(missing)))
    return _template(template).render(dict((variable, variables[variable]) for variable in needed)).rstrip('\n') + '\n'


def render_html(summary):
    """``summary.html``: the report as one page with inline CSS and no scripts or external assets."""
    return _render(HTML_TEMPLATE, summary)
