# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model of Postfix SMTP access restriction lists.

Splits a restriction list the way Postfix does (commas and whitespace, with
``{ ... }`` grouping), pairs each restriction with its argument, and classifies
every entry by what it costs to evaluate and what it can do to the request.
Nothing here runs a command: callers give the text of a list.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

COST_NONE = "none"
COST_LOCAL = "local"
COST_DNS = "dns"
COST_EXTERNAL = "external"
COST_UNKNOWN = "unknown"

# Lower rank is cheaper; "unknown" sorts with the external checks so that an
# unexplained entry is never treated as cheap.
COST_RANK = {COST_NONE: 0, COST_LOCAL: 1, COST_DNS: 2, COST_EXTERNAL: 3, COST_UNKNOWN: 3}

ACTION_PERMIT = "permit"
ACTION_REJECT = "reject"
ACTION_DEFER = "defer"
ACTION_CHECK = "check"
ACTION_MODIFIER = "modifier"

# Stage name -> main.cf parameter, in the order smtpd evaluates them.
STAGES = (
    ("client", "smtpd_client_restrictions"),
    ("helo", "smtpd_helo_restrictions"),
    ("sender", "smtpd_sender_restrictions"),
    ("relay", "smtpd_relay_restrictions"),
    ("recipient", "smtpd_recipient_restrictions"),
    ("data", "smtpd_data_restrictions"),
    ("end_of_data", "smtpd_end_of_data_restrictions"),
    ("etrn", "smtpd_etrn_restrictions"),
)
STAGE_PARAMETERS = dict(STAGES)

# Table types whose lookups stay on the host (files, in-memory or inline).
LOCAL_TABLE_TYPES = frozenset((
    "btree", "cdb", "cidr", "dbm", "environ", "fail", "hash", "inline", "internal",
    "lmdb", "pcre", "pipemap", "randmap", "regexp", "sdbm", "sqlite", "static",
    "texthash", "unionmap", "unix",
))
# Table types that ask another server.
EXTERNAL_TABLE_TYPES = frozenset((
    "ldap", "memcache", "mongodb", "mysql", "netinfo", "nis", "nisplus", "pgsql",
    "socketmap", "tcp",
))

# name -> (number of arguments, cost, action)
_N, _L, _D, _X = COST_NONE, COST_LOCAL, COST_DNS, COST_EXTERNAL
_P, _R, _F, _C, _M = ACTION_PERMIT, ACTION_REJECT, ACTION_DEFER, ACTION_CHECK, ACTION_MODIFIER

RESTRICTIONS = {
    # generic
    "permit": (0, _N, _P),
    "reject": (0, _N, _R),
    "defer": (0, _N, _F),
    "defer_if_permit": (0, _N, _M),
    "defer_if_reject": (0, _N, _M),
    "warn_if_reject": (0, _N, _M),
    "reject_unauth_pipelining": (0, _N, _R),
    "sleep": (1, _N, _M),
    "check_policy_service": (1, _X, _C),
    # client
    "permit_mynetworks": (0, _L, _P),
    "permit_inet_interfaces": (0, _N, _P),
    "permit_sasl_authenticated": (0, _N, _P),
    "permit_tls_clientcerts": (0, _L, _P),
    "permit_tls_all_clientcerts": (0, _N, _P),
    "reject_plaintext_session": (0, _N, _R),
    "reject_unknown_client": (0, _D, _R),
    "reject_unknown_client_hostname": (0, _D, _R),
    "reject_unknown_reverse_client_hostname": (0, _D, _R),
    "reject_rbl_client": (1, _D, _R),
    "reject_rhsbl_client": (1, _D, _R),
    "reject_rhsbl_reverse_client": (1, _D, _R),
    "reject_maps_rbl": (0, _D, _R),
    "reject_rbl": (1, _D, _R),
    "permit_dnswl_client": (1, _D, _P),
    "permit_rhswl_client": (1, _D, _P),
    # helo
    "reject_invalid_helo_hostname": (0, _N, _R),
    "reject_invalid_hostname": (0, _N, _R),
    "reject_non_fqdn_helo_hostname": (0, _N, _R),
    "reject_non_fqdn_hostname": (0, _N, _R),
    "reject_unknown_helo_hostname": (0, _D, _R),
    "reject_unknown_hostname": (0, _D, _R),
    "reject_rhsbl_helo": (1, _D, _R),
    "permit_naked_ip_address": (0, _N, _P),
    # sender
    "reject_non_fqdn_sender": (0, _N, _R),
    "reject_unknown_sender_domain": (0, _D, _R),
    "reject_unlisted_sender": (0, _L, _R),
    "reject_unverified_sender": (0, _X, _R),
    "reject_rhsbl_sender": (1, _D, _R),
    "reject_sender_login_mismatch": (0, _L, _R),
    "reject_authenticated_sender_login_mismatch": (0, _L, _R),
    "reject_known_sender_login_mismatch": (0, _L, _R),
    "reject_unauthenticated_sender_login_mismatch": (0, _L, _R),
    # recipient
    "reject_non_fqdn_recipient": (0, _N, _R),
    "reject_unknown_recipient_domain": (0, _D, _R),
    "reject_unlisted_recipient": (0, _L, _R),
    # The pre-2.10 name of reject_unlisted_recipient, still accepted.
    "check_recipient_maps": (0, _L, _R),
    "reject_unverified_recipient": (0, _X, _R),
    "reject_rhsbl_recipient": (1, _D, _R),
    "reject_unauth_destination": (0, _L, _R),
    "defer_unauth_destination": (0, _L, _F),
    "permit_auth_destination": (0, _L, _P),
    "permit_mx_backup": (0, _D, _P),
    "check_relay_domains": (0, _L, _C),
    "reject_multi_recipient_bounce": (0, _N, _R),
}

