# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute Postfix SMTP restriction lists from an operator's intent.

``build(intent)`` turns a description of what a mail host should refuse
(profile, own domains, trusted networks, blocklists, policy services,
forwarding, submission) into the restriction list of every stage, the related
main.cf parameters, the master.cf overrides of the submission services and the
lookup tables to write. It changes nothing and runs no command.

Every list is laid out the same way, so that the result can be explained
entry by entry:

1. checks that apply to every client, trusted and authenticated ones
   included (cheap ones only);
2. the gate: ``permit_mynetworks, permit_sasl_authenticated``, present only
   when something follows that trusted clients should skip;
3. the relay guard ``reject_unauth_destination`` (relay and recipient stages);
4. checks for everyone else, cheapest first: no lookup, local table, DNS,
   external service.

Across the lists, the unauthenticated path of one RCPT command is one
sequence in smtpd's evaluation order (client, helo, sender, relay,
recipient; ``smtpd_delay_reject = yes`` runs the first three at RCPT time),
cheapest first as a whole: the no-lookup checks of every stage (HELO and
address syntax) stand in ``smtpd_client_restrictions``, which smtpd
evaluates first; the relay list guards relaying; the recipient list holds
the local-table checks, then every DNS check (the reverse-DNS checks, which
only read the name smtpd looked up at connect, first), then the external
ones. postconf(5) allows helo, sender and recipient restrictions in the
client list under delayed reject. Mail that a local check refuses so costs
no DNS query beyond the client name lookup smtpd makes at connect.

The result is judged with ``findings.stage_findings``, the rules the audit
applies to a live host; a relay or order finding makes ``build`` refuse.
Unsafe or contradictory intent raises ``IntentError`` naming the input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re

from ansible_collections.mailguard.postfix.plugins.module_utils import dnsbl
from ansible_collections.mailguard.postfix.plugins.module_utils import findings as fnd
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_config as pc
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm


class IntentError(ValueError):
    """The intent is unsafe or contradictory; the message names the offending input."""


PROFILES = ("baseline", "strict", "paranoid")
DEFAULT_PROFILE = "strict"
# ETRN is not built: a mail host that does not offer ETRN service needs no list.
BUILD_STAGES = tuple(stage for stage, _param in rm.STAGES if stage != "etrn")
POLICY_STAGES = ("recipient", "data", "end_of_data")
DNSBL_TYPES = ("client", "reverse_client", "helo", "sender", "null_sender_client")
POSITIONS = ("first", "last")

MAIN_CF = fnd.MAIN_CF
SMTP_SERVICE = "smtp/inet"
DEFAULT_SUBMISSION_SERVICES = ("submission/inet", "smtps/inet")
DEFAULT_OWN_DOMAINS_TABLE = "hash:/etc/postfix/own_domains_as_sender"
# submission.sender_login_maps may name a table or say how logins and
# addresses relate; for the two keywords the module writes a regexp table
# of the own domains (submission.sender_login_table).
SENDER_LOGIN_KEYWORDS = ("local_users", "virtual_users")
DEFAULT_SENDER_LOGIN_TABLE = "regexp:$config_directory/sender_login_owners.regexp"
DEFAULT_FORWARDING_CLASS = "forwarding_recipients"
DEFAULT_RELAY_VERIFICATION_TABLE = "hash:/etc/postfix/relay_recipient_verification"
DEFAULT_NULL_SENDER_TABLE = "hash:/etc/postfix/null_sender_access"
RELAY_VERIFY_CLASS = "verify_relay_recipients"
NULL_SENDER_CLASS = "null_sender_blocklists"
# The loopback networks Debian writes into mynetworks on a fresh install.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "[::ffff:127.0.0.0]/104", "[::1]/128")

# The restriction that asks each kind of blocklist (all stand in the recipient list).
_DNSBL_RESTRICTION = {
    "client": "reject_rbl_client",
    "reverse_client": "reject_rhsbl_reverse_client",
    "helo": "reject_rhsbl_helo",
    "sender": "reject_rhsbl_sender",
    "null_sender_client": "reject_rbl_client",
}
_DNSBL_OBJECT = {
    "client": "client IP address",
    "reverse_client": "client's reverse DNS name",
    "helo": "HELO name",
    "sender": "sender domain",
    "null_sender_client": "client IP address of bounces (null sender)",
}

# Table types whose content the caller can write from what this module returns,
# and the ones among them that postmap must compile.
WRITABLE_TABLE_TYPES = frozenset(("hash", "btree", "cdb", "lmdb", "dbm", "sdbm", "texthash"))
POSTMAP_TABLE_TYPES = frozenset(("hash", "btree", "cdb", "lmdb", "dbm", "sdbm"))

# Restrictions refused in custom entries, with the reason given to the caller.
REFUSED_RESTRICTIONS = {
    "permit_mx_backup": (
        "permit_mx_backup accepts mail for any domain that names this host as MX without knowing "
        "its recipients: the undeliverable ones bounce to forged senders (backscatter). Postfix 3.9 "
        "deprecated it. List backup domains in relay_domains with relay_recipient_maps, or use "
        "relay_recipient_verification"),
    "reject_unverified_sender": (
        "reject_unverified_sender probes the mail server of every (often forged) sender; these "
        "sender callouts get a host listed on ips.backscatterer.org"),
    "permit_naked_ip_address": (
        "permit_naked_ip_address lets any client that says HELO [address] through; Postfix 3.9 "
        "removed it (the request then fails with a configuration error)"),
    "check_relay_domains": (
        "check_relay_domains is the pre-2.2 relay guard; Postfix 3.9 removed it. "
        "reject_unauth_destination is already in the relay list"),
    "reject_maps_rbl": (
        "reject_maps_rbl is obsolete and Postfix 3.9 removed it; use the dnsbls option"),
    "reject_rbl": (
        "reject_rbl is the obsolete name of reject_rbl_client; use the dnsbls option"),
    "check_policy_service": (
        "policy services are given with the policy_services option, which checks the timeout "
        "and the default action"),
}

# Permits that identify the client (by network, login or certificate); the only
# ones allowed ahead of reject_unauth_destination.
AUTHENTICATING_PERMITS = frozenset(("permit_mynetworks", "permit_sasl_authenticated", "permit_tls_clientcerts"))
# Access checks keyed on something the client proves (its address, certificate
# or login); an OK from them ahead of the relay guard is a deliberate trust.
TRUSTED_ACCESS_CHECKS = frozenset(("check_client_access", "check_ccert_access", "check_sasl_access"))

# (branch, first patch level) -> feature; a branch newer than the newest listed has it.
_SINCE_FORBID_UNAUTH_PIPELINING = {(3, 9): 0, (3, 8): 1, (3, 7): 6, (3, 6): 10, (3, 5): 20}
_SINCE_FORBID_BARE_NEWLINE = {(3, 9): 0, (3, 8): 4, (3, 7): 9, (3, 6): 13, (3, 5): 23}
_SINCE_BARE_NEWLINE_NORMALIZE = {(3, 9): 0, (3, 8): 5, (3, 7): 10, (3, 6): 14, (3, 5): 24}
_SINCE_RELAY_BEFORE_RECIPIENT = {(3, 6): 0}

_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}$")
_ADDRESS_RE = re.compile(r"^[^\s@,{}]+@[^\s@,{}]+$")
_LOCALPART_KEY_RE = re.compile(r"^[^\s@,{}]+@$")
_OCTET = r"(?:\d{1,3}|\[\d{1,3}(?:\.\.\d{1,3})?(?:;\d{1,3}(?:\.\.\d{1,3})?)*\])"
_FILTER_RE = re.compile(r"^%s\.%s\.%s\.%s$" % (_OCTET, _OCTET, _OCTET, _OCTET))
_ENDPOINT_RE = re.compile(r"^(?:inet:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}|unix:[A-Za-z0-9_./-]+)$")
_TABLE_RE = re.compile(r"^([a-z0-9]+):([^\s,{}]+)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_CLASS_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SERVICE_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]+/inet$")
# Policy services may not wait longer than smtpd waits for the client (smtpd_timeout).
_MAX_POLICY_TIMEOUT = 300
# Parameter namespaces a restriction class name must not fall into: the class
# is defined as a main.cf parameter and would replace the real one.
_PARAMETER_PREFIXES = ("smtpd_", "smtp_", "lmtp_", "postscreen_", "virtual_", "relay_", "local_",
                       "address_", "unverified_", "mynetworks", "mydestination", "myhostname",
                       "alias_", "tls_", "milter_", "content_", "default_", "proxy_", "queue_")

