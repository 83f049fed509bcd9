"""audit_report as Ansible runs it on the controller: files, idempotence, check and diff mode.

The module's documentation lives in plugins/modules/audit_report.py; the
action plugin in plugins/action/audit_report.py does the work.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.mailguard.postfix.plugins.action import audit_report

from fake_fleet import load

ALL_FILES = ['hosts/mx1.example.org.json', 'hosts/mx2.example.net.json', 'hosts/web4.example.org.json',
             'summary.html', 'summary.json', 'summary.md']


def fleet():
    return {
        'mx1.example.org': load('mx1-hardened'),
        'mx2.example.net': load('mx2-open-relay'),
        'web4.example.org': load('web4-no-postfix'),
    }


def listing(directory):
    found = []
    for root, _dirs, names in os.walk(directory):
        for name in names:
            found.append(os.path.relpath(os.path.join(root, name), directory))
    return sorted(found)


@pytest.fixture
def run_module(monkeypatch, run_action):
    """Run the action plugin with the given options; returns the result dict (failed=True on failure)."""
    clock = {'now': '2024-05-04T07:15:00Z'}
    monkeypatch.setattr(audit_report, 'utc_now', lambda: clock['now'])

    def runner(args, check_mode=False, diff=False, now=None):
        if now:
            clock['now'] = now
        return run_action(audit_report, args, check_mode=check_mode, diff=diff)

    return runner


@pytest.fixture
def dest(tmp_path):
    return str(tmp_path / 'report')


def test_writes_summaries_and_one_json_file_per_host(run_module, dest):
    result = run_module({'hosts': fleet(), 'dest': dest})
    assert not result['failed'], result
    assert result['changed'] is True
    assert listing(dest) == ALL_FILES
    assert result['files']['html'] == os.path.join(dest, 'summary.html')
    assert result['files']['hosts']['mx2.example.net'] == os.path.join(dest, 'hosts', 'mx2.example.net.json')
    assert sorted(result['changed_files']) == sorted(os.path.join(dest, name) for name in ALL_FILES)


def test_host_file_holds_the_facts_with_sorted_keys(run_module, dest):
    run_module({'hosts': fleet(), 'dest': dest})
    with open(os.path.join(dest, 'hosts', 'mx1.example.org.json')) as handle:
        text = handle.read()
    assert json.loads(text) == load('mx1-hardened')
    keys = [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')]
    assert keys == sorted(keys)


def test_summary_counts_are_returned_and_written(run_module, dest):
    result = run_module({'hosts': fleet(), 'dest': dest})
    assert result['summary']['by_severity'] == {'critical': 2, 'high': 2, 'medium': 5, 'low': 2, 'info': 3}
    with open(os.path.join(dest, 'summary.json')) as handle:
        written = json.load(handle)
    assert written['at_or_above'] == result['summary']['at_or_above']
    with open(os.path.join(dest, 'summary.html')) as handle:
        assert '2024-05-04 07:15 UTC' in handle.read()


def test_second_run_at_a_later_time_is_unchanged_and_rewrites_nothing(run_module, dest):
    run_module({'hosts': fleet(), 'dest': dest})
    before = dict((name, os.stat(os.path.join(dest, name)).st_mtime_ns) for name in ALL_FILES)
    with open(os.path.join(dest, 'summary.md')) as handle:
        first_markdown = handle.read()

    result = run_module({'hosts': fleet(), 'dest': dest}, now='2024-05-05T09:00:00Z')
    assert result['changed'] is False
    assert result['changed_files'] == []
    assert dict((name, os.stat(os.path.join(dest, name)).st_mtime_ns) for name in ALL_FILES) == before
    with open(os.path.join(dest, 'summary.md')) as handle:
        assert handle.read() == first_markdown


def test_a_new_finding_rewrites_the_summaries_and_that_host_only(run_module, dest):
    run_module({'hosts': fleet(), 'dest': dest})
    hosts = fleet()
    hosts['mx1.example.org']['findings'].append({
        'id': 'vrfy-enabled', 'category': 'version', 'severity': 'low', 'service': 'main.cf',
        'parameter': 'disable_vrfy_command', 'message': 'VRFY is on', 'fix': 'Set disable_vrfy_command = yes.'})
    result = run_module({'hosts': hosts, 'dest': dest}, now='2024-05-05T09:00:00Z')
    assert result['changed'] is True
    assert sorted(os.path.relpath(path, dest) for path in result['changed_files']) == [
        'hosts/mx1.example.org.json', 'summary.html', 'summary.json', 'summary.md']
    with open(os.path.join(dest, 'summary.md')) as handle:
        assert 'Generated: 2024-05-05 09:00 UTC' in handle.read()


def test_check_mode_predicts_changes_and_writes_nothing(run_module, dest):
    result = run_module({'hosts': fleet(), 'dest': dest}, check_mode=True)
    assert result['changed'] is True
    assert len(result['changed_files']) == len(ALL_FILES)
    assert not os.path.exists(dest)


def test_check_mode_after_a_run_reports_no_change(run_module, dest):
    run_module({'hosts': fleet(), 'dest': dest})
    result = run_module({'hosts': fleet(), 'dest': dest}, check_mode=True, now='2024-06-01T00:00:00Z')
    assert result['changed'] is False


def test_check_mode_does_not_touch_an_outdated_report(run_module, dest):
    run_module({'hosts': fleet(), 'dest': dest})
    hosts = fleet()
    del hosts['web4.example.org']
    before = dict((name, os.stat(os.path.join(dest, name)).st_mtime_ns) for name in ALL_FILES)
    result = run_module({'hosts': hosts, 'dest': dest}, check_mode=True)
    assert result['changed'] is True
    assert dict((name, os.stat(os.path.join(dest, name)).st_mtime_ns) for name in ALL_FILES) == before


def test_diff_names_each_file_that_would_change(run_module, dest):
    run_module({'hosts': fleet(), 'dest': dest})
    hosts = fleet()
    hosts['mx2.example.net']['queue']['bounces_to_remote'] = 0
    result = run_module({'hosts': hosts, 'dest': dest}, check_mode=True, diff=True)
    headers = sorted(os.path.relpath(d['after_header'], dest) for d in result['diff'])
    assert headers == ['hosts/mx2.example.net.json', 'summary.html', 'summary.json', 'summary.md']
    markdown = [d for d in result['diff'] if d['after_header'].endswith('summary.md')][0]
    assert '| **51** |' in markdown['before']
    assert '| **51** |' not in markdown['after']


def test_no_diff_is_returned_unless_asked(run_module, dest):
    result = run_module({'hosts': fleet(), 'dest': dest})
    assert 'diff' not in result


def test_markdown_only_writes_summary_md(run_module, dest):
    result = run_module({'hosts': fleet(), 'dest': dest, 'formats': ['markdown']})
    assert listing(dest) == ['summary.md']
    assert list(result['files']) == ['markdown']


def test_unknown_format_is_refused(run_module, dest):
    result = run_module({'hosts': fleet(), 'dest': dest, 'formats': ['pdf']})
    assert result['failed']
    assert 'pdf' in result['msg']


def test_dest_that_is_a_file_fails_with_a_clear_message(run_module, tmp_path):
    path = tmp_path / 'report.txt'
    path.write_text('not a directory')
    result = run_module({'hosts': fleet(), 'dest': str(path)})
    assert result['failed']
    assert 'is not a directory' in result['msg']
    assert path.read_text() == 'not a directory'


def test_failed_host_gets_a_file_with_its_error(run_module, dest):
    hosts = {'mx9.example.org': 'unreachable: ssh: connect to host mx9.example.org port 22: Connection refused'}
    result = run_module({'hosts': hosts, 'dest': dest})
    assert result['summary']['hosts_failed'] == ['mx9.example.org']
    with open(os.path.join(dest, 'hosts', 'mx9.example.org.json')) as handle:
        assert json.load(handle) == {'audit_error': hosts['mx9.example.org']}


def test_hostname_with_path_characters_stays_inside_the_hosts_directory(run_module, dest):
    hosts = {'../../etc/passwd': load('web4-no-postfix'), '..': load('web4-no-postfix')}
    result = run_module({'hosts': hosts, 'dest': dest})
    paths = result['files']['hosts'].values()
    assert len(set(paths)) == 2
    for path in paths:
        assert os.path.dirname(path) == os.path.join(dest, 'hosts')
        assert os.path.exists(path)


@pytest.mark.parametrize('hostname, expected', [
    ('mx1.example.org', 'mx1.example.org.json'),
    ('10.0.0.25', '10.0.0.25.json'),
    ('mail_gw-2', 'mail_gw-2.json'),
])
def test_ordinary_hostnames_keep_their_name_as_file_name(hostname, expected):
    assert audit_report.host_filename(hostname) == expected


def test_unsafe_hostnames_that_look_alike_get_different_files():
    assert audit_report.host_filename('a/b') != audit_report.host_filename('a_b')
    assert audit_report.host_filename('a/b') != audit_report.host_filename('a:b')
