# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-user and per-client sending quotas as a postfwd ruleset.

``build(intent)`` validates a structured description of sending quotas and
renders the postfwd (1.35) ruleset that enforces them. It runs no command and
changes nothing; invalid or contradictory intent raises ``QuotaError`` with a
message that names the offending input.

The ruleset is meant to be asked at END-OF-MESSAGE
(``smtpd_end_of_data_restrictions``): only there does Postfix send the real
``recipient_count`` and ``size`` that recipient and byte quotas count.

Layout, first match wins (a ``rate``/``rcpt``/``size`` rule that is not
exceeded lets postfwd go on with the next rule):

1. anything but END-OF-MESSAGE: DUNNO;
2. exemptions by client network, SASL user and envelope sender: DUNNO;
3. per-user overrides, each user's limits followed by a DUNNO for that user,
   so the defaults below never count that user twice;
4. the default limits of every other authenticated (SASL) user;
5. limits per client address for unauthenticated clients;
6. DUNNO.

postfwd keys each counter by rule id, limit and window, so a changed quota
starts a fresh counter instead of inheriting one that was counted against
another limit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv


class QuotaError(ValueError):
    """The quota intent is invalid or contradictory; the message names the input."""


HOUR = 3600
DAY = 86400

# limit key -> (postfwd command, window in seconds, what is counted, window word)
LIMITS = {
    "messages_per_hour": ("rate", HOUR, "messages", "hour"),
    "messages_per_day": ("rate", DAY, "messages", "day"),
    "recipients_per_hour": ("rcpt", HOUR, "recipients", "hour"),
    "recipients_per_day": ("rcpt", DAY, "recipients", "day"),
    "bytes_per_hour": ("size", HOUR, "bytes", "hour"),
    "bytes_per_day": ("size", DAY, "bytes", "day"),
}
# The order the rules are written in: cheap counters first, so that a message
# refused for its recipients has been counted by as few other limits as possible.
LIMIT_ORDER = ("messages_per_hour", "messages_per_day", "recipients_per_hour",
               "recipients_per_day", "bytes_per_hour", "bytes_per_day")
# Largest quota accepted: postfwd counts in Perl numbers; a quota this large
# limits nothing anyway.
MAX_QUOTA = 10 ** 15

DEFAULT_REPLY = "450 4.7.1"
RULE_PREFIX = "MG_"

_USER_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
_SENDER_RE = re.compile(r"^[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9.-]{1,253}$")
_OVERRIDE_KEYS = ("user",)


def _label(what, index=None):
    return what if index is None else "%s[%d]" % (what, index)


def _quota(value, where):
    if isinstance(value, bool) or value is None:
        raise QuotaError("%s is %r: give a whole number greater than 0" % (where, value))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise QuotaError("%s is %r: give a whole number greater than 0" % (where, value))
    if number <= 0:
        raise QuotaError(
            "%s is %d: a quota must be greater than 0 (to stop a user from sending, disable the "
            "account; to lift a limit, set it to null)" % (where, number))
    if number > MAX_QUOTA:
        raise QuotaError("%s is %d: larger than %d, which limits nothing" % (where, number, MAX_QUOTA))
    return number