# Where each part of the unauthenticated path stands, added to every reason.
_WHERE = {
    ("client", rm.COST_NONE): (
        "In smtpd_client_restrictions, the first list smtpd evaluates at RCPT time "
        "(smtpd_delay_reject = yes), with the other no-lookup checks: it decides before any "
        "table or DNS lookup."),
    ("recipient", rm.COST_LOCAL): (
        "In smtpd_recipient_restrictions after the relay guard, among the local-table checks: "
        "after every no-lookup check and before any DNS lookup."),
    ("recipient", rm.COST_DNS): (
        "In smtpd_recipient_restrictions after every no-lookup check (client list) and every "
        "local-table check, the relay guard included, so that mail those refuse costs no DNS query."),
    ("recipient", rm.COST_EXTERNAL): (
        "In smtpd_recipient_restrictions after every cheaper check of the whole chain, DNS "
        "ones included: the last thing smtpd asks before it accepts a recipient."),
}

# Why an entry stands where it stands, for entries the profile places.
REASONS = {
    "permit_mynetworks": (
        "Trusted networks (mynetworks) skip the checks that follow: they are this site's own "
        "hosts, and a DNS or blocklist test of them costs lookups and risks refusing our own mail."),
    "permit_sasl_authenticated": (
        "Authenticated users skip the checks that follow: they are judged by their login, and "
        "a roaming client on a listed or nameless address must still be able to send."),
    "reject_unauth_destination": (
        "Relay guard: after the trusted and authenticated permits, mail to a domain this host "
        "does not handle is refused with 5xx. Without it the host is an open relay."),
    "reject_unlisted_recipient": (
        "Refuses unknown recipients in our own address classes at RCPT, for every client, "
        "instead of accepting and bouncing later (backscatter). Local table lookup."),
    "reject_non_fqdn_recipient": (
        "No lookup: a recipient that is not a full address cannot be delivered and would bounce."),
    "reject_non_fqdn_sender": (
        "No lookup: a sender that is not a full address cannot receive a bounce."),
    "reject_invalid_helo_hostname": (
        "No lookup: a HELO name with bad syntax marks spamware."),
    "reject_non_fqdn_helo_hostname": (
        "No lookup: real mail servers announce a fully qualified name."),
    "reject_unknown_helo_hostname": (
        "DNS: the HELO name must have an A or MX record."),
    "reject_unknown_sender_domain": (
        "DNS: a sender domain without A or MX record is forged or cannot take a bounce; refusing it "
        "now avoids a bounce later."),
    "reject_unknown_reverse_client_hostname": (
        "DNS: the client address must have a reverse (PTR) name, as large providers require of "
        "senders. It reads the name smtpd looked up at connect, so it costs no query of its own and "
        "goes first among the DNS checks; but it answers 450 (always 450 when that lookup failed "
        "for a temporary reason), so the definitive cheap refusals come before it."),
    "reject_unknown_client_hostname": (
        "DNS: the client must have forward-confirmed reverse DNS (PTR and matching A/AAAA). It reads "
        "what smtpd looked up at connect: no query of its own, first among the DNS checks, after "
        "the definitive cheap refusals (it answers 450)."),
    "reject_unauth_pipelining": (
        "No lookup: refuses clients that talk ahead of the server's replies (a spamware habit); "
        "also covers services and versions without smtpd_forbid_unauth_pipelining."),
    "reject_multi_recipient_bounce": (
        "No lookup: a real bounce has exactly one recipient; a null-sender message to many is abuse."),
    "reject_authenticated_sender_login_mismatch": (
        "Local table: an authenticated user may send only as the addresses smtpd_sender_login_maps "
        "gives the login; before permit_sasl_authenticated so that the permit cannot skip it."),
    "reject": (
        "Everything not permitted above is refused: this service is for authenticated users only."),
    "reject_unverified_recipient": (
        "External: verify(8) probes the next hop for the recipient (results cached); refuses "
        "recipients the destination would refuse, before we accept the message."),
}


# --------------------------------------------------------------------------
# small helpers


def _version_tuple(version):
    parsed = pc.parse_version(version)
    if parsed == (0, 0, 0):
        raise IntentError(
            "postfix_version %r is not a Postfix version: give mail_version as postfix_facts "
            "reports it, e.g. 3.7.11" % (version,))
    if parsed < (3, 0, 0):
        raise IntentError(
            "postfix_version %s is older than 3.0: per-call policy attributes (timeout, "
            "default_action) and the relay list need Postfix 3.0 or later" % version)
    return parsed


def has_feature(version, since):
    """Whether ``version`` (a tuple) has a feature back-ported as ``since`` describes."""
    branch = version[:2]
    if branch in since:
        return version[2] >= since[branch]
    return branch > max(since)


def _forwarding_addresses(values, what):
    """Addresses (or ``user@`` keys, which match the user in every domain) for an access table."""
    addresses, seen = [], set()
    for index, value in enumerate(values or []):
        address = str(value).strip().lower()
        if not (_ADDRESS_RE.match(address) or _LOCALPART_KEY_RE.match(address)):
            raise IntentError("%s[%d] %r is not an e-mail address (or a user@ key)" % (what, index, value))
        if address not in seen:
            seen.add(address)
            addresses.append(address)
    return addresses


# Every lookup table type Postfix 3.x knows (postconf -m lists the ones the
# host's packages build in; the others come with plugin packages). A type
# outside this set is a typo that smtpd would meet with 451 to every client.
POSTFIX_TABLE_TYPES = rm.LOCAL_TABLE_TYPES | rm.EXTERNAL_TABLE_TYPES | frozenset(("proxy",))


def _table(value, what, writable=False, types=WRITABLE_TABLE_TYPES):
    """Validate a ``type:name`` table; return (type, name).

    ``writable``: the module returns its content, so it must be a file of
    one of ``types``.
    """
    match = _TABLE_RE.match(str(value or "").strip())
    if not match:
        raise IntentError(
            "%s %r is not a Postfix table: write it as type:name, e.g. hash:/etc/postfix/name" % (what, value))
    table_type, name = match.group(1), match.group(2)
    if table_type not in POSTFIX_TABLE_TYPES:
        close = difflib.get_close_matches(table_type, sorted(POSTFIX_TABLE_TYPES), n=1, cutoff=0.6)
        raise IntentError("%s %r: %s is not a Postfix table type%s" % (
            what, value, table_type, " (did you mean %s?)" % close[0] if close else ""))
    if writable and table_type not in types:
        raise IntentError(
            "%s %r: this module returns the table's content, which only a file table can hold "
            "(%s)" % (what, value, ", ".join(sorted(types))))
    if writable and not name.startswith("/"):
        raise IntentError("%s %r: give the file as an absolute path" % (what, value))
    return table_type, name


# $config_directory as a table name may write it (postconf(5) expands all three).
DEFAULT_CONFIG_DIRECTORY = "/etc/postfix"
# Restrictions whose argument is a table the operator owns (check_sender_access
# hash:/etc/postfix/sender_access, ...); check_policy_service takes no table.
_ACCESS_CHECK_RE = re.compile(r"^check_[a-z_]+_access$")


def operator_tables(value, what, config_directory=DEFAULT_CONFIG_DIRECTORY):
    """The tables of a table-list parameter an operator owns, for checks before going live.

    ``value`` is a Postfix table list ("hash:/a, texthash:/b"). Returns one
    dict per table: ``table`` as written, ``type`` (after any ``proxy:``),
    ``path`` with $config_directory expanded (None for tables that are no
    file, such as mysql: or ldap:), and ``compile``: whether postmap builds
    a file from it (texthash: is read as it is, hash: needs NAME.db).
    """
    tables = []
    for item in rm.tokenize(str(value or "")):
        table_type, path = _table(pv.expand_config_directory(item, config_directory), what)
        if table_type == "proxy":
            table_type, path = _table(path, what)
        is_file = table_type in WRITABLE_TABLE_TYPES or table_type in ("cidr", "pcre", "regexp")
        if "$" in path and is_file:
            raise IntentError(
                "%s %r names a parameter other than $config_directory in its file name; give the path" % (what, item))
        tables.append({
            "table": item,
            "type": table_type,
            "path": path if is_file else None,
            "compile": table_type in POSTMAP_TABLE_TYPES,
        })
    return tables


def _domain(value, what):
    domain = str(value or "").strip().lower().rstrip(".")
    if not _DOMAIN_RE.match(domain):
        try:
            ascii_form = domain.encode("idna").decode("ascii") if domain and not domain.isascii() else ""
        except UnicodeError:
            ascii_form = ""
        if ascii_form and _DOMAIN_RE.match(ascii_form):
            # Postfix's tables compare what the client sent; without SMTPUTF8
            # that is the ASCII (IDNA) form, so a table key in UTF-8 never matches.
            raise IntentError("%s %r is an internationalised domain name: write it as %s, the ASCII form "
                              "clients use in SMTP" % (what, value, ascii_form))
        raise IntentError("%s %r is not a domain name" % (what, value))
    return domain


def filter_matches(reply_filter, address):
    """Whether a DNSBL reply filter accepts the reply ``address`` (dotted quad)."""
    return dnsbl.filter_accepts(dnsbl.parse_filter(reply_filter), address)


