# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Findings: what in a Postfix configuration opens a relay, causes backscatter,
costs more than it needs to, or misses a protection the version has.

``stage_findings`` judges restriction lists alone, so that computed lists can be
checked with the same rules as a live host. ``config_findings`` judges the
whole picture gathered by ``postfix_facts``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_config as pc
from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_model as rm
from ansible_collections.mailguard.postfix.plugins.module_utils import inventory
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv

MAIN_CF = "main.cf"

CATEGORY_RELAY = "relay"
CATEGORY_BACKSCATTER = "backscatter"
CATEGORY_ORDER = "order"
CATEGORY_VERSION = "version"
CATEGORY_HOST = "host"
CATEGORY_ABUSE = "abuse"

# Parameters whose override in master.cf changes who may relay through a service.
RELAY_PARAMETERS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions", "mynetworks")


def finding(fid, category, severity, service, parameter, message, fix):
    return {
        "id": fid,
        "category": category,
        "severity": severity,
        "service": service,
        "parameter": parameter,
        "message": message,
        "fix": fix,
    }


def _stage_entries(stages, stage):
    return (stages.get(stage) or {}).get("entries") or []


def relay_findings(service, stages, label_override=False):
    """Open-relay paths through the relay and recipient lists of one service."""
    state, entry = rm.relay_path(_stage_entries(stages, "relay"), _stage_entries(stages, "recipient"))
    results = []
    if state == "open":
        fid = "master-override-opens-relay" if label_override else "open-relay-permit"
        param = _parameter_of(stages, entry)
        results.append(finding(
            fid, CATEGORY_RELAY, "critical", service, param,
            "An unauthenticated client reaches '%s' before reject_unauth_destination: "
            "anyone can relay mail to any domain through this service." % entry["text"],
            "Put reject_unauth_destination right after permit_mynetworks and "
            "permit_sasl_authenticated in %s, ahead of any other permit." % param))
    elif state == "unguarded":
        results.append(finding(
            "relay-check-missing", CATEGORY_RELAY, "high", service,
            "smtpd_relay_restrictions",
            "Neither smtpd_relay_restrictions nor smtpd_recipient_restrictions has a relay guard "
            "(reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit or "
            "check_relay_domains): smtpd refuses to run with these lists, so this service will not "
            "start and every client is disconnected. It is no open relay, but it takes no mail.",
            "Set smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
            "reject_unauth_destination."))
    elif entry is not None and entry["name"] == "defer_unauth_destination":
        results.append(finding(
            "relay-defer-not-reject", CATEGORY_RELAY, "low", service, _parameter_of(stages, entry),
            "Relay attempts get a 4xx (defer_unauth_destination): relaying is closed, but "
            "abusers are invited to retry.",
            "Use reject_unauth_destination once the configuration is known to be good."))
    return results


def _parameter_of(stages, entry):
    for info in stages.values():
        for item in info.get("entries") or []:
            if item is entry:
                return info["parameter"]
    return "smtpd_relay_restrictions"


def order_findings(service, stages, values, explicit=None, only_stages=None):
    """Order, cost and hygiene problems inside each restriction list."""
    explicit = explicit or {}
    results = []
    for stage, param in rm.STAGES:
        if only_stages is not None and stage not in only_stages:
            continue
        info = stages.get(stage) or {}
        entries = info.get("entries") or []
        if info.get("error"):
            results.append(finding(
                "unknown-restriction", CATEGORY_ORDER, "high", service, param,
                "The list cannot be parsed: %s." % info["error"],
                "Fix the syntax of %s." % param))
            continue
        results.extend(_entry_findings(service, param, entries, values, explicit))
    return results


