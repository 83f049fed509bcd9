# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for ``postconf`` output and the effective view of each smtpd service.

Input is the text Postfix prints; output is plain data. The effective value of
a main.cf parameter comes from ``postconf -x`` (Postfix expands ``$name`` and
its conditional forms itself); the effective value inside a master.cf service
comes from ``postconf -Px`` when the service overrides it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm

# Parameters the collection reasons about; their effective values are reported.
REASONED_PARAMETERS = (
    "alias_maps", "anvil_rate_time_unit", "compatibility_level", "config_directory",
    "content_filter", "disable_vrfy_command", "inet_interfaces", "inet_protocols",
    "local_recipient_maps", "local_transport", "luser_relay", "mail_version",
    "mydestination", "mydomain", "myhostname", "mynetworks", "mynetworks_style",
    "parent_domain_matches_subdomains", "permit_mx_backup_networks", "postscreen_access_list",
    "postscreen_dnsbl_action", "postscreen_dnsbl_sites", "postscreen_dnsbl_threshold",
    "postscreen_greet_action", "postscreen_pipelining_enable", "postscreen_non_smtp_command_enable",
    "postscreen_bare_newline_enable", "recipient_delimiter", "relay_domains",
    "relay_recipient_maps", "relayhost", "smtpd_client_connection_count_limit",
    "smtpd_client_connection_rate_limit", "smtpd_client_event_limit_exceptions",
    "smtpd_client_message_rate_limit", "smtpd_client_recipient_rate_limit",
    "smtpd_client_new_tls_session_rate_limit", "smtpd_client_auth_rate_limit",
    "smtpd_delay_reject", "smtpd_discard_ehlo_keyword_address_maps", "smtpd_discard_ehlo_keywords",
    "smtpd_forbid_bare_newline", "smtpd_forbid_unauth_pipelining",
    "smtpd_helo_required", "smtpd_milters", "smtpd_policy_service_default_action",
    "smtpd_policy_service_max_idle", "smtpd_policy_service_timeout",
    "smtpd_policy_service_try_limit", "smtpd_reject_unlisted_recipient",
    "smtpd_reject_unlisted_sender", "smtpd_relay_before_recipient_restrictions",
    "smtpd_restriction_classes", "smtpd_sasl_auth_enable", "smtpd_tls_auth_only",
    "smtpd_tls_security_level", "smtpd_tls_wrappermode", "soft_bounce",
    "strict_rfc821_envelopes", "unknown_local_recipient_reject_code",
    "unverified_recipient_defer_code", "unverified_recipient_reject_code",
    "virtual_alias_domains", "virtual_alias_maps", "virtual_mailbox_domains",
    "virtual_mailbox_maps", "virtual_transport",
) + tuple(param for _stage, param in rm.STAGES)

# master.cf services that are smtpd or postscreen, by role.
ROLE_SMTP = "smtp"
ROLE_SUBMISSION = "submission"
ROLE_SMTPS = "smtps"
ROLE_POSTSCREEN = "postscreen"
ROLE_PASS = "smtpd-pass"
ROLE_OTHER = "smtpd-other"

_PORT_ROLES = {
    "smtp": ROLE_SMTP, "25": ROLE_SMTP,
    "submission": ROLE_SUBMISSION, "587": ROLE_SUBMISSION,
    "smtps": ROLE_SMTPS, "submissions": ROLE_SMTPS, "465": ROLE_SMTPS,
}

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_parameters(text):
    """Parse ``name = value`` lines of ``postconf``/``postconf -n``/``-x``/``-d``."""
    params = {}
    for line in (text or "").splitlines():
        if not line or line[0].isspace() or "=" not in line:
            continue
        name, value = line.split("=", 1)
        params[name.strip()] = value.strip()
    return params


def parse_version(version):
    """``"3.7.11"`` -> ``(3, 7, 11)``; unknown shapes give ``(0, 0, 0)``."""
    match = _VERSION_RE.match(str(version or "").strip())
    if not match:
        return (0, 0, 0)
    return tuple(int(part or 0) for part in match.groups())


