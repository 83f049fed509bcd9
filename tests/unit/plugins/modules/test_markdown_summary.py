"""markdown_summary as a playbook runs it on the controller: the file, a second run, check mode, bad data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.mailguard.postfix.plugins.action import markdown_summary

HOSTILE = 'mx|1 <b>*x*</b>'
DNSBL_FLEET = {
    'hosts': {
        'mx1.example.org': {'status': 'listed', 'error': '', 'addresses': ['192.0.2.25'], 'domains': ['example.org'],
                            'listed': [{'target': '192.0.2.25', 'list': 'bl.example.net', 'codes': ['127.0.0.2'],
                                        'reason': 'listed: see https://bl.example.net/?ip=192.0.2.25 | spam'}]},
        HOSTILE: {'status': 'error', 'error': 'SERVFAIL | <i>x</i>', 'addresses': [], 'domains': [],
                  'errors': [{'target': '198.51.100.7', 'list': 'bl.example.net', 'error': 'timeout *'}]},
    },
    'listed': ['mx1.example.org'], 'errors': [HOSTILE], 'clean': [], 'unchecked': [],
}
HARDEN_FLEET = {'phase': 'rollout', 'outcome': 'every host is hardened',
                'hosts': {'mx1.example.org': {'status': 'changed', 'dnsbl': 'asked the lists', 'reason': ''},
                          HOSTILE: {'status': 'failed', 'reason': 'probe refused | *clean* mail'}}}
COUNTS = {'changed': 1, 'failed': 1, 'unchanged': 0}


def rows(text):
    return [line for line in text.splitlines() if line.startswith('| ')]


@pytest.fixture
def run(run_action, tmp_path):
    def runner(summary, data, check_mode=False, diff=False, dest=None):
        args = {'summary': summary, 'data': data, 'dest': str(dest or tmp_path / 'summary.md')}
        return run_action(markdown_summary, args, check_mode=check_mode, diff=diff)

    return runner


def test_the_dnsbl_report_escapes_what_hosts_and_lists_send(run, tmp_path):
    result = run('dnsbl-report', {'dnsbl_fleet': DNSBL_FLEET})
    assert result['changed'] and not result['failed'], result
    text = (tmp_path / 'summary.md').read_text()
    assert text.startswith('# DNS blocklist report\n\n2 host(s): 0 clean, 1 listed, 1 with lookup errors, 0 not checked.')
    assert '| mx1.example.org | 192.0.2.25 | bl.example.net | 127.0.0.2 | listed: see https://bl.example.net/?ip=192.0.2.25 \\| spam |' in text
    assert '| mx\\|1 \\<b\\>\\*x\\*\\</b\\> | error: SERVFAIL \\| \\<i\\>x\\</i\\> |  |  |' in text
    assert '## Lookup errors (neither listed nor clean)' in text
    # No cell was split by a | from a host or a list.
    for row in rows(text):
        assert len(row.replace('\\|', '').split('|')) - 2 in (4, 5), row


def test_the_harden_summary_counts_and_lists_every_host(run, tmp_path):
    run('harden-summary', {'harden_fleet': HARDEN_FLEET, 'harden_summary_counts': COUNTS})
    text = (tmp_path / 'summary.md').read_text()
    assert text.startswith('# Postfix hardening: rollout\n\nevery host is hardened.\n\nchanged: 1, failed: 1.\n\n')
    assert '| mx\\|1 \\<b\\>\\*x\\*\\</b\\> | failed |  | probe refused \\| \\*clean\\* mail |' in text
    assert '| mx1.example.org | changed | asked the lists |  |' in text


def test_a_second_run_with_the_same_data_changes_nothing(run, tmp_path):
    run('harden-summary', {'harden_fleet': HARDEN_FLEET, 'harden_summary_counts': COUNTS})
    before = os.stat(str(tmp_path / 'summary.md')).st_mtime_ns
    result = run('harden-summary', {'harden_fleet': HARDEN_FLEET, 'harden_summary_counts': COUNTS})
    assert result['changed'] is False
    assert os.stat(str(tmp_path / 'summary.md')).st_mtime_ns == before


def test_check_mode_predicts_and_writes_nothing_and_diff_shows_the_text(run, tmp_path):
    result = run('dnsbl-report', {'dnsbl_fleet': DNSBL_FLEET}, check_mode=True, diff=True)
    assert result['changed'] is True
    assert not (tmp_path / 'summary.md').exists()
    assert result['diff'][0]['before'] == '' and '# DNS blocklist report' in result['diff'][0]['after']


@pytest.mark.parametrize('summary, data, expected', [
    ('harden-summary', {'harden_fleet': HARDEN_FLEET}, 'needs harden_summary_counts'),
    ('dnsbl-report', {'dnsbl_fleet': {'hosts': {}}}, 'has no attribute'),
    ('fleet-summary', {}, 'fleet-summary'),
])
def test_missing_data_or_an_unknown_summary_fails_and_writes_nothing(run, tmp_path, summary, data, expected):
    result = run(summary, data)
    assert result['failed'] and expected in result['msg'], result
    assert not (tmp_path / 'summary.md').exists()


def test_a_missing_directory_fails_with_its_name(run, tmp_path):
    dest = tmp_path / 'nowhere' / 'summary.md'
    result = run('harden-summary', {'harden_fleet': HARDEN_FLEET, 'harden_summary_counts': COUNTS}, dest=dest)
    assert result['failed'] and str(dest) in result['msg']
