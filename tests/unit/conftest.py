"""Shared set-up for the unit tests.

The tests import the collection as ``ansible_collections.mailguard.postfix``,
the way Ansible loads it. ``make unit`` links the checkout into
``.build/collections/ansible_collections/mailguard/postfix`` and puts
``.build/collections`` on PYTHONPATH. When pytest is started some other way
(an editor, plain ``pytest tests/unit``), the same folder is used if it exists.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '.build', 'collections'))

if os.path.isdir(COLLECTIONS) and COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# The stand-ins for Postfix's commands, DNS and SMTP servers live in one
# folder; the tests import them by name (``from fake_postfix import ...``).
FAKES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fakes')
if FAKES not in sys.path:
    sys.path.insert(0, FAKES)

try:
    from hypothesis import settings
except ImportError:  # ansible-test units installs only what a test run asks for
    settings = None

if settings is not None:
    # CI machines are small and shared: a slow example is not a failure there.
    # The blob lets a failure seen in CI be replayed with @reproduce_failure.
    settings.register_profile('ci', deadline=None, print_blob=True)
    settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci' if os.environ.get('CI') else 'default'))


def pytest_configure(config):
    """Stop early, with the fix, when the collection cannot be imported."""
    if importlib.util.find_spec('ansible_collections.mailguard.postfix') is None:
        raise pytest.UsageError(
            'ansible_collections.mailguard.postfix is not importable: run `make unit`, '
            'or put a folder holding ansible_collections/mailguard/postfix on PYTHONPATH'
        )
