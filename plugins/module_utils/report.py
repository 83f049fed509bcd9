# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet audit report built from ``ansible_facts.postfix`` of many hosts.

Everything here is pure: the input is a mapping of inventory hostname to the
facts ``mailguard.postfix.postfix_facts`` reported for that host (see
``docs/facts.md``), or to an error text when the host could not be audited.
The output is a summary dict and its JSON; ``plugin_utils/report_render.py``
renders its Markdown and HTML page on the controller.

Facts come from the audited hosts, so every string taken from them (hostnames
included) is escaped before it is placed in Markdown or HTML, and any key may
be missing or of the wrong type without the report failing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv

# A relay finding at or above this severity means the host may relay for
# strangers; low/info relay findings are advice, not an open door.
RELAY_BLOCKING_SEVERITY = 'medium'

ADDRESS_CLASSES = ('local', 'virtual_alias', 'virtual_mailbox', 'relay')
FORWARDING_SOURCES = ('aliases', 'forward_files', 'virtual_aliases')

STATUS_AUDITED = 'audited'
STATUS_NOT_INSTALLED = 'not-installed'
STATUS_FAILED = 'failed'

# The order and wording of the key-controls table, shared by every format so
# that Markdown, HTML and JSON always agree.
CONTROLS = (
    ('postfix_version', 'Postfix', 'mail_version of the installed Postfix.'),
    ('compatibility_level', 'Compat level',
     'compatibility_level in force; marked when main.cf leaves it to the built-in default.'),
    ('relay_protected', 'Relay protected',
     'No relay finding of severity %s or above.' % RELAY_BLOCKING_SEVERITY),
    ('recipients_validated', 'Recipients validated',
     'Every address class that has domains validates recipients at RCPT TO.'),
    ('postscreen', 'Postscreen', 'A master.cf service runs postscreen in front of smtpd.'),
    ('vrfy_disabled', 'VRFY off', 'disable_vrfy_command = yes.'),
    ('pipelining_protected', 'Pipelining protected',
     'smtpd_forbid_unauth_pipelining = yes or reject_unauth_pipelining in a restriction list.'),
    ('bare_newline_protected', 'Bare newline protected',
     'smtpd_forbid_bare_newline is not "no" (SMTP smuggling).'),
    ('backscatter_in_queue', 'Backscatter in queue',
     'Null-sender messages to remote recipients waiting in the queue.'),
    ('offsite_forwards', 'Off-site forwards',
     'Aliases, .forward files and virtual aliases that send mail to other domains.'),
)

# Lines that carry the generation time are recognised by these prefixes so
# that two reports can be compared while ignoring when they were made.
# Host-supplied text is escaped and never starts a line, so it cannot fake
# one of these.
MARKDOWN_GENERATED_PREFIX = 'Generated: '
HTML_GENERATED_PREFIX = '<p class="generated">'
JSON_GENERATED_KEY = 'generated_at'

# How a control the facts did not report is shown in Markdown and HTML.
UNKNOWN_MARK = '\u2014'

_MISSING = object()


# ---------------------------------------------------------------------------
# Reading facts defensively
# ---------------------------------------------------------------------------

def _get(mapping, *path):
    """Walk nested dicts; return _MISSING as soon as a step is absent."""
    current = mapping
    for step in path:
        if not isinstance(current, dict) or step not in current:
            return _MISSING
        current = current[step]
    return current