def _time_value(value, what):
    seconds = pv.seconds(value)
    if seconds is None or seconds < 1:
        raise IntentError(
            "%s %r is not a Postfix time: give a positive number with an optional unit, e.g. 10s" % (what, value))
    return seconds


def _join(texts, separator=", "):
    return separator.join(texts)


# --------------------------------------------------------------------------
# entries and stages


def make_entry(text, reason, applies_to="untrusted", origin="profile", classes=None, pinned=False, rank=0):
    """One restriction with what it costs and why it stands where it stands.

    ``rank`` orders entries of one cost class among themselves: 1 for the
    selection of a restriction class (a local lookup that may run the class's
    DNS and external checks), 0 otherwise; the DNS checks that only read the
    connect-time client name (``rm.CONNECT_TIME_DNS``) go first among the DNS
    checks whatever their rank.
    """
    parsed = rm.parse_entries(text, classes or ())
    if len(parsed) != 1:
        raise IntentError("%r holds %d restrictions; give exactly one per entry" % (text, len(parsed)))
    item = parsed[0]
    return {
        "text": item["text"],
        "name": item["name"],
        "args": item["args"],
        "cost": item["cost"],
        "action": item["action"],
        "known": item["known"],
        "applies_to": applies_to,
        "origin": origin,
        "pinned": pinned,
        "reason": reason,
        "rank": rank,
    }


class _Stage(object):
    """The sections of one restriction list, flattened in a fixed order."""

    def __init__(self, name, gate=True, guard=False):
        self.name = name
        self.head = []
        self.rest = []
        self.gate_names = ("permit_mynetworks", "permit_sasl_authenticated") if gate else ()
        self.guard = guard
        # Unconditional permit/reject/defer given as "last": the explicit end of the list.
        self.tail = []

    def entries(self):
        gated = self.guard or bool(self.rest) or bool(self.tail)
        result = list(self.head)
        if gated:
            for name in self.gate_names:
                result.append(make_entry(name, REASONS[name], applies_to="trusted"))
        if self.guard:
            result.append(make_entry("reject_unauth_destination", REASONS["reject_unauth_destination"],
                                     applies_to="untrusted"))
        # Stable sort: within one cost class and rank the order of the intent is kept.
        result.extend(sorted(self.rest, key=_order_key))
        result.extend(self.tail)
        return result


def _order_key(entry):
    rank = -1 if entry["name"] in rm.CONNECT_TIME_DNS else entry.get("rank", 0)
    return (rm.COST_RANK[entry["cost"]], rank)


def _cost_order_problem(entries):
    """First (expensive, cheap) pair where a none/local entry follows a DNS/external one."""
    first_expensive = None
    for entry in entries:
        rank = rm.COST_RANK[entry["cost"]]
        if rank >= rm.COST_RANK[rm.COST_DNS]:
            if first_expensive is None:
                first_expensive = entry
        elif first_expensive is not None:
            return first_expensive, entry
    return None


def _stage_value(entries, separator=", "):
    return _join([e["text"] for e in entries], separator)


# --------------------------------------------------------------------------
# validation of the parts of the intent


def _networks(values):
    """trusted_networks -> mynetworks items, refusing networks too wide to trust."""
    items = []
    for index, value in enumerate(values or []):
        text = str(value).strip()
        try:
            network = ipaddress.ip_network(text.replace("[", "").replace("]", ""), strict=False)
        except ValueError:
            raise IntentError("trusted_networks[%d] %r is not an IP network" % (index, value))
        widest = 8 if network.version == 4 else 32
        if network.prefixlen < widest:
            raise IntentError(
                "trusted_networks[%d] %s is wider than /%d: every client there passes "
                "permit_mynetworks and may relay; list the networks of your own hosts"
                % (index, network, widest))
        if network.version == 6:
            items.append("[%s]/%d" % (network.network_address, network.prefixlen))
        else:
            items.append(str(network))
    # The host itself stays trusted: local applications submit over loopback.
    return list(LOOPBACK_NETWORKS) + [item for item in items if item not in LOOPBACK_NETWORKS]


def _dnsbl(item, where, postscreen, restrict_types=None):
    """Validate one blocklist; returns a normalised dict."""
    name = _domain(item.get("name"), "%s name" % where)
    label = "%s (%s)" % (where, name)
    kind = item.get("type") or "client"
    if kind not in DNSBL_TYPES or (restrict_types and kind not in restrict_types):
        raise IntentError("%s: type %r is not one of %s" % (label, kind, ", ".join(restrict_types or DNSBL_TYPES)))
    weight = item.get("weight")
    weight = 1 if weight is None else int(weight)
    allow_unfiltered = bool(item.get("allow_unfiltered"))
    reply_filter = str(item.get("filter") or "").strip()
    if weight == 0:
        raise IntentError("%s: weight 0 never counts; remove the list or give it a weight" % label)
    if weight < 0 and not (postscreen and kind == "client"):
        raise IntentError(
            "%s: a negative weight makes the list an allowlist, which only postscreen scores; "
            "set postscreen: true and type: client, or remove the list" % label)
    if "backscatterer.org" in name and kind != "null_sender_client":
        raise IntentError(
            "%s: ips.backscatterer.org lists servers that send bounces and callouts, not spam "
            "sources; as a %s blocklist it refuses legitimate mail. Use type: null_sender_client, "
            "which queries it only for bounces" % (label, kind))
    if not reply_filter:
        if not allow_unfiltered:
            raise IntentError(
                "%s has no reply filter: any answer, a list's error codes (127.255.255.x) or a dead "
                "list that answers for everything included, would count as listed. Give the codes "
                "the list documents, e.g. filter: 127.0.0.[2..11] for zen.spamhaus.org, or set "
                "allow_unfiltered: true on this entry" % label)
    else:
        if not _FILTER_RE.match(reply_filter):
            raise IntentError(
                "%s: filter %r is not a Postfix reply filter (d.d.d.d with [low..high] or [a;b] "
                "octets, e.g. 127.0.0.[2..11])" % (label, reply_filter))
        try:
            octets = dnsbl.parse_filter(reply_filter)
        except dnsbl.DnsblError as exc:
            raise IntentError("%s: %s" % (label, exc))
        if octets[0] != frozenset([127]):
            raise IntentError("%s: filter %r must stay inside 127.0.0.0/8, where lists answer" % (label, reply_filter))
        errors = [code for code in ("127.255.255.252", "127.255.255.254", "127.255.255.255")
                  if filter_matches(reply_filter, code)]
        if errors:
            raise IntentError(
                "%s: filter %r accepts %s, which lists return as errors (query refused, public "
                "resolver), never as listings" % (label, reply_filter, ", ".join(errors)))
        if weight > 0 and filter_matches(reply_filter, "127.0.0.1"):
            raise IntentError(
                "%s: filter %r accepts 127.0.0.1, which lists use for refused or test queries, "
                "not for listings" % (label, reply_filter))
    return {
        "name": name,
        "type": kind,
        "filter": reply_filter,
        "weight": weight,
        "allow_unfiltered": allow_unfiltered,
        "argument": "%s=%s" % (name, reply_filter) if reply_filter else name,
    }


def _dnsbl_entry(dnsbl, origin, where):
    restriction = _DNSBL_RESTRICTION[dnsbl["type"]]
    if dnsbl["filter"]:
        why = "only the answers %s count as listed" % dnsbl["filter"]
    else:
        why = "UNFILTERED by request (allow_unfiltered): any answer counts as listed"
    reason = "DNS blocklist on the %s (%s); %s." % (_DNSBL_OBJECT[dnsbl["type"]], where, why)
    return make_entry("%s %s" % (restriction, dnsbl["argument"]), reason, origin=origin)


def _policy(item, index):
    name = str(item.get("name") or "").strip()
    return policy_service(item, "policy_services[%d] (%s)" % (index, name or "unnamed"))


def policy_service(item, label):
    """Validate one policy service (name, endpoint, stage, timeout, default_action).

    Returns it normalized; raises IntentError naming ``label``. The
    restrictions module checks ``policy_services`` with it, the postfwd_ruleset
    module the hook that the policy_service role hands to the lists.
    """
    name = str(item.get("name") or "").strip()
    if not _NAME_RE.match(name):
        raise IntentError("%s: name must be letters, digits, '.', '_' or '-'" % label)
    endpoint = str(item.get("endpoint") or "").strip()
    if not _ENDPOINT_RE.match(endpoint):
        raise IntentError(
            "%s: endpoint %r is not a policy server address: inet:host:port or unix:path "
            "(e.g. inet:127.0.0.1:10040, unix:private/policyd-spf)" % (label, endpoint))
    stage = item.get("stage") or "recipient"
    if stage not in POLICY_STAGES:
        raise IntentError("%s: stage %r is not one of %s" % (label, stage, ", ".join(POLICY_STAGES)))
    timeout = item.get("timeout")
    if timeout is None or str(timeout).strip() == "":
        raise IntentError(
            "%s has no timeout: without one, a slow policy server holds every SMTP session for "
            "smtpd_policy_service_timeout (100s). Give e.g. timeout: 10s" % label)
    if _time_value(timeout, "%s timeout" % label) > _MAX_POLICY_TIMEOUT:
        raise IntentError(
            "%s: timeout %s is longer than smtpd waits for a client (300s); use seconds, e.g. 10s"
            % (label, timeout))
    action = _policy_default_action(item.get("default_action"), label)
    return {
        "name": name,
        "endpoint": endpoint,
        "stage": stage,
        "timeout": str(timeout).strip(),
        "default_action": action,
        "applies_to_authenticated": bool(item.get("applies_to_authenticated")),
    }


