# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventories read from Postfix tables, ``.forward`` files, the queue and the host.

Everything here works on text already read; callers run the commands. Each
parser is linear in its input so that tables with 100,000 entries stay cheap.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

# Table types that ``postmap -s`` / ``postalias -s`` can list in full.
ENUMERABLE_TABLE_TYPES = frozenset(("hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash"))

# Keys that Berkeley DB alias files carry for NIS/sendmail compatibility.
_ALIAS_SKIP_KEYS = frozenset(("@", "YP_LAST_MODIFIED", "YP_MASTER_NAME", "YP_INPUT_FILE",
                              "YP_OUTPUT_NAME", "YP_DOMAIN_NAME", "YP_SECURE"))

NULL_SENDERS = frozenset(("", "MAILER-DAEMON"))

_TARGET_SPLIT = re.compile(r"[,\s]+")


def table_type(table):
    table = table.strip()
    if ":" not in table:
        return ""
    return table.split(":", 1)[0].lower()


def enumerable(table):
    """True when the whole table can be listed with ``postmap -s``."""
    ttype = table_type(table)
    if ttype == "proxy":
        return enumerable(table.split(":", 1)[1])
    return ttype in ENUMERABLE_TABLE_TYPES


def unproxied(table):
    """``proxy:hash:/x`` -> ``hash:/x``: listing goes to the file itself."""
    while table_type(table) == "proxy":
        table = table.split(":", 1)[1]
    return table


def parse_alias_listing(text):
    """``postalias -s`` output (``key: value``) -> list of ``(key, [targets])``."""
    entries = []
    for line in (text or "").splitlines():
        if ":" not in line:
            continue
        key, _sep, value = line.partition(":")
        key = key.strip()
        if not key or key in _ALIAS_SKIP_KEYS:
            continue
        entries.append((key, split_targets(value)))
    return entries


def parse_map_listing(text):
    """``postmap -s`` output (``key<whitespace>value``) -> list of ``(key, [targets])``."""
    entries = []
    for line in (text or "").splitlines():
        parts = line.split(None, 1)
        if not parts:
            continue
        entries.append((parts[0], split_targets(parts[1] if len(parts) > 1 else "")))
    return entries


def split_targets(value):
    """Split an alias or .forward value into targets; quoted commands stay whole."""
    value = value.strip()
    targets = []
    for part in _split_outside_quotes(value):
        part = part.strip()
        if part:
            targets.append(part)
    return targets


def _split_outside_quotes(value):
    parts, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
            current.append(char)
        elif char in ", \t\n" and not quoted:
            if current:
                parts.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        parts.append("".join(current))
    return parts


def parse_forward_file(text):
    """Targets of a ``.forward`` file; comment lines are ignored."""
    targets = []
    for line in (text or "").splitlines():
        if line.lstrip().startswith("#"):
            continue
        targets.extend(split_targets(line))
    return targets


def target_domain(target):
    """Domain of an address target, or None for local names, files and commands."""
    target = target.strip().strip('"')
    if target.startswith(("|", "/", ":include:")) or "@" not in target:
        return None
    target = target.lstrip("\\")
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    domain = target.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def is_offsite(target, handled_domains, parent_matches_subdomains=False):
    """True when the target is an address in a domain this host does not handle."""
    domain = target_domain(target)
    if domain is None:
        return False
    if domain in handled_domains:
        return False
    if parent_matches_subdomains:
        for handled in handled_domains:
            if domain.endswith("." + handled):
                return False
    return True


def forwarding_summary(entries, handled_domains, max_examples, parent_matches_subdomains=False,
                       catch_all_keys=False):
    """Count entries that forward off-site; examples are capped.

    ``entries`` is a list of ``(key, targets)``. With ``catch_all_keys`` a key
    that is a bare ``@domain`` is counted as a catch-all.
    """
    summary = {
        "entries": 0,
        "offsite": 0,
        "offsite_one_to_one": 0,
        "offsite_examples": [],
        "catch_all": [],
    }
    for key, targets in entries:
        summary["entries"] += 1
        if catch_all_keys and key.startswith("@") and len(key) > 1:
            if len(summary["catch_all"]) < max_examples:
                summary["catch_all"].append("%s -> %s" % (key, ", ".join(targets)))
            summary.setdefault("catch_all_count", 0)
            summary["catch_all_count"] += 1
        offsite = [t for t in targets if is_offsite(t, handled_domains, parent_matches_subdomains)]
        if offsite:
            summary["offsite"] += 1
            if len(targets) == 1:
                summary["offsite_one_to_one"] += 1
            if len(summary["offsite_examples"]) < max_examples:
                summary["offsite_examples"].append("%s -> %s" % (key, ", ".join(offsite)))
    summary.setdefault("catch_all_count", 0)
    return summary


