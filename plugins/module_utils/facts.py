# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather what Postfix is really configured to do on one host.

``gather`` drives a ``PostfixCommands``-like object (only read commands are
run) and a small host reader for ``.forward`` files, and returns the dict that
``postfix_facts`` publishes as ``ansible_facts.postfix``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import re

from ansible_collections.mailguard.postfix.plugins.module_utils import findings as fnd
from ansible_collections.mailguard.postfix.plugins.module_utils import inventory
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_config as pc
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm

_UNUSED_RE = re.compile(r"warning: (?P<file>\S+): unused parameter: (?P<name>[^=\s]+)")


class GatherError(Exception):
    """A failure that leaves nothing sensible to report (bad config directory)."""


class HostReader(object):
    """Reads users' ``.forward`` files; replaced by a fake in unit tests."""

    def users(self):
        seen = set()
        for entry in pwd.getpwall():
            if entry.pw_dir in seen or not entry.pw_dir or entry.pw_dir == "/":
                continue
            seen.add(entry.pw_dir)
            yield entry.pw_name, entry.pw_dir

    def read(self, path):
        """File text, None when missing; raises IOError/OSError when unreadable."""
        if not os.path.exists(path):
            return None
        with open(path, "r") as handle:
            return handle.read()

    def free_bytes(self, path):
        """Bytes an unprivileged process may still write on the file system of path; None when unknown."""
        try:
            stat = os.statvfs(path)
        except OSError:
            return None
        return stat.f_bavail * stat.f_frsize


def _split(value):
    return [item for item in re.split(r"[,\s]+", value or "") if item]


def _warnings(stderr):
    return [line.strip() for line in (stderr or "").splitlines() if "warning:" in line]


def gather(cmds, reader=None, gather_forwarding=True, gather_queue=True, max_examples=10,
           forwarding_recipients=False):
    reader = reader or HostReader()
    if not cmds.installed:
        facts = {"installed": False}
        facts["findings"] = fnd.config_findings(facts)
        return facts

    rc, out, err = cmds.postconf("-h", "config_directory")
    if rc != 0:
        raise GatherError("postconf cannot read the configuration%s: %s" % (
            " in %s" % cmds.config_directory if cmds.config_directory else "", (err or out).strip()))
    config_directory = out.strip() or cmds.config_directory

    warnings = []
    rc, out, err = cmds.postconf("-n")
    explicit = pc.parse_parameters(out)
    warnings.extend(_warnings(err))
    rc, out, err = cmds.postconf("-x")
    if rc != 0:
        raise GatherError("postconf -x failed: %s" % (err or out).strip())
    all_values = pc.parse_parameters(out)

    rc, out, err = cmds.postconf("-M")
    services = pc.parse_master(out)
    rc, raw_out, err = cmds.postconf("-P")
    overrides_raw = pc.parse_service_parameters(raw_out)
    rc, out, err = cmds.postconf("-P", "-x")
    overrides_expanded = pc.parse_service_parameters(out)
    for service in services:
        service["overrides"] = overrides_raw.get(service["key"], {})

    effective = dict((name, all_values[name]) for name in pc.REASONED_PARAMETERS if name in all_values)
    # Restriction classes are user-named parameters; keep their values too.
    for name in pc.restriction_classes(all_values):
        if name in all_values:
            effective[name] = all_values[name]

    rc, out, err = cmds.host_addresses()
    host_networks = inventory.parse_ip_addr(out) if rc == 0 else []
    for loopback in ("127.0.0.0/8", "::1/128"):
        if loopback not in host_networks:
            host_networks.append(loopback)

    facts = {
        "installed": True,
        "version": all_values.get("mail_version", ""),
        "compatibility_level": all_values.get("compatibility_level", "0"),
        "compatibility_level_explicit": "compatibility_level" in explicit,
        "config_directory": config_directory,
        "parameters": explicit,
        "effective": effective,
        "services": services,
        "smtpd_services": pc.smtpd_services(services, all_values, overrides_expanded),
        "main_stages": pc.stage_lists(all_values),
        "host_networks": host_networks,
        "unused_parameters": sorted(set(m.group("name") for m in map(_UNUSED_RE.search, warnings) if m)),
        "warnings": warnings,
    }

    unreadable = []
    domains, domain_tables = inventory.handled_domains(all_values)
    # Domain lists given as tables (relay_domains = hash:/etc/postfix/relay,
    # virtual_alias_domains = $virtual_alias_maps) are listed once here.
    table_domains = {}
    for table in domain_tables:
        keys = _table_keys(cmds, table, unreadable, "domain lists")
        table_domains[table] = [k.lower() for k in keys if "@" not in k]
        domains.update(table_domains[table])

    facts["address_classes"] = _address_classes(all_values, facts, table_domains)
    if gather_forwarding:
        facts["forwarding"] = _forwarding(cmds, reader, all_values, domains, max_examples, unreadable,
                                          local_domains=_mail_domains(facts["address_classes"]["local"]["domains"])
                                          if forwarding_recipients else None)
    if gather_queue:
        facts["queue"] = _queue(cmds, domains, max_examples)
    facts["storage"] = storage(all_values, config_directory, reader.free_bytes)
    facts["handled_domains"] = sorted(domains)
    facts["unreadable_tables"] = unreadable
    facts["findings"] = fnd.config_findings(facts)
    if facts["storage"]["queue_full"]:
        queue = facts["storage"]["queue_directory"]
        facts["findings"].append(fnd.finding(
            "queue-file-system-full", fnd.CATEGORY_HOST, "high", fnd.MAIN_CF, "queue_directory",
            "The file system of %s has %d bytes free; smtpd wants more than %d before it takes a message, "
            "so every client gets 452 4.3.1 Insufficient system storage." % (
                queue["path"], queue["free_bytes"], facts["storage"]["queue_needed_bytes"]),
            "Free space on the file system of %s." % queue["path"]))
    for name in facts["unused_parameters"]:
        facts["findings"].append(fnd.finding(
            "unused-parameter", fnd.CATEGORY_HOST, "low", fnd.MAIN_CF, name,
            "main.cf sets '%s', which this Postfix %s does not know and nothing references: "
            "it has no effect (a typo, or a parameter of another version)." % (name, facts["version"]),
            "Correct or remove '%s'." % name))
    return facts