def split_list(value):
    """Split a Postfix list value (commas/whitespace, braces kept together)."""
    return rm.tokenize(value or "")


def parse_master(text):
    """Parse ``postconf -M`` (one service per line) into a list of services."""
    services = []
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 8:
            continue
        name, svc_type, private, unpriv, chroot, wakeup, maxproc, command = fields[:8]
        services.append({
            "name": name,
            "type": svc_type,
            "key": "%s/%s" % (name, svc_type),
            "private": private,
            "unpriv": unpriv,
            "chroot": chroot,
            "wakeup": wakeup,
            "maxproc": maxproc,
            "command": command,
            "args": fields[8:],
            "overrides": {},
        })
    return services


def parse_service_parameters(text):
    """Parse ``postconf -P`` into ``{service_key: {parameter: value}}``."""
    overrides = {}
    for line in (text or "").splitlines():
        if " = " not in line and not line.rstrip().endswith(" ="):
            continue
        key, _sep, value = line.partition(" =")
        parts = key.strip().rsplit("/", 2)
        if len(parts) != 3:
            continue
        service, svc_type, param = parts
        overrides.setdefault("%s/%s" % (service, svc_type), {})[param] = value.strip()
    return overrides


def service_role(service, overrides=None):
    """Role of a master.cf service, or None when it is not an SMTP server."""
    overrides = overrides or {}
    command = service["command"]
    if command == "postscreen":
        return ROLE_POSTSCREEN
    if command != "smtpd":
        return None
    if service["type"] == "pass":
        return ROLE_PASS
    if service["type"] != "inet":
        return ROLE_OTHER
    port = service["name"].rsplit(":", 1)[-1]
    role = _PORT_ROLES.get(port, ROLE_OTHER)
    if overrides.get("smtpd_tls_wrappermode", "").lower() == "yes" and role == ROLE_SUBMISSION:
        role = ROLE_SMTPS
    return role


def effective_for_service(effective, service_overrides_expanded):
    """main.cf effective values with the service's expanded overrides on top."""
    merged = dict(effective)
    merged.update(service_overrides_expanded or {})
    return merged


def restriction_classes(values):
    return [c for c in split_list(values.get("smtpd_restriction_classes", "")) if c]


def class_costs(values):
    """Cost of each declared restriction class: the most expensive entry in it."""
    costs = {}
    for name in restriction_classes(values):
        try:
            entries = rm.parse_entries(values.get(name, ""))
        except ValueError:
            costs[name] = rm.COST_UNKNOWN
            continue
        worst = rm.COST_NONE
        for entry in entries:
            if rm.COST_RANK[entry["cost"]] > rm.COST_RANK[worst]:
                worst = entry["cost"]
        costs[name] = worst
    return costs


def stage_lists(values, overridden=()):
    """Parse every stage of one service (or main.cf) into entries.

    ``values`` are the effective values for that service; ``overridden`` names
    the parameters that came from master.cf. A stage that cannot be parsed
    keeps its text and carries ``error``.
    """
    classes = restriction_classes(values)
    costs = class_costs(values)
    stages = {}
    for stage, param in rm.STAGES:
        value = values.get(param, "")
        stage_info = {
            "parameter": param,
            "source": "master.cf" if param in overridden else "main.cf",
            "value": value,
            "entries": [],
        }
        try:
            stage_info["entries"] = rm.parse_entries(value, classes, costs)
        except ValueError as exc:
            stage_info["error"] = str(exc)
        stages[stage] = stage_info
    return stages


def smtpd_services(services, effective, overrides_expanded):
    """The effective restriction view of every smtpd and postscreen service."""
    result = {}
    for service in services:
        svc_overrides = overrides_expanded.get(service["key"], {})
        role = service_role(service, svc_overrides)
        if role is None:
            continue
        values = effective_for_service(effective, svc_overrides)
        entry = {
            "key": service["key"],
            "role": role,
            "listen": service["name"] if service["type"] == "inet" else "",
            "command": service["command"],
            "overrides": dict(svc_overrides),
        }
        if role != ROLE_POSTSCREEN:
            entry["stages"] = stage_lists(values, svc_overrides)
        result[service["key"]] = entry
    return result