def _policy_default_action(value, label):
    action = " ".join(str(value if value is not None else "DUNNO").split())
    if action.upper() == "DUNNO":
        return "DUNNO"
    if pv.is_reject_reply(action):
        raise IntentError(
            "%s: default_action %r is a permanent rejection: when the policy server is down, every "
            "message would be refused for good. Use DUNNO (fail open) or a 4xx reply such as "
            "'451 4.3.5 Policy service unavailable' (fail closed, senders retry), never a 5xx" % (label, action))
    if not pv.is_defer_reply(action):
        raise IntentError(
            "%s: default_action %r must be DUNNO or a 4xx reply ('451 4.3.5 text'); anything else "
            "decides for the policy server while it is down" % (label, action))
    return action


def policy_text(endpoint, timeout, default_action):
    """check_policy_service with per-call attributes (Postfix 3.0+)."""
    if " " in default_action:
        # An attribute value with spaces needs its own braces.
        action = "{ default_action=%s }" % default_action
    else:
        action = "default_action=%s" % default_action
    return "check_policy_service { %s, timeout=%s, %s }" % (endpoint, timeout, action)


def _class_name(value, what, taken):
    name = str(value or "").strip()
    if not _CLASS_RE.match(name):
        raise IntentError("%s %r: a class name is lower-case letters, digits and '_'" % (what, value))
    if name in pc.REASONED_PARAMETERS or name.startswith(_PARAMETER_PREFIXES) or name in taken \
            or name in rm.RESTRICTIONS:
        raise IntentError(
            "%s %r is taken by a Postfix parameter, a restriction or another class; the class "
            "becomes a main.cf parameter, so choose a name of its own" % (what, value))
    return name


def _global_stage(stage, entry):
    """Where a check of the unauthenticated path stands in the one cost order across stages.

    Only checks that can do nothing but refuse move: a no-lookup one to the
    client list (evaluated first; from the relay list too, where it would
    otherwise follow the relay guard's table lookups), a DNS or external one
    from the client, helo or sender list to the recipient list (after the
    relay guard and the local tables). Under smtpd_delay_reject = yes they
    see the same request in any of these lists. Access tables and permits
    stay where they were put: their OK ends only the list they stand in.
    Other checks of the relay list and the data stages are never moved.
    """
    if entry["action"] not in (rm.ACTION_REJECT, rm.ACTION_DEFER) or entry["name"] in rm.RELAY_GUARDS:
        return stage
    if stage not in ("client", "helo", "sender", "relay", "recipient"):
        return stage
    if entry["cost"] == rm.COST_NONE:
        return "client"
    if stage == "relay":
        return stage
    if entry["cost"] in (rm.COST_DNS, rm.COST_EXTERNAL):
        return "recipient"
    return stage


def _parse_position(value, label):
    position = str(value or "last").strip()
    if position in POSITIONS:
        return position, None
    for kind in ("before", "after"):
        if position.startswith(kind + ":") and position[len(kind) + 1:].strip():
            return kind, position[len(kind) + 1:].strip()
    raise IntentError("%s: position %r must be first, last, before:NAME or after:NAME" % (label, value))


# --------------------------------------------------------------------------
# the builder


