# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and plan changes to main.cf parameters and master.cf services.

Everything here works on the text Postfix prints (``postconf -d``, ``-n``,
``-M``, ``-P``) and on the caller's request; nothing runs a command. The
postconf module reads the configuration, asks :func:`build_request` to check
the request, asks :func:`plan_changes` what to run, applies that to a staged
copy and uses :func:`compare` on what Postfix prints before and after.

Values are compared the way Postfix prints them: ``postconf`` shows every
value with runs of whitespace collapsed to one space, so two values that
differ only in whitespace are the same setting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re
from collections import OrderedDict

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_config as pcfg
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm

STATE_PRESENT = "present"
STATE_ABSENT = "absent"

TYPE_BOOLEAN = "boolean"
TYPE_INTEGER = "integer"
TYPE_TIME = "time"
TYPE_TEXT = "text"

# postconf(5) says "stop and start Postfix" after changing inet_interfaces and
# inet_protocols: master(8) binds its listeners once. It also resolves
# queue_directory, data_directory (master.lock) and process_id_directory
# (master.pid) only when it starts, so a reload cannot apply those either.
RESTART_PARAMETERS = frozenset((
    "inet_interfaces", "inet_protocols", "queue_directory", "data_directory",
    "process_id_directory",
))

# --- How a value is checked -------------------------------------------------
#
# postconf(1) writes any text into main.cf; the daemon that reads the value
# later stops with "bad boolean configuration" or "bad numerical
# configuration" (often only on the next reload or connection). So the type
# of every parameter is inferred from its built-in default (`postconf -d` of
# the installed version, so it follows the version on the host):
#   yes / no                   -> boolean (Postfix compares case-insensitively)
#   123                        -> integer (sizes are integers in bytes: no units)
#   123s, 5d ...               -> time: an integer with an optional unit
#                                 s, m, h, d or w (no unit: the default's unit)
#   ${stress?{10}:{300}}s      -> each literal form of a conditional default is
#                                 typed; the type counts when all forms agree
#   $other_parameter           -> the type of that parameter
#   anything else              -> text, not checked
# The tables below correct the inference where a default looks like a number
# or a boolean but the parameter takes other words, and add the bounds that
# Postfix enforces (or that SMTP needs) for well-known parameters. A value
# that holds "$" is expanded by Postfix at run time, so it is not type-checked.

# Parameters whose default looks typed but which take other text.
TEXT_PARAMETERS = frozenset((
    "compatibility_level",  # a release number, checked on its own below
    "lmtp_tcp_port",  # a port number or a services(5) name
    "mail_release_date",
    "process_id",
))
TEXT_SUFFIXES = (
    # A fraction, or "1/concurrency".
    "_concurrency_negative_feedback",
    "_concurrency_positive_feedback",
)

# Parameters with a fixed set of words (compared case-insensitively).
CHOICES = {
    # 3.7.9+ backports take more than yes/no although 3.7 defaults to "no".
    "smtpd_forbid_bare_newline": ("normalize", "yes", "reject", "no"),
    "smtpd_tls_security_level": ("", "none", "may", "encrypt"),
    "mynetworks_style": ("host", "subnet", "class"),
    "maillog_file_permissions": ("0600", "0644"),
}
# Parameters that are a list drawn from a fixed set of words.
LIST_CHOICES = {
    "inet_protocols": ("all", "ipv4", "ipv6"),
}

# Sizes whose name does not say so; sizes are plain byte counts in Postfix.
SIZE_PARAMETERS = frozenset(("queue_minfree", "virtual_mailbox_limit"))

# Integer parameters that may be negative (a DNSBL score).
NEGATIVE_INTEGERS = frozenset((
    "postscreen_dnsbl_allowlist_threshold",
    "postscreen_dnsbl_whitelist_threshold",
    "postscreen_dnsbl_threshold",
))

# (minimum, maximum) for integers, in seconds for times; None: unbounded.
# The minimums are the ones Postfix's daemons enforce when they start.
BOUNDS = {
    "address_verify_poll_count": (1, None),
    "default_process_limit": (1, None),
    "delay_logging_resolution_limit": (0, 6),
    "postscreen_command_count_limit": (1, None),
    "postscreen_post_queue_limit": (5, None),
    "postscreen_pre_queue_limit": (10, None),
    "smtpd_hard_error_limit": (1, None),
    "smtpd_history_flush_threshold": (1, None),
    "smtpd_junk_command_limit": (1, None),
    "smtpd_policy_service_try_limit": (1, None),
    "smtpd_recipient_limit": (1, None),
    "smtpd_recipient_overshoot_limit": (1, None),
    "smtpd_soft_error_limit": (1, None),
    # times
    "address_verify_poll_delay": (1, None),
    "anvil_rate_time_unit": (1, None),
    "postscreen_greet_wait": (1, None),
    "postscreen_watchdog_timeout": (10, None),
    "service_throttle_time": (1, None),
    "smtpd_policy_service_max_idle": (1, None),
    "smtpd_policy_service_timeout": (1, None),
    "smtpd_policy_service_ttl": (1, None),
    "smtpd_proxy_timeout": (1, None),
    "smtpd_timeout": (1, None),
}

# SMTP reply codes: a deferral is 4XX, a rejection 4XX or 5XX. postconf(5)
# allows 250 ("accept anyway") for these four only.
REPLY_CODE_250_ALLOWED = frozenset((
    "unverified_recipient_defer_code", "unverified_recipient_reject_code",
    "unverified_sender_defer_code", "unverified_sender_reject_code",
))