def _entry_findings(service, param, entries, values, explicit):
    results = []
    first_expensive = None
    for index, entry in enumerate(entries):
        rank = rm.COST_RANK[entry["cost"]]
        # A permit that costs a lookup (permit_mx_backup, permit_dnswl_client)
        # is not moved behind cheap checks: that would change who gets in.
        # Its own risks are separate findings.
        if entry["cost"] in (rm.COST_DNS, rm.COST_EXTERNAL) and entry["action"] != rm.ACTION_PERMIT \
                and first_expensive is None:
            first_expensive = entry
        # An unconditional permit/reject/defer is the list's final answer:
        # there is nothing to gain by running it earlier.
        elif first_expensive is not None and rank <= rm.COST_RANK[rm.COST_LOCAL] \
                and entry["name"] not in ("permit", "reject", "defer"):
            results.append(finding(
                "expensive-before-cheap", CATEGORY_ORDER, "medium", service, param,
                "'%s' (%s) runs before '%s' (%s): every request pays for the lookup even when "
                "the cheap check would decide." % (first_expensive["text"], first_expensive["cost"],
                                                   entry["text"], entry["cost"]),
                "Move no-lookup and local-table checks ahead of DNS and policy checks in %s."
                % param))
            first_expensive = None
        if entry["name"] == "permit" and index < len(entries) - 1:
            results.append(finding(
                "permit-shadows-reject", CATEGORY_ORDER, "high", service, param,
                "An unconditional 'permit' at position %d ends the list; '%s' and what follows "
                "never run." % (index, entries[index + 1]["text"]),
                "Remove the permit or move it to the end of %s." % param))
        if entry["name"] in rm.DNSBL_RESTRICTIONS and not rm.dnsbl_has_reply_filter(entry["args"][0]):
            results.append(finding(
                "dnsbl-without-reply-filter", CATEGORY_ORDER, "high", service, param,
                "'%s' has no reply filter: any answer, including a list's error codes "
                "(127.255.255.x) or a dead list answering for everything, counts as listed."
                % entry["text"],
                "Give the list its documented codes, e.g. zen.spamhaus.org=127.0.0.[2..11]."))
        if entry["name"] == "check_policy_service":
            results.extend(_policy_findings(service, param, entry, values, explicit))
        if entry["name"] == "permit_mx_backup":
            results.append(finding(
                "permit-mx-backup", CATEGORY_RELAY, "high", service, param,
                "permit_mx_backup accepts mail for any domain that lists this host as MX, "
                "without knowing its recipients: a backscatter source and a relay risk "
                "(deprecated since Postfix 3.9).",
                "Remove permit_mx_backup; list backup domains in relay_domains with "
                "relay_recipient_maps."))
        if not entry["known"]:
            results.append(finding(
                "unknown-restriction", CATEGORY_ORDER, "high", service, param,
                "'%s' is neither a Postfix restriction nor a class in smtpd_restriction_classes; "
                "smtpd answers 4xx to every request that reaches it." % entry["text"],
                "Correct the name or declare the class in smtpd_restriction_classes."))
    return results


def _policy_findings(service, param, entry, values, explicit):
    endpoint, attributes = rm.policy_attributes(entry["args"][0])
    missing = []
    if "timeout" not in attributes and "smtpd_policy_service_timeout" not in explicit:
        missing.append("the timeout (%s)" % values.get("smtpd_policy_service_timeout", "100s"))
    if "default_action" not in attributes and "smtpd_policy_service_default_action" not in explicit:
        missing.append("the default action ('%s')" % values.get(
            "smtpd_policy_service_default_action", "451 4.3.5 Server configuration problem"))
    if not missing:
        return []
    return [finding(
        "policy-service-without-timeout", CATEGORY_ORDER, "medium", service, param,
        "'%s' leaves %s at the built-in default: a dead or slow policy server stalls or "
        "tempfails every message." % (entry["text"], " and ".join(missing)),
        "Write it as check_policy_service { %s, timeout=10s, default_action=DUNNO } "
        "(or a 4xx default action to fail closed)." % endpoint)]