def _as_int(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def as_text(value):
    """Any value from a host as text: nothing for None, items joined for a list."""
    if value is None or value is _MISSING:
        return ''
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ', '.join(as_text(item) for item in value)
    return str(value)


def normalize_finding(raw):
    """A finding with every documented key present and a known severity.

    A severity this module does not know is reported as ``info`` rather than
    dropped, so a newer facts module never makes findings disappear.
    """
    if not isinstance(raw, dict):
        raw = {'message': as_text(raw)}
    severity = as_text(raw.get('severity')).strip().lower()
    if severity not in pv.SEVERITY_RANK:
        severity = 'info'
    return {
        'id': as_text(raw.get('id')) or 'unnamed-finding',
        'category': as_text(raw.get('category')),
        'severity': severity,
        'service': as_text(raw.get('service')),
        'parameter': as_text(raw.get('parameter')),
        'message': as_text(raw.get('message')),
        'fix': as_text(raw.get('fix')),
    }


def _findings_of(facts):
    raw = facts.get('findings') if isinstance(facts, dict) else None
    if not isinstance(raw, list):
        return []
    findings = [normalize_finding(item) for item in raw]
    findings.sort(key=lambda f: (pv.severity_rank(f['severity']), f['id'], f['service'], f['parameter']))
    return findings


def _host_status(facts):
    if not isinstance(facts, dict):
        return STATUS_FAILED
    if facts.get('installed') is False:
        return STATUS_NOT_INSTALLED
    return STATUS_AUDITED


def _error_text(facts):
    if isinstance(facts, dict):
        return ''
    text = as_text(facts).strip()
    return text or 'no facts were reported for this host'


# ---------------------------------------------------------------------------
# Key controls
# ---------------------------------------------------------------------------

def _control(ok, value=None, display=None, detail='', state=None):
    """One cell of the key-controls table.

    ``ok`` is True, False or None (unknown, or not a pass/fail control);
    ``state`` decides the colour: good, bad, warn, neutral or unknown.
    """
    if state is None:
        state = {True: 'good', False: 'bad', None: 'unknown'}[ok]
    if display is None:
        display = {True: 'yes', False: 'no', None: 'unknown'}[ok]
    return {'ok': ok, 'value': value, 'display': display, 'detail': detail, 'state': state}


def unknown_control():
    """The cell of a control the facts did not report."""
    return _control(None)


def _finding_ids(findings):
    return set(f['id'] for f in findings)


def _restriction_names(facts):
    """Every restriction name used in any stage of any smtpd/postscreen service."""
    names = set()
    services = facts.get('smtpd_services')
    if not isinstance(services, dict):
        return names
    for service in services.values():
        stages = _get(service, 'stages')
        if not isinstance(stages, dict):
            continue
        for stage in stages.values():
            entries = _get(stage, 'entries')
            if not isinstance(entries, list):
                continue
            for entry in entries:
                name = _get(entry, 'name')
                if isinstance(name, str):
                    names.add(name)
    return names


def _control_version(facts, findings):
    version = as_text(facts.get('version')).strip()
    if not version:
        return _control(None)
    return _control(None, value=version, display=version, state='neutral')


def _control_compatibility(facts, findings):
    level = as_text(facts.get('compatibility_level')).strip()
    explicit = facts.get('compatibility_level_explicit')
    if 'compatibility-level-unset' in _finding_ids(findings):
        explicit = False
    if not level:
        return _control(None)
    if explicit is False:
        return _control(False, value=level, display='%s (default)' % level, state='warn',
                        detail='main.cf does not set compatibility_level')
    if explicit is True:
        return _control(True, value=level, display=level, state='neutral')
    return _control(None, value=level, display=level, state='neutral')


def _control_relay(facts, findings):
    blocking = [f['id'] for f in findings
                if f['category'] == 'relay'
                and pv.severity_rank(f['severity']) <= pv.severity_rank(RELAY_BLOCKING_SEVERITY)]
    if blocking:
        return _control(False, value=sorted(set(blocking)), detail=', '.join(sorted(set(blocking))))
    # With no facts beyond the finding list there is nothing to say a relay
    # check ran, so "yes" is only claimed when the services were read.
    if not isinstance(facts.get('smtpd_services'), dict) and not isinstance(facts.get('effective'), dict):
        return _control(None)
    return _control(True, value=[])


def _control_recipients(facts, findings):
    classes = facts.get('address_classes')
    if not isinstance(classes, dict):
        return _control(None)
    unvalidated = []
    with_domains = []
    names = [name for name in ADDRESS_CLASSES if name in classes]
    names += sorted(name for name in classes if name not in ADDRESS_CLASSES)
    for name in names:
        domains = _get(classes, name, 'domains')
        if not domains or domains is _MISSING:
            continue
        with_domains.append(name)
        if _get(classes, name, 'validated') is not True:
            unvalidated.append(name)
    if unvalidated:
        return _control(False, value=unvalidated, display='no: ' + ', '.join(unvalidated),
                        detail='not validated: ' + ', '.join(unvalidated))
    if not with_domains:
        return _control(True, value=[], detail='no address class has domains')
    return _control(True, value=[], detail='validated: ' + ', '.join(with_domains))


def _control_postscreen(facts, findings):
    services = facts.get('smtpd_services')
    if not isinstance(services, dict):
        return _control(None)
    keys = sorted(key for key, service in services.items() if _get(service, 'role') == 'postscreen')
    if keys:
        return _control(True, value=keys, detail=', '.join(keys))
    # A host that only submits or relays internally may rightly go without.
    return _control(False, value=[], state='warn')


def _control_vrfy(facts, findings):
    if 'vrfy-enabled' in _finding_ids(findings):
        return _control(False)
    value = _get(facts, 'effective', 'disable_vrfy_command')
    if value is _MISSING:
        return _control(None)
    return _control(pv.is_yes(value))


def _control_pipelining(facts, findings):
    if 'unauth-pipelining-unprotected' in _finding_ids(findings):
        return _control(False)
    value = _get(facts, 'effective', 'smtpd_forbid_unauth_pipelining')
    if value is not _MISSING and pv.is_yes(value):
        return _control(True, detail='smtpd_forbid_unauth_pipelining = yes')
    if 'reject_unauth_pipelining' in _restriction_names(facts):
        return _control(True, detail='reject_unauth_pipelining')
    if value is _MISSING:
        return _control(None)
    return _control(False)


def _control_bare_newline(facts, findings):
    if 'bare-newline-unprotected' in _finding_ids(findings):
        return _control(False)
    value = _get(facts, 'effective', 'smtpd_forbid_bare_newline')
    if value is _MISSING:
        return _control(None, detail='not reported (older Postfix has no such parameter)')
    text = as_text(value).strip().lower()
    if text in ('', 'no'):
        return _control(False)
    return _control(True, display='yes (%s)' % text if text != 'yes' else 'yes', detail=text)


def _control_backscatter(facts, findings):
    if _get(facts, 'queue', 'available') is False:
        # postqueue failed: a zero count would claim a clean queue nobody saw.
        return _control(None, detail=as_text(_get(facts, 'queue', 'error')) or 'queue not readable')
    count = _as_int(_get(facts, 'queue', 'bounces_to_remote'))
    if count is None:
        return _control(None)
    if count:
        return _control(False, value=count, display=str(count))
    return _control(True, value=0, display='0')


def _control_forwarding(facts, findings):
    forwarding = facts.get('forwarding')
    if not isinstance(forwarding, dict):
        return _control(None)
    total = 0
    parts = []
    seen = False
    names = [name for name in FORWARDING_SOURCES if name in forwarding]
    names += sorted(name for name in forwarding if name not in FORWARDING_SOURCES)
    for name in names:
        count = _as_int(_get(forwarding, name, 'offsite'))
        if count is None:
            continue
        seen = True
        total += count
        if count:
            parts.append('%s: %d' % (name, count))
    if not seen:
        return _control(None)
    # Forwarding off-site is a policy choice, not a fault; it only matters
    # together with the forwarding-without-strict-entry finding.
    state = 'warn' if total else 'neutral'
    return _control(None, value=total, display=str(total), detail=', '.join(parts), state=state)


_CONTROL_FUNCTIONS = {
    'postfix_version': _control_version,
    'compatibility_level': _control_compatibility,
    'relay_protected': _control_relay,
    'recipients_validated': _control_recipients,
    'postscreen': _control_postscreen,
    'vrfy_disabled': _control_vrfy,
    'pipelining_protected': _control_pipelining,
    'bare_newline_protected': _control_bare_newline,
    'backscatter_in_queue': _control_backscatter,
    'offsite_forwards': _control_forwarding,
}


def host_controls(facts, findings=None):
    """Key controls of one audited host, keyed as in CONTROLS."""
    if not isinstance(facts, dict):
        facts = {}
    if findings is None:
        findings = _findings_of(facts)
    return dict((key, _CONTROL_FUNCTIONS[key](facts, findings)) for key, _label, _help in CONTROLS)


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

def _empty_counts():
    return dict((severity, 0) for severity in pv.SEVERITIES)


def _worst(counts):
    for severity in pv.SEVERITIES:
        if counts.get(severity):
            return severity
    return None


def _host_sort_key(name, entry):
    """Hosts that could not be audited first, then the worst findings first."""
    failed = 0 if entry['status'] == STATUS_FAILED else 1
    worst = entry['worst_severity']
    return (failed, pv.severity_rank(worst) if worst else len(pv.SEVERITIES), name)


def build_summary(hosts, generated_at=None):
    """Fleet summary of ``{hostname: facts or error text}``.

    Per host: status (audited, not-installed, failed), the error text of a
    failed host, finding counts by severity, the normalised findings and the
    key controls. Fleet-wide: counts by severity, by category and by finding
    id, the hosts that failed, and ``at_or_above``, the number of findings of
    each severity or worse, which is what a CI gate asks.
    """
    if not isinstance(hosts, dict):
        hosts = {}
    by_host = {}
    for raw_name, facts in hosts.items():
        name = as_text(raw_name)
        status = _host_status(facts)
        findings = _findings_of(facts) if status != STATUS_FAILED else []
        counts = _empty_counts()
        for finding in findings:
            counts[finding['severity']] += 1
        entry = {
            'status': status,
            'error': _error_text(facts),
            'findings': findings,
            'counts': counts,
            'findings_total': len(findings),
            'worst_severity': _worst(counts),
            'controls': host_controls(facts, findings) if status == STATUS_AUDITED else {},
        }
        by_host[name] = entry

    order = sorted(by_host, key=lambda name: _host_sort_key(name, by_host[name]))

    by_severity = _empty_counts()
    by_category = {}
    by_id = {}
    for name in order:
        for finding in by_host[name]['findings']:
            by_severity[finding['severity']] += 1
            category = finding['category'] or 'uncategorised'
            by_category[category] = by_category.get(category, 0) + 1
            item = by_id.setdefault(finding['id'], {
                'severity': finding['severity'], 'category': finding['category'],
                'count': 0, 'hosts': []})
            item['count'] += 1
            # One id can be raised at different severities (per service);
            # the fleet view shows the worst.
            if pv.severity_rank(finding['severity']) < pv.severity_rank(item['severity']):
                item['severity'] = finding['severity']
            if name not in item['hosts']:
                item['hosts'].append(name)

    at_or_above = {}
    running = 0
    for severity in pv.SEVERITIES:
        running += by_severity[severity]
        at_or_above[severity] = running

    return {
        JSON_GENERATED_KEY: generated_at,
        'severities': list(pv.SEVERITIES),
        'hosts_total': len(by_host),
        'host_order': order,
        'hosts_audited': [n for n in order if by_host[n]['status'] == STATUS_AUDITED],
        'hosts_without_postfix': [n for n in order if by_host[n]['status'] == STATUS_NOT_INSTALLED],
        'hosts_failed': [n for n in order if by_host[n]['status'] == STATUS_FAILED],
        'findings_total': sum(by_severity.values()),
        'by_severity': by_severity,
        'at_or_above': at_or_above,
        'by_category': by_category,
        'by_id': by_id,
        'worst_severity': _worst(by_severity),
        'by_host': by_host,
    }


def findings_by_id_order(summary):
    """Finding ids, worst severity first, then the most widespread."""
    by_id = summary.get('by_id', {})
    return sorted(by_id, key=lambda i: (pv.severity_rank(by_id[i]['severity']), -len(by_id[i]['hosts']), i))


def summary_json(summary):
    """The summary as stable JSON text (sorted keys, so unchanged input gives unchanged text)."""
    return json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + '\n'


def host_json(facts):
    """What ``hosts/<host>.json`` holds: the facts, or the error of a host that failed.

    The free bytes of the ``storage`` fact change from minute to minute on any
    busy host; they are left out, so that an unchanged host gives an unchanged
    file (the ``queue-file-system-full`` finding still names them).
    """
    if not isinstance(facts, dict):
        facts = {'audit_error': _error_text(facts)}
    elif isinstance(facts.get('storage'), dict):
        storage = dict(facts['storage'])
        for key in ('queue_directory', 'config_directory'):
            if isinstance(storage.get(key), dict):
                storage[key] = dict((k, v) for k, v in storage[key].items() if k != 'free_bytes')
        facts = dict(facts, storage=storage)
    return json.dumps(facts, sort_keys=True, indent=2, ensure_ascii=False, default=str) + '\n'


# ---------------------------------------------------------------------------
# Text for the Markdown and HTML (rendered by plugin_utils/report_render.py)
# ---------------------------------------------------------------------------

# Characters that can start markup anywhere in a line. Parentheses, '#', '+'
# and '!' only mean something next to characters escaped here or at the start
# of a line, where host text never stands.
_MD_SPECIAL = re.compile(r'([\\`*\[\]|~<>])')
# An underscore inside a word (smtpd_relay_restrictions) is never emphasis in
# CommonMark; leaving it bare keeps the raw Markdown readable.
_MD_UNDERSCORE = re.compile(r'(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])')


def md_escape(value):
    """Text from a host, made inert in Markdown and safe in a table cell."""
    text = as_text(value)
    text = ' '.join(text.split())
    text = text.replace('&', '&amp;')
    text = _MD_SPECIAL.sub(r'\\\1', text)
    return _MD_UNDERSCORE.sub(r'\\_', text)


_ISO_UTC = re.compile(r'^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d)?(\.\d+)?Z$')


def readable_time(stamp):
    """'2024-05-04T07:15:00Z' as '2024-05-04 07:15 UTC'; anything else unchanged."""
    match = _ISO_UTC.match(as_text(stamp))
    if not match:
        return as_text(stamp)
    return '%s %s UTC' % (match.group(1), match.group(2))


# ---------------------------------------------------------------------------
# Comparing reports
# ---------------------------------------------------------------------------

def comparable(kind, text):
    """``text`` without its generation time, so an audit that finds the same
    state does not rewrite the report. ``kind`` is json, markdown or html."""
    if text is None:
        return None
    if kind == 'json':
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict):
            data.pop(JSON_GENERATED_KEY, None)
        return json.dumps(data, sort_keys=True)
    prefix = {'markdown': MARKDOWN_GENERATED_PREFIX, 'html': HTML_GENERATED_PREFIX}.get(kind)
    if prefix is None:
        return text
    return '\n'.join(line for line in text.split('\n') if not line.startswith(prefix))
