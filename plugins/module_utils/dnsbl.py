# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS blocklists: what to ask, what the answers mean, and whether a list can be trusted.

Postfix counts a DNS error as "not listed" and, without a reply filter, any
answer as "listed". Both failures are silent. This module keeps the three
outcomes apart: an answer the filter accepts is a listing, NXDOMAIN (or no A
record) is not, and everything else (SERVFAIL, REFUSED, a timeout, the
127.255.255.x codes lists use to refuse a query, an answer outside
127.0.0.0/8) is an error that says neither.

Two checks are built on that:

- listing: are these addresses and names listed, per list, with the codes and
  the TXT reason;
- health: does a list answer its RFC 5782 test points (127.0.0.2 or ``test``
  listed, 127.0.0.1 or ``invalid`` not), does it list everything, does it
  answer at all, and how fast.

It uses only the standard library and, for real lookups, dnspython, and knows
nothing of Ansible: the module mailguard.postfix.dnsbl_check and the watch
script the harden role installs on a host (roles/harden/files) both import it,
so they can never disagree on what an answer means. Queries go through a
resolver object with one method, ``query(name, rdtype)``; tests give a fake.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import time
import uuid

try:
    from concurrent.futures import ThreadPoolExecutor
except ImportError:  # pragma: no cover - Python 2 has no pool; the module needs Python 3
    ThreadPoolExecutor = None

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None
except ImportError as exc:  # reported by the caller with its own words
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = exc

KINDS = ("ip", "domain")

# Outcomes of one DNS query.
ANSWER = "answer"
NXDOMAIN = "nxdomain"
NODATA = "nodata"
SERVFAIL = "servfail"
REFUSED = "refused"
TIMEOUT = "timeout"
NETWORK_ERROR = "network_error"
OTHER_RCODE = "other_rcode"
FAILED_OUTCOMES = (SERVFAIL, REFUSED, TIMEOUT, NETWORK_ERROR, OTHER_RCODE)

# What one answer means for one queried address or name.
LISTED = "listed"
NOT_LISTED = "not_listed"
ERROR = "error"

# Health problems, most fundamental first: the first one found is the verdict.
NO_ANSWER = "no_answer"
ERROR_ANSWER = "error_answer"
BAD_ANSWER = "bad_answer"
LISTS_EVERYTHING = "lists_everything"
FILTER_MISMATCH = "filter_mismatch"
TEST_POINT_MISSING = "test_point_missing"
PROBLEMS = (NO_ANSWER, ERROR_ANSWER, BAD_ANSWER, LISTS_EVERYTHING, FILTER_MISMATCH, TEST_POINT_MISSING)

# Answers in 127.255.255.0/24 are a list refusing the query, never a listing.
# The texts are the meanings Spamhaus documents; other lists use the range
# the same way or not at all.
ERROR_NETWORK = ipaddress.ip_network(u"127.255.255.0/24")
LOOPBACK_NETWORK = ipaddress.ip_network(u"127.0.0.0/8")
ERROR_CODE_MEANINGS = {
    "127.255.255.252": "the query was refused (a typo in a query key)",
    "127.255.255.254": "the query came through a public or open resolver, which the list refuses",
    "127.255.255.255": "too many queries from this resolver",
}

# The lists a mail server most often lands on. zen and dbl refuse queries
# from public resolvers (127.255.255.254), which this module reports as an
# error, never as clean. ips.backscatterer.org lists servers that send
# bounces and sender callouts: the list to watch for an MX.
DEFAULT_LISTS = (
    {"name": "ips.backscatterer.org", "kind": "ip", "filter": "127.0.0.2"},
    {"name": "zen.spamhaus.org", "kind": "ip", "filter": "127.0.0.[2..11]"},
    {"name": "bl.spamcop.net", "kind": "ip", "filter": "127.0.0.2"},
    {"name": "b.barracudacentral.org", "kind": "ip", "filter": "127.0.0.2"},
    {"name": "dbl.spamhaus.org", "kind": "domain", "filter": "127.0.1.[2..99]"},
)