def _limits(mapping, where, allow_null=False):
    """Validate a mapping of limit key to quota; returns key -> int (or None when allowed)."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise QuotaError("%s must be a mapping of limit name to quota, e.g. {messages_per_hour: 200}" % where)
    result = {}
    for key, value in mapping.items():
        if key not in LIMITS:
            raise QuotaError(
                "%s: unknown limit %r; the limits are %s" % (where, key, ", ".join(LIMIT_ORDER)))
        if value is None and allow_null:
            result[key] = None
            continue
        result[key] = _quota(value, "%s.%s" % (where, key))
    return result


def _enforced(limits):
    """The limits that count: a null one is switched off."""
    return dict((key, value) for key, value in limits.items() if value is not None)


def _contradictions(limits, who):
    """Quotas that make another quota unreachable are a mistake, not a policy."""
    for kind in ("messages", "recipients", "bytes"):
        hourly, daily = limits.get("%s_per_hour" % kind), limits.get("%s_per_day" % kind)
        if hourly is not None and daily is not None and hourly > daily:
            raise QuotaError(
                "%s: %s_per_hour %d is more than %s_per_day %d, so the hourly quota could never be "
                "reached; lower it or raise the daily one" % (who, kind, hourly, kind, daily))
    for window in ("hour", "day"):
        messages, recipients = limits.get("messages_per_%s" % window), limits.get("recipients_per_%s" % window)
        if messages is not None and recipients is not None and recipients < messages:
            raise QuotaError(
                "%s: recipients_per_%s %d is less than messages_per_%s %d, but every message has at "
                "least one recipient, so the message quota could never be reached"
                % (who, window, recipients, window, messages))


def _user(value, where):
    name = str(value if value is not None else "").strip()
    if not _USER_RE.match(name):
        raise QuotaError(
            "%s %r is not a SASL user name this ruleset can hold: letters, digits and . _ @ + - only"
            % (where, value))
    return name


def _network(value, where):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        raise QuotaError("%s %r is not a network in CIDR form (e.g. 192.0.2.0/24): %s" % (where, value, exc))


def _sender(value, where):
    address = str(value if value is not None else "").strip()
    if not _SENDER_RE.match(address):
        raise QuotaError("%s %r is not a plain envelope sender address (local@domain)" % (where, value))
    return address


def _reply(value):
    reply = " ".join(str(value if value is not None else DEFAULT_REPLY).split())
    if not pv.is_defer_code(reply):
        raise QuotaError(
            "reply %r must be a 4xx code with a 4.x.y status, e.g. '450 4.7.1': a quota that is hit "
            "is a temporary refusal (the sender retries later), never a bounce" % (value,))
    return reply


def _describe(key, value):
    _cmd, _window, counted, window = LIMITS[key]
    return "%d %s per %s" % (value, counted, window)


def _rule(rule_id, conditions, action):
    return "id=%s; %saction=%s" % (rule_id, "".join("%s; " % c for c in conditions), action)


def _limit_action(key, value, item, reply, who):
    command, window, _counted, _word = LIMITS[key]
    # The reply text goes through postfwd's rule parser: no ';', '(', ')', '=' or ','.
    text = "%s %s quota of %s exceeded for %s - try again later" % (reply, key, _describe(key, value), who)
    return "%s(%s/%d/%d/%s)" % (command, item, value, window, text)


def build(intent):
    """Validate ``intent`` and render the ruleset; raises QuotaError when refused.

    ``intent`` keys (all optional): ``user_limits`` (mapping, every SASL user;
    a null limit is not enforced, so that a caller who merges a partial
    mapping over its defaults can switch one of them off),
    ``user_overrides`` (list of mappings with ``user`` and limit keys; a null
    limit lifts that default for the user), ``client_limits`` (mapping,
    unauthenticated clients per address, null as in ``user_limits``),
    ``exempt_users``,
    ``exempt_networks``, ``exempt_senders`` (lists), ``reply`` (4xx code
    and status).
    """
    reply = _reply(intent.get("reply"))
    defaults = _enforced(_limits(intent.get("user_limits"), "user_limits", allow_null=True))
    _contradictions(defaults, "user_limits")
    client = _enforced(_limits(intent.get("client_limits"), "client_limits", allow_null=True))
    _contradictions(client, "client_limits")

    exempt_users = []
    seen_exempt = {}
    for index, value in enumerate(intent.get("exempt_users") or []):
        name = _user(value, _label("exempt_users", index))
        if name.lower() in seen_exempt:
            raise QuotaError("exempt_users[%d] %r is listed twice (also exempt_users[%d])"
                             % (index, name, seen_exempt[name.lower()]))
        seen_exempt[name.lower()] = index
        exempt_users.append(name)

    networks = []
    for index, value in enumerate(intent.get("exempt_networks") or []):
        where = _label("exempt_networks", index)
        network = _network(value, where)
        for other_index, other in networks:
            if network.version == other.version and (network.subnet_of(other) or other.subnet_of(network)):
                raise QuotaError(
                    "%s %s overlaps exempt_networks[%d] %s: list each network once, the larger one "
                    "is enough" % (where, network, other_index, other))
        networks.append((index, network))

    senders = []
    for index, value in enumerate(intent.get("exempt_senders") or []):
        address = _sender(value, _label("exempt_senders", index))
        if address.lower() in [s.lower() for s in senders]:
            raise QuotaError("exempt_senders[%d] %r is listed twice" % (index, address))
        senders.append(address)

    overrides = []
    seen_users = {}
    for index, item in enumerate(intent.get("user_overrides") or []):
        where = _label("user_overrides", index)
        if not isinstance(item, dict) or "user" not in item:
            raise QuotaError("%s must be a mapping with a user and its limits, e.g. "
                             "{user: alice, messages_per_hour: 50}" % where)
        name = _user(item["user"], "%s.user" % where)
        if name.lower() in seen_users:
            raise QuotaError(
                "%s: user %s already has limits in user_overrides[%d]; two sets of limits for one "
                "user contradict each other, merge them" % (where, name, seen_users[name.lower()]))
        if name.lower() in seen_exempt:
            raise QuotaError(
                "%s: user %s is also in exempt_users[%d]; a user is either exempt or limited, not both"
                % (where, name, seen_exempt[name.lower()]))
        seen_users[name.lower()] = index
        own = _limits(dict((k, v) for k, v in item.items() if k not in _OVERRIDE_KEYS), where, allow_null=True)
        effective = dict(defaults)
        effective.update(own)
        effective = dict((k, v) for k, v in effective.items() if v is not None)
        _contradictions(effective, "%s (user %s, with the defaults of user_limits)" % (where, name))
        overrides.append((index, name, effective))

    rules = []

    def add(rule_id, conditions, action, why):
        rules.append({"id": RULE_PREFIX + rule_id, "text": _rule(RULE_PREFIX + rule_id, conditions, action),
                      "why": why})

    add("ONLY_END_OF_MESSAGE", ["protocol_state!=END-OF-MESSAGE"], "DUNNO",
        "Counts are known only at END-OF-MESSAGE; any other request is let through.")
    for index, network in networks:
        add("EXEMPT_NETWORK_%d" % (index + 1), ["client_address=%s" % network], "DUNNO",
            "Clients in %s are exempt from every quota." % network)
    for index, name in enumerate(exempt_users):
        add("EXEMPT_USER_%d" % (index + 1), ["sasl_username==%s" % name], "DUNNO",
            "SASL user %s is exempt from every quota." % name)
    for index, address in enumerate(senders):
        add("EXEMPT_SENDER_%d" % (index + 1), ["sender==%s" % address], "DUNNO",
            "Envelope sender %s is exempt from every quota (anyone can claim a sender: keep this "
            "list short)." % address)
    for index, name, effective in overrides:
        for key in LIMIT_ORDER:
            if key in effective:
                add("USER_%d_%s" % (index + 1, key.upper()), ["sasl_username==%s" % name],
                    _limit_action(key, effective[key], "sasl_username", reply, name),
                    "User %s may send %s." % (name, _describe(key, effective[key])))
        add("USER_%d_DONE" % (index + 1), ["sasl_username==%s" % name], "DUNNO",
            "User %s has own limits; the defaults below do not apply to them." % name)
    for key in LIMIT_ORDER:
        if key in defaults:
            add("SASL_%s" % key.upper(), ["sasl_username=~."],
                _limit_action(key, defaults[key], "sasl_username", reply, "$$sasl_username"),
                "Every other authenticated user may send %s." % _describe(key, defaults[key]))
    add("SASL_DONE", ["sasl_username=~."], "DUNNO",
        "Authenticated users are not counted by client address.")
    for key in LIMIT_ORDER:
        if key in client:
            add("CLIENT_%s" % key.upper(), [],
                _limit_action(key, client[key], "client_address", reply, "client $$client_address"),
                "Each unauthenticated client address may send %s." % _describe(key, client[key]))
    add("DEFAULT", [], "DUNNO", "Everything within its quotas goes on.")

    header = [
        "# postfwd ruleset written by mailguard.postfix; changes made here are overwritten.",
        "# Asked at END-OF-MESSAGE (smtpd_end_of_data_restrictions). First match wins.",
    ]
    text = "\n".join(header + [r["text"] for r in rules]) + "\n"
    users = dict((name, effective) for _i, name, effective in overrides)
    return {
        "ruleset": text,
        "rules": rules,
        "rule_count": len(rules),
        "user_limits": defaults,
        "user_overrides": users,
        "client_limits": client,
        "exempt_users": exempt_users,
        "exempt_networks": [str(n) for _i, n in networks],
        "exempt_senders": senders,
    }
