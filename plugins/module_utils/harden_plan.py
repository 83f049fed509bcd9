# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The harden role's plan: which main.cf parameters and master.cf services to set.

``plan()`` takes the host's Postfix facts (as postfix_facts gathers them), the
restriction lists the restrictions module computed, the SPF policy server's
own entries, the role's options and the record the role keeps on the host
when it turns postscreen on, and returns the parameters and services for the
postconf module, with what it decided about postscreen and port 25. It runs
no command and reads no file: the harden_plan module reads the record.

What it decides:

- Settings that accept what cannot be delivered, or turn a refusal into a
  later bounce (luser_relay, soft_bounce, unverified_recipient_defer_code),
  are removed: their defaults refuse during the session.
- postscreen goes on port 25 with Debian's commented-out master.cf lines
  (smtpd behind it on "smtpd/pass", dnsblog, tlsproxy), chrooted or not like
  the smtpd it replaces, whose overrides the smtpd behind postscreen takes
  over. The record keeps what it replaced, the services it added and the
  earlier values of the parameters it set, so that postscreen off again
  restores them; a postscreen the role did not put there stays.
- The smtpd that answers on port 25 discards the ``dsn`` EHLO keyword unless
  ``port25_dsn``, and offers no AUTH unless ``port25_auth``.
- Services whose own overrides open relaying (critical or high relay
  findings) lose those overrides, so that main.cf's lists apply to them.
- A restriction class the lists no longer use goes with its parameter; the
  operator's own classes stay in smtpd_restriction_classes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv

# Removed on every run: each accepts what cannot be delivered or turns a
# refusal into a bounce, and Postfix's default for each refuses in session.
REMOVED_PARAMETERS = ("luser_relay", "soft_bounce", "unverified_recipient_defer_code")

# Postfix's compatibility level of Debian 12 and 13's own main.cf.
DEFAULT_COMPATIBILITY_LEVEL = "3.6"

# An explicitly empty local_recipient_maps accepts every local name; Debian's
# default validates against passwd and the aliases.
LOCAL_RECIPIENT_MAPS = "proxy:unix:passwd.byname $alias_maps"

# The fields of Debian's master.cf lines for smtpd services.
DEBIAN_SERVICE_FIELDS = {"private": "n", "unpriv": "-", "chroot": "y", "wakeup": "-", "maxproc": "-"}

# postscreen on port 25 hands clients that pass to the smtpd "pass" service;
# dnsblog does its DNS lookups, tlsproxy its STARTTLS. These are Debian's
# commented-out master.cf lines.
POSTSCREEN_SERVICES = (
    {"service": "smtp", "type": "inet", "private": "n", "unpriv": "-", "wakeup": "-", "maxproc": "1",
     "command": "postscreen"},
    {"service": "smtpd", "type": "pass", "private": "-", "unpriv": "-", "wakeup": "-", "maxproc": "-",
     "command": "smtpd"},
    {"service": "dnsblog", "type": "unix", "private": "-", "unpriv": "-", "wakeup": "-", "maxproc": "0",
     "command": "dnsblog"},
    {"service": "tlsproxy", "type": "unix", "private": "-", "unpriv": "-", "wakeup": "-", "maxproc": "0",
     "command": "tlsproxy"},
)
POSTSCREEN_ADDED = ("smtpd/pass", "dnsblog/unix", "tlsproxy/unix")

# The fields of the smtpd entry on port 25 that the record keeps.
RECORDED_FIELDS = ("private", "unpriv", "chroot", "wakeup", "maxproc", "command")

# postscreen's own checks: the cheap ones always, the deep protocol tests
# (which make a client that passes them come back) on request.
POSTSCREEN_PARAMETERS = {"postscreen_access_list": "permit_mynetworks", "postscreen_greet_action": "enforce"}
POSTSCREEN_DEEP_PARAMETERS = {
    "postscreen_pipelining_enable": "yes", "postscreen_pipelining_action": "enforce",
    "postscreen_non_smtp_command_enable": "yes", "postscreen_non_smtp_command_action": "drop",
    "postscreen_bare_newline_enable": "yes", "postscreen_bare_newline_action": "enforce",
}