RANDOM_PROBE = "a random name no list can have"

# RFC 5782 section 5 test points: (query key, expected), per kind.
TEST_POINTS = {
    "ip": (("127.0.0.2", True), ("127.0.0.1", False)),
    "domain": (("test", True), ("invalid", False)),
}

_OCTET_RE = r"(?:\d{1,3}|\[\d{1,3}(?:\.\.\d{1,3})?(?:;\d{1,3}(?:\.\.\d{1,3})?)*\])"
_FILTER_RE = re.compile(r"^%s\.%s\.%s\.%s$" % ((_OCTET_RE,) * 4))
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_IP_ADDR_LINE_RE = re.compile(r"\binet6?\s+([0-9A-Fa-f.:]+)/\d+\b.*\bscope\s+global\b")


class DnsblError(ValueError):
    """Bad input: a list, filter, address or name that cannot be queried."""


# ---------------------------------------------------------------------------
# Reply filters, in Postfix's syntax
# ---------------------------------------------------------------------------

def parse_filter(text):
    """``127.0.0.[2..11]`` -> four frozensets of accepted octet values.

    Postfix's syntax (postconf(5), reject_rbl_client and
    postscreen_dnsbl_sites, 2.8 and later): four dot-separated fields, each a
    number or a ``[...]`` of ``;``-separated numbers and ``low..high`` ranges.
    """
    text = (text or "").strip()
    if not _FILTER_RE.match(text):
        raise DnsblError(
            "%r is not a Postfix reply filter: give d.d.d.d where each d is a number or a "
            "[...] of ;-separated numbers and low..high ranges, e.g. 127.0.0.[2..11] or "
            "127.0.0.[2;4;10]" % text)
    octets = []
    for field in re.findall(r"\[[^\]]*\]|\d+", text):
        allowed = set()
        for item in field.strip("[]").split(";"):
            low, _sep, high = item.partition("..")
            low, high = int(low), int(high or low)
            if high > 255 or low > high:
                raise DnsblError("reply filter %r: %r is not a range of octets (0..255, low first)" % (text, item))
            allowed.update(range(low, high + 1))
        octets.append(frozenset(allowed))
    return tuple(octets)


def filter_accepts(octets, address):
    """Whether a parsed filter accepts the dotted-quad ``address``; no filter accepts any."""
    if octets is None:
        return True
    try:
        values = [int(part) for part in address.split(".")]
    except ValueError:
        return False
    return len(values) == 4 and all(value in allowed for value, allowed in zip(values, octets))


# ---------------------------------------------------------------------------
# Lists and query names
# ---------------------------------------------------------------------------

def normalize_domain(value, what="name"):
    """Lower-case domain name without the trailing dot; DnsblError when it is none."""
    domain = str(value or "").strip().lower().rstrip(".")
    labels = domain.split(".")
    if not domain or len(domain) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise DnsblError("%s %r is not a domain name" % (what, value))
    return domain


class Blocklist(object):
    """One list: its zone, what it lists (``ip`` or ``domain``) and its reply filter."""

    def __init__(self, name, kind="ip", reply_filter=""):
        self.name = normalize_domain(name, "blocklist")
        if kind not in KINDS:
            raise DnsblError("blocklist %s: kind %r is not one of %s" % (self.name, kind, ", ".join(KINDS)))
        self.kind = kind
        self.filter = (reply_filter or "").strip()
        try:
            self.octets = parse_filter(self.filter) if self.filter else None
        except DnsblError as exc:
            raise DnsblError("blocklist %s: %s" % (self.name, exc))

    def describe(self):
        return "%s (%s list, %s)" % (
            self.name, self.kind, "filter %s" % self.filter if self.filter else "no filter: any answer lists")

    def as_dict(self):
        return {"name": self.name, "kind": self.kind, "filter": self.filter}