# check_*_access restrictions: one table argument; the cost is the table's.
_ACCESS_OBJECTS = ("ccert", "client", "reverse_client_hostname", "helo", "sender",
                   "recipient", "etrn", "sasl")
for _obj in _ACCESS_OBJECTS:
    RESTRICTIONS["check_%s_access" % _obj] = (1, None, _C)
    # The _a_, _mx_ and _ns_ variants resolve names in DNS first.
    if _obj not in ("ccert", "etrn", "sasl"):
        for _kind in ("a", "mx", "ns"):
            RESTRICTIONS["check_%s_%s_access" % (_obj, _kind)] = (1, _D, _C)

DNSBL_RESTRICTIONS = frozenset((
    "reject_rbl_client", "reject_rhsbl_client", "reject_rhsbl_reverse_client",
    "reject_rbl", "permit_dnswl_client", "permit_rhswl_client", "reject_rhsbl_helo",
    "reject_rhsbl_sender", "reject_rhsbl_recipient",
))

# DNS checks that only read the client name smtpd looked up at connect
# (smtpd_peername_lookup): no query of their own, but a 450 when that lookup
# failed or found nothing.
CONNECT_TIME_DNS = frozenset(("reject_unknown_reverse_client_hostname", "reject_unknown_client_hostname",
                              "reject_unknown_client"))

# check_relay_domains is the pre-2.2 guard; Postfix still accepts it as one.
RELAY_GUARDS = frozenset(("reject_unauth_destination", "defer_unauth_destination", "check_relay_domains"))
# The other entries smtpd counts as "a working instance" of a relay guard: at
# least one of these or of RELAY_GUARDS must stand in the relay or the
# recipient list, ahead of any bare permit, or smtpd exits with a fatal error
# at start.
WORKING_RELAY_REFUSALS = frozenset(("reject", "defer", "defer_if_permit"))

# Permits that let a client through without proving who it is. Ahead of the
# relay guard they make an open relay (permit_dnswl_client: a listed client
# relays; permit_naked_ip_address: any client that says HELO [1.2.3.4]).
UNAUTHENTICATED_PERMITS = frozenset((
    "permit", "permit_naked_ip_address", "permit_dnswl_client", "permit_rhswl_client",
    "permit_tls_all_clientcerts",
))

_SEPARATORS = ", \t\r\n"


def tokenize(text):
    """Split a Postfix list into tokens the way Postfix does.

    Separators are commas and whitespace; ``{ ... }`` groups text that contains
    separators. A token that is entirely a group is returned without its outer
    braces (``{ inet:127.0.0.1:10040, timeout=10s }`` becomes
    ``inet:127.0.0.1:10040, timeout=10s``); braces inside a token, as in an
    inline table ``pcre:{{/x/ REJECT}}``, are kept.

    Raises ValueError on unbalanced braces.
    """
    tokens = []
    current = []
    depth = 0
    grouped = False
    for char in text or "":
        if depth == 0 and char in _SEPARATORS:
            if current:
                tokens.append(_finish_token(current, grouped))
                current = []
                grouped = False
            continue
        if char == "{":
            if depth == 0 and not current:
                grouped = True
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced '}' in %r" % text)
        current.append(char)
    if depth != 0:
        raise ValueError("unbalanced '{' in %r" % text)
    if current:
        tokens.append(_finish_token(current, grouped))
    return tokens


def _finish_token(chars, grouped):
    token = "".join(chars)
    if grouped and token.endswith("}"):
        return token[1:-1].strip()
    return token


def table_cost(table):
    """Cost of looking something up in a ``type:name`` table."""
    table = table.strip()
    if ":" not in table:
        # A bare file name in a list (mynetworks, domains) is read at start-up.
        return COST_LOCAL
    table_type = table.split(":", 1)[0].lower()
    if table_type == "proxy":
        return table_cost(table.split(":", 1)[1])
    if table_type in EXTERNAL_TABLE_TYPES:
        return COST_EXTERNAL
    return COST_LOCAL


