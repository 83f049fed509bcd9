"""The fleet report's data: what an operator reads in summary.json, and how two reports compare."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import report
from ansible_collections.mailguard.postfix.plugins.plugin_utils import report_render as render

from fake_fleet import load


# --- summary ---------------------------------------------------------------

def test_findings_are_counted_by_severity_over_the_fleet(summary):
    assert summary['by_severity'] == {'critical': 2, 'high': 2, 'medium': 6, 'low': 2, 'info': 5}
    assert summary['findings_total'] == 17
    assert summary['worst_severity'] == 'critical'


def test_at_or_above_counts_each_severity_and_every_worse_one(summary):
    assert summary['at_or_above'] == {'critical': 2, 'high': 4, 'medium': 10, 'low': 12, 'info': 17}


def test_findings_are_counted_per_host(summary):
    mx2 = summary['by_host']['mx2.example.net']
    assert mx2['counts'] == {'critical': 2, 'high': 2, 'medium': 5, 'low': 1, 'info': 1}
    assert mx2['findings_total'] == 11
    assert mx2['worst_severity'] == 'critical'
    assert summary['by_host']['mx1.example.org']['worst_severity'] == 'low'


def test_unreachable_host_is_listed_as_failed_with_its_reason(summary):
    assert summary['hosts_failed'] == ['mx9.example.org']
    entry = summary['by_host']['mx9.example.org']
    assert entry['status'] == 'failed'
    assert 'Connection timed out' in entry['error']
    assert entry['findings'] == []


def test_host_without_postfix_is_reported_with_its_finding_only(summary):
    assert summary['hosts_without_postfix'] == ['web4.example.org']
    entry = summary['by_host']['web4.example.org']
    assert entry['status'] == 'not-installed'
    assert [f['id'] for f in entry['findings']] == ['postfix-not-installed']
    assert entry['controls'] == {}


def test_failed_hosts_come_first_then_the_worst_findings(summary):
    assert summary['host_order'] == [
        'mx9.example.org', 'mx2.example.net', 'relay3.example.org', 'mx1.example.org', 'web4.example.org']


def test_fleet_view_lists_each_finding_with_the_hosts_that_have_it(summary):
    assert summary['by_id']['open-relay-permit'] == {
        'severity': 'critical', 'category': 'relay', 'count': 1, 'hosts': ['mx2.example.net']}
    assert report.findings_by_id_order(summary)[:2] == ['mynetworks-too-wide', 'open-relay-permit']


def test_a_finding_raised_on_several_hosts_counts_every_host():
    hosts = {'a': load('mx2-open-relay'), 'b': load('mx2-open-relay')}
    summary = report.build_summary(hosts)
    assert summary['by_id']['vrfy-enabled']['hosts'] == ['a', 'b']
    assert summary['by_severity']['critical'] == 4


def test_unknown_severity_is_reported_as_info_not_dropped(summary):
    ids = [f['id'] for f in summary['by_host']['relay3.example.org']['findings']]
    assert 'some-future-check' in ids
    assert summary['by_id']['some-future-check']['severity'] == 'info'


def test_a_finding_that_is_not_a_dict_keeps_its_text(summary):
    messages = [f['message'] for f in summary['by_host']['relay3.example.org']['findings']]
    assert 'a finding that is not even a dict' in messages


def test_summary_json_is_stable_for_the_same_input(fleet):
    first = report.summary_json(report.build_summary(fleet, '2024-05-04T07:15:00Z'))
    second = report.summary_json(report.build_summary(copy.deepcopy(fleet), '2024-05-04T07:15:00Z'))
    assert first == second
    assert json.loads(first)['by_severity']['critical'] == 2


def test_host_json_of_a_failed_host_carries_the_error():
    assert json.loads(report.host_json('failed: become password required')) == {
        'audit_error': 'failed: become password required'}


# --- key controls ------------------------------------------------------------

def controls_of(summary, host):
    return dict((key, value['ok']) for key, value in summary['by_host'][host]['controls'].items())


def test_hardened_host_passes_every_control(summary):
    controls = summary['by_host']['mx1.example.org']['controls']
    assert controls_of(summary, 'mx1.example.org') == {
        'postfix_version': None, 'compatibility_level': True, 'relay_protected': True,
        'recipients_validated': True, 'postscreen': True, 'vrfy_disabled': True,
        'pipelining_protected': True, 'bare_newline_protected': True, 'backscatter_in_queue': True,
        'offsite_forwards': None,
    }
    assert controls['postfix_version']['display'] == '3.7.11'
    assert controls['postscreen']['value'] == ['smtp/inet']
    assert controls['offsite_forwards']['value'] == 0


def test_open_relay_host_fails_the_controls_it_breaks(summary):
    controls = summary['by_host']['mx2.example.net']['controls']
    assert controls_of(summary, 'mx2.example.net') == {
        'postfix_version': None, 'compatibility_level': False, 'relay_protected': False,
        'recipients_validated': False, 'postscreen': False, 'vrfy_disabled': False,
        'pipelining_protected': False, 'bare_newline_protected': False, 'backscatter_in_queue': False,
        'offsite_forwards': None,
    }
    assert controls['relay_protected']['value'] == ['mynetworks-too-wide', 'open-relay-permit']
    assert controls['recipients_validated']['value'] == ['relay']
    assert controls['backscatter_in_queue']['value'] == 51
    assert controls['offsite_forwards']['value'] == 5
    assert controls['compatibility_level']['display'] == '2 (default)'


def test_low_relay_finding_does_not_mark_the_relay_open():
    facts = load('mx1-hardened')
    facts['findings'].append({'id': 'relay-defer-not-reject', 'category': 'relay', 'severity': 'low',
                              'service': 'main.cf', 'parameter': 'smtpd_relay_restrictions',
                              'message': 'defer_unauth_destination', 'fix': ''})
    summary = report.build_summary({'mx': facts})
    assert summary['by_host']['mx']['controls']['relay_protected']['ok'] is True


def test_medium_relay_finding_marks_the_relay_unprotected(summary):
    assert summary['by_host']['relay3.example.org']['controls']['relay_protected']['ok'] is False


def test_reject_unauth_pipelining_in_a_list_counts_as_protection():
    facts = load('mx1-hardened')
    facts['effective']['smtpd_forbid_unauth_pipelining'] = 'no'
    facts['smtpd_services']['smtpd/pass']['stages']['data'] = {
        'parameter': 'smtpd_data_restrictions', 'source': 'main.cf', 'value': 'reject_unauth_pipelining',
        'entries': [{'position': 0, 'name': 'reject_unauth_pipelining', 'args': [], 'cost': 'none',
                     'action': 'reject', 'known': True, 'text': 'reject_unauth_pipelining'}]}
    summary = report.build_summary({'mx': facts})
    assert summary['by_host']['mx']['controls']['pipelining_protected']['ok'] is True


def test_address_class_without_domains_needs_no_validation():
    facts = load('mx1-hardened')
    facts['address_classes']['relay'] = {'domains': [], 'tables': [], 'validated': False, 'validated_by': []}
    summary = report.build_summary({'mx': facts})
    assert summary['by_host']['mx']['controls']['recipients_validated']['ok'] is True


def test_unreadable_queue_is_unknown_not_clean():
    facts = load('mx1-hardened')
    facts['queue'] = {'available': False, 'error': 'postqueue: fatal: Queue report unavailable',
                      'total': 0, 'by_queue': {}, 'null_sender': 0, 'bounces_to_remote': 0, 'examples': []}
    control = report.build_summary({'mx': facts})['by_host']['mx']['controls']['backscatter_in_queue']
    assert control['ok'] is None
    assert 'unavailable' in control['detail']


def test_partial_facts_give_unknown_controls_instead_of_failing(summary):
    controls = summary['by_host']['relay3.example.org']['controls']
    for key in ('recipients_validated', 'postscreen', 'vrfy_disabled', 'pipelining_protected',
                'bare_newline_protected', 'backscatter_in_queue', 'offsite_forwards', 'compatibility_level'):
        assert controls[key]['ok'] is None, key
        assert controls[key]['state'] == 'unknown', key


# --- Markdown escaping ---------------------------------------------------------

def test_markdown_escape_keeps_parameter_names_readable():
    assert report.md_escape('smtpd_relay_restrictions') == 'smtpd_relay_restrictions'
    assert report.md_escape('_leading and trailing_') == '\\_leading and trailing\\_'
    assert report.md_escape('a|b *c* [d]') == 'a\\|b \\*c\\* \\[d\\]'


# --- comparing reports ---------------------------------------------------------

@pytest.mark.parametrize('kind, render', [
    ('markdown', render.render_markdown),
    ('html', render.render_html),
    ('json', report.summary_json),
])
def test_same_findings_at_another_time_compare_equal(fleet, kind, render):
    earlier = render(report.build_summary(fleet, '2024-05-04T07:15:00Z'))
    later = render(report.build_summary(fleet, '2024-05-05T07:15:00Z'))
    assert earlier != later
    assert report.comparable(kind, earlier) == report.comparable(kind, later)


@pytest.mark.parametrize('kind, render', [
    ('markdown', render.render_markdown),
    ('html', render.render_html),
    ('json', report.summary_json),
])
def test_a_new_finding_compares_different(fleet, kind, render):
    before = render(report.build_summary(fleet, '2024-05-04T07:15:00Z'))
    fleet['mx1.example.org']['findings'].append({
        'id': 'vrfy-enabled', 'category': 'version', 'severity': 'low', 'service': 'main.cf',
        'parameter': 'disable_vrfy_command', 'message': 'VRFY', 'fix': ''})
    after = render(report.build_summary(fleet, '2024-05-04T07:15:00Z'))
    assert report.comparable(kind, before) != report.comparable(kind, after)


def test_a_hostname_cannot_fake_the_time_line():
    fleet = {'Generated: x': {'installed': True, 'findings': []},
             '<p class="generated">': {'installed': True, 'findings': []}}
    summary = report.build_summary(fleet, '2024-05-04T07:15:00Z')
    for kind, text in (('markdown', render.render_markdown(summary)), ('html', render.render_html(summary))):
        removed = len(text.split('\n')) - len(report.comparable(kind, text).split('\n'))
        assert removed == 1, kind


def test_host_json_leaves_out_the_free_bytes_so_an_unchanged_host_gives_the_same_file():
    def facts(free):
        return {'version': '3.7.11', 'storage': {
            'queue_directory': {'path': '/var/spool/postfix', 'free_bytes': free},
            'config_directory': {'path': '/etc/postfix', 'free_bytes': free * 2},
            'queue_needed_bytes': 15360000, 'queue_full': False}}
    first, second = report.host_json(facts(900000000)), report.host_json(facts(899000000))
    assert first == second
    storage = json.loads(first)['storage']
    assert storage['queue_directory'] == {'path': '/var/spool/postfix'}
    assert storage['queue_needed_bytes'] == 15360000 and storage['queue_full'] is False