def parse_lists(items):
    """Blocklists from names or dicts {name, kind, filter}; DnsblError names the bad item."""
    lists = []
    for index, item in enumerate(items or ()):
        if isinstance(item, dict):
            unknown = sorted(set(item) - set(("name", "kind", "filter")))
            if unknown:
                raise DnsblError("lists[%d]: unknown key(s) %s; a list has name, kind and filter"
                                 % (index, ", ".join(unknown)))
            try:
                lists.append(Blocklist(item.get("name"), item.get("kind") or "ip", item.get("filter") or ""))
            except DnsblError as exc:
                raise DnsblError("lists[%d]: %s" % (index, exc))
        elif isinstance(item, str):
            try:
                lists.append(Blocklist(item))
            except DnsblError as exc:
                raise DnsblError("lists[%d]: %s" % (index, exc))
        else:
            raise DnsblError("lists[%d]: give a list name or a dict {name, kind, filter}, not %r" % (index, item))
    return lists


def default_lists():
    return [Blocklist(item["name"], item["kind"], item["filter"]) for item in DEFAULT_LISTS]


def reversed_address(address):
    """The label sequence a list is queried with for ``address``.

    IPv4: the octets reversed (192.0.2.1 -> 1.2.0.192). IPv6: the 32 nibbles
    of the full address reversed (RFC 5782 section 2.4). An IPv4-mapped IPv6
    address is queried as the IPv4 address it carries.
    """
    try:
        parsed = ipaddress.ip_address(str(address).strip())
    except ValueError:
        raise DnsblError("%r is not an IP address" % (address,))
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed.version == 4:
        return ".".join(reversed(str(parsed).split(".")))
    return ".".join(reversed(parsed.exploded.replace(":", "")))


def query_name(blocklist, target):
    """The DNS name to ask ``blocklist`` about ``target`` (an address or a domain name)."""
    if blocklist.kind == "ip":
        key = reversed_address(target)
    else:
        key = normalize_domain(target, "domain")
    name = "%s.%s" % (key, blocklist.name)
    if len(name) > 253:
        raise DnsblError("%s under %s is longer than a DNS name may be" % (target, blocklist.name))
    return name


# ---------------------------------------------------------------------------
# What an answer means
# ---------------------------------------------------------------------------

class DnsResult(object):
    """The outcome of one query: ANSWER with its records, or why there is none."""

    def __init__(self, outcome, records=(), elapsed=0.0, detail=""):
        self.outcome = outcome
        self.records = list(records)
        self.elapsed = elapsed
        self.detail = detail

    def __repr__(self):
        return "DnsResult(%r, %r, %r)" % (self.outcome, self.records, self.detail)


def describe_failure(result):
    words = {
        SERVFAIL: "the resolver answered SERVFAIL (the list's servers failed or did not answer it)",
        REFUSED: "the resolver refused the query (REFUSED)",
        TIMEOUT: "no answer before the timeout",
        NETWORK_ERROR: "the resolver could not be reached",
        OTHER_RCODE: "the resolver answered with an unexpected rcode",
    }
    text = words.get(result.outcome, result.outcome)
    return "%s: %s" % (text, result.detail) if result.detail else text


def classify(blocklist, result):
    """What one A-record lookup means: {status, codes, error, filtered_out}.

    ``status`` is LISTED, NOT_LISTED or ERROR. Error codes and answers outside
    127.0.0.0/8 (a lapsed list domain that now resolves everything to a web
    server) are errors even when the filter would accept them. Answers the
    filter does not accept are not listings, as for Postfix, and are kept in
    ``filtered_out``.
    """
    if result.outcome in (NXDOMAIN, NODATA):
        return {"status": NOT_LISTED, "codes": [], "error": "", "filtered_out": []}
    if result.outcome != ANSWER:
        return {"status": ERROR, "codes": [], "error": describe_failure(result), "filtered_out": []}
    codes = sorted(set(result.records), key=_address_key)
    error_codes = [code for code in codes if _in_network(code, ERROR_NETWORK)]
    if error_codes:
        meaning = "; ".join(ERROR_CODE_MEANINGS.get(code, "an error code") for code in error_codes)
        return {"status": ERROR, "codes": codes, "filtered_out": [],
                "error": "answered %s: %s. That is an error, not a listing"
                         % (", ".join(error_codes), meaning)}
    foreign = [code for code in codes if not _in_network(code, LOOPBACK_NETWORK)]
    if foreign:
        return {"status": ERROR, "codes": codes, "filtered_out": [],
                "error": "answered %s, outside 127.0.0.0/8 where lists answer: the zone is probably not "
                         "a blocklist any more (a lapsed or parked domain)" % ", ".join(foreign)}
    accepted = [code for code in codes if filter_accepts(blocklist.octets, code)]
    if accepted:
        return {"status": LISTED, "codes": codes, "error": "",
                "filtered_out": [code for code in codes if code not in accepted]}
    return {"status": NOT_LISTED, "codes": codes, "error": "", "filtered_out": codes}


