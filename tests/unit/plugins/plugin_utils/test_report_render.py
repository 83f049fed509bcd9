"""The fleet report as an operator reads it: summary.md and summary.html, in a real browser too."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from hypothesis import given, strategies as st

from ansible_collections.mailguard.postfix.plugins.module_utils import report
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv
from ansible_collections.mailguard.postfix.plugins.plugin_utils import report_render as render

from fake_fleet import MALICIOUS_HOST, MALICIOUS_MESSAGE, fleet as fake_fleet, malicious_fleet


# --- Markdown ----------------------------------------------------------------

def test_markdown_lists_severities_from_critical_to_info(summary):
    text = render.render_markdown(summary)
    headings = re.findall(r'^### (\w+) \(\d+\)$', text, re.M)
    assert headings == ['critical', 'high', 'medium', 'low', 'info']
    table = text.split('## Findings by severity')[1].split('##')[0]
    assert re.findall(r'^\| (\w+) \|', table, re.M)[1:] == list(pv.SEVERITIES)


def test_markdown_names_the_failed_host_and_its_reason(summary):
    text = render.render_markdown(summary)
    section = text.split('## Hosts that could not be audited')[1].split('##')[0]
    assert '**mx9.example.org**: unreachable: ssh: connect to host mx9.example.org port 22: Connection timed out' \
        in section


def test_markdown_shows_generation_time_on_its_own_line(summary):
    lines = render.render_markdown(summary).splitlines()
    assert 'Generated: 2024-05-04 07:15 UTC' in lines


def test_markdown_table_rows_keep_their_columns_whatever_a_host_sends():
    text = render.render_markdown(report.build_summary(malicious_fleet()))
    findings = text.split('### high (1)')[1]
    rows = [line for line in findings.splitlines() if line.startswith('|')]
    header, _rule, row = rows[:3]
    # An unescaped | splits a cell; escaped ones are preceded by a backslash.
    assert len(re.findall(r'(?<!\\)\|', row)) == len(re.findall(r'\|', header))
    # Markdown renderers pass raw HTML through; every < from a host is escaped.
    assert not re.search(r'(?<!\\)<', text)
    assert '\\<script\\>' in text
    assert 'second line' in row


# --- HTML --------------------------------------------------------------------

def test_html_escapes_a_malicious_hostname_and_message():
    page = render.render_html(report.build_summary(malicious_fleet(), generated_at='<b>now</b>'))
    assert '<script' not in page
    assert '<img' not in page
    assert '<a href' not in page
    assert '<b>' not in page
    assert '&lt;script&gt;alert(&quot;host&quot;)&lt;/script&gt;' in page
    assert '&lt;img src=x onerror=alert(1)&gt;' in page
    assert 'evil|id' in page


def test_html_is_self_contained(summary):
    page = render.render_html(summary)
    assert '<script' not in page
    assert '<link' not in page
    assert not re.search(r'\b(src|href)=', page)
    assert '@import' not in page and 'url(' not in page
    assert page.startswith('<!DOCTYPE html>')


def test_html_orders_severity_sections_from_critical_to_info(summary):
    page = render.render_html(summary)
    sections = re.findall(r'<details class="sev-(\w+)"', page)
    assert sections == ['critical', 'high', 'medium', 'low', 'info']
    cards = re.findall(r'<div class="card sev-(\w+)', page)
    assert cards == list(pv.SEVERITIES)


def test_html_opens_serious_findings_and_folds_low_and_info(summary):
    page = render.render_html(summary)
    assert re.findall(r'<details class="sev-(\w+)" open>', page) == ['critical', 'high', 'medium']


def test_html_header_tells_time_and_host_count(summary):
    page = render.render_html(summary)
    header = page.split('<header>')[1].split('</header>')[0]
    assert '5 host(s)' in header
    assert '<time datetime="2024-05-04T07:15:00Z">2024-05-04 07:15 UTC</time>' in header


def test_html_controls_table_marks_failures_and_unknowns(summary):
    page = render.render_html(summary)
    controls = page.split('<section id="controls">')[1].split('</section>')[0]
    row = [line for line in controls.splitlines() if 'mx2.<wbr>example.<wbr>net' in line][0]
    assert row.count('c-bad') == 6
    assert row.count('c-warn') == 3  # default compatibility level, no postscreen, off-site forwards
    relay3 = [line for line in controls.splitlines() if 'relay3.<wbr>' in line][0]
    assert relay3.count('c-unknown') == 8
    assert '<td class="span" colspan="10">not audited</td>' in controls
    assert 'Postfix is not installed' in controls


def test_empty_fleet_renders_a_page_that_says_so():
    summary = report.build_summary({})
    assert summary['hosts_total'] == 0
    assert 'given no hosts' in render.render_html(summary)
    assert render.render_markdown(summary).startswith('# Postfix audit report')


# --- anything a host may send --------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
fact_keys = st.sampled_from(['installed', 'version', 'compatibility_level', 'compatibility_level_explicit',
                             'effective', 'smtpd_services', 'address_classes', 'forwarding', 'queue', 'findings'])
facts_like = st.dictionaries(fact_keys, json_values, max_size=10) | json_values


@given(st.dictionaries(st.text(max_size=15), facts_like, max_size=4))
def test_any_shape_of_facts_renders_without_error(hosts):
    summary = report.build_summary(hosts, '2024-05-04T07:15:00Z')
    assert summary['hosts_total'] == len(hosts)
    assert sum(summary['by_severity'].values()) == summary['findings_total']
    render.render_markdown(summary)
    page = render.render_html(summary)
    assert page.rstrip().endswith('</html>')
    json.loads(report.summary_json(summary))


# Report markup never contains "<x", so any "<x" in a page came from a host unescaped.
host_text = st.text(max_size=15).map(lambda text: '<x' + text)


@given(st.dictionaries(host_text, st.lists(st.fixed_dictionaries({
    'id': host_text, 'category': host_text, 'severity': st.sampled_from(pv.SEVERITIES),
    'service': host_text, 'parameter': host_text, 'message': host_text, 'fix': host_text}), max_size=3),
    min_size=1, max_size=3))
def test_no_text_from_a_host_reaches_html_or_markdown_unescaped(findings_by_host):
    hosts = dict((name, {'installed': True, 'version': name, 'compatibility_level': name, 'findings': findings})
                 for name, findings in findings_by_host.items())
    summary = report.build_summary(hosts)
    assert '<x' not in render.render_html(summary)
    assert not re.search(r'(?<!\\)<x', render.render_markdown(summary))


# --- in a real browser ----------------------------------------------------------

# No lookup leaves the machine: every host name resolves to nothing.
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync',
                  '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
                  '--host-resolver-rules=MAP * ~NOTFOUND')
VOID = frozenset(('area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'wbr'))


class Node(object):
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], ''

    def all(self, tag=None):
        for child in self.children:
            if tag is None or child.tag == tag:
                yield child
            yield from child.all(tag)

    def full_text(self):
        return self.text + ''.join(child.full_text() for child in self.children)


class DomReader(HTMLParser):
    """The element tree of the DOM Chromium serialised."""

    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.root = self.current = Node('#document', (), None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        # Text after a child lands on the parent: enough for full_text().
        self.current.text += data


def browser_dom(page, tmp_path):
    """The DOM headless Chromium builds from ``page``, as an element tree."""
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.fail('chromium is missing: `make unit` installs it (Debian package chromium)')
    path = tmp_path / 'summary.html'
    path.write_text(page, encoding='utf-8')
    done = subprocess.run([chromium] + list(CHROMIUM_FLAGS) + ['--user-data-dir=%s' % (tmp_path / 'profile'),
                                                               '--dump-dom', path.as_uri()],
                          capture_output=True, text=True, timeout=60, check=True)
    reader = DomReader()
    reader.feed(done.stdout)
    return reader.root


def cells(row):
    """Columns a table row spans, colspan counted."""
    return sum(int(cell.attrs.get('colspan') or 1) for cell in row.children if cell.tag in ('td', 'th'))


def test_chromium_shows_hostile_host_text_as_text_and_every_table_keeps_its_shape(tmp_path):
    hosts = dict(fake_fleet(), **malicious_fleet())
    summary = report.build_summary(hosts, generated_at='2024-05-04T07:15:00Z')
    dom = browser_dom(render.render_html(summary), tmp_path)
    # Nothing a host sent became an element.
    tags = set(node.tag for node in dom.all())
    assert not tags & {'script', 'img', 'a', 'b', 'i', 'iframe', 'link', 'object'}, tags
    sections = dict((node.attrs['id'], node) for node in dom.all('section') if 'id' in node.attrs)
    assert list(sections) == ['failed', 'by-host', 'controls', 'fleet', 'findings']
    # One row per host, and the hostile name reads as written.
    by_host = list(sections['by-host'].all('tr'))[1:]
    assert len(by_host) == summary['hosts_total']
    assert MALICIOUS_HOST in [row.children[0].full_text() for row in by_host]
    # Every row of every table spans the columns of its header row: no markup from a host split a cell.
    for section in sections.values():
        for table in section.all('table'):
            rows = list(table.all('tr'))
            assert rows and all(cells(row) == cells(rows[0]) for row in rows), section.attrs['id']
    # Each finding is one row under its severity; critical to medium are open.
    details = list(sections['findings'].all('details'))
    assert sum(len(list(d.all('tr'))) - 1 for d in details) == summary['findings_total']
    assert [d.attrs['class'] for d in details if 'open' in d.attrs] == ['sev-critical', 'sev-high', 'sev-medium']
    message = [row for d in details for row in d.all('tr') if MALICIOUS_HOST in row.full_text()][0]
    assert MALICIOUS_MESSAGE.split('\n', maxsplit=1)[0] in message.full_text()
