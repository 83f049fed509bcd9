# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How Postfix writes its values, in one place: times, booleans, reply codes.

Every module, the roles' validation (through the modules) and the blocklist
watch script read a Postfix time, a yes/no or a 4xx reply with these
functions, so that one input is never accepted in one place and refused in
another. The severities of the audit's findings and the C locale that every
Postfix command runs under live here too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# postconf(5): "Time units: s (seconds), m (minutes), h (hours), d (days), w
# (weeks)". A bare number takes the parameter's own default unit.
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TIME_RE = re.compile(r"^([0-9]+)([smhdw]?)$")

# Finding severities, the worst first.
SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = dict((name, rank) for rank, name in enumerate(SEVERITIES))

# Postfix commands run under the C locale, so their output reads the same on
# every host whatever its language.
C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

# $config_directory, ${config_directory} and $(config_directory) in a value.
_CONFIG_DIRECTORY_RE = re.compile(r"\$(?:config_directory\b|\{config_directory\}|\(config_directory\))")


def expand_config_directory(text, config_directory):
    """``text`` with every form of $config_directory replaced, as Postfix expands it."""
    return _CONFIG_DIRECTORY_RE.sub(lambda _match: config_directory, text)


# access(5): "4NN text" defers and "5NN text" rejects. A 4xx reply with a
# 4.x.y enhanced status code when one is given, then free text; no braces,
# which would end the attribute they stand in.
_DEFER_REPLY_RE = re.compile(r"^4[0-9][0-9](?:\s+4\.[0-9]{1,3}\.[0-9]{1,3})?(?:\s+(?![0-9]\.[0-9])[^{}]*)?$")
# A reply code and its enhanced status code alone ("450 4.7.1"), to which a
# text is added.
_DEFER_CODE_RE = re.compile(r"^4[0-9][0-9] 4\.[0-9]{1,3}\.[0-9]{1,3}$")
_REJECT_RE = re.compile(r"^(?:5[0-9][0-9]\b|REJECT\b)", re.IGNORECASE)


def seconds(text, default_unit="s"):
    """The seconds of a Postfix time such as ``10s``, ``5m`` or ``30``; None when it is not one.

    A number without a unit counts in ``default_unit`` (the parameter's own,
    ``s`` for most).
    """
    match = TIME_RE.match(str(text if text is not None else "").strip())
    if not match:
        return None
    return int(match.group(1)) * TIME_UNITS[match.group(2) or default_unit]


def time_unit(text):
    """The unit letter of a Postfix time, '' when it has none or is not a time."""
    match = TIME_RE.match(str(text if text is not None else "").strip())
    return match.group(2) if match else ""


def is_yes(value):
    """Whether a Postfix boolean (a bool, or the yes/no text postconf prints) is on."""
    if isinstance(value, bool):
        return value
    return str(value if value is not None else "").strip().lower() in ("yes", "true", "1", "on")


def is_reject_reply(text):
    """Whether an action text refuses for good: a 5xx code or REJECT."""
    return bool(_REJECT_RE.match(" ".join(str(text).split())))


def is_defer_reply(text):
    """Whether an action text is a 4xx reply ('451 4.3.5 text', '451 text' or '451')."""
    return bool(_DEFER_REPLY_RE.match(" ".join(str(text).split())))


def is_defer_code(text):
    """Whether ``text`` is a 4xx code with its 4.x.y status code and nothing else ('450 4.7.1')."""
    return bool(_DEFER_CODE_RE.match(" ".join(str(text).split())))


def severity_rank(severity):
    """Rank of a severity, 0 is critical; unknown severities sort last."""
    return SEVERITY_RANK.get(severity, len(SEVERITIES))