def rcpt_chain(stages, values):
    """The lists smtpd evaluates for one RCPT command, in its order, as (stage, entry) pairs.

    With ``smtpd_delay_reject = yes`` smtpd evaluates the client, HELO and
    sender lists when the RCPT command arrives (without it, at connect, HELO
    and MAIL: the order is the same), then the relay and the recipient list;
    the recipient list first where ``smtpd_relay_before_recipient_restrictions``
    is not ``yes`` (Postfix before 3.6, or a compatibility level below 3.6).
    An unconditional ``permit`` ends its own list; an unconditional ``reject``
    or ``defer`` ends the request, so nothing after it is listed.
    """
    order = ["client", "helo", "sender"]
    if pv.is_yes(values.get("smtpd_relay_before_recipient_restrictions")):
        order += ["relay", "recipient"]
    else:
        order += ["recipient", "relay"]
    chain = []
    for stage in order:
        for entry in _stage_entries(stages, stage):
            chain.append((stage, entry))
            if entry["name"] == "permit":
                break
            if entry["name"] in ("reject", "defer"):
                return chain
    return chain


def _refuses_cheaply(entry):
    """A no-lookup or local-table entry that can refuse a request (not a permit or a final answer)."""
    return rm.COST_RANK[entry["cost"]] <= rm.COST_RANK[rm.COST_LOCAL] \
        and entry["action"] not in (rm.ACTION_PERMIT, rm.ACTION_MODIFIER) \
        and entry["name"] not in ("permit", "reject", "defer")


def _expensive(entry):
    return entry["cost"] in (rm.COST_DNS, rm.COST_EXTERNAL) and entry["action"] != rm.ACTION_PERMIT


def _answer_key(entry):
    """Entries that give one request the same answer share a key: every relay guard decides
    the same question, whichever of them smtpd reaches first."""
    return "relay guard" if entry["name"] in rm.RELAY_GUARDS else entry["text"]


def chain_order_problem(chain):
    """First (stage, expensive entry, stage, cheap entry) where a cheap refusal in a later list
    runs after a DNS or external check, or None.

    A lookup that a cheap check of its own list already follows is the
    per-list rule's finding, not this one's. A check that already ran earlier
    in the chain (the relay guard that the relay list repeats after the
    recipient list's) gives the same answer again, so its repetition is not
    a cheap check waiting behind the lookup; nor is a check that
    ``warn_if_reject`` turns into a warning.
    """
    cheap = []
    seen = set()
    softened = False
    for index, (stage, entry) in enumerate(chain):
        key = _answer_key(entry)
        if _refuses_cheaply(entry) and key not in seen and not softened:
            cheap.append(index)
        seen.add(key)
        softened = entry["name"] == "warn_if_reject"
    for index, (stage, entry) in enumerate(chain):
        if not _expensive(entry):
            continue
        later = [(chain[i][0], chain[i][1]) for i in cheap if i > index]
        if any(other == stage for other, _e in later):
            continue
        if later:
            return stage, entry, later[0][0], later[0][1]
    return None