# Parameter names: Postfix's own, and the per-service ones a master.cf service
# name starts (policyd-spf_time_limit), which may hold a hyphen.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_INTEGER_RE = re.compile(r"^-?[0-9]+$")
_RELEASE_RE = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
_REFERENCE_RE = re.compile(r"^\$(?:\{(\w+)\}|\((\w+)\)|(\w+))$")
_TABLE_RE = re.compile(r"^[a-z][a-z0-9_]*:")

# --- master.cf ----------------------------------------------------------------

SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
FLAG_FIELDS = ("private", "unpriv", "chroot")
SERVICE_FIELDS = ("private", "unpriv", "chroot", "wakeup", "maxproc")
_WAKEUP_RE = re.compile(r"^(-|[0-9]+\??)$")
_MAXPROC_RE = re.compile(r"^(-|[0-9]+)$")


class RequestError(Exception):
    """The request cannot be applied; ``problems`` says why, one line each."""

    def __init__(self, problems):
        super(RequestError, self).__init__("; ".join(problems))
        self.problems = list(problems)


def normalise(text):
    """A value as Postfix prints it: whitespace runs collapsed, ends trimmed."""
    return " ".join((text or "").split())


# Characters a value may not hold. main.cf is read line by line and master.cf
# word by word: a newline would end the value and make the rest a setting of
# its own (or a continuation line), and collapsing it into a space would
# change what the caller wrote into something else. A tab is whitespace to
# Postfix, as a space is.
_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return"}


def control_character_problem(text):
    """Why ``text`` cannot be a main.cf or master.cf value, or None when it is one line of text."""
    for position, char in enumerate(text):
        if char == "\t":
            continue
        if ord(char) < 0x20 or 0x7f <= ord(char) <= 0x9f:
            what = _CONTROL_NAMES.get(char, "a control character")
            return ("the value holds %s (%r at character %d); a value is one line of text, and it is "
                    "refused rather than folded into something else: give a list, or join the words with "
                    "spaces or commas" % (what, char, position + 1))
    return None


# --- Reading what Postfix printed ---------------------------------------------

# `postconf -c DIR -n` prints "config_directory = DIR" although main.cf does
# not set it, so a staged copy would always look different. The directory is
# chosen with -c (or MAIL_CONFIG), never in main.cf, so it is not managed.
UNMANAGED_PARAMETERS = frozenset(("config_directory",))


def parse_parameters(text):
    """``name = value`` lines (``postconf -d``/``-n``) with normalised values."""
    return OrderedDict((name, normalise(value)) for name, value in pcfg.parse_parameters(text).items())


def main_cf_settings(text):
    """``name = value`` settings of main.cf text, the last one of a name winning."""
    settings, current = OrderedDict(), None
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            if current is not None:
                settings[current] = normalise(settings[current] + " " + line)
            continue
        name, sep, value = line.partition("=")
        current = name.strip() if sep else None
        if current:
            settings[current] = normalise(value)
    return settings


def parse_main(text, main_cf_text=None):
    """The explicit main.cf settings: ``postconf -n`` output.

    postconf -n leaves out a parameter that nothing uses (it only warns
    "unused parameter"), so a leftover could never be seen or removed. When
    the text of main.cf is given, such settings are added from it.
    """
    settings = OrderedDict((n, v) for n, v in parse_parameters(text).items() if n not in UNMANAGED_PARAMETERS)
    for name, value in main_cf_settings(main_cf_text).items():
        if name not in settings and name not in UNMANAGED_PARAMETERS and _NAME_RE.match(name):
            settings[name] = value
    return settings


def split_master_words(text):
    """Split a master.cf entry into words; ``{ ... }`` keeps its whitespace."""
    words, current, depth = [], [], 0
    for char in text:
        if depth == 0 and char in " \t\r\n":
            if current:
                words.append("".join(current))
                current = []
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        current.append(char)
    if current:
        words.append("".join(current))
    return words


def _override_name(word):
    if word.startswith("{") and word.endswith("}"):
        word = word[1:-1]
    return word.split("=", 1)[0].strip()