class _Builder(object):

    def __init__(self, intent):
        self.intent = intent or {}
        self.version_text = str(self.intent.get("postfix_version") or "").strip()
        self.version = _version_tuple(self.version_text)
        self.profile = self.intent.get("profile") or DEFAULT_PROFILE
        if self.profile not in PROFILES:
            raise IntentError("profile %r is not one of %s" % (self.profile, ", ".join(PROFILES)))
        self.strict = self.profile in ("strict", "paranoid")
        self.paranoid = self.profile == "paranoid"
        self.postscreen = bool(self.intent.get("postscreen"))
        self.parameters = {}
        self.classes = {}
        self.class_order = []
        self.tables = {}
        self.postmap = []
        # Tables the operator owns that the lists name (relay_recipient_maps).
        self.operator_tables = []
        self.config_directory = str(self.intent.get("config_directory") or DEFAULT_CONFIG_DIRECTORY).rstrip("/") or "/"
        self.warnings = []
        self.allowed_unfiltered = set()
        self.stages = dict((name, _Stage(name, guard=name in ("relay", "recipient"))) for name in BUILD_STAGES)
        self.verify_needed = False
        self.own_domains = []

    # -- helpers ----------------------------------------------------------

    def add_table(self, table, content, what, types=WRITABLE_TABLE_TYPES):
        table_type, path = _table(table, what, writable=True, types=types)
        if path in self.tables and self.tables[path] != content:
            raise IntentError("%s %s is also used for other content; give each table its own file" % (what, table))
        self.tables[path] = content
        if table_type in POSTMAP_TABLE_TYPES and table not in self.postmap:
            self.postmap.append(table)

    def add_class(self, name, entries, reason):
        problem = _cost_order_problem(entries)
        if problem:
            raise IntentError("restriction class %s runs %s before %s" % (name, problem[0]["text"], problem[1]["text"]))
        if any(e["action"] == rm.ACTION_PERMIT for e in entries):
            # A permit inside a class ends the whole list that selected it.
            raise IntentError("restriction class %s may not permit" % name)
        self.classes[name] = {"value": _stage_value(entries), "entries": entries, "reason": reason}
        self.class_order.append(name)

    def note_allowlist(self, label, stage, entry):
        """Say what an OK from a custom entry still exempts from, now that the lookups stand
        in the recipient list."""
        if entry["action"] not in (rm.ACTION_PERMIT, rm.ACTION_CHECK) or entry["name"] in AUTHENTICATING_PERMITS:
            return
        if stage in ("client", "helo", "sender"):
            self.warnings.append(
                "%s can answer OK, which ends only %s. Every DNS and policy check now stands in "
                "smtpd_recipient_restrictions (one cost order across the lists), so an OK there "
                "exempts from none of them; give the entry stage recipient if it should."
                % (label, rm.STAGE_PARAMETERS[stage]))
        elif stage == "recipient":
            entry["reason"] += (
                " An OK from it ends smtpd_recipient_restrictions, skipping every DNS and policy "
                "check after it (the blocklists included): list only what the client cannot forge.")

    # -- parts ------------------------------------------------------------

    def build_profile(self):
        st = self.stages
        p = self.parameters
        p["smtpd_helo_required"] = "yes"
        p["disable_vrfy_command"] = "yes"
        p["smtpd_reject_unlisted_recipient"] = "yes"
        p["unknown_local_recipient_reject_code"] = "550"
        # Client, HELO and sender lists run at RCPT time, so permit_sasl_authenticated
        # in them sees the login.
        p["smtpd_delay_reject"] = "yes"
        if has_feature(self.version, _SINCE_RELAY_BEFORE_RECIPIENT):
            p["smtpd_relay_before_recipient_restrictions"] = "yes"
        if self.strict:
            p["strict_rfc821_envelopes"] = "yes"
            p["smtpd_reject_unlisted_sender"] = "yes"
            p["unknown_address_reject_code"] = "550"
        if has_feature(self.version, _SINCE_FORBID_UNAUTH_PIPELINING):
            p["smtpd_forbid_unauth_pipelining"] = "yes"
        else:
            self.warnings.append(
                "Postfix %s has no smtpd_forbid_unauth_pipelining (3.5.20, 3.6.10, 3.7.6, 3.8.1, 3.9+); "
                "reject_unauth_pipelining in smtpd_data_restrictions covers the DATA command only."
                % self.version_text)
        if has_feature(self.version, _SINCE_BARE_NEWLINE_NORMALIZE):
            p["smtpd_forbid_bare_newline"] = "reject" if self.paranoid else "normalize"
        elif has_feature(self.version, _SINCE_FORBID_BARE_NEWLINE):
            p["smtpd_forbid_bare_newline"] = "yes"
        else:
            self.warnings.append(
                "Postfix %s has no smtpd_forbid_bare_newline (3.5.23, 3.6.13, 3.7.9, 3.8.4, 3.9+): it "
                "is open to SMTP smuggling; upgrade Postfix." % self.version_text)

        # The no-lookup checks of every stage go to the client list, which
        # smtpd evaluates first; every DNS check goes to the recipient list,
        # behind the relay guard and the local tables (see the module text).
        st["client"].rest.append(make_entry("reject_invalid_helo_hostname", REASONS["reject_invalid_helo_hostname"]))
        if self.strict:
            st["client"].rest.append(make_entry(
                "reject_non_fqdn_helo_hostname", REASONS["reject_non_fqdn_helo_hostname"]))
        st["client"].rest.append(make_entry("reject_non_fqdn_sender", REASONS["reject_non_fqdn_sender"]))
        st["client"].rest.append(make_entry("reject_non_fqdn_recipient", REASONS["reject_non_fqdn_recipient"]))

        if self.paranoid:
            st["recipient"].rest.append(make_entry(
                "reject_unknown_client_hostname", REASONS["reject_unknown_client_hostname"]))
        elif self.strict:
            st["recipient"].rest.append(make_entry(
                "reject_unknown_reverse_client_hostname", REASONS["reject_unknown_reverse_client_hostname"]))
        if self.paranoid:
            st["recipient"].rest.append(make_entry(
                "reject_unknown_helo_hostname", REASONS["reject_unknown_helo_hostname"]))
        st["recipient"].rest.append(make_entry(
            "reject_unknown_sender_domain", REASONS["reject_unknown_sender_domain"]))

        st["recipient"].head.append(make_entry(
            "reject_unlisted_recipient", REASONS["reject_unlisted_recipient"], applies_to="all"))

        st["data"].head.append(make_entry("reject_unauth_pipelining", REASONS["reject_unauth_pipelining"],
                                          applies_to="all"))
        st["data"].head.append(make_entry("reject_multi_recipient_bounce", REASONS["reject_multi_recipient_bounce"],
                                          applies_to="all"))

    def build_networks(self):
        self.parameters["mynetworks"] = " ".join(_networks(self.intent.get("trusted_networks")))

    def build_own_domains(self):
        domains = []
        for index, value in enumerate(self.intent.get("own_domains") or []):
            domain = _domain(value, "own_domains[%d]" % index)
            if domain not in domains:
                domains.append(domain)
        self.own_domains = domains
        if not domains:
            return
        table = str(self.intent.get("own_domains_table") or DEFAULT_OWN_DOMAINS_TABLE).strip()
        content = "".join(
            "%s REJECT 5.7.1 Mail from %s is accepted only from authenticated users\n" % (d, d) for d in domains)
        self.add_table(table, content, "own_domains_table")
        self.stages["recipient"].rest.append(make_entry(
            "check_sender_access %s" % table,
            "Local table: unauthenticated clients may not use our own domains (%s) as sender; "
            "behind the permits, so our users and trusted hosts still can." % ", ".join(domains),
            origin="own_domains"))

    def build_dnsbls(self):
        smtpd_lists = []
        postscreen_lists = []
        null_sender_lists = []
        seen = set()
        for index, item in enumerate(self.intent.get("dnsbls") or []):
            dnsbl = _dnsbl(item, "dnsbls[%d]" % index, self.postscreen)
            key = (dnsbl["name"], dnsbl["type"])
            if key in seen:
                raise IntentError("dnsbls[%d] (%s): the list is given twice for type %s"
                                  % (index, dnsbl["name"], dnsbl["type"]))
            seen.add(key)
            if dnsbl["type"] == "null_sender_client":
                null_sender_lists.append(dnsbl)
            elif self.postscreen and dnsbl["type"] == "client":
                postscreen_lists.append(dnsbl)
            else:
                smtpd_lists.append(dnsbl)
        for dnsbl in smtpd_lists:
            entry = _dnsbl_entry(dnsbl, "dnsbls", "smtpd")
            if not dnsbl["filter"]:
                self.allowed_unfiltered.add(entry["text"])
            # Every list type works in the recipient list under delayed reject,
            # where it follows every cheaper check.
            self.stages["recipient"].rest.append(entry)
        if null_sender_lists:
            entries = [_dnsbl_entry(d, "dnsbls", "bounces only") for d in null_sender_lists]
            self.add_class(NULL_SENDER_CLASS, entries,
                           "Blocklists of bounce sources, consulted only for the null sender.")
            table = str(self.intent.get("null_sender_table") or DEFAULT_NULL_SENDER_TABLE).strip()
            self.add_table(table, "<> %s\n" % NULL_SENDER_CLASS, "null_sender_table")
            self.stages["recipient"].rest.append(make_entry(
                "check_sender_access %s" % table,
                "Local table: selects class %s for the null sender (<>) only, so that bounce-source "
                "lists such as ips.backscatterer.org judge bounces and nothing else." % NULL_SENDER_CLASS,
                origin="dnsbls", classes=self.class_order, rank=1))
        if self.postscreen:
            self.build_postscreen(postscreen_lists)

    def build_postscreen(self, lists):
        threshold = self.intent.get("postscreen_threshold")
        if not lists:
            if threshold is not None:
                self.warnings.append("postscreen_threshold is ignored: no dnsbls of type client.")
            return
        positive = [d["weight"] for d in lists if d["weight"] > 0]
        if not positive:
            raise IntentError("postscreen: every client list has a negative weight; nothing can block")
        if threshold is None:
            # The list trusted most blocks on its own; weaker ones must agree.
            threshold = max(positive)
        threshold = int(threshold)
        if threshold < 1 or threshold > sum(positive):
            raise IntentError(
                "postscreen_threshold %d cannot be reached: the positive weights add up to %d"
                % (threshold, sum(positive)))
        self.parameters["postscreen_dnsbl_sites"] = _join(
            "%s*%d" % (d["argument"], d["weight"]) for d in lists)
        self.parameters["postscreen_dnsbl_threshold"] = str(threshold)
        self.parameters["postscreen_dnsbl_action"] = "enforce"
        self.warnings.append(
            "postscreen scores the client blocklists only where master.cf runs postscreen on port 25 "
            "(smtp inet ... postscreen, smtpd pass ... smtpd, dnsblog, tlsproxy); smtpd does not "
            "query them itself.")

    def build_policies(self):
        names = set()
        by_stage = dict((stage, {"all": [], "untrusted": []}) for stage in POLICY_STAGES)
        for index, item in enumerate(self.intent.get("policy_services") or []):
            policy = _policy(item, index)
            if policy["name"] in names:
                raise IntentError("policy_services[%d]: the name %s is used twice" % (index, policy["name"]))
            names.add(policy["name"])
            if policy["applies_to_authenticated"] and policy["stage"] == "recipient":
                raise IntentError(
                    "policy_services[%d] (%s) applies to authenticated clients but sits in the recipient "
                    "stage, where permit_sasl_authenticated must come before the external checks (and "
                    "would skip it). Put it in stage data or end_of_data; recipient_count is known there, "
                    "which is what per-user rate limits need" % (index, policy["name"]))
            text = policy_text(policy["endpoint"], policy["timeout"], policy["default_action"])
            if policy["applies_to_authenticated"]:
                reason = ("External policy %s for every client, authenticated and trusted ones included; "
                          "ahead of any permit, after the cheap checks. Times out after %s, then %s."
                          % (policy["name"], policy["timeout"], policy["default_action"]))
                entry = make_entry(text, reason, applies_to="all", origin="policy_services")
                by_stage[policy["stage"]]["all"].append((index, policy, entry))
            else:
                where = "after reject_unauth_destination and " if policy["stage"] == "recipient" else ""
                reason = ("External policy %s for untrusted clients, %safter every cheaper check of the "
                          "stage. Times out after %s, then %s."
                          % (policy["name"], where, policy["timeout"], policy["default_action"]))
                entry = make_entry(text, reason, origin="policy_services")
                by_stage[policy["stage"]]["untrusted"].append((index, policy, entry))
        for stage, groups in by_stage.items():
            if groups["all"] and groups["untrusted"]:
                first_all, first_untrusted = groups["all"][0], groups["untrusted"][0]
                raise IntentError(
                    "policy_services[%d] (%s) applies to authenticated clients and policy_services[%d] (%s) "
                    "does not, both in stage %s: the first must run before permit_sasl_authenticated, "
                    "the second after it, and a permit after an external check costs every trusted "
                    "client the lookup. Move one of them to %s"
                    % (first_all[0], first_all[1]["name"], first_untrusted[0], first_untrusted[1]["name"],
                       stage, "end_of_data" if stage == "data" else "data"))
            self.stages[stage].head.extend(e for _i, _p, e in groups["all"])
            self.stages[stage].rest.extend(e for _i, _p, e in groups["untrusted"])

    def build_forwarding(self):
        forwarding = self.intent.get("forwarding")
        if not forwarding:
            return
        table = str(forwarding.get("recipients_table") or "").strip()
        if not table:
            raise IntentError("forwarding.recipients_table is required: the table that lists forwarding recipients")
        _table(table, "forwarding.recipients_table")
        name = _class_name(forwarding.get("class") or DEFAULT_FORWARDING_CLASS, "forwarding.class",
                           self.class_order)
        entries = []
        if not self.strict:
            entries.append(make_entry(
                "reject_non_fqdn_helo_hostname",
                "No lookup: the provider we forward to judges the HELO name; the baseline profile "
                "does not check it for everyone.", origin="forwarding"))
            entries.append(make_entry(
                "reject_unknown_reverse_client_hostname",
                "DNS: providers we forward to refuse clients without reverse DNS; refuse them here "
                "before their mail becomes a bounce from us.", origin="forwarding"))
        for index, item in enumerate(forwarding.get("dnsbls") or []):
            dnsbl = _dnsbl(item, "forwarding.dnsbls[%d]" % index, False,
                           restrict_types=("client", "reverse_client", "helo", "sender"))
            entries.append(_dnsbl_entry(dnsbl, "forwarding", "forwarded mail only"))
        spf = forwarding.get("spf_policy")
        if spf:
            endpoint = str(spf).strip()
            if not _ENDPOINT_RE.match(endpoint):
                raise IntentError(
                    "forwarding.spf_policy %r is not a policy server address: inet:host:port or unix:path "
                    "(e.g. unix:private/policyd-spf)" % (spf,))
            timeout = str(forwarding.get("spf_timeout") or "10s").strip()
            if _time_value(timeout, "forwarding.spf_timeout") > _MAX_POLICY_TIMEOUT:
                raise IntentError("forwarding.spf_timeout %s is longer than smtpd waits for a client (300s)" % timeout)
            entries.append(make_entry(
                policy_text(endpoint, timeout, "DUNNO"),
                "External SPF policy for forwarded mail: mail that fails SPF here would fail again at the "
                "provider we forward to and bounce from us. Times out after %s, then DUNNO (a dead SPF "
                "server does not stop mail)." % timeout, origin="forwarding"))
        entries.sort(key=lambda e: rm.COST_RANK[e["cost"]])
        recipients = _forwarding_addresses(forwarding.get("recipients"), "forwarding.recipients")
        verified = _forwarding_addresses(forwarding.get("verify_recipients"), "forwarding.verify_recipients")
        verified_set = set(verified)
        recipients = [r for r in recipients if r not in verified_set]
        # A one-to-one virtual alias can be verified at the remote end before
        # we accept; it gets a second class: the first one's checks, then the
        # probe, the most expensive check of all.
        verify = bool(verified) or bool(forwarding.get("verify_one_to_one"))
        if not entries and not verify:
            raise IntentError(
                "forwarding selects class %s but gives it nothing stricter to check with the %s profile: "
                "give spf_policy, dnsbls or verify_recipients" % (name, self.profile))
        if not entries and recipients:
            raise IntentError(
                "forwarding.recipients get nothing stricter with the %s profile: give spf_policy or dnsbls, "
                "or list only one-to-one aliases in verify_recipients" % self.profile)
        table_lines = []
        if entries:
            self.add_class(name, entries,
                           "Stricter checks for recipients whose mail is forwarded off-site, where a refusal "
                           "after acceptance becomes backscatter.")
            table_lines.extend("%s %s\n" % (r, name) for r in recipients)
        if verify:
            verified_name = _class_name(name + "_verified", "forwarding.class", self.class_order)
            self.add_class(verified_name, entries + [make_entry(
                "reject_unverified_recipient",
                "External: probes the remote address of a one-to-one virtual alias before we accept; "
                "an address the other provider does not know is refused here instead of bounced "
                "later.", origin="forwarding")],
                "The forwarding checks plus verification of the remote address, for one-to-one "
                "virtual aliases.")
            table_lines.extend("%s %s\n" % (r, verified_name) for r in verified)
            self.verify_needed = True
        if table_lines:
            self.add_table(table, "".join(table_lines), "forwarding.recipients_table")
        self.stages["recipient"].rest.append(make_entry(
            "check_recipient_access %s" % table,
            "Local table lookup that selects the forwarding class for recipients who forward off-site; "
            "only their mail pays for the class's DNS and external checks. Last among the local "
            "checks, since the class it selects may look things up.",
            origin="forwarding", classes=self.class_order, rank=1))

    def build_relay(self):
        domains = []
        for index, value in enumerate(self.intent.get("relay_domains") or []):
            domain = _domain(value, "relay_domains[%d]" % index)
            if domain not in domains:
                domains.append(domain)
        maps = str(self.intent.get("relay_recipient_maps") or "").strip()
        verify = bool(self.intent.get("relay_recipient_verification"))
        tables = operator_tables(maps, "relay_recipient_maps", self.config_directory)
        if verify and maps:
            raise IntentError(
                "relay_recipient_maps lists the valid relay recipients and relay_recipient_verification "
                "probes for them instead: choose one")
        if verify and not domains:
            raise IntentError("relay_recipient_verification needs relay_domains: the domains whose recipients to probe")
        if domains and not (maps or verify):
            raise IntentError(
                "relay_domains (%s) without relay_recipient_maps or relay_recipient_verification accepts "
                "every recipient of those domains; the unknown ones bounce to forged senders "
                "(backscatter)" % ", ".join(domains))
        if not domains:
            return
        self.parameters["relay_domains"] = _join(domains)
        self.parameters["relay_recipient_maps"] = maps
        self.operator_tables.extend(tables)
        if not verify:
            return
        self.add_class(RELAY_VERIFY_CLASS, [make_entry(
            "reject_unverified_recipient", REASONS["reject_unverified_recipient"], origin="relay")],
            "Recipient verification for relay domains that have no recipient table.")
        table = str(self.intent.get("relay_verification_table") or DEFAULT_RELAY_VERIFICATION_TABLE).strip()
        self.add_table(table, "".join("%s %s\n" % (d, RELAY_VERIFY_CLASS) for d in domains),
                       "relay_verification_table")
        self.stages["recipient"].rest.append(make_entry(
            "check_recipient_access %s" % table,
            "Local table lookup that selects class %s for the relay domains (%s): their recipients "
            "are probed at the next hop, since no table lists them." % (RELAY_VERIFY_CLASS, ", ".join(domains)),
            origin="relay", classes=self.class_order, rank=1))
        self.verify_needed = True

    def build_verify_parameters(self):
        if not self.verify_needed:
            return
        p = self.parameters
        # 550 for a recipient the next hop refused; 450 while the probe is pending
        # (250 there would accept and bounce later).
        p["unverified_recipient_reject_code"] = "550"
        p["unverified_recipient_defer_code"] = "450"
        p["unverified_recipient_tempfail_action"] = "defer_if_permit"
        p["address_verify_map"] = "btree:$data_directory/verify_cache"

    def build_custom(self):
        pinned = []
        for index, item in enumerate(self.intent.get("custom") or []):
            stage = item.get("stage")
            label = "custom[%d]" % index
            if stage not in BUILD_STAGES:
                raise IntentError("%s: stage %r is not one of %s" % (label, stage, ", ".join(BUILD_STAGES)))
            text = str(item.get("entry") or "").strip()
            label = "custom[%d] (%s in %s)" % (index, text, stage)
            try:
                entry = make_entry(text, "Custom entry from the intent.", origin="custom", classes=self.class_order)
            except ValueError as exc:
                raise IntentError("%s cannot be parsed: %s" % (label, exc))
            if not entry["known"]:
                raise IntentError(
                    "%s: %s is not a Postfix restriction; smtpd would answer 4xx to every request "
                    "that reaches it" % (label, entry["name"]))
            if entry["name"] in REFUSED_RESTRICTIONS:
                raise IntentError("%s: %s" % (label, REFUSED_RESTRICTIONS[entry["name"]]))
            # The operator's table behind a check_*_access entry: smtpd answers
            # 451 to every client while it is missing or not compiled, so the
            # caller checks it before the lists go live, like relay_recipient_maps.
            # (inline:{...} and static:{...} hold their content: no file.)
            if _ACCESS_CHECK_RE.match(entry["name"]) and entry["args"] and "{" not in entry["args"][0]:
                for table in operator_tables(entry["args"][0], label, self.config_directory):
                    if table not in self.operator_tables:
                        self.operator_tables.append(table)
            if entry["name"] in self.class_order:
                raise IntentError("%s: class %s is managed by this module; do not place it by hand" % (label, entry["name"]))
            if entry["name"] in rm.DNSBL_RESTRICTIONS:
                argument = entry["args"][0]
                if not rm.dnsbl_has_reply_filter(argument):
                    raise IntentError(
                        "%s has no reply filter; give name=filter, or use the dnsbls option, where "
                        "allow_unfiltered can accept an unfiltered list" % label)
                domain, _sep, reply_filter = argument.partition("=")
                _dnsbl({"name": domain, "filter": reply_filter.split("*")[0], "type": "client",
                        "weight": -1 if entry["action"] == rm.ACTION_PERMIT else 1},
                       label, True)
            position, anchor = _parse_position(item.get("position"), label)
            if entry["name"] == "warn_if_reject" and position != "before":
                raise IntentError(
                    "%s: warn_if_reject changes the restriction right after it; pin it with "
                    "position before:NAME so that it is clear which one" % label)
            entry["pinned"] = position in ("first", "before", "after")
            entry["reason"] = "Custom entry from the intent (position %s)%s." % (
                item.get("position") or "last",
                "; placed by cost among the checks for untrusted clients" if position == "last" else "")
            if position == "last" and entry["name"] in ("permit", "reject", "defer"):
                entry["reason"] = "Custom entry from the intent: the explicit end of the list."
                self.stages[stage].tail.append(entry)
            elif position == "last":
                self.note_allowlist(label, stage, entry)
                target = _global_stage(stage, entry)
                if target != stage:
                    entry["reason"] = (
                        "Custom entry from the intent (stage %s, position last), placed in %s with the "
                        "other %s checks: it only refuses, and under smtpd_delay_reject = yes it gives "
                        "the same answer there, in the cost order of the whole chain."
                        % (stage, rm.STAGE_PARAMETERS[target],
                           "no-lookup" if entry["cost"] == rm.COST_NONE else entry["cost"]))
                self.stages[target].rest.append(entry)
            else:
                pinned.append((index, label, stage, position, anchor, entry))
        return pinned

    # -- assembly -----------------------------------------------------------

    def flatten(self, pinned):
        result = {}
        for stage in BUILD_STAGES:
            parts = self.stages[stage]
            expensive_head = [e for e in parts.head if rm.COST_RANK[e["cost"]] >= rm.COST_RANK[rm.COST_DNS]]
            if expensive_head and (parts.rest or parts.tail):
                raise IntentError(
                    "the %s stage holds '%s' for every client and '%s' for untrusted clients only: the "
                    "second needs permit_mynetworks and permit_sasl_authenticated before it, which would "
                    "then follow an external check. Move one of them to another stage"
                    % (stage, expensive_head[0]["text"], (parts.rest or parts.tail)[0]["text"]))
            result[stage] = parts.entries()
        for index, label, stage, position, anchor, entry in pinned:
            entries = result[stage]
            if position == "first":
                at = 0
            else:
                matches = [i for i, e in enumerate(entries) if anchor in (e["name"], e["text"])]
                if not matches:
                    elsewhere = [other for other in BUILD_STAGES if other != stage and any(
                        anchor in (e["name"], e["text"]) for e in result[other])]
                    raise IntentError(
                        "%s: position %s:%s names no entry of the %s stage (it holds: %s)%s"
                        % (label, position, anchor, stage, ", ".join(e["name"] for e in entries) or "nothing",
                           "; %s stands in the %s stage (no-lookup checks in the client list, lookups "
                           "in the recipient list: one cost order across the lists)"
                           % (anchor, elsewhere[0]) if elsewhere else ""))
                at = matches[0] if position == "before" else matches[-1] + 1
            self.check_relay_position(label, stage, entries, at, entry)
            entries.insert(at, entry)
        for stage in BUILD_STAGES:
            entries = result[stage]
            for position, entry in enumerate(entries):
                following = entries[position + 1] if position + 1 < len(entries) else None
                if entry["name"] == "warn_if_reject" and (following is None or following["name"] in rm.RELAY_GUARDS):
                    raise IntentError(
                        "warn_if_reject in the %s stage would %s: %s" % (
                            stage, "modify nothing" if following is None else
                            "turn %s into a mere warning (open relay)" % following["name"],
                            "pin it before the restriction it should soften"))
            problem = _cost_order_problem(result[stage])
            if problem and problem[1] in self.stages[stage].tail:
                raise IntentError(
                    "the custom entry '%s' at the end of the %s stage would follow '%s' (%s), which the "
                    "audit reads as a cheap check behind an expensive one. %s" % (
                        problem[1]["text"], stage, problem[0]["text"], problem[0]["cost"],
                        "A list that ends without a decision already lets the request go on; leave the "
                        "permit out" if problem[1]["name"] == "permit" else
                        "Put it in a stage without DNS or external checks"))
            if problem:
                culprit = [e for e in problem if e["origin"] == "custom"]
                raise IntentError(
                    "%s: in the %s stage, '%s' (%s) would run before '%s' (%s): every request would pay "
                    "for the lookup even when the cheap check decides. Use position last, or pin it "
                    "after the cheap checks" % (
                        "the custom entry '%s'" % culprit[0]["text"] if culprit else "the computed list",
                        stage, problem[0]["text"], problem[0]["cost"], problem[1]["text"], problem[1]["cost"]))
        chain = fnd.rcpt_chain(dict((stage, {"entries": result[stage]}) for stage in BUILD_STAGES),
                               self.parameters)
        problem = fnd.chain_order_problem(chain)
        if problem:
            expensive_stage, expensive, cheap_stage, cheap = problem
            why = ("since smtpd evaluates the client, helo and sender lists before the relay and "
                   "recipient lists: every request would pay for the lookup even when the cheap check "
                   "refuses it")
            if expensive["origin"] == "custom":
                raise IntentError(
                    "the custom entry '%s' (%s) in the %s stage would run before '%s' (%s) in the %s "
                    "stage, %s. Give it stage recipient (position last), where it follows the "
                    "relay guard and the local tables" % (
                        expensive["text"], expensive["cost"], expensive_stage, cheap["text"], cheap["cost"],
                        cheap_stage, why))
            raise IntentError(
                "%s '%s' (%s) in the %s stage would run after '%s' (%s) in the %s stage, %s. Give "
                "the lookup stage recipient, or pin the cheap check ahead of it" % (
                    "the custom entry" if cheap["origin"] == "custom" else "the computed lists put",
                    cheap["text"], cheap["cost"], cheap_stage, expensive["text"], expensive["cost"],
                    expensive_stage, why))
        return result

    def check_relay_position(self, label, stage, entries, at, entry):
        if stage not in ("relay", "recipient"):
            return
        guard = [i for i, e in enumerate(entries) if e["name"] == "reject_unauth_destination"]
        if not guard or at > guard[0]:
            return
        name = entry["name"]
        if entry["action"] == rm.ACTION_PERMIT and name not in AUTHENTICATING_PERMITS:
            raise IntentError(
                "%s puts %s ahead of reject_unauth_destination: an unauthenticated client that passes "
                "it relays mail to any domain (open relay). Place it after reject_unauth_destination "
                "(position last)" % (label, name))
        if entry["action"] == rm.ACTION_CHECK and name not in TRUSTED_ACCESS_CHECKS:
            raise IntentError(
                "%s puts %s ahead of reject_unauth_destination: an OK from it lets anyone who can fake "
                "what it looks up relay mail to any domain. Only checks on what the client proves "
                "(check_client_access, check_ccert_access, check_sasl_access) may stand there"
                % (label, name))

    def build_submission(self):
        submission = self.intent.get("submission")
        services = {SMTP_SERVICE: {}}
        stages = {}
        if submission is None or not submission.get("enabled", True):
            return services, stages
        if not submission.get("sasl", True):
            raise IntentError(
                "submission.sasl is false: the submission services built here are for authenticated "
                "users only, and without SASL nobody could use them. Enable SASL or leave submission off")
        keys = submission.get("services")
        if keys is None:
            keys = list(DEFAULT_SUBMISSION_SERVICES)
        if not keys:
            raise IntentError("submission.services is empty: name the master.cf services, e.g. submission/inet")
        login_maps = self.sender_login_maps(submission)
        for index, key in enumerate(keys):
            key = str(key).strip()
            if not _SERVICE_RE.match(key) or key == SMTP_SERVICE:
                raise IntentError(
                    "submission.services[%d] %r is not a submission service: name/inet, e.g. "
                    "submission/inet or smtps/inet (smtp/inet is port 25 and keeps main.cf's lists)" % (index, key))
            overrides, service_stages = self.submission_service(key, submission, login_maps)
            services[key] = overrides
            stages[key] = service_stages
        return services, stages

    def sender_login_maps(self, submission):
        """The smtpd_sender_login_maps of the submission services ('' for none).

        A table is the operator's. ``local_users``: a login owns its name at
        each own domain (u1 owns u1@example.org), as with system or sasldb
        users; ``virtual_users``: a login is the address it owns, as with
        mailbox users who log in with their address. Both write a regexp
        table of the own domains. Extension addresses (u1+tag@) have no owner
        there: with a delimiter such as '-' the part before it may be another
        user's name.
        """
        value = str(submission.get("sender_login_maps") or "").strip()
        if not value:
            return ""
        if value not in SENDER_LOGIN_KEYWORDS:
            if ":" not in value:
                raise IntentError(
                    "submission.sender_login_maps %r is neither a table (type:name) nor one of %s"
                    % (value, ", ".join(SENDER_LOGIN_KEYWORDS)))
            _table(value, "submission.sender_login_maps")
            return value
        if not self.own_domains:
            raise IntentError(
                "submission.sender_login_maps %s needs own_domains: the table it writes says which "
                "addresses of the own domains each login owns" % value)
        table = str(submission.get("sender_login_table") or DEFAULT_SENDER_LOGIN_TABLE).strip()
        table = pv.expand_config_directory(table, self.config_directory)
        domains = "|".join(d.replace(".", "\\.") for d in self.own_domains)
        if value == "local_users":
            line = "/^([^@]+)@(%s)$/ ${1}\n" % domains
        else:
            line = "/^([^@]+@(%s))$/ ${1}\n" % domains
        self.add_table(table, "# The login that owns each address (smtpd_sender_login_maps, %s).\n%s"
                       % (value, line), "submission.sender_login_table", types=("regexp",))
        return table

    def submission_service(self, key, submission, login_maps):
        port = key.split("/", 1)[0].rsplit(":", 1)[-1]
        wrapper = port in ("smtps", "submissions", "465")
        overrides = {}
        tls_required = submission.get("tls_required", True)
        if wrapper:
            overrides["smtpd_tls_wrappermode"] = "yes"
            overrides["smtpd_tls_security_level"] = "encrypt"
        else:
            overrides["smtpd_tls_security_level"] = "encrypt" if tls_required else "may"
        overrides["smtpd_sasl_auth_enable"] = "yes"
        # Passwords never travel in clear, whatever tls_required says about mail.
        overrides["smtpd_tls_auth_only"] = "yes"
        if submission.get("sasl_type"):
            overrides["smtpd_sasl_type"] = str(submission["sasl_type"])
        if submission.get("sasl_path"):
            overrides["smtpd_sasl_path"] = str(submission["sasl_path"])
        if login_maps:
            overrides["smtpd_sender_login_maps"] = login_maps

        def only_authenticated(*checks):
            entries = [make_entry(text, reason, applies_to="all", origin="submission") for text, reason in checks]
            entries.append(make_entry("permit_sasl_authenticated",
                                      "Authenticated users are the ones this service serves.",
                                      applies_to="trusted", origin="submission"))
            entries.append(make_entry("reject", REASONS["reject"], origin="submission"))
            return entries

        sender_checks = [("reject_non_fqdn_sender", REASONS["reject_non_fqdn_sender"])]
        if login_maps:
            sender_checks.append(("reject_authenticated_sender_login_mismatch",
                                  REASONS["reject_authenticated_sender_login_mismatch"]))
        lists = {
            "client": only_authenticated(),
            # MUAs announce whatever HELO name they like; the login is what counts here.
            "helo": [],
            "sender": only_authenticated(*sender_checks),
            "relay": [make_entry("permit_sasl_authenticated", "Authenticated users may relay.",
                                 applies_to="trusted", origin="submission"),
                      make_entry("reject_unauth_destination", REASONS["reject_unauth_destination"],
                                 origin="submission")],
            "recipient": only_authenticated(("reject_non_fqdn_recipient", REASONS["reject_non_fqdn_recipient"])),
        }
        service_stages = {}
        for stage, entries in lists.items():
            param = rm.STAGE_PARAMETERS[stage]
            # master.cf -o values cannot hold whitespace (postconf -P refuses it).
            overrides[param] = ",".join(e["text"] for e in entries)
            if any(" " in e["text"] for e in entries):
                raise IntentError("%s: %s would need whitespace in master.cf" % (key, param))
            service_stages[stage] = entries
        return overrides, service_stages

    # -- output -------------------------------------------------------------

    def managed_classes(self):
        """Every restriction class name these lists may write, used now or not, so that a caller can
        remove one that an earlier run wrote and the lists no longer use."""
        forwarding = str((self.intent.get("forwarding") or {}).get("class") or DEFAULT_FORWARDING_CLASS).strip()
        return sorted({forwarding, forwarding + "_verified", RELAY_VERIFY_CLASS, NULL_SENDER_CLASS})

    def run(self):
        self.build_profile()
        self.build_networks()
        self.build_own_domains()
        self.build_dnsbls()
        self.build_relay()
        self.build_forwarding()
        self.build_policies()
        self.build_verify_parameters()
        pinned = self.build_custom()
        flat = self.flatten(pinned)
        services, service_entries = self.build_submission()

        _annotate_places(flat)
        stages = {}
        for stage in BUILD_STAGES:
            param = rm.STAGE_PARAMETERS[stage]
            stages[stage] = {
                "parameter": param,
                "value": _stage_value(flat[stage]),
                "entries": [_public_entry(e) for e in flat[stage]],
            }
            self.parameters[param] = stages[stage]["value"]
        if self.class_order:
            self.parameters["smtpd_restriction_classes"] = _join(self.class_order)
            for name in self.class_order:
                self.parameters[name] = self.classes[name]["value"]

        service_stages = {}
        for key, overrides in services.items():
            merged = dict(self.parameters)
            merged.update(overrides)
            parsed = pc.stage_lists(merged, overrides)
            view = {}
            own = service_entries.get(key, {})
            for stage in BUILD_STAGES:
                info = parsed[stage]
                view[stage] = {
                    "parameter": info["parameter"],
                    "source": info["source"],
                    "value": info["value"],
                    "entries": [_public_entry(e) for e in own[stage]] if stage in own
                    else stages[stage]["entries"],
                }
            service_stages[key] = view

        result = {
            "stages": stages,
            "evaluation_order": evaluation_order(flat, self.parameters),
            "restriction_classes": dict(
                (name, {"value": self.classes[name]["value"], "reason": self.classes[name]["reason"],
                        "entries": [_public_entry(e) for e in self.classes[name]["entries"]]})
                for name in self.class_order),
            "parameters": self.parameters,
            "services": services,
            "service_parameters": dict(
                ("%s/%s" % (key, name), value)
                for key, overrides in services.items() for name, value in overrides.items()),
            "service_stages": service_stages,
            "tables": self.tables,
            "postmap": self.postmap,
            "operator_tables": self.operator_tables,
            "managed_classes": self.managed_classes(),
            "warnings": self.warnings,
        }
        result["findings"] = judge(result)
        blocking = blocking_findings(result["findings"], self.allowed_unfiltered)
        if blocking:
            raise IntentError("the computed lists fail the self-check: %s" % "; ".join(
                "%s %s: %s" % (f["service"], f["parameter"], f["message"]) for f in blocking))
        return result


