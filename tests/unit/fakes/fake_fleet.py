"""Audit facts of a small fleet, for the report's tests: recorded hosts and a hostile one.

The recorded facts live in tests/unit/fixtures/report/; the hostile host
sends markup in every field a report shows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'report'))

MALICIOUS_HOST = '<script>alert("host")</script>'
MALICIOUS_MESSAGE = '<img src=x onerror=alert(1)> | *bold* [link](http://evil.example/) & `code`\nsecond line'


def load(name):
    with open(os.path.join(FIXTURES, name + '.json')) as handle:
        return json.load(handle)


def fleet():
    """A hardened, an open-relay, a partial, a no-Postfix and an unreachable host."""
    return {
        'mx1.example.org': load('mx1-hardened'),
        'mx2.example.net': load('mx2-open-relay'),
        'relay3.example.org': load('relay3-partial'),
        'web4.example.org': load('web4-no-postfix'),
        'mx9.example.org': 'unreachable: ssh: connect to host mx9.example.org port 22: Connection timed out',
    }


def malicious_fleet():
    return {MALICIOUS_HOST: {
        'installed': True,
        'version': '<b>3.7</b>',
        'findings': [{'id': 'evil|id', 'category': 'relay', 'severity': 'high', 'service': '<i>main.cf</i>',
                      'parameter': 'x', 'message': MALICIOUS_MESSAGE, 'fix': '<a href="http://evil.example/">fix</a>'}],
    }}