def chain_findings(service, stages, values, overridden=None):
    """Order across the lists of one RCPT command: a DNS or external check that smtpd runs
    before a cheaper check of a later list, which would refuse the same request for free.

    For a master.cf service (``overridden`` given) only a pair in which one of
    the two lists is the service's own override is reported; main.cf's pairs
    are reported once, for main.cf.
    """
    problem = chain_order_problem(rcpt_chain(stages, values))
    if problem is None:
        return []
    expensive_stage, expensive, cheap_stage, cheap = problem
    expensive_param = rm.STAGE_PARAMETERS[expensive_stage]
    cheap_param = rm.STAGE_PARAMETERS[cheap_stage]
    if overridden is not None and not overridden.intersection(
            (expensive_param, cheap_param, "smtpd_relay_before_recipient_restrictions")):
        return []
    where = "'%s' (%s) in %s runs before '%s' (%s) in %s: smtpd evaluates %s first" % (
        expensive["text"], expensive["cost"], expensive_param, cheap["text"], cheap["cost"], cheap_param,
        expensive_param)
    if expensive["name"] in rm.CONNECT_TIME_DNS:
        # It reads the client name lookup smtpd made at connect: no query of
        # its own, but a 450 where the cheap check would have refused for good.
        severity = "low"
        message = ("%s, so a client the cheap check would refuse for good gets this check's 450 "
                   "(it reads the name smtpd looked up at connect) and is invited to retry." % where)
    else:
        severity = "medium"
        message = ("%s, so every request pays for the lookup even when the cheap check would "
                   "refuse it%s." % (where, ", and a slow or failing resolver turns that refusal into a 4xx"
                                     if expensive["cost"] == rm.COST_DNS else ""))
    if expensive_stage == "recipient" and cheap_stage == "relay":
        fix = ("smtpd evaluates the recipient list before the relay list here: set "
               "smtpd_relay_before_recipient_restrictions = yes (Postfix 3.6 and later), or put "
               "reject_unauth_destination ahead of the lookups in smtpd_recipient_restrictions.")
    else:
        fix = ("%sMove the DNS and policy checks of %s into smtpd_recipient_restrictions, after the "
               "relay guard and the local-table checks; no-lookup checks (HELO and address syntax) "
               "may stay ahead of them in smtpd_client_restrictions." % (
                   "" if pv.is_yes(values.get("smtpd_delay_reject", "yes")) else
                   "Set smtpd_delay_reject = yes (client, HELO and sender lists then run at RCPT "
                   "time, where their checks can be combined with the recipient's). ",
                   expensive_param))
    return [finding("expensive-before-cheap", CATEGORY_ORDER, severity, service, expensive_param,
                    message, fix)]


def stage_findings(service, stages, values, explicit=None, overridden=None, label_override=False):
    """All findings that can be judged from one service's restriction lists."""
    only = None
    if overridden is not None:
        only = set(stage for stage, param in rm.STAGES if param in overridden)
    results = []
    if overridden is None or any(p in overridden for p in RELAY_PARAMETERS):
        results.extend(relay_findings(service, stages, label_override=label_override))
    results.extend(order_findings(service, stages, values, explicit, only_stages=only))
    results.extend(chain_findings(service, stages, values,
                                  overridden=None if overridden is None else set(overridden)))
    return results


def version_findings(service, values, explicit, stages, overridden=None):
    """Protections the running version has but the configuration leaves off.

    For a master.cf service (``overridden`` given) only what its overrides
    change is judged; the rest is main.cf's and reported there once.
    """
    def judged(*params):
        return overridden is None or bool(overridden.intersection(params))

    results = []
    if overridden is None and "compatibility_level" not in explicit:
        results.append(finding(
            "compatibility-level-unset", CATEGORY_VERSION, "medium", service, "compatibility_level",
            "compatibility_level is not set, so Postfix runs with built-in level %s defaults "
            "(for example relay_domains = $mydestination)." % values.get("compatibility_level", "0"),
            "Set compatibility_level explicitly after reviewing the changed defaults."))
    all_entries = [e for info in stages.values() for e in info.get("entries") or []]
    if judged("smtpd_forbid_unauth_pipelining", "smtpd_data_restrictions") \
            and "smtpd_forbid_unauth_pipelining" in values \
            and not pv.is_yes(values["smtpd_forbid_unauth_pipelining"]) \
            and not any(e["name"] == "reject_unauth_pipelining" for e in all_entries):
        results.append(finding(
            "unauth-pipelining-unprotected", CATEGORY_VERSION, "medium", service,
            "smtpd_forbid_unauth_pipelining",
            "Clients that send commands ahead of the server's replies (a spamware habit) "
            "are served normally.",
            "Set smtpd_forbid_unauth_pipelining = yes (Postfix 3.7.6+), or add "
            "reject_unauth_pipelining to smtpd_data_restrictions."))
    bare = values.get("smtpd_forbid_bare_newline")
    if judged("smtpd_forbid_bare_newline") and bare is not None and bare.strip().lower() in ("no", ""):
        results.append(finding(
            "bare-newline-unprotected", CATEGORY_VERSION, "medium", service, "smtpd_forbid_bare_newline",
            "Bare newlines are accepted in SMTP, which allows SMTP smuggling of forged messages.",
            "Set smtpd_forbid_bare_newline = normalize (or yes)."))
    if judged("disable_vrfy_command") and "disable_vrfy_command" in values \
            and not pv.is_yes(values["disable_vrfy_command"]):
        results.append(finding(
            "vrfy-enabled", CATEGORY_VERSION, "low", service, "disable_vrfy_command",
            "VRFY lets anyone test which addresses exist here (address harvesting).",
            "Set disable_vrfy_command = yes."))
    return results