# Overrides of a service that open relaying; removed (set to null) on the
# services the audit finds open.
RELAY_OPENING_OVERRIDES = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions", "mynetworks")

# The port 25 overrides the role owns; they move to smtpd/pass with
# postscreen.
PORT25_OVERRIDES = ("smtpd_discard_ehlo_keywords", "smtpd_sasl_auth_enable")

_WORD_RE = re.compile(r"[^\s,]+")

OPTION_DEFAULTS = {
    "postscreen": False,
    "postscreen_deep_protocol_tests": False,
    "port25_dsn": False,
    "port25_auth": False,
    "extra_parameters": {},
    "compatibility_level": "",
    "spf_parameters": [],
    "spf_services": [],
}


def _words(value):
    return _WORD_RE.findall(str(value if value is not None else ""))


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _combine(base, update):
    """``base`` updated by ``update``, dicts inside merged the same way."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _combine(out[key], value)
        else:
            out[key] = value
    return out


def _stub(key):
    service, kind = key.split("/", 1)
    return {"service": service, "type": kind}


def postscreen_parameters(postscreen, deep_protocol_tests):
    """The main.cf parameters postscreen gets from the role; none when it is off."""
    if not postscreen:
        return {}
    parameters = dict(POSTSCREEN_PARAMETERS)
    if deep_protocol_tests:
        parameters.update(POSTSCREEN_DEEP_PARAMETERS)
    return parameters


def relay_opening_services(findings):
    """The services whose own overrides let someone relay (critical or high relay findings).

    A low finding such as a 4xx relay refusal leaves the service alone.
    """
    return _unique(f.get("service") for f in findings or ()
                   if f.get("category") == "relay" and f.get("severity") in ("critical", "high")
                   and f.get("service") != "main.cf")


def dsn_change(discarded, port25_dsn):
    """The new smtpd_discard_ehlo_keywords of the port 25 smtpd, or None when it stays.

    DSN on port 25 lets anyone who forges a sender ask for notices to it
    (NOTIFY=SUCCESS,DELAY). The value changes only when dsn must be added
    (with silent-discard, so that smtpd does not log the discard for every
    session) or, with ``port25_dsn``, taken out again.
    """
    words = _words(discarded)
    lower = [word.lower() for word in words]
    if not port25_dsn and "dsn" not in lower:
        return ",".join(([] if "silent-discard" in lower else ["silent-discard"]) + words + ["dsn"])
    if port25_dsn and "dsn" in lower:
        return ",".join(word for word in words if word.lower() != "dsn")
    return None


def _classes(main, computed, managed):
    """(removals, kept operator classes) for smtpd_restriction_classes."""
    now = _words(main.get("smtpd_restriction_classes", ""))
    new = _words(computed.get("smtpd_restriction_classes", ""))
    gone = [name for name in now if name in managed and name not in new]
    operator = [name for name in now if name not in managed]
    merged = {}
    if "smtpd_restriction_classes" in computed and operator:
        merged["smtpd_restriction_classes"] = ", ".join(_unique(operator + new))
    removals = [{"name": name, "state": "absent"} for name in gone]
    kept = [name for name in now if name not in gone]
    if gone and "smtpd_restriction_classes" not in computed:
        removals.append({"name": "smtpd_restriction_classes", "value": ", ".join(kept)} if kept
                        else {"name": "smtpd_restriction_classes", "state": "absent"})
    return removals, merged


def _port25_overrides(port25, relay_open):
    """The overrides of the smtpd on port 25 that an smtpd taking its place keeps.

    The smtpd behind postscreen takes over the overrides of the smtpd it
    replaces (milters, TLS, limits ...), except those that open relaying.
    """
    overrides = dict((port25 or {}).get("overrides") or {})
    if "smtp/inet" in relay_open:
        for name in RELAY_OPENING_OVERRIDES:
            overrides.pop(name, None)
    return overrides


def _postscreen_entries(options, services_now, port25, running, record, kept_overrides):
    """The master.cf entries that put postscreen on port 25, or take it off again."""
    entries = []
    if options["postscreen"]:
        chroot = (port25 or {}).get("chroot", "y")
        for svc in POSTSCREEN_SERVICES:
            key = "%s/%s" % (svc["service"], svc["type"])
            if key in services_now and (key != "smtp/inet" or running):
                entries.append({"service": svc["service"], "type": svc["type"], "command": svc["command"]})
            elif key == "smtpd/pass":
                entries.append(dict(svc, chroot=chroot, overrides=dict(kept_overrides)))
            elif key == "smtp/inet" and port25:
                entries.append(dict(svc))
            else:
                entries.append(dict(svc, chroot=chroot))
    elif "smtp_inet" in record:
        if running and record["smtp_inet"]:
            entries.append(dict({"service": "smtp", "type": "inet"}, **record["smtp_inet"]))
        elif running:
            entries.append({"service": "smtp", "type": "inet", "state": "absent"})
        for key in record.get("added") or []:
            if key in services_now:
                entries.append(dict(_stub(key), state="absent"))
    return entries


def plan(facts, computed, options, record=None):
    """The parameters and services to set, and what was decided about postscreen and port 25.

    ``facts``: ansible_facts.postfix (services, parameters, effective,
    findings, compatibility_level, compatibility_level_explicit).
    ``computed``: the restrictions module's parameters, services and
    managed_classes. ``options``: see OPTION_DEFAULTS. ``record``: what the
    role recorded when it turned postscreen on, {} when nothing.
    """
    options = dict(OPTION_DEFAULTS, **dict((k, v) for k, v in options.items() if v is not None))
    record = copy.deepcopy(record or {})
    main = facts.get("parameters") or {}
    effective = facts.get("effective") or {}
    extra = options["extra_parameters"] or {}
    restriction_parameters = computed.get("parameters") or {}
    services_now = dict((s["key"], s) for s in facts.get("services") or ())
    port25 = services_now.get("smtp/inet")
    running = bool(port25) and port25.get("command") == "postscreen"
    postscreen = bool(options["postscreen"])
    turning_on = postscreen and not running
    relay_open = relay_opening_services(facts.get("findings"))

    # postscreen: the parameters it gets, and the record of what it replaces
    # (an earlier record is kept and extended).
    ps_parameters = postscreen_parameters(postscreen, options["postscreen_deep_protocol_tests"])
    earlier = dict((name, main.get(name)) for name in
                   list(ps_parameters) + [n for n in restriction_parameters if n.startswith("postscreen_")])
    new_record = {
        "smtp_inet": dict((k, v) for k, v in port25.items() if k in RECORDED_FIELDS) if port25 else None,
        "added": _unique(list(record.get("added") or [])
                         + [key for key in POSTSCREEN_ADDED if key not in services_now]
                         + ([] if port25 else ["smtp/inet"])),
        "parameters": dict(earlier, **(record.get("parameters") or {})),
    }

    # main.cf. When postscreen goes off again, its parameters get back the
    # values they had before the role turned it on, first, so that anything
    # computed or given in extra_parameters wins.
    restored = []
    if not postscreen:
        for name, value in (record.get("parameters") or {}).items():
            restored.append({"name": name, "value": value} if value is not None else {"name": name, "state": "absent"})
    class_removals, operator_classes = _classes(main, restriction_parameters, computed.get("managed_classes") or ())
    local_recipients = {}
    if "local_recipient_maps" in main and len(main["local_recipient_maps"] or "") == 0:
        local_recipients["local_recipient_maps"] = LOCAL_RECIPIENT_MAPS
    compatibility = {"compatibility_level": options["compatibility_level"] or (
        facts.get("compatibility_level") if facts.get("compatibility_level_explicit") else DEFAULT_COMPATIBILITY_LEVEL)}
    values = {}
    for part in (restriction_parameters, operator_classes, local_recipients, compatibility, ps_parameters, extra):
        values.update(part)
    parameters = (restored + class_removals
                  + [p for p in options["spf_parameters"] if p.get("name") not in extra]
                  + [{"name": name, "value": value} for name, value in values.items()])
    # A postscreen without healthy client lists must not keep an earlier
    # run's postscreen_dnsbl_sites, which may name a list that went bad.
    if postscreen and "postscreen_dnsbl_sites" not in restriction_parameters and "postscreen_dnsbl_sites" not in extra:
        parameters.append({"name": "postscreen_dnsbl_sites", "state": "absent"})
    parameters.extend({"name": name, "state": "absent"} for name in REMOVED_PARAMETERS)

    # master.cf, by key; each key once, as the postconf module wants.
    # Submission services get the computed overrides: on an existing one the
    # role owns only the command and those overrides (an operator's chroot
    # or process limit stays); a new one gets Debian's fields.
    services = {}
    for key, overrides in (computed.get("services") or {}).items():
        if key == "smtp/inet":
            continue
        entry = dict(_stub(key), command="smtpd", overrides=overrides)
        services[key] = entry if key in services_now else dict(entry, **DEBIAN_SERVICE_FIELDS)
    kept_overrides = _port25_overrides(port25, relay_open)
    for entry in _postscreen_entries(options, services_now, port25, running, record, kept_overrides):
        services["%s/%s" % (entry["service"], entry["type"])] = entry

    # The smtpd that serves port 25 once the services are applied: the one
    # behind postscreen when postscreen stays or comes, else smtp/inet.
    port25_smtpd = "smtpd/pass" if postscreen or (running and "smtp_inet" not in record) else "smtp/inet"
    if port25_smtpd in services_now:
        overrides_now = services_now[port25_smtpd].get("overrides") or {}
    else:
        overrides_now = kept_overrides

    def value_now(name, default):
        # Its own override, or main.cf's value (extra_parameters first).
        for source in (overrides_now, extra, effective):
            if name in source:
                return source[name]
        return default

    port25_changes = {}
    dsn = dsn_change(value_now("smtpd_discard_ehlo_keywords", ""), options["port25_dsn"])
    if dsn is not None:
        port25_changes["smtpd_discard_ehlo_keywords"] = dsn
    # An operator's smtpd_sasl_auth_enable = yes meant for submission reaches
    # port 25 too: without port25_auth it gets an override that switches AUTH
    # off there; submission keeps its own.
    if pv.is_yes(value_now("smtpd_sasl_auth_enable", "no")) and not options["port25_auth"]:
        port25_changes["smtpd_sasl_auth_enable"] = "no"
    if port25_changes and (port25_smtpd in services or port25_smtpd in services_now):
        entry = services.get(port25_smtpd, _stub(port25_smtpd))
        if entry.get("state", "present") == "present":
            services[port25_smtpd] = _combine(entry, {"overrides": port25_changes})
    # When postscreen takes over port 25, those overrides move from smtp/inet
    # to smtpd/pass with the others.
    moved = [name for name in ((port25 or {}).get("overrides") or {}) if name in PORT25_OVERRIDES]
    if turning_on and "smtp/inet" in services and moved:
        services["smtp/inet"] = _combine(services["smtp/inet"], {"overrides": dict((name, None) for name in moved)})

    # Services whose own overrides open relaying lose those overrides, port
    # 25 included; what the plan already gives them wins.
    for key in relay_open:
        entry = services.get(key, _stub(key))
        if entry.get("state", "present") == "present":
            services[key] = _combine({"overrides": dict((name, None) for name in RELAY_OPENING_OVERRIDES)}, entry)

    return {
        "parameters": parameters,
        "services": list(services.values()) + list(options["spf_services"]),
        "port25_smtpd": port25_smtpd,
        "port25_changes": port25_changes,
        "relay_opening_services": relay_open,
        "postscreen": {
            "running": running,
            "turning_on": turning_on,
            "record": record,
            "new_record": new_record,
        },
    }