# smtpd answers "452 4.3.1 Insufficient system storage" to MAIL FROM when the
# queue's file system has no more than queue_minfree bytes free, or less
# than 1.5 times message_size_limit (smtpd_check_queue).
_SPACE_FACTOR = 1.5


def _whole_number(text, default=0):
    try:
        return int(str(text).strip())
    except ValueError:
        return default


def storage(values, config_directory, free_bytes):
    """Free space where Postfix writes: the queue and the configuration directory.

    ``queue_needed_bytes`` is what smtpd wants free before it takes a message;
    ``queue_full`` is true when the queue has less, so that every client gets 452.
    ``free_bytes(path)`` returns None when it cannot tell; then nothing is judged.
    """
    queue_directory = values.get("queue_directory") or "/var/spool/postfix"
    needed = max(_whole_number(values.get("queue_minfree")),
                 int(_SPACE_FACTOR * _whole_number(values.get("message_size_limit"), 10240000)))
    queue_free = free_bytes(queue_directory)
    return {
        "queue_directory": {"path": queue_directory, "free_bytes": queue_free},
        "config_directory": {"path": config_directory, "free_bytes": free_bytes(config_directory)},
        "queue_needed_bytes": needed,
        "queue_full": queue_free is not None and queue_free <= needed,
    }


def _table_keys(cmds, table, unreadable, parameter, aliases=False):
    """Keys of an enumerable table; records why when it cannot be listed."""
    return [key for key, _targets in _table_entries(cmds, table, unreadable, parameter, aliases)]


def _table_entries(cmds, table, unreadable, parameter, aliases=False):
    if table.startswith("/"):
        unreadable.append({"table": table, "parameter": parameter,
                           "reason": "a plain file list; not enumerated"})
        return []
    if not inventory.enumerable(table):
        unreadable.append({"table": table, "parameter": parameter,
                           "reason": "table type %s cannot be listed" % inventory.table_type(table)})
        return []
    rc, out, err = cmds.list_table(inventory.unproxied(table), aliases=aliases)
    if rc != 0:
        unreadable.append({"table": table, "parameter": parameter,
                           "reason": (err or out).strip().splitlines()[-1] if (err or out).strip() else "rc=%d" % rc})
        return []
    if aliases:
        return inventory.parse_alias_listing(out)
    return inventory.parse_map_listing(out)