def _address_key(text):
    try:
        return (0, ipaddress.ip_address(text))
    except ValueError:
        return (1, text)


def _in_network(text, network):
    try:
        return ipaddress.ip_address(text) in network
    except ValueError:
        return False


def _ms(seconds):
    return int(round(seconds * 1000))


# ---------------------------------------------------------------------------
# Running queries
# ---------------------------------------------------------------------------

def run_parallel(function, items, workers):
    """``[function(item) for item in items]`` on at most ``workers`` threads, in order."""
    items = list(items)
    if not items:
        return []
    workers = max(1, min(int(workers), len(items)))
    if workers == 1 or ThreadPoolExecutor is None:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def _lookup(resolver, name, rdtype):
    try:
        return resolver.query(name, rdtype)
    except Exception as exc:  # a resolver bug must not become "not listed"
        return DnsResult(NETWORK_ERROR, detail="%s: %s" % (type(exc).__name__, exc))


def check_target(resolver, blocklist, target):
    """Listing check of one address or name on one list; the TXT reason is fetched for a listing."""
    entry = {"list": blocklist.name, "kind": blocklist.kind, "target": target}
    try:
        name = query_name(blocklist, target)
    except DnsblError as exc:
        entry.update(query="", status=ERROR, codes=[], reason="", error=str(exc), elapsed_ms=0)
        return entry
    result = _lookup(resolver, name, "A")
    meaning = classify(blocklist, result)
    entry.update(query=name, status=meaning["status"], codes=meaning["codes"], error=meaning["error"],
                 reason="", elapsed_ms=_ms(result.elapsed))
    if meaning["status"] == LISTED:
        txt = _lookup(resolver, name, "TXT")
        entry["reason"] = " ".join(txt.records) if txt.outcome == ANSWER else ""
    return entry


def check_listings(resolver, blocklists, addresses, domains, workers=8):
    """Listing check: every address on the IP lists, every domain on the domain lists.

    A list that lists one of its own never-listed test points (127.0.0.1,
    ``invalid``) lists everything; its answers are reported as errors, so a
    dead list can neither raise a false alarm nor hide behind one.

    Returns one dict per list, in the order given, with its ``results`` per
    target and a ``status``: listed, clean or error.
    """
    jobs = []
    for blocklist in blocklists:
        targets = addresses if blocklist.kind == "ip" else domains
        jobs.append((blocklist, TEST_POINTS[blocklist.kind][1][0], True))
        jobs.extend((blocklist, target, False) for target in targets)

    def run(job):
        blocklist, target, _sentinel = job
        return check_target(resolver, blocklist, target)

    outcomes = run_parallel(run, jobs, workers)
    reports = []
    for blocklist in blocklists:
        mine = [(job, outcome) for job, outcome in zip(jobs, outcomes) if job[0] is blocklist]
        sentinel = [outcome for job, outcome in mine if job[2]][0]
        results = [outcome for job, outcome in mine if not job[2]]
        if sentinel["status"] == LISTED:
            for result in results:
                if result["status"] == LISTED:
                    result["status"] = ERROR
                    result["error"] = ("the list also lists %s, which no list may list: it lists "
                                       "everything, so this answer means nothing" % sentinel["target"])
        listed = [r["target"] for r in results if r["status"] == LISTED]
        errors = [r["target"] for r in results if r["status"] == ERROR]
        report = blocklist.as_dict()
        report.update(
            results=results,
            listed=listed,
            errors=errors,
            lists_everything=sentinel["status"] == LISTED,
            status=LISTED if listed else (ERROR if errors else "clean"),
        )
        reports.append(report)
    return reports