def backscatter_findings(facts):
    values = facts.get("effective", {})
    explicit = facts.get("parameters", {})
    results = []
    classes = facts.get("address_classes", {})
    port25 = smtp_stages(facts)
    recipient_names = set(e["name"] for e in _stage_entries(port25, "recipient")) | \
        set(e["name"] for e in _stage_entries(port25, "relay"))
    relay = classes.get("relay", {})
    if relay.get("domains") and not relay.get("validated"):
        results.append(finding(
            "relay-domains-without-recipient-maps", CATEGORY_BACKSCATTER, "high", MAIN_CF,
            "relay_recipient_maps",
            "relay_domains (%s) is set but relay_recipient_maps is empty: every recipient in "
            "those domains is accepted, and mail for unknown ones bounces to the (often forged) "
            "sender." % ", ".join(relay["domains"][:5]),
            "List valid relay recipients in relay_recipient_maps, or use "
            "reject_unverified_recipient for those domains."))
    vmailbox = classes.get("virtual_mailbox", {})
    if vmailbox.get("domains") and not vmailbox.get("tables"):
        results.append(finding(
            "virtual-domains-without-recipient-table", CATEGORY_BACKSCATTER, "high", MAIN_CF,
            "virtual_mailbox_maps",
            "virtual_mailbox_domains (%s) has no virtual_mailbox_maps to validate recipients "
            "against." % ", ".join(vmailbox["domains"][:5]),
            "Set virtual_mailbox_maps to the table of mailboxes."))
    valias = classes.get("virtual_alias", {})
    if valias.get("domains") and not valias.get("tables"):
        results.append(finding(
            "virtual-domains-without-recipient-table", CATEGORY_BACKSCATTER, "high", MAIN_CF,
            "virtual_alias_maps",
            "virtual_alias_domains (%s) has no virtual_alias_maps to validate recipients "
            "against." % ", ".join(valias["domains"][:5]),
            "Set virtual_alias_maps to the table of aliases."))
    if not pv.is_yes(values.get("smtpd_reject_unlisted_recipient", "yes")) \
            and "reject_unlisted_recipient" not in recipient_names:
        results.append(finding(
            "reject-unlisted-recipient-off", CATEGORY_BACKSCATTER, "high", MAIN_CF,
            "smtpd_reject_unlisted_recipient",
            "smtpd_reject_unlisted_recipient = no: unknown recipients are accepted and bounced "
            "later.",
            "Set smtpd_reject_unlisted_recipient = yes."))
    local = classes.get("local", {})
    if local.get("domains") and not local.get("tables"):
        results.append(finding(
            "local-recipient-maps-empty", CATEGORY_BACKSCATTER, "high", MAIN_CF, "local_recipient_maps",
            "local_recipient_maps is empty: mail to any user in the local domains is accepted "
            "and unknown ones bounce.",
            "Restore local_recipient_maps = proxy:unix:passwd.byname $alias_maps."))
    if values.get("luser_relay", "").strip():
        results.append(finding(
            "luser-relay", CATEGORY_BACKSCATTER, "high", MAIN_CF, "luser_relay",
            "luser_relay = %s sends mail for unknown local users somewhere instead of "
            "refusing it." % values["luser_relay"],
            "Remove luser_relay."))
    forwarding = facts.get("forwarding", {})
    catch_all = (forwarding.get("virtual_aliases") or {}).get("catch_all") or []
    if catch_all:
        results.append(finding(
            "catch-all-alias", CATEGORY_BACKSCATTER, "high", MAIN_CF, "virtual_alias_maps",
            "Catch-all virtual aliases accept every recipient of a domain: %s."
            % "; ".join(catch_all[:5]),
            "Replace the catch-all with the list of real addresses."))
    if values.get("unverified_recipient_defer_code", "").strip() == "250":
        results.append(finding(
            "unverified-recipient-defer-code-250", CATEGORY_BACKSCATTER, "critical", MAIN_CF,
            "unverified_recipient_defer_code",
            "unverified_recipient_defer_code = 250 accepts recipients whose verification has "
            "not finished; the undeliverable ones bounce.",
            "Use the default 450."))
    if pv.is_yes(values.get("soft_bounce")):
        results.append(finding(
            "soft-bounce-on", CATEGORY_BACKSCATTER, "medium", MAIN_CF, "soft_bounce",
            "soft_bounce = yes turns rejections into temporary failures: mail piles up in the "
            "queue and senders keep retrying.",
            "Set soft_bounce = no once the configuration is tested."))
    for service, value in _content_filters(facts):
        results.append(finding(
            "after-queue-content-filter", CATEGORY_BACKSCATTER, "medium", service, "content_filter",
            "content_filter = %s filters after the message is queued: what the filter refuses "
            "is bounced to the sender." % value,
            "Filter before the queue with smtpd_milters or smtpd_proxy_filter so that the "
            "client gets the rejection."))
    queue = facts.get("queue") or {}
    if queue.get("bounces_to_remote"):
        results.append(finding(
            "backscatter-in-queue", CATEGORY_BACKSCATTER, "high", MAIN_CF, "",
            "%d bounce(s) with a null sender are queued for remote recipients: backscatter on "
            "its way out." % queue["bounces_to_remote"],
            "Find what accepted the originals (the findings above), fix it, then review the "
            "queue with postqueue -j and delete the bounces with postsuper -d."))
    offsite = sum((forwarding.get(kind) or {}).get("offsite", 0)
                  for kind in ("aliases", "forward_files", "virtual_aliases"))
    strict = set(("check_recipient_access", "check_policy_service", "reject_unverified_recipient")) \
        | set(rm.tokenize(values.get("smtpd_restriction_classes", "")))
    if offsite and not recipient_names.intersection(strict):
        results.append(finding(
            "forwarding-without-strict-entry", CATEGORY_BACKSCATTER, "medium", MAIN_CF,
            "smtpd_recipient_restrictions",
            "%d address(es) forward mail off-site, and the recipient stage applies no stricter "
            "check to them: spam accepted for them is refused by the other provider and bounces "
            "from here." % offsite,
            "Select a stricter restriction class for forwarding recipients with "
            "check_recipient_access (SPF and blocklist checks), and use "
            "reject_unverified_recipient for one-to-one virtual aliases."))
    return results