def _annotate_places(flat):
    """Add to the reason of each placed check where it stands in the chain, and why there."""
    for stage in ("client", "recipient"):
        for entry in flat[stage]:
            where = _WHERE.get((stage, entry["cost"]))
            if where and entry["applies_to"] == "untrusted" and entry["origin"] != "custom" \
                    and entry["name"] not in rm.RELAY_GUARDS and where not in entry["reason"]:
                entry["reason"] = "%s %s" % (entry["reason"], where)


def evaluation_order(flat, parameters):
    """The unauthenticated path of one RCPT command on port 25, in smtpd's order.

    One item per entry smtpd evaluates for a client that is neither trusted
    nor authenticated, with its position, list, cost and action; the permits
    of the gate are listed too (they are evaluated, and decide nothing for
    such a client).
    """
    chain = fnd.rcpt_chain(dict((stage, {"entries": flat[stage]}) for stage in BUILD_STAGES), parameters)
    return [{"position": index, "stage": stage, "parameter": rm.STAGE_PARAMETERS[stage],
             "text": entry["text"], "cost": entry["cost"], "action": entry["action"],
             "applies_to": entry["applies_to"]}
            for index, (stage, entry) in enumerate(chain)]


def _public_entry(entry):
    keys = ("text", "name", "cost", "applies_to", "origin", "reason")
    public = dict((k, entry.get(k)) for k in keys)
    public["pinned"] = bool(entry.get("pinned"))
    return public