def health_probes(blocklist, nonce):
    """(key, expect_listed, why) for each query of a health check.

    The RFC 5782 test points, and a random name below ``invalid`` that no
    list can have, which catches wildcard answers a list may give for
    everything but its test points.
    """
    probes = [(key, expected, "RFC 5782 test point") for key, expected in TEST_POINTS[blocklist.kind]]
    probes.append(("%s.invalid" % nonce, False, RANDOM_PROBE))
    return probes


def _probe_name(blocklist, key):
    if blocklist.kind == "ip" and _is_address(key):
        return query_name(blocklist, key)
    return "%s.%s" % (key, blocklist.name)


def _is_address(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def check_health(resolver, blocklists, workers=8, nonce=None):
    """Health check of each list: one verdict dict per list, in the order given.

    ``healthy`` is true only when every probe was answered, the listed test
    point is listed with a code the filter accepts, and nothing that must not
    be listed is. ``problems`` lists every problem found, each {code,
    message}; ``problem`` and ``message`` are the first, most fundamental one.
    ``latency_ms`` is the slowest probe.
    """
    nonce = nonce or "mailguard-%s" % uuid.uuid4().hex[:12]
    jobs = []
    for blocklist in blocklists:
        for key, expected, why in health_probes(blocklist, nonce):
            jobs.append((blocklist, key, expected, why))

    def run(job):
        blocklist, key, _expected, _why = job
        name = _probe_name(blocklist, key)
        return name, _lookup(resolver, name, "A")

    outcomes = run_parallel(run, jobs, workers)
    verdicts = []
    for blocklist in blocklists:
        probes = []
        for job, (name, result) in zip(jobs, outcomes):
            if job[0] is not blocklist:
                continue
            meaning = classify(blocklist, result)
            probes.append({"key": job[1], "query": name, "expect": LISTED if job[2] else NOT_LISTED,
                           "why": job[3], "outcome": result.outcome, "status": meaning["status"],
                           "codes": meaning["codes"], "filtered_out": meaning["filtered_out"],
                           "error": meaning["error"], "elapsed_ms": _ms(result.elapsed)})
        verdicts.append(judge_health(blocklist, probes))
    return verdicts


def _probe_label(probe):
    """A test point by its key; the random name by what it is, so that messages repeat from run to run."""
    return probe["key"] if probe["why"] != RANDOM_PROBE else "a random name below invalid"


def judge_health(blocklist, probes):
    """The verdict on one list from its probe results (see check_health)."""
    problems = []
    failed = [p for p in probes if p["outcome"] in FAILED_OUTCOMES]
    if failed:
        problems.append((NO_ANSWER, "no usable answer to %d of %d queries (%s): %s" % (
            len(failed), len(probes), ", ".join(_probe_label(p) for p in failed), failed[0]["error"])))
    error_answers = [p for p in probes if p["status"] == ERROR and p["outcome"] == ANSWER
                     and any(_in_network(code, ERROR_NETWORK) for code in p["codes"])]
    if error_answers:
        problems.append((ERROR_ANSWER, error_answers[0]["error"]))
    bad = [p for p in probes if p["status"] == ERROR and p["outcome"] == ANSWER and p not in error_answers]
    if bad:
        problems.append((BAD_ANSWER, bad[0]["error"]))
    wrongly_listed = [p for p in probes if p["expect"] == NOT_LISTED and p["status"] == LISTED]
    if wrongly_listed:
        problems.append((LISTS_EVERYTHING, "lists %s (%s), which no list may list: it answers \"listed\" "
                         "for everything, as dead lists do, and would refuse every client" % (
                             " and ".join(_probe_label(p) for p in wrongly_listed),
                             ", ".join(sorted(set(c for p in wrongly_listed for c in p["codes"]))))))
    for probe in probes:
        if probe["expect"] != LISTED or probe["status"] == LISTED:
            continue
        if probe["status"] == ERROR:
            continue  # already reported above
        if probe["codes"]:
            problems.append((FILTER_MISMATCH, "lists its test point %s with %s, which the filter %s does not "
                             "accept: the filter does not fit the codes this list answers"
                             % (probe["key"], ", ".join(probe["codes"]), blocklist.filter)))
        else:
            problems.append((TEST_POINT_MISSING, "does not list its test point %s: the zone is empty, no "
                             "longer a blocklist, or of the other kind (%s)"
                             % (probe["key"], "domain" if blocklist.kind == "ip" else "ip")))
    problems.sort(key=lambda item: PROBLEMS.index(item[0]))
    verdict = blocklist.as_dict()
    verdict.update(
        healthy=not problems,
        problem=problems[0][0] if problems else None,
        message=("%s: %s" % (blocklist.name, "; ".join(text for _code, text in problems))) if problems
        else "%s answers its test points as it should" % blocklist.name,
        problems=[{"code": code, "message": text} for code, text in problems],
        latency_ms=max([p["elapsed_ms"] for p in probes] or [0]),
        probes=probes,
    )
    return verdict


# ---------------------------------------------------------------------------
# Own addresses and names
# ---------------------------------------------------------------------------

def addresses_from_ip_addr(text, include_private=False):
    """Global addresses from ``ip -o addr show``; without include_private only public ones."""
    found = []
    for line in text.splitlines():
        match = _IP_ADDR_LINE_RE.search(line)
        if not match:
            continue
        try:
            address = ipaddress.ip_address(match.group(1))
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_multicast:
            continue
        if not include_private and not address.is_global:
            continue
        if str(address) not in found:
            found.append(str(address))
    return found


def helo_names(helo_name, domain=""):
    """The HELO name and the domain (given, or the HELO name minus its first label)."""
    names = []
    for value in (helo_name, domain or ".".join(str(helo_name or "").split(".")[1:])):
        try:
            name = normalize_domain(value)
        except DnsblError:
            continue
        if "." in name and name not in names:
            names.append(name)
    return names


def discover_targets(run, include_private=False, fqdn=None):
    """The host's own outbound addresses and HELO names.

    ``run(argv)`` runs a command and returns (rc, stdout, stderr). Addresses:
    Postfix's smtp_bind_address(6) when set, else every global address
    ``ip -o addr show`` lists. Names: Postfix's smtp_helo_name and mydomain
    (both expanded), or ``fqdn`` and its parent domain when Postfix is absent.
    """
    settings = {}
    rc, out, _err = run(["postconf", "-xh", "smtp_bind_address", "smtp_bind_address6", "smtp_helo_name",
                         "mydomain"])
    if rc == 0:
        values = out.splitlines() + [""] * 4
        settings = dict(zip(("bind4", "bind6", "helo", "domain"), (v.strip() for v in values[:4])))
    addresses = [a for a in (settings.get("bind4"), settings.get("bind6")) if a]
    if not addresses:
        rc, out, _err = run(["ip", "-o", "addr", "show"])
        if rc == 0:
            addresses = addresses_from_ip_addr(out, include_private)
    names = helo_names(settings.get("helo") or fqdn or "", settings.get("domain") or "")
    return addresses, names


# ---------------------------------------------------------------------------
# Changes between two listing checks (the watch timer)
# ---------------------------------------------------------------------------

def listing_state(reports):
    """{"list target": {status, codes, reason, error}} of a listing check, for storing."""
    state = {}
    for report in reports:
        for result in report["results"]:
            state["%s %s" % (report["name"], result["target"])] = {
                "list": report["name"], "target": result["target"], "status": result["status"],
                "codes": result["codes"], "reason": result.get("reason", ""), "error": result.get("error", "")}
    return state


def listing_changes(previous, current):
    """(level, message) for each address or name whose status changed; level is warning or notice.

    On the first check (``previous`` empty) every listing and error is a change.
    """
    changes = []
    for key in sorted(current):
        now = current[key]
        before = (previous or {}).get(key, {}).get("status")
        if before == now["status"]:
            continue
        where = "%s on %s" % (now["target"], now["list"])
        if now["status"] == LISTED:
            changes.append(("warning", "%s: LISTED (%s)%s" % (
                where, ", ".join(now["codes"]), (": " + now["reason"]) if now["reason"] else "")))
        elif now["status"] == ERROR:
            changes.append(("warning", "%s: cannot tell, %s" % (where, now["error"])))
        elif before is not None:
            changes.append(("notice", "%s: no longer listed (was %s)" % (where, before.replace("_", " "))))
    for key in sorted(set(previous or {}) - set(current)):
        changes.append(("notice", "%s on %s: no longer checked" % (previous[key]["target"], previous[key]["list"])))
    return changes


# ---------------------------------------------------------------------------
# The real resolver
# ---------------------------------------------------------------------------

def system_nameservers():
    """The nameservers of /etc/resolv.conf, as the host's own lookups (Postfix's too) use them."""
    resolver = dns.resolver.Resolver(configure=True)
    return [str(getattr(server, "address", server)) for server in resolver.nameservers]


class DnsPythonResolver(object):
    """Queries the given nameservers directly, so every rcode is seen as it is.

    A stub query to each nameserver in turn, ``retries`` more rounds after a
    round without a usable answer; SERVFAIL and REFUSED move on to the next
    server like the C library does. Truncated answers are asked again over TCP.
    """

    def __init__(self, nameservers=None, port=53, timeout=3.0, retries=1):
        if not HAS_DNSPYTHON:
            raise DnsblError("dnspython is not installed: %s" % DNSPYTHON_IMPORT_ERROR)
        self.nameservers = list(nameservers or system_nameservers())
        if not self.nameservers:
            raise DnsblError("no nameserver to ask: /etc/resolv.conf names none; give nameservers")
        for server in self.nameservers:
            if not _is_address(server):
                raise DnsblError("nameserver %r is not an IP address" % (server,))
        self.port = int(port)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))

    def query(self, name, rdtype):
        rdtype_value = dns.rdatatype.from_text(rdtype)
        message = dns.message.make_query(dns.name.from_text(name), rdtype_value)
        start = time.monotonic()
        last = DnsResult(TIMEOUT)
        for _round in range(self.retries + 1):
            for server in self.nameservers:
                try:
                    response = dns.query.udp(message, server, timeout=self.timeout, port=self.port)
                    if response.flags & dns.flags.TC:
                        response = dns.query.tcp(message, server, timeout=self.timeout, port=self.port)
                except dns.exception.Timeout:
                    last = DnsResult(TIMEOUT, detail="%s did not answer within %gs" % (server, self.timeout))
                    continue
                except (OSError, dns.exception.DNSException) as exc:
                    last = DnsResult(NETWORK_ERROR, detail="%s: %s" % (server, exc))
                    continue
                rcode = response.rcode()
                if rcode == dns.rcode.NOERROR:
                    records = []
                    for rrset in response.answer:
                        if rrset.rdtype != rdtype_value:
                            continue
                        for rdata in rrset:
                            if rdtype_value == dns.rdatatype.TXT:
                                records.append(b"".join(rdata.strings).decode("utf-8", "replace"))
                            else:
                                records.append(rdata.to_text())
                    return DnsResult(ANSWER if records else NODATA, records, time.monotonic() - start)
                if rcode == dns.rcode.NXDOMAIN:
                    return DnsResult(NXDOMAIN, elapsed=time.monotonic() - start)
                outcome = {dns.rcode.SERVFAIL: SERVFAIL, dns.rcode.REFUSED: REFUSED}.get(rcode, OTHER_RCODE)
                last = DnsResult(outcome, detail="from %s" % server if outcome != OTHER_RCODE
                                 else "%s from %s" % (dns.rcode.to_text(rcode), server))
        last.elapsed = time.monotonic() - start
        return last