def offsite_recipients(entries, handled_domains, parent_matches_subdomains=False, local_domains=None):
    """Every recipient address whose mail is forwarded off-site, in two lists.

    ``entries`` is a list of ``(key, targets)``. A key without ``@`` (an
    aliases(5) name or the owner of a ``.forward`` file) is a local part and
    becomes one address per domain in ``local_domains``. Catch-all keys
    (``@domain``) are left out: they are refused as a whole elsewhere.

    Returns ``(forwarded, one_to_one)``: all such addresses, and the subset
    whose key has exactly one target, which is off-site. Only such a key can
    be verified at the remote end before mail is accepted.
    """
    forwarded, one_to_one = [], []
    # Sets beside the lists: membership stays O(1) with 100,000 entries.
    seen, seen_one_to_one = set(), set()
    for key, targets in entries:
        key = key.strip().lower()
        if not key or key.startswith("@"):
            continue
        if not any(is_offsite(t, handled_domains, parent_matches_subdomains) for t in targets):
            continue
        if "@" in key:
            addresses = [key]
        else:
            addresses = ["%s@%s" % (key, domain) for domain in (local_domains or [])]
        for address in addresses:
            if address not in seen:
                seen.add(address)
                forwarded.append(address)
            if len(targets) == 1 and address not in seen_one_to_one:
                seen_one_to_one.add(address)
                one_to_one.append(address)
    return forwarded, one_to_one


def handled_domains(values):
    """Domains this host accepts mail for, from effective main.cf values.

    Table-valued entries (``hash:/etc/postfix/domains``) cannot be listed here;
    they are returned separately so that callers can say so.
    """
    domains, tables = set(["localhost"]), []
    for param in ("mydestination", "virtual_alias_domains", "virtual_mailbox_domains",
                  "relay_domains"):
        for item in re.split(r"[,\s]+", values.get(param, "") or ""):
            item = item.strip()
            if not item:
                continue
            if ":" in item or item.startswith("/"):
                if item not in tables:
                    tables.append(item)
            else:
                domains.add(item.lower().rstrip("."))
    return domains, tables


def parse_queue(text, handled, max_examples):
    """Summarise ``postqueue -j`` output (one JSON object per line).

    A null-sender message (a bounce) to a recipient in a domain this host does
    not handle is backscatter on its way out.
    """
    summary = {
        "available": True,
        "total": 0,
        "by_queue": {},
        "null_sender": 0,
        "bounces_to_remote": 0,
        "examples": [],
        "unparsed_lines": 0,
    }
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            summary["unparsed_lines"] += 1
            continue
        summary["total"] += 1
        queue = message.get("queue_name", "unknown")
        summary["by_queue"][queue] = summary["by_queue"].get(queue, 0) + 1
        # showq prints the null sender as MAILER-DAEMON.
        if str(message.get("sender", "")).upper() not in NULL_SENDERS:
            continue
        summary["null_sender"] += 1
        remote = [r.get("address", "") for r in message.get("recipients", [])
                  if is_offsite(r.get("address", ""), handled)]
        if remote:
            summary["bounces_to_remote"] += 1
            if len(summary["examples"]) < max_examples:
                summary["examples"].append({
                    "queue_id": message.get("queue_id", ""),
                    "queue": queue,
                    "recipients": remote[:5],
                    "reason": (message.get("recipients") or [{}])[0].get("delay_reason", ""),
                })
    return summary


def parse_ip_addr(text):
    """Networks of the host's interfaces from ``ip -o addr show``."""
    networks = []
    for line in (text or "").splitlines():
        fields = line.split()
        for index, field in enumerate(fields[:-1]):
            if field in ("inet", "inet6"):
                try:
                    network = ipaddress.ip_interface(fields[index + 1]).network
                except ValueError:
                    continue
                if str(network) not in networks:
                    networks.append(str(network))
    return networks


def _mapped_v4(network):
    """``[::ffff:127.0.0.0]/104`` is 127.0.0.0/8 seen through IPv6."""
    if network.version == 6 and network.network_address.ipv4_mapped is not None and network.prefixlen >= 96:
        return ipaddress.ip_network("%s/%d" % (network.network_address.ipv4_mapped,
                                               network.prefixlen - 96), strict=False)
    return network


def parse_network(item):
    """One mynetworks element -> ip_network, or None for tables, files and names."""
    text = item.strip()
    if text.startswith("["):
        text = text.replace("[", "").replace("]", "")
    try:
        return _mapped_v4(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return None


def mynetworks_outside(mynetworks_value, host_networks):
    """Elements of mynetworks that are wider than, or outside, the host's networks.

    Single addresses (/32, /128) outside the host's networks are deliberate
    trust of one host and are not returned; tables and host names cannot be
    judged and are returned in the second list.
    """
    hosts = []
    for net in host_networks:
        try:
            hosts.append(_mapped_v4(ipaddress.ip_network(net, strict=False)))
        except ValueError:
            continue
    wide, unjudged = [], []
    for item in re.split(r"[,\s]+", mynetworks_value or ""):
        if not item:
            continue
        network = parse_network(item)
        if network is None:
            unjudged.append(item)
            continue
        if network.prefixlen == network.max_prefixlen:
            continue
        inside = any(network.version == h.version and network.subnet_of(h) for h in hosts)
        if not inside:
            wide.append(item)
    return wide, unjudged