def _address_classes(values, facts, table_domains):
    smtp_stages = fnd.smtp_stages(facts)
    recipient_names = set(e["name"] for stage in ("relay", "recipient")
                          for e in (smtp_stages.get(stage) or {}).get("entries") or [])
    # Verification is often applied per domain through a restriction class
    # (check_recipient_access selects it); count what the classes hold too.
    for class_name in pc.restriction_classes(values):
        try:
            recipient_names.update(e["name"] for e in rm.parse_entries(values.get(class_name, "")))
        except ValueError:
            continue
    reject_unlisted = values.get("smtpd_reject_unlisted_recipient", "yes").lower() == "yes" \
        or "reject_unlisted_recipient" in recipient_names
    verify = "reject_unverified_recipient" in recipient_names
    layout = (
        ("local", "mydestination", "local_recipient_maps"),
        ("virtual_alias", "virtual_alias_domains", "virtual_alias_maps"),
        ("virtual_mailbox", "virtual_mailbox_domains", "virtual_mailbox_maps"),
        ("relay", "relay_domains", "relay_recipient_maps"),
    )
    classes = {}
    for name, domain_param, table_param in layout:
        domain_items = _split(values.get(domain_param, ""))
        domains, domain_tables = [], []
        for item in domain_items:
            if ":" in item or item.startswith("/"):
                domain_tables.append(item)
                domains.extend(table_domains.get(item, []))
            else:
                domains.append(item.lower())
        tables = _split(values.get(table_param, ""))
        validated_by = []
        # smtpd_reject_unlisted_recipient is what makes smtpd consult the
        # recipient tables of every class, relay_recipient_maps included.
        if tables and reject_unlisted:
            validated_by = list(tables)
        if name == "relay" and verify:
            validated_by.append("reject_unverified_recipient")
        classes[name] = {
            "domains": sorted(set(domains)),
            "domain_tables": domain_tables,
            "tables": tables,
            "table_parameter": table_param,
            "validated": bool(validated_by) if (domains or domain_tables) else True,
            "validated_by": validated_by,
        }
    return classes


def _mail_domains(domains):
    """Local domains that mail from outside can be addressed to."""
    return [d for d in domains if not re.match(r"localhost([.]|$)", d)]


def _forwarding(cmds, reader, values, domains, max_examples, unreadable, local_domains=None):
    # Subdomains of relay domains are handled too when Postfix is told so.
    parent = "relay_domains" in values.get("parent_domain_matches_subdomains", "")
    result = {}
    alias_entries = []
    for table in _split(values.get("alias_maps", "")):
        alias_entries.extend(_table_entries(cmds, table, unreadable, "alias_maps", aliases=True))
    result["aliases"] = inventory.forwarding_summary(alias_entries, domains, max_examples, parent)
    result["aliases"]["tables"] = _split(values.get("alias_maps", ""))

    virtual_entries = []
    for table in _split(values.get("virtual_alias_maps", "")):
        virtual_entries.extend(_table_entries(cmds, table, unreadable, "virtual_alias_maps"))
    result["virtual_aliases"] = inventory.forwarding_summary(
        virtual_entries, domains, max_examples, parent, catch_all_keys=True)
    result["virtual_aliases"]["tables"] = _split(values.get("virtual_alias_maps", ""))

    forward_entries, forward_unreadable = [], []
    for user, home in reader.users():
        path = os.path.join(home, ".forward")
        try:
            text = reader.read(path)
        except (IOError, OSError) as exc:
            forward_unreadable.append("%s: %s" % (path, exc.strerror or exc))
            continue
        if text is not None:
            forward_entries.append((user, inventory.parse_forward_file(text)))
    result["forward_files"] = inventory.forwarding_summary(forward_entries, domains, max_examples, parent)
    result["forward_files"]["unreadable"] = forward_unreadable[:max_examples]
    if local_domains is not None:
        # Every address, not examples: a restriction table lists them all.
        local_entries = alias_entries + forward_entries
        forwarded, _unused = inventory.offsite_recipients(local_entries, domains, parent, local_domains)
        virtual, one_to_one = inventory.offsite_recipients(virtual_entries, domains, parent)
        local_forwarded = set(forwarded)
        result["recipients"] = {
            "forwarded": forwarded + [a for a in virtual if a not in local_forwarded],
            "one_to_one_virtual": one_to_one,
        }
    return result


def _queue(cmds, domains, max_examples):
    rc, out, err = cmds.queue_json()
    if rc != 0:
        return {"available": False, "error": (err or out).strip() or "postqueue -j failed (rc=%d)" % rc,
                "total": 0, "by_queue": {}, "null_sender": 0, "bounces_to_remote": 0, "examples": []}
    return inventory.parse_queue(out, domains, max_examples)