def parse_services(master_text, service_parameters_text):
    """``postconf -M`` and ``postconf -P`` output as ordered service records.

    Each record: name, type, key, the five fields, ``command`` (the program
    and its arguments, without ``-o`` options, as a list of words) and
    ``overrides`` (ordered as in master.cf, values as ``postconf -P`` prints
    them).
    """
    overrides = pcfg.parse_service_parameters(service_parameters_text)
    services = OrderedDict()
    for line in (master_text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = split_master_words(line)
        if len(words) < 8:
            continue
        record = OrderedDict((("name", words[0]), ("type", words[1])))
        record["key"] = "%s/%s" % (words[0], words[1])
        for field, word in zip(SERVICE_FIELDS, words[2:7]):
            record[field] = word
        command, order = [], []
        rest = words[7:]
        index = 0
        while index < len(rest):
            word = rest[index]
            if index > 0 and word == "-o" and index + 1 < len(rest):
                order.append(_override_name(rest[index + 1]))
                index += 2
                continue
            if index > 0 and word.startswith("-o") and len(word) > 2:
                order.append(_override_name(word[2:]))
                index += 1
                continue
            command.append(word)
            index += 1
        values = overrides.get(record["key"], {})
        record["command"] = command
        ordered = OrderedDict()
        for name in order + sorted(values):
            if name in values and name not in ordered:
                ordered[name] = normalise(values[name])
        record["overrides"] = ordered
        services[record["key"]] = record
    return services


# --- Types ------------------------------------------------------------------

def _matching_brace(text, start):
    """Index of the ``}`` that closes the ``{`` at ``start``, or -1."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _braced(text):
    """``{a}`` -> ``a``; other text unchanged."""
    text = text.strip()
    if text.startswith("{") and _matching_brace(text, 0) == len(text) - 1:
        return text[1:-1]
    return text


def _conditional_choices(inner):
    """The texts a ``${...}`` expression can yield; None for a plain reference."""
    if inner.startswith("{"):
        # ${{$a} op {$b} ? {x} : {y}}
        question = inner.rfind("?", 0, _last_top_level_colon(inner))
        colon = _last_top_level_colon(inner)
        if question < 0 or colon < 0:
            return None
        return [_braced(inner[question + 1:colon]), _braced(inner[colon + 1:])]
    match = re.match(r"^(\w+)([?:])(.*)$", inner, re.S)
    if not match:
        return None
    operator, rest = match.group(2), match.group(3)
    if operator == "?" and rest.startswith("{"):
        end = _matching_brace(rest, 0)
        if end > 0 and rest[end + 1:].startswith(":"):
            return [rest[1:end], _braced(rest[end + 2:])]
    return [_braced(rest), ""]


def _last_top_level_colon(text):
    depth, found = 0, -1
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ":" and depth == 0:
            found = index
    return found


def literal_forms(text, _depth=0):
    """Every literal text a default can expand to; None for forms that still
    refer to another parameter."""
    if _depth > 8:
        return [None]
    start = text.find("${")
    if start < 0:
        return [None] if "$" in text else [text]
    end = _matching_brace(text, start + 1)
    if end < 0:
        return [None]
    choices = _conditional_choices(text[start + 2:end])
    if choices is None:
        return [None]
    forms = []
    for choice in choices:
        forms.extend(literal_forms(text[:start] + choice + text[end + 1:], _depth + 1))
    return forms


def _classify(text):
    if text.lower() in ("yes", "no"):
        return TYPE_BOOLEAN
    if _INTEGER_RE.match(text):
        return TYPE_INTEGER
    if pv.TIME_RE.match(text):
        return TYPE_TIME
    return TYPE_TEXT


def infer_type(name, defaults, _depth=0):
    """The type of a parameter (see the comment above), from ``postconf -d``."""
    if name in TEXT_PARAMETERS or name.endswith(TEXT_SUFFIXES) or name in CHOICES or name in LIST_CHOICES:
        return TYPE_TEXT
    default = defaults.get(name)
    if default is None or _depth > 5:
        return TYPE_TEXT
    reference = _REFERENCE_RE.match(default)
    if reference:
        return infer_type(next(g for g in reference.groups() if g), defaults, _depth + 1)
    kinds = set(_classify(form) for form in literal_forms(default) if form)
    if len(kinds) == 1:
        return kinds.pop()
    return TYPE_TEXT


def _default_time_unit(name, defaults, _depth=0):
    default = defaults.get(name, "")
    reference = _REFERENCE_RE.match(default)
    if reference and _depth < 5:
        return _default_time_unit(next(g for g in reference.groups() if g), defaults, _depth + 1)
    for form in literal_forms(default):
        unit = pv.time_unit(form)
        if unit:
            return unit
    return "s"


def _reply_code_problem(name, number):
    defer = name.endswith("_defer_code") or name == "defer_code"
    reject = name.endswith("_reject_code") or name == "reject_code"
    if not (defer or reject):
        return None
    if number == 250 and name in REPLY_CODE_250_ALLOWED:
        return None
    low, high = (400, 499) if defer else (400, 599)
    if low <= number <= high:
        return None
    allowed = "%d-%d" % (low, high)
    if name in REPLY_CODE_250_ALLOWED:
        allowed = "250 or " + allowed
    return "expected an SMTP reply code %s, got %d" % (allowed, number)


def _bounds_problem(name, number, shown, unit=""):
    low, high = BOUNDS.get(name, (None, None))
    if low is not None and number < low:
        return "must be at least %s%s, got %s" % (low, unit, shown)
    if high is not None and number > high:
        return "must be at most %s%s, got %s" % (high, unit, shown)
    return None


def value_problem(name, value, defaults):
    """Why ``value`` does not fit parameter ``name``, or None when it does."""
    if "$" in value:
        return None
    if name == "compatibility_level":
        if not _RELEASE_RE.match(value):
            return "expected a Postfix release level such as 3.6 (quote it in YAML), got %r" % value
        return None
    if name in CHOICES:
        if value.lower() not in CHOICES[name]:
            return "expected one of %s, got %r" % (", ".join(c or "''" for c in CHOICES[name]), value)
        return None
    if name in LIST_CHOICES:
        words = [w.lower() for w in re.split(r"[\s,]+", value) if w]
        wrong = [w for w in words if w not in LIST_CHOICES[name]]
        if wrong or not words:
            return "expected a list of %s, got %r" % (", ".join(LIST_CHOICES[name]), value)
        return None
    kind = infer_type(name, defaults)
    if kind == TYPE_BOOLEAN:
        if value.lower() not in ("yes", "no"):
            return "expected yes or no, got %r" % value
    elif kind == TYPE_INTEGER:
        if not _INTEGER_RE.match(value):
            return "expected an integer%s, got %r" % (
                " (a size in bytes, without units)" if "size" in name or name in SIZE_PARAMETERS else "", value)
        number = int(value)
        if number < 0 and name not in NEGATIVE_INTEGERS:
            return "expected an integer of 0 or more, got %r" % value
        return _reply_code_problem(name, number) or _bounds_problem(name, number, value)
    elif kind == TYPE_TIME:
        if not pv.TIME_RE.match(value):
            return "expected a time: an integer with an optional unit s, m, h, d or w (such as 30s or 1h), got %r" % value
        return _bounds_problem(name, pv.seconds(value, _default_time_unit(name, defaults)), value, "s")
    return None


# --- Names ------------------------------------------------------------------

# The "transport_..." entries of postconf(5): parameters that exist once per
# master.cf delivery service, named after it (maildrop_destination_recipient_limit).
TRANSPORT_SUFFIXES = frozenset((
    "_delivery_slot_cost", "_delivery_slot_discount", "_delivery_slot_loan",
    "_destination_concurrency_failed_cohort_limit", "_destination_concurrency_limit",
    "_destination_concurrency_negative_feedback", "_destination_concurrency_positive_feedback",
    "_destination_rate_delay", "_destination_recipient_limit", "_extra_recipient_limit",
    "_initial_destination_concurrency", "_minimum_delivery_slots", "_recipient_limit",
    "_recipient_refill_delay", "_recipient_refill_limit", "_time_limit", "_transport_rate_delay",
))


def transport_suffixes(defaults, service_names):
    """Suffixes of per-transport parameters (``relay_destination_concurrency_limit``).

    ``postconf -d`` lists them only for the services master.cf has now, as
    ``<service>_<suffix> = $default_<suffix>`` (or ``$<suffix>``); a service
    being added gets the same family. Newer versions may add suffixes, so the
    ones the installed version shows are added to the postconf(5) list.
    """
    suffixes = set(TRANSPORT_SUFFIXES)
    for name, value in defaults.items():
        reference = _REFERENCE_RE.match(value)
        if not reference:
            continue
        target = next(g for g in reference.groups() if g)
        for prefix in ("default_", ""):
            if not target.startswith(prefix):
                continue
            suffix = "_" + target[len(prefix):]
            if name.endswith(suffix) and name[:-len(suffix)] in service_names:
                suffixes.add(suffix)
    return suffixes


def restriction_classes(*values):
    """Class names declared in one or more ``smtpd_restriction_classes`` values."""
    names = []
    for value in values:
        for token in rm.tokenize(value or ""):
            if token and token not in names:
                names.append(token)
    return names


class Context(object):
    """What the request is checked against: the installed Postfix and its configuration.

    ``table_types`` is what ``postconf -m`` lists (None: not checked);
    ``path_exists`` tells whether a file exists on the host (None: the tables
    a list names are not looked for, as in check mode, where an earlier task
    that would write one did not run).
    """

    def __init__(self, defaults, parameters, services, custom_parameters=(), program_exists=None,
                 table_types=None, path_exists=None, config_directory="/etc/postfix"):
        self.defaults = defaults
        self.parameters = parameters
        self.services = services
        self.custom = set(custom_parameters or ())
        self.program_exists = program_exists
        self.table_types = set(table_types) if table_types is not None else None
        self.path_exists = path_exists
        self.config_directory = config_directory
        self.version = defaults.get("mail_version", "")
        self.classes = []
        self.service_names = set(record["name"] for record in services.values())
        self._suffixes = None

    @property
    def suffixes(self):
        if self._suffixes is None:
            current = set(record["name"] for record in self.services.values())
            self._suffixes = transport_suffixes(self.defaults, current)
        return self._suffixes

    def known(self, name):
        if name in self.defaults or name in self.custom or name in self.classes:
            return True
        for suffix in self.suffixes:
            if name.endswith(suffix) and name[:-len(suffix)] in self.service_names:
                return True
        return False

    def unknown_message(self, name):
        close = difflib.get_close_matches(name, list(self.defaults), n=1, cutoff=0.8)
        hint = " (did you mean %s?)" % close[0] if close else ""
        return ("unknown parameter: Postfix %s has no parameter %s%s; list a user-defined "
                "parameter in custom_parameters" % (self.version or "(this version)", name, hint))


# --- The request ------------------------------------------------------------

def format_value(value):
    """A value from the task as Postfix text; returns ``(text, problem, note)``."""
    note = None
    if isinstance(value, bool):
        return ("yes" if value else "no"), None, None
    if isinstance(value, float):
        note = ("the value %r was read as a number; quote values such as \"3.10\" in YAML, "
                "or they lose digits" % value)
        return repr(value), None, note
    if isinstance(value, int):
        return str(value), None, None
    if isinstance(value, (list, tuple)):
        parts = []
        for item in value:
            if isinstance(item, (list, tuple, dict)) or item is None:
                return None, "a list may hold only strings, numbers and booleans", None
            text, problem, item_note = format_value(item)
            if problem:
                return None, problem, None
            note = note or item_note
            text = normalise(text)
            if text:
                parts.append(text)
        return ", ".join(parts), None, note
    if isinstance(value, dict):
        return None, "expected a string, number, boolean or list, got a mapping", None
    if value is None:
        return None, "a value is required (use '' for an empty value, or state=absent)", None
    text = "%s" % value
    problem = control_character_problem(text)
    if problem:
        return None, problem, None
    return normalise(text), None, None


def _parameter_items(parameters, default_state):
    """``parameters`` as ``(where, name, value, state)``; the later of two entries wins."""
    problems, items = [], []
    if parameters is None:
        return items, problems
    if isinstance(parameters, dict):
        for name, value in parameters.items():
            items.append(("parameters.%s" % name, name, value, default_state))
        return items, problems
    if not isinstance(parameters, (list, tuple)):
        return items, ["parameters: expected a mapping of name to value, or a list of {name, value, state}"]
    for index, item in enumerate(parameters):
        where = "parameters[%d]" % index
        if not isinstance(item, dict):
            problems.append("%s: expected a mapping with name, value and state" % where)
            continue
        extra = sorted(set(item) - set(("name", "value", "state")))
        if extra:
            problems.append("%s: unknown key(s) %s; expected name, value and state" % (where, ", ".join(extra)))
            continue
        name = item.get("name")
        state = item.get("state") or default_state
        if state not in (STATE_PRESENT, STATE_ABSENT):
            problems.append("%s: state must be present or absent, got %r" % (where, state))
            continue
        if state == STATE_PRESENT and "value" not in item:
            problems.append("%s (%s): value is required when state is present" % (where, name))
            continue
        items.append(("parameters.%s" % name, name, item.get("value"), state))
    return items, problems


def _check_restriction_list(where, name, value, classes):
    """Problems with a restriction list: unknown restriction names, missing arguments."""
    try:
        entries = rm.parse_entries(value, classes)
    except ValueError as exc:
        return ["%s: not a valid restriction list: %s" % (where, exc)]
    problems = []
    for entry in entries:
        token = entry["name"]
        if entry["known"] or token.startswith("$") or _TABLE_RE.match(token):
            continue
        close = difflib.get_close_matches(token.lower(), list(rm.RESTRICTIONS) + list(classes), n=1, cutoff=0.75)
        hint = " (did you mean %s?)" % close[0] if close else ""
        problems.append("%s: unknown restriction %r in %s%s; a restriction class must be listed in "
                        "smtpd_restriction_classes" % (where, token, name, hint))
    return problems


# Tables a restriction list names. smtpd opens them when a client's mail
# reaches the check; an unknown type, a missing file or a table that was never
# compiled makes it answer 451 4.3.5 (server configuration error) to every such
# client, and postfix check does not look at them. The compiled file of each
# postmap type, and the types whose file is read as it is:
COMPILED_SUFFIXES = {"hash": ".db", "btree": ".db", "cdb": ".cdb", "lmdb": ".lmdb", "dbm": ".dir", "sdbm": ".dir"}
SOURCE_FILE_TYPES = frozenset(("texthash", "cidr", "pcre", "regexp"))
_ACCESS_CHECK_RE = re.compile(r"^check_[a-z_]+_access$")
_TABLE_NAME_RE = re.compile(r"^([a-z][a-z0-9_]*):(.+)$")


def _table_problems(where, check, table, context, _depth=0):
    match = _TABLE_NAME_RE.match(table)
    if not match:
        return []
    table_type, name = match.groups()
    if context.table_types is not None and table_type not in context.table_types:
        close = difflib.get_close_matches(table_type, sorted(context.table_types), n=1, cutoff=0.6)
        return ["%s: table type %s in %s is not one this Postfix supports%s (postconf -m: %s); smtpd would "
                "answer 451 to every client whose mail reaches %s" % (
                    where, table_type, table, " (did you mean %s?)" % close[0] if close else "",
                    ", ".join(sorted(context.table_types)), check)]
    if table_type == "proxy" and _depth == 0:
        return _table_problems(where, check, name, context, 1)
    path = pv.expand_config_directory(name, context.config_directory)
    if context.path_exists is None or "$" in path or not path.startswith("/"):
        return []
    if table_type in COMPILED_SUFFIXES:
        compiled = path + COMPILED_SUFFIXES[table_type]
        if context.path_exists(compiled):
            return []
        if context.path_exists(path):
            hint = "the table was never compiled: run postmap %s:%s first" % (table_type, path)
        else:
            hint = "and neither does %s: write the table, then compile it with postmap" % path
        return ["%s: %s: %s does not exist, %s; smtpd would answer 451 to every client whose mail reaches %s"
                % (where, table, compiled, hint, check)]
    if table_type in SOURCE_FILE_TYPES and not context.path_exists(path):
        return ["%s: %s: %s does not exist: write the table first; smtpd would answer 451 to every client "
                "whose mail reaches %s" % (where, table, path, check)]
    return []


def _check_tables(where, value, context):
    """Problems with the tables of the access checks a restriction list names."""
    try:
        entries = rm.parse_entries(value, context.classes)
    except ValueError:
        return []
    problems = []
    for entry in entries:
        if _ACCESS_CHECK_RE.match(entry["name"].lower()) and entry["args"]:
            problems.extend(_table_problems(where, entry["name"], entry["args"][0], context))
    return problems


RELAY_LISTS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")


def unguarded(defaults, parameters, services, classes=()):
    """Where the relay and recipient lists hold no relay guard that smtpd counts.

    Returns ``main.cf`` and the keys of the smtpd services whose own overrides
    leave both lists without one (rm.has_working_guard): smtpd stops at start
    ("specify at least one working instance of: reject_unauth_destination,
    ...") and the service takes no mail. A list that names a parameter
    ($name) is expanded at run time and not judged.
    """
    def main_value(name):
        return parameters.get(name, defaults.get(name, ""))

    found = []

    def judge(label, values):
        if any("$" in value for value in values):
            return
        try:
            relay, recipient = [rm.parse_entries(value, classes) for value in values]
        except ValueError:
            return
        if not (rm.has_working_guard(relay) or rm.has_working_guard(recipient)):
            found.append(label)

    judge("main.cf", [main_value(name) for name in RELAY_LISTS])
    for key, record in services.items():
        overrides = record.get("overrides") or {}
        if not record.get("command") or record["command"][0] != "smtpd" \
                or not any(name in overrides for name in RELAY_LISTS):
            continue
        judge(key, [overrides.get(name, main_value(name)) for name in RELAY_LISTS])
    return found


def guard_problems(context, plan):
    """Problems of the planned configuration as a whole: lists that lose their relay guard."""
    before = unguarded(context.defaults, context.parameters, context.services, context.classes)
    after = unguarded(context.defaults, plan.parameters, plan.services, context.classes)
    return ["%s: after this change neither smtpd_relay_restrictions nor smtpd_recipient_restrictions holds a "
            "relay guard smtpd counts (no relay guard: reject_unauth_destination or defer_unauth_destination, "
            "before any bare permit); smtpd would refuse to start and take no mail. Keep "
            "reject_unauth_destination in one of them" % label
            for label in after if label not in before]


def _referenced_names(value):
    names = []
    try:
        tokens = rm.tokenize(value)
    except ValueError:
        return names
    for token in tokens:
        match = _REFERENCE_RE.match(token)
        if match:
            names.append(next(g for g in match.groups() if g))
    return names


def _restriction_list_names(context, parameter_values):
    """Parameters whose value is a restriction list: the smtpd_*_restrictions,
    the classes, and helper lists they name as ``$name``."""
    names = set(rm.STAGE_PARAMETERS.values()) | set(context.classes)
    pending = list(names)
    while pending:
        name = pending.pop()
        for value in parameter_values(name):
            for ref in _referenced_names(value):
                if ref not in names and ref not in context.defaults:
                    names.add(ref)
                    pending.append(ref)
    return names


def _flag(value):
    if isinstance(value, bool):
        return "y" if value else "n"
    text = ("%s" % value).strip().lower()
    return {"yes": "y", "no": "n", "true": "y", "false": "n"}.get(text, text)


def _service_items(services):
    return [s for s in (services or []) if s is not None]


class Request(object):
    """A checked request: parameters and services in the form the planner uses."""

    def __init__(self):
        self.parameters = OrderedDict()  # name -> value text, or None to remove
        self.services = OrderedDict()  # key -> dict (see _check_service)
        self.notes = []


def _formatted(where, value, problems, notes):
    """The value as main.cf text, or None after recording why it cannot be written."""
    text, problem, note = format_value(value)
    if problem:
        problems.append("%s: %s" % (where, problem))
        return None
    if note:
        notes.append("%s: %s" % (where, note))
    return text


def build_request(context, parameters=None, services=None, default_state=STATE_PRESENT):
    """Check the caller's parameters and services; returns a :class:`Request`.

    Raises :class:`RequestError` listing every problem found, so that the
    caller can refuse the whole request before anything changes.
    """
    request = Request()
    items, problems = _parameter_items(parameters, default_state)
    values = OrderedDict()
    for where, name, value, state in items:
        if not isinstance(name, str) or not _NAME_RE.match(name or ""):
            problems.append("%s: %r is not a parameter name (letters, digits, _ and -)" % (where, name))
            continue
        if name in UNMANAGED_PARAMETERS:
            problems.append("%s: %s is chosen with config_directory (postconf -c), not set in main.cf"
                            % (where, name))
            continue
        if state == STATE_ABSENT:
            values[name] = (where, None)
            continue
        text = _formatted(where, value, problems, request.notes)
        if text is None:
            continue
        values[name] = (where, text)

    # Classes declared now or by this request are parameters in their own right.
    class_values = [context.parameters.get("smtpd_restriction_classes", "")]
    if values.get("smtpd_restriction_classes", (None, None))[1]:
        class_values.append(values["smtpd_restriction_classes"][1])
    try:
        context.classes = restriction_classes(*class_values)
    except ValueError as exc:
        problems.append("parameters.smtpd_restriction_classes: %s" % exc)

    service_list = _service_items(services)
    for item in service_list:
        if isinstance(item, dict) and item.get("service") and (item.get("state") or STATE_PRESENT) == STATE_PRESENT:
            context.service_names.add(item["service"])

    for name, (where, text) in values.items():
        if text is not None and not context.known(name):
            problems.append("%s: %s" % (where, context.unknown_message(name)))
            continue
        if text is not None:
            problem = value_problem(name, text, context.defaults)
            if problem:
                problems.append("%s: %s" % (where, problem))
                continue
        request.parameters[name] = text

    def main_values(name):
        found = []
        if name in request.parameters and request.parameters[name] is not None:
            found.append(request.parameters[name])
        if name in context.parameters:
            found.append(context.parameters[name])
        return found

    restriction_lists = _restriction_list_names(context, main_values)
    for name, text in request.parameters.items():
        if text is not None and name in restriction_lists:
            problems.extend(_check_restriction_list(values[name][0], name, text, context.classes))
            # A value that is live already is not refused for its tables.
            if text != context.parameters.get(name):
                problems.extend(_check_tables(values[name][0], text, context))

    seen = set()
    for index, item in enumerate(service_list):
        problems.extend(_check_service(context, request, index, item, seen, restriction_lists))

    if problems:
        raise RequestError(problems)
    return request


def _check_service(context, request, index, item, seen, restriction_lists):
    where = "services[%d]" % index
    if not isinstance(item, dict):
        return ["%s: expected a mapping" % where]
    name, svc_type = item.get("service"), item.get("type")
    problems = []
    if not name or not isinstance(name, str) or re.search(r"[\s/#]", name) or name.startswith("-"):
        problems.append("%s: service must be a master.cf service name without spaces, '/' or '#', got %r"
                        % (where, name))
    if svc_type not in SERVICE_TYPES:
        problems.append("%s: type must be one of %s, got %r" % (where, ", ".join(SERVICE_TYPES), svc_type))
    if problems:
        return problems
    key = "%s/%s" % (name, svc_type)
    where = "services[%s]" % key
    if key in seen:
        return ["%s: listed twice" % where]
    seen.add(key)
    state = item.get("state") or STATE_PRESENT
    if state == STATE_ABSENT:
        request.services[key] = {"key": key, "state": STATE_ABSENT}
        return problems
    current = context.services.get(key)
    wanted = {"key": key, "name": name, "type": svc_type, "state": STATE_PRESENT, "fields": {},
              "command": None, "overrides": OrderedDict(),
              "exclusive_overrides": bool(item.get("exclusive_overrides"))}
    for field in FLAG_FIELDS:
        if item.get(field) is None:
            continue
        flag = _flag(item[field])
        if flag not in ("y", "n", "-"):
            problems.append("%s: %s must be y, n or - (the default), got %r" % (where, field, item[field]))
        wanted["fields"][field] = flag
    for field, pattern, expected in (("wakeup", _WAKEUP_RE, "-, or seconds with an optional '?' such as 60 or 1000?"),
                                     ("maxproc", _MAXPROC_RE, "-, or a number of processes (0: no limit)")):
        if item.get(field) is None:
            continue
        text = ("%s" % item[field]).strip()
        if isinstance(item[field], bool) or not pattern.match(text):
            problems.append("%s: %s must be %s, got %r" % (where, field, expected, item[field]))
        wanted["fields"][field] = text
    if current is None and svc_type == "inet":
        # An inet service is public; "-" would mean the default y, which
        # master(8) refuses ("inet service cannot be private") and stops.
        wanted["fields"].setdefault("private", "n")
    private = wanted["fields"].get("private", (current or {}).get("private"))
    if svc_type == "inet" and private in ("y", "-") and "private" in wanted["fields"]:
        problems.append("%s: an inet service cannot be private; set private to n (master(8) stops on "
                        "reload with 'inet service cannot be private')" % where)
    command = item.get("command")
    if command is not None and control_character_problem("%s" % command):
        problems.append("%s: command: %s" % (where, control_character_problem("%s" % command)))
        command = None
    if command is not None:
        words = split_master_words(normalise("%s" % command))
        if not words:
            problems.append("%s: command must name the program to run" % where)
        elif any(w == "-o" or w.startswith("-o") for w in words[1:]):
            problems.append("%s: command must not carry -o options; give them in overrides" % where)
        elif (current is None or words != current["command"]) and context.program_exists is not None \
                and not context.program_exists(words[0]):
            problems.append("%s: command %r is not a program in daemon_directory; master(8) could not "
                            "start the service" % (where, words[0]))
        wanted["command"] = words
    elif current is None:
        problems.append("%s: not in master.cf yet; give command (and the fields to use) to add it" % where)
    overrides = item.get("overrides") or {}
    if not isinstance(overrides, dict):
        problems.append("%s: overrides must be a mapping of parameter name to value" % where)
        overrides = {}
    for param, value in overrides.items():
        pwhere = "%s.overrides.%s" % (where, param)
        if not isinstance(param, str) or not _NAME_RE.match(param):
            problems.append("%s: %r is not a parameter name" % (pwhere, param))
            continue
        if value is None:
            wanted["overrides"][param] = None
            continue
        if not context.known(param):
            problems.append("%s: %s" % (pwhere, context.unknown_message(param)))
            continue
        text = _formatted(pwhere, value, problems, request.notes)
        if text is None:
            continue
        problem = value_problem(param, text, context.defaults)
        if problem:
            problems.append("%s: %s" % (pwhere, problem))
            continue
        if re.search(r"\s", text) and _matching_brace("{%s}" % text, 0) != len(text) + 1:
            problems.append("%s: a value with spaces is written as -o { %s = ... } and needs balanced braces"
                            % (pwhere, param))
            continue
        if param in restriction_lists:
            problems.extend(_check_restriction_list(pwhere, param, text, context.classes))
            if text != ((current or {}).get("overrides") or {}).get(param):
                problems.extend(_check_tables(pwhere, text, context))
        wanted["overrides"][param] = text
    if not problems:
        request.services[key] = wanted
    return problems


# --- Planning -----------------------------------------------------------------

class Plan(object):
    """The postconf edits that turn the current configuration into the wanted one."""

    def __init__(self):
        self.set_parameters = []
        self.remove_parameters = []
        self.remove_services = []
        self.set_services = []
        self.remove_service_parameters = []
        self.set_service_parameters = []
        self.parameters = OrderedDict()  # predicted postconf -n
        self.services = OrderedDict()  # predicted postconf -M/-P

    @property
    def edits(self):
        """``(PostfixCommands method name, arguments)`` in the order to run them."""
        steps = (
            ("remove_parameters", self.remove_parameters),
            ("set_parameters", self.set_parameters),
            ("remove_services", self.remove_services),
            ("set_services", self.set_services),
            ("remove_service_parameters", self.remove_service_parameters),
            ("set_service_parameters", self.set_service_parameters),
        )
        return [(method, args) for method, args in steps if args]


def _override_words(name, value):
    if value == "" or not re.search(r"\s", value):
        return ["-o", "%s=%s" % (name, value)]
    return ["-o", "{ %s = %s }" % (name, value)]


def master_entry(record):
    """A whole master.cf entry, as ``postconf -M`` takes it."""
    words = [record["name"], record["type"]] + [record[f] for f in SERVICE_FIELDS] + list(record["command"])
    for name, value in record["overrides"].items():
        words.extend(_override_words(name, value))
    return " ".join(words)


def plan_changes(parameters, services, request):
    """Work out the edits; ``parameters``/``services`` are what Postfix prints now."""
    plan = Plan()
    after = OrderedDict(parameters)
    for name, value in request.parameters.items():
        if value is None:
            if name in after:
                plan.remove_parameters.append(name)
                del after[name]
        elif after.get(name) != value:
            plan.set_parameters.append("%s=%s" % (name, value))
            after[name] = value
    plan.parameters = OrderedDict(sorted(after.items()))

    after_services = OrderedDict((key, _copy_service(record)) for key, record in services.items())
    for key, wanted in request.services.items():
        current = services.get(key)
        if wanted["state"] == STATE_ABSENT:
            if current is not None:
                plan.remove_services.append(key)
                del after_services[key]
            continue
        if current is None:
            record = OrderedDict((("name", wanted["name"]), ("type", wanted["type"]), ("key", key)))
            for field in SERVICE_FIELDS:
                record[field] = wanted["fields"].get(field, "-")
            record["command"] = list(wanted["command"])
            record["overrides"] = OrderedDict((n, v) for n, v in wanted["overrides"].items() if v is not None)
            plan.set_services.append("%s=%s" % (key, master_entry(record)))
            after_services[key] = record
            continue
        record = _copy_service(current)
        for field, value in wanted["fields"].items():
            record[field] = value
        if wanted["command"] is not None:
            record["command"] = list(wanted["command"])
        overrides = OrderedDict(record["overrides"])
        if wanted["exclusive_overrides"]:
            overrides = OrderedDict((n, v) for n, v in overrides.items() if wanted["overrides"].get(n) is not None)
        for name, value in wanted["overrides"].items():
            if value is None:
                overrides.pop(name, None)
            else:
                overrides[name] = value
        record["overrides"] = overrides
        if _same_service(record, current):
            continue
        after_services[key] = record
        fields_changed = any(record[f] != current[f] for f in SERVICE_FIELDS) or record["command"] != current["command"]
        added = [n for n, v in overrides.items() if current["overrides"].get(n) != v]
        removed = [n for n in current["overrides"] if n not in overrides]
        # postconf -P refuses values with spaces ("-Pe does not accept
        # whitespace"); such a service is rewritten whole, in the brace form.
        if fields_changed or any(re.search(r"\s", overrides[n]) for n in added):
            plan.set_services.append("%s=%s" % (key, master_entry(record)))
        else:
            plan.remove_service_parameters.extend("%s/%s" % (key, n) for n in removed)
            plan.set_service_parameters.extend("%s/%s=%s" % (key, n, overrides[n]) for n in added)
    plan.services = after_services
    return plan


def _copy_service(record):
    copied = OrderedDict(record)
    copied["command"] = list(record["command"])
    copied["overrides"] = OrderedDict(record["overrides"])
    return copied


def _same_service(one, other):
    return (all(one[f] == other[f] for f in SERVICE_FIELDS)
            and [normalise(w) for w in one["command"]] == [normalise(w) for w in other["command"]]
            and dict(one["overrides"]) == dict(other["overrides"]))


# --- Outcome ------------------------------------------------------------------

def compare(before_parameters, before_services, after_parameters, after_services):
    """``(changed parameter names, changed service keys)`` between two readings."""
    names = sorted(set(before_parameters) | set(after_parameters))
    changed_parameters = [n for n in names if before_parameters.get(n) != after_parameters.get(n)]
    keys = list(after_services) + [k for k in before_services if k not in after_services]
    changed_services = []
    for key in keys:
        one, other = before_services.get(key), after_services.get(key)
        if one is None or other is None or not _same_service(one, other):
            changed_services.append(key)
    return changed_parameters, changed_services


def restart_required(changed_parameters):
    return any(name in RESTART_PARAMETERS for name in changed_parameters)


def render_parameters(parameters):
    """main.cf as ``postconf -n`` prints it."""
    return "".join(("%s = %s\n" % (n, v)) if v else ("%s =\n" % n) for n, v in sorted(parameters.items()))


def render_services(services):
    """master.cf as ``postconf -M`` prints it, one ``-o`` override per line."""
    lines = []
    for record in services.values():
        lines.append(" ".join([record["name"], record["type"]] + [record[f] for f in SERVICE_FIELDS]
                              + list(record["command"])))
        for name, value in record["overrides"].items():
            lines.append("  " + " ".join(_override_words(name, value)))
    return "".join(line + "\n" for line in lines)


def stderr_lines(text):
    """What a command printed, one line each, repeats dropped.

    postfix check runs postconf several times, and each run repeats the same
    warning.
    """
    lines = []
    for line in (text or "").splitlines():
        line = line.rstrip()
        if line.strip() and line not in lines:
            lines.append(line)
    return lines