def ehlo_keywords(value):
    """The EHLO keywords of an smtpd_discard_ehlo_keywords value, lower case."""
    return [word.lower() for word in pc.split_list(value)]


def dsn_findings(facts):
    """Port 25 smtpd services that offer DSN to every client.

    A spammer who forges the sender and asks NOTIFY=SUCCESS,DELAY has the
    delivery and delay notices sent to the forged address. A service that
    discards keywords by client address (smtpd_discard_ehlo_keyword_address_maps)
    is not judged: what it offers depends on the table.
    """
    values = facts.get("effective", {})
    results = []
    for key, svc in sorted((facts.get("smtpd_services") or {}).items()):
        if svc.get("role") not in (pc.ROLE_SMTP, pc.ROLE_PASS):
            continue
        merged = dict(values)
        merged.update(svc.get("overrides") or {})
        if (merged.get("smtpd_discard_ehlo_keyword_address_maps") or "").strip():
            continue
        if "dsn" in ehlo_keywords(merged.get("smtpd_discard_ehlo_keywords")):
            continue
        results.append(finding(
            "dsn-offered-on-port-25", CATEGORY_BACKSCATTER, "medium", key, "smtpd_discard_ehlo_keywords",
            "%s offers DSN to unauthenticated clients: a spammer who forges the sender and asks "
            "NOTIFY=SUCCESS,DELAY has delivery and delay notices sent to the forged address."
            % key,
            "Discard the dsn keyword on the port 25 smtpd (-o smtpd_discard_ehlo_keywords=silent-discard,dsn, "
            "as the harden role does); submission keeps DSN for its authenticated users."))
    return results