def judge(result):
    """Findings on the computed main.cf lists and on each service's overrides.

    The lists are parsed again from their text, exactly as ``postfix_facts``
    parses a live host, so the self-check sees what an audit after applying
    them would see.
    """
    values = dict(result["parameters"])
    main_stages = pc.stage_lists(values)
    found = fnd.stage_findings(MAIN_CF, main_stages, values, values)
    main_relay_open = rm.relay_path(main_stages["relay"]["entries"],
                                    main_stages["recipient"]["entries"])[0] != "closed"
    for key in sorted(result["services"]):
        overrides = result["services"][key]
        if not overrides:
            continue
        merged = dict(values)
        merged.update(overrides)
        stages = pc.stage_lists(merged, overrides)
        found.extend(fnd.stage_findings(key, stages, merged, values, overridden=set(overrides),
                                        label_override=not main_relay_open))
    return found


def blocking_findings(found, allowed_unfiltered=()):
    """Relay and order findings, except unfiltered blocklists the intent allowed (by entry text)."""
    allowed = set(allowed_unfiltered)
    blocking = []
    for item in found:
        if item["category"] not in (fnd.CATEGORY_RELAY, fnd.CATEGORY_ORDER):
            continue
        if item["id"] == "dnsbl-without-reply-filter" and any(
                item["message"].startswith("'%s' " % text) for text in allowed):
            continue
        blocking.append(item)
    return blocking


def build(intent):
    """Compute the restriction lists for ``intent``; raises IntentError when refused."""
    return _Builder(intent).run()