def policy_attributes(argument):
    """Split a check_policy_service argument into its endpoint and attributes.

    ``inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO`` gives
    ``("inet:127.0.0.1:10040", {"timeout": "10s", "default_action": "DUNNO"})``.
    """
    parts = [p.strip() for p in re.split(r"[,\s]+", argument.strip()) if p.strip()]
    endpoint = parts[0] if parts else ""
    attributes = {}
    for part in parts[1:]:
        if "=" in part:
            key, value = part.split("=", 1)
            attributes[key.strip()] = value.strip()
    # default_action may contain spaces (``default_action=451 4.3.5 ...``) only
    # when braced; re-read it from the raw text in that case.
    match = re.search(r"default_action\s*=\s*([^,}]+)", argument)
    if match:
        attributes["default_action"] = match.group(1).strip()
    return endpoint, attributes


def dnsbl_has_reply_filter(argument):
    """True when a blocklist domain carries ``=filter`` (``zen...=127.0.0.[2..11]``)."""
    domain = argument.split("*", 1)[0]
    return "=" in domain and domain.split("=", 1)[1].strip() != ""


def parse_entries(text, restriction_classes=None, class_costs=None):
    """Parse a restriction list into ordered entries.

    ``restriction_classes`` names the classes declared in
    ``smtpd_restriction_classes``; ``class_costs`` may give each class's cost.
    Returns a list of dicts: position, name, args, text, cost, action, known.
    Raises ValueError when the text cannot be split or a restriction lacks its
    argument.
    """
    classes = set(restriction_classes or ())
    class_costs = class_costs or {}
    tokens = tokenize(text)
    entries = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        name = token.lower() if not token.startswith("{") else token
        spec = RESTRICTIONS.get(name)
        args = []
        if spec is not None:
            arity, cost, action = spec
            if arity:
                if index + arity >= len(tokens):
                    raise ValueError("%s needs %d argument(s) in %r" % (name, arity, text))
                args = tokens[index + 1:index + 1 + arity]
                index += arity
            if cost is None:
                cost = table_cost(args[0])
            known = True
        elif token in classes:
            cost = class_costs.get(token, COST_LOCAL)
            action = ACTION_CHECK
            known = True
        else:
            cost = COST_UNKNOWN
            action = ACTION_CHECK
            known = False
        entry_text = " ".join([token] + [("{ %s }" % a) if _needs_braces(a) else a for a in args])
        entries.append({
            "position": len(entries),
            "name": token,
            "args": args,
            "text": entry_text,
            "cost": cost,
            "action": action,
            "known": known,
        })
        index += 1
    return entries


def _needs_braces(argument):
    return any(sep in argument for sep in _SEPARATORS)


def relay_verdict(entries):
    """How one list treats an unauthenticated client sending to a remote domain.

    Returns ``(verdict, entry)``: ``"closed"`` when a relay guard or an
    unconditional reject/defer is reached first, ``"open"`` when an
    unauthenticated permit is reached first, ``"pass"`` when the list ends
    without deciding (Postfix then goes on to the next list). ``entry`` is the
    entry that decided, or None.
    """
    for entry in entries:
        name = entry["name"]
        if name in RELAY_GUARDS or name in WORKING_RELAY_REFUSALS:
            return "closed", entry
        if name in UNAUTHENTICATED_PERMITS:
            return "open", entry
    return "pass", None


def has_working_guard(entries):
    """Whether smtpd counts a relay guard in this list: one that stands before any bare ``permit``.

    smtpd exits at start (fatal: specify at least one working instance of
    reject_unauth_destination, ...) when neither the relay nor the recipient
    list has one; a guard behind an unconditional permit does not count.
    """
    for entry in entries:
        if entry["name"] == "permit":
            return False
        if entry["name"] in RELAY_GUARDS or entry["name"] in WORKING_RELAY_REFUSALS:
            return True
    return False


def relay_path(relay_entries, recipient_entries):
    """Combine the relay and recipient lists the way smtpd evaluates them.

    Both lists must let a request through for it to be accepted, so relaying is
    closed when either list closes it. Returns ``(state, detail)`` where state
    is ``"closed"``, ``"open"`` (an unauthenticated permit is reached before any
    guard in every list that decides) or ``"unguarded"`` (neither list has a
    guard that smtpd counts, see has_working_guard: smtpd then refuses to
    run, so the service accepts nothing and relays nothing).
    """
    if not (has_working_guard(relay_entries) or has_working_guard(recipient_entries)):
        return "unguarded", None
    verdicts = [relay_verdict(relay_entries), relay_verdict(recipient_entries)]
    if any(v == "closed" for v, _entry in verdicts):
        return "closed", [e for v, e in verdicts if v == "closed"][0]
    opened = [e for v, e in verdicts if v == "open"]
    if opened:
        return "open", opened[0]
    return "unguarded", None