# Entries that tie the sender address of an authenticated client to its login.
SENDER_LOGIN_CHECKS = frozenset(("reject_sender_login_mismatch", "reject_authenticated_sender_login_mismatch",
                                 "reject_known_sender_login_mismatch"))


def _binds_sender_to_login(stages):
    """Whether a stage refuses an authenticated client's foreign sender before permitting it."""
    for stage, _param in rm.STAGES:
        for entry in _stage_entries(stages, stage):
            if entry["name"] == "permit_sasl_authenticated":
                break
            if entry["name"] in SENDER_LOGIN_CHECKS:
                return True
    return False


def login_findings(facts):
    """smtpd services that take passwords: where, how fast, and what a login may send as.

    - AUTH on port 25 lets anyone on the Internet guess passwords there, and
      a guessed one relays; submission is where users authenticate.
    - Without smtpd_sender_login_maps and a *_sender_login_mismatch check
      ahead of permit_sasl_authenticated, any user (or a stolen password)
      sends as any address, the site's own included.
    - smtpd_client_auth_rate_limit = 0 (Debian's default) lets one client
      try passwords as fast as smtpd answers.
    """
    values = facts.get("effective", {})
    main_stages = facts.get("main_stages") or {}
    results = []
    for key, svc in sorted((facts.get("smtpd_services") or {}).items()):
        if svc.get("role") == pc.ROLE_POSTSCREEN:
            continue
        merged = dict(values)
        merged.update(svc.get("overrides") or {})
        if not pv.is_yes(merged.get("smtpd_sasl_auth_enable", "no")):
            continue
        if svc.get("role") in (pc.ROLE_SMTP, pc.ROLE_PASS):
            results.append(finding(
                "auth-offered-on-port-25", CATEGORY_ABUSE, "medium", key, "smtpd_sasl_auth_enable",
                "%s offers AUTH on port 25: anyone on the Internet can guess passwords there, and a "
                "guessed password relays mail." % key,
                "Offer AUTH on submission (port 587/465) only: -o smtpd_sasl_auth_enable=no on the port 25 "
                "smtpd, as the harden role does unless harden_port25_auth is set."))
        stages = svc.get("stages") or main_stages
        if not (merged.get("smtpd_sender_login_maps") or "").strip() or not _binds_sender_to_login(stages):
            results.append(finding(
                "sender-login-unbound", CATEGORY_ABUSE, "medium", key, "smtpd_sender_login_maps",
                "An authenticated user of %s may send as any address, the site's own users' included: "
                "a hacked account sends in everyone's name." % key,
                "Say whose addresses are whose in smtpd_sender_login_maps and put "
                "reject_authenticated_sender_login_mismatch ahead of permit_sasl_authenticated "
                "(harden_submission.sender_login_maps: a table, local_users or virtual_users)."))
        limit = merged.get("smtpd_client_auth_rate_limit")
        if limit is not None and limit.strip() in ("", "0"):
            results.append(finding(
                "auth-rate-unlimited", CATEGORY_ABUSE, "low", key, "smtpd_client_auth_rate_limit",
                "%s takes AUTH commands from one client without a limit (smtpd_client_auth_rate_limit = 0): "
                "a password guesser tries as fast as smtpd answers." % key,
                "Limit AUTH commands per client and minute (the rate_limits role sets "
                "smtpd_client_auth_rate_limit on the submission services)."))
    return results


def _content_filters(facts):
    main_value = facts.get("effective", {}).get("content_filter", "").strip()
    found = []
    if main_value:
        found.append((MAIN_CF, main_value))
    for key, svc in sorted((facts.get("smtpd_services") or {}).items()):
        value = (svc.get("overrides") or {}).get("content_filter")
        if value is not None and value.strip() and value.strip() != main_value:
            found.append((key, value.strip()))
    return found


def smtp_stages(facts):
    """Stages of the port 25 service, or main.cf's when there is none."""
    for svc in (facts.get("smtpd_services") or {}).values():
        if svc.get("role") in ("smtp", "smtpd-pass") and svc.get("stages"):
            return svc["stages"]
    return facts.get("main_stages") or {}


def mynetworks_findings(service, mynetworks, host_networks, overridden=False):
    wide, _unjudged = inventory.mynetworks_outside(mynetworks, host_networks)
    if not wide:
        return []
    everything = any(item.split("/")[-1] in ("0",) for item in wide)
    return [finding(
        "mynetworks-too-wide", CATEGORY_RELAY, "critical" if everything else "high", service,
        "mynetworks",
        "mynetworks%s trusts %s, outside this host's own networks (%s): clients there pass "
        "permit_mynetworks and may relay." % (" (master.cf override)" if overridden else "",
                                              ", ".join(wide), ", ".join(host_networks) or "none known"),
        "Limit mynetworks to the host itself (mynetworks_style = host) and let other "
        "senders authenticate.")]


def config_findings(facts):
    """Every finding for one host's gathered facts."""
    if not facts.get("installed", True):
        return [finding(
            "postfix-not-installed", CATEGORY_HOST, "info", MAIN_CF, "",
            "Postfix is not installed on this host (no postconf found).",
            "Nothing to audit; install Postfix with the mailguard.postfix.harden role if this "
            "host should handle mail.")]
    values = facts.get("effective", {})
    explicit = facts.get("parameters", {})
    main_stages = facts.get("main_stages") or {}
    host_networks = facts.get("host_networks") or []
    results = []
    results.extend(stage_findings(MAIN_CF, main_stages, values, explicit))
    results.extend(version_findings(MAIN_CF, values, explicit, main_stages))
    results.extend(mynetworks_findings(MAIN_CF, values.get("mynetworks", ""), host_networks))
    main_relay_open = rm.relay_path(_stage_entries(main_stages, "relay"),
                                    _stage_entries(main_stages, "recipient"))[0] != "closed"
    for key, svc in sorted((facts.get("smtpd_services") or {}).items()):
        overrides = svc.get("overrides") or {}
        stages = svc.get("stages")
        if not overrides or stages is None:
            continue
        merged = dict(values)
        merged.update(overrides)
        overridden = set(overrides)
        svc_results = stage_findings(key, stages, merged, explicit, overridden=overridden,
                                     label_override=not main_relay_open)
        results.extend(svc_results)
        results.extend(version_findings(key, merged, explicit, stages, overridden=overridden))
        if "mynetworks" in overrides:
            results.extend(mynetworks_findings(key, overrides["mynetworks"], host_networks,
                                               overridden=True))
    results.extend(backscatter_findings(facts))
    results.extend(dsn_findings(facts))
    results.extend(login_findings(facts))
    for table in facts.get("unreadable_tables") or []:
        results.append(finding(
            "table-unreadable", CATEGORY_HOST, "info", MAIN_CF, table.get("parameter", ""),
            "%s could not be listed (%s); entries in it were not inventoried."
            % (table.get("table"), table.get("reason")),
            "Use a table type that postmap -s can list, or review it by hand."))
    results.sort(key=lambda f: (pv.severity_rank(f["severity"]), f["category"], f["service"], f["id"]))
    return results
