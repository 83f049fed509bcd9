#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: restrictions
short_description: Compute Postfix SMTP restriction lists that refuse abuse at the door
version_added: "0.1.0"
description:
  - Computes, from a description of what the mail host should refuse, the restriction list of
    every smtpd stage (client, helo, sender, relay, recipient, data, end_of_data), the main.cf
    parameters that go with them, the master.cf C(-o) overrides of the submission services, and
    the lookup tables to write.
  - Changes nothing and runs no command on the host; a role or playbook applies the result
    (C(postconf -e), C(postconf -P), C(postmap)).
  - "Every list has the same layout: checks that apply to every client (cheap ones only); then
    C(permit_mynetworks, permit_sasl_authenticated) when something follows that trusted clients
    should skip; then C(reject_unauth_destination) in the relay and recipient lists; then the
    checks for everyone else, cheapest first: no lookup, local table, DNS, external service."
  - Trusted networks and authenticated users skip the DNS, blocklist and policy checks of the
    client, helo, sender and recipient stages. They are this site's own hosts and users; a
    roaming user on a listed or nameless address must still be able to send, and nothing is
    gained by looking our own hosts up. Checks that must hold for them too stand before the
    permits (C(reject_unlisted_recipient); sender login mismatch on the submission services).
  - "Across the lists, the unauthenticated path of one RCPT command is one sequence in smtpd's
    evaluation order (client, helo, sender, relay, recipient; with C(smtpd_delay_reject=yes) the
    first three run when RCPT arrives), cheapest first as a whole. Every no-lookup check (HELO
    syntax, non-FQDN sender and recipient) stands in C(smtpd_client_restrictions), which smtpd
    evaluates first; postconf(5) allows helo, sender and recipient restrictions there under
    delayed reject. The relay list guards relaying. C(smtpd_recipient_restrictions) then holds the
    local-table checks (unlisted recipients, own domains as sender, the selection of the forwarding
    and bounce classes), every DNS check and blocklist, and the policy services, in that order.
    C(smtpd_helo_restrictions) and C(smtpd_sender_restrictions) hold only custom entries given
    for them. Mail a local check refuses costs no DNS query beyond the client name lookup smtpd
    makes at connect."
  - "Among the DNS checks, C(reject_unknown_reverse_client_hostname) and
    C(reject_unknown_client_hostname) come first: they read the connect-time lookup and cost no
    query, but answer 450, so the definitive cheap refusals come before them."
  - The relay list is always C(permit_mynetworks, permit_sasl_authenticated,
    reject_unauth_destination); the recipient list repeats the guard so that a service
    overriding only one of the two stays closed.
  - Every entry is returned with its cost class and the reason it stands where it stands.
  - "The result is judged with the rules the audit (M(mailguard.postfix.postfix_facts)) applies
    to a live host, on main.cf and on each service: when a relay or order finding remains, the
    module fails. It also fails, naming the input, on unsafe or contradictory intent: a blocklist
    without reply filter (unless allowed on that entry), a permit ahead of
    C(reject_unauth_destination) for unauthenticated clients, an unknown restriction,
    C(permit_mx_backup), a policy service without timeout or with a 5xx default action, relay
    domains whose recipients nobody validates."
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  postfix_version:
    description:
      - Postfix version of the host, as C(mail_version) gives it (C(ansible_facts.postfix.version)
        from M(mailguard.postfix.postfix_facts)).
      - "Decides which protections exist: C(smtpd_forbid_unauth_pipelining) (3.5.20, 3.6.10,
        3.7.6, 3.8.1, 3.9 and later; default C(no) before 3.9), C(smtpd_forbid_bare_newline)
        (C(yes) from 3.7.9 and 3.8.4, C(normalize) and C(reject) from 3.7.10, 3.8.5 and 3.9),
        C(smtpd_relay_before_recipient_restrictions) (3.6). Versions before 3.0 are refused: the
        per-call policy attributes need 3.0."
    type: str
    required: true
  profile:
    description:
      - How strict the lists are. Each level adds to the one before.
      - V(baseline) sets C(smtpd_helo_required), C(disable_vrfy_command),
        C(smtpd_reject_unlisted_recipient), C(smtpd_delay_reject), the pipelining and bare-newline
        protections the version has, and for untrusted clients C(reject_invalid_helo_hostname),
        C(reject_non_fqdn_sender), C(reject_unknown_sender_domain) (a forged sender domain cannot
        take a bounce), C(reject_non_fqdn_recipient); for everyone
        C(reject_unlisted_recipient), C(reject_unauth_pipelining) and
        C(reject_multi_recipient_bounce).
      - V(strict) adds C(reject_unknown_reverse_client_hostname) (large providers require reverse
        DNS of senders; temporary DNS failures still get 4xx), C(reject_non_fqdn_helo_hostname),
        C(strict_rfc821_envelopes), C(smtpd_reject_unlisted_sender) (a local application that
        sends as an unlisted address of our domains is refused) and
        C(unknown_address_reject_code=550) (a sender domain that does not exist is refused for
        good rather than retried).
      - V(paranoid) adds C(reject_unknown_helo_hostname), replaces the reverse DNS check with
        C(reject_unknown_client_hostname) (forward-confirmed reverse DNS) and sets
        C(smtpd_forbid_bare_newline=reject) where the version has it. Expect to refuse some
        legitimate but badly configured senders.
    type: str
    choices: [baseline, strict, paranoid]
    default: strict
  trusted_networks:
    description:
      - Networks whose clients are trusted (C(mynetworks)), in addition to the host itself
        (loopback, always trusted so that local applications can submit). Trusted clients skip
        the checks for untrusted clients and may relay.
      - Networks wider than C(/8) (IPv4) or C(/32) (IPv6) are refused.
    type: list
    elements: str
    default: []
  own_domains:
    description:
      - Domains of this site. Unauthenticated clients may not use them as envelope sender; a
        C(check_sender_access) table refuses them behind the permits.
      - Only the exact domains listed; list subdomains too if they are yours.
    type: list
    elements: str
    default: []
  own_domains_table:
    description:
      - Table for O(own_domains), returned in RV(tables) to write and compile.
    type: str
    default: hash:/etc/postfix/own_domains_as_sender
  submission:
    description:
      - The submission services (ports 587 and 465) for authenticated users.
      - Each listed service gets C(-o) overrides that permit authenticated users and refuse
        everyone else in every stage, offer AUTH only over TLS, and require TLS for mail when
        O(submission.tls_required) is set. Port 25 (C(smtp/inet)) keeps main.cf's lists.
      - The data and end-of-data lists stay main.cf's, so policy services with
        O(policy_services[].applies_to_authenticated) see submitted mail.
    type: dict
    suboptions:
      enabled:
        description: Build the submission services.
        type: bool
        default: true
      sasl:
        description:
          - Offer SASL authentication on the services (C(smtpd_sasl_auth_enable=yes)). Must stay
            true; a submission service without authentication is refused.
        type: bool
        default: true
      tls_required:
        description:
          - Require TLS for every session (C(smtpd_tls_security_level=encrypt)). Services on port
            465 (C(smtps), C(submissions)) use TLS wrapper mode either way.
          - AUTH is offered only over TLS in any case (C(smtpd_tls_auth_only=yes)).
        type: bool
        default: true
      services:
        description:
          - master.cf service keys (C(name/inet)) to override. A name of C(smtps), C(submissions)
            or port C(465) gets C(smtpd_tls_wrappermode=yes).
          - The services must exist in master.cf; this module does not create them.
        type: list
        elements: str
        default: [submission/inet, smtps/inet]
      sender_login_maps:
        description:
          - Whose sender addresses are whose (C(smtpd_sender_login_maps)). When given,
            C(reject_authenticated_sender_login_mismatch) stands before
            C(permit_sasl_authenticated), so that a user (or whoever stole the password) cannot
            send as someone else.
          - A table (C(type:name)) of address to login names, the operator's.
          - V(local_users) - a login owns its name at each of O(own_domains) (C(u1) owns
            C(u1@example.org)), as with system or Cyrus sasldb users.
          - V(virtual_users) - a login is the address it owns (C(u1@example.org)), as with
            mailbox users who log in with their address.
          - For both keywords the module returns a regexp table in RV(tables) (see
            O(submission.sender_login_table)). Addresses outside O(own_domains) and extension
            addresses (C(u1+tag@example.org)) have no owner there and are refused to
            authenticated users; give a table of your own for those.
          - Empty or unset - any authenticated user may send as any address
            (C(postfix_facts) reports it as C(sender-login-unbound)).
        type: str
      sender_login_table:
        description:
          - The regexp table written for O(submission.sender_login_maps) V(local_users) or
            V(virtual_users).
        type: str
        default: regexp:$config_directory/sender_login_owners.regexp
      sasl_type:
        description: C(smtpd_sasl_type) for the services.
        type: str
        choices: [cyrus, dovecot]
      sasl_path:
        description: C(smtpd_sasl_path) for the services, e.g. C(private/auth) for Dovecot.
        type: str
  dnsbls:
    description:
      - DNS blocklists. Each is queried after the cheap checks of its stage, for untrusted
        clients only.
      - A list without O(dnsbls[].filter) fails unless O(dnsbls[].allow_unfiltered) is set on it.
        Filters that accept the lists' error answers (C(127.255.255.252), C(.254), C(.255)) or
        C(127.0.0.1) are refused.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The list's DNS zone, e.g. C(zen.spamhaus.org).
        type: str
        required: true
      type:
        description:
          - What is looked up. V(client) the client IP (C(reject_rbl_client), client stage);
            V(reverse_client) its reverse name (C(reject_rhsbl_reverse_client)); V(helo) the
            HELO name (C(reject_rhsbl_helo)); V(sender) the sender domain
            (C(reject_rhsbl_sender)).
          - V(null_sender_client) queries the client IP for bounces (null sender) only, through a
            restriction class selected by C(check_sender_access) on C(<>). This is the only way
            C(ips.backscatterer.org) is accepted.
        type: str
        choices: [client, reverse_client, helo, sender, null_sender_client]
        default: client
      filter:
        description: The answers that mean listed, e.g. C(127.0.0.[2..11]).
        type: str
      weight:
        description:
          - Weight for postscreen's score (O(postscreen)); ignored by smtpd.
          - A negative weight makes the list an allowlist; only allowed with O(postscreen) and
            type V(client).
        type: int
        default: 1
      allow_unfiltered:
        description: Accept this list without a reply filter (any answer counts as listed).
        type: bool
        default: false
  postscreen:
    description:
      - Score the V(client) blocklists in postscreen instead of smtpd. Returns
        C(postscreen_dnsbl_sites) (C(name=filter*weight)), C(postscreen_dnsbl_threshold) and
        C(postscreen_dnsbl_action=enforce).
      - master.cf must run postscreen on port 25; this module does not change master.cf for it.
    type: bool
    default: false
  postscreen_threshold:
    description:
      - Score at which postscreen refuses a client. Defaults to the highest single weight, so
        that the list trusted most blocks on its own and weaker ones must agree.
    type: int
  policy_services:
    description:
      - Policy servers (C(check_policy_service)), written with per-call C(timeout) and
        C(default_action) so that a dead server neither stalls nor refuses mail.
      - Placed after C(reject_unauth_destination) and after every cheaper check of the stage.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A name for messages and reasons.
        type: str
        required: true
      endpoint:
        description: C(inet:host:port) or C(unix:path), e.g. C(inet:127.0.0.1:10040).
        type: str
        required: true
      stage:
        description:
          - Where the policy is asked. V(recipient) sees each recipient; V(data) and
            V(end_of_data) see C(recipient_count) (and V(end_of_data) the real size), which
            per-user rate limits need.
        type: str
        choices: [recipient, data, end_of_data]
        default: recipient
      timeout:
        description: Per-call timeout, e.g. C(10s); at most 300s.
        type: str
        required: true
      default_action:
        description:
          - What Postfix does when the server does not answer. V(DUNNO) fails open; a 4xx reply
            such as C(451 4.3.5 Policy service unavailable) fails closed and senders retry.
          - 5xx replies and other actions are refused.
        type: str
        default: DUNNO
      applies_to_authenticated:
        description:
          - Ask the policy for trusted and authenticated clients too (rate limits for SASL users).
          - Such a policy stands before any permit, so it must be in stage V(data) or
            V(end_of_data), and not share the stage with a policy for untrusted clients only.
        type: bool
        default: false
  forwarding:
    description:
      - Recipients whose mail is forwarded off-site. Mail the other provider refuses after we
        accepted it bounces from here (backscatter), so these recipients get stricter checks at
        entry through a restriction class selected with C(check_recipient_access).
      - "The class holds, cheapest first: with the V(baseline) profile
        C(reject_non_fqdn_helo_hostname) and C(reject_unknown_reverse_client_hostname); the
        O(forwarding.dnsbls); and the SPF policy with a timeout and C(default_action=DUNNO)."
      - "One-to-one virtual aliases (O(forwarding.verify_recipients)) get a second class,
        C(<class>_verified): the same checks, then C(reject_unverified_recipient), which asks the
        remote provider whether it knows the address before we accept mail for it."
    type: dict
    suboptions:
      recipients_table:
        description: Table that maps each forwarding recipient to the class.
        type: str
        required: true
      class:
        description: Name of the restriction class.
        type: str
        default: forwarding_recipients
      recipients:
        description:
          - Forwarding addresses. When given, the table's content is returned in RV(tables).
          - A C(user@) key matches that user in every domain, as in access(5).
        type: list
        elements: str
        default: []
      verify_recipients:
        description:
          - One-to-one virtual aliases to an off-site address. They select C(<class>_verified),
            which adds C(reject_unverified_recipient) to the class's checks.
          - An address listed here and in O(forwarding.recipients) gets the verified class.
        type: list
        elements: str
        default: []
      verify_one_to_one:
        description:
          - Create C(<class>_verified) even when O(forwarding.verify_recipients) is empty, for a
            table that is kept outside this module (for example in SQL).
        type: bool
        default: false
      spf_policy:
        description: SPF policy server, e.g. C(unix:private/policyd-spf).
        type: str
      spf_timeout:
        description: Per-call timeout of the SPF policy.
        type: str
        default: 10s
      dnsbls:
        description:
          - Blocklists for forwarded mail only, same fields as O(dnsbls) (types V(client),
            V(reverse_client), V(helo), V(sender); the weight is ignored).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The list's DNS zone.
            type: str
            required: true
          type:
            description: What is looked up.
            type: str
            choices: [client, reverse_client, helo, sender]
            default: client
          filter:
            description: The answers that mean listed.
            type: str
          weight:
            description: Ignored here.
            type: int
            default: 1
          allow_unfiltered:
            description: Accept this list without a reply filter.
            type: bool
            default: false
  relay_domains:
    description:
      - Domains this host relays for (backup MX, internal gateway). Requires
        O(relay_recipient_maps) or O(relay_recipient_verification); otherwise every recipient of
        those domains would be accepted and the unknown ones bounced.
    type: list
    elements: str
    default: []
  relay_recipient_maps:
    description:
      - Tables of the valid recipients in O(relay_domains), as Postfix writes a table list
        (C(hash:/etc/postfix/relay_recipients), several separated by commas or spaces).
      - Returned in RV(operator_tables) with C($config_directory) expanded, so that the caller
        can check that each file exists, and compile it, before the lists go live.
    type: str
  config_directory:
    description:
      - Postfix's C(config_directory) on the host, to expand C($config_directory) in
        O(relay_recipient_maps).
    type: str
    default: /etc/postfix
  relay_recipient_verification:
    description:
      - Probe recipients in O(relay_domains) at the next hop (C(reject_unverified_recipient),
        through a class selected per domain) instead of listing them. Returns the verify
        parameters (C(unverified_recipient_reject_code=550), C(unverified_recipient_defer_code=450),
        C(address_verify_map)).
    type: bool
    default: false
  relay_verification_table:
    description: Table that selects the verification class for O(relay_domains).
    type: str
    default: hash:/etc/postfix/relay_recipient_verification
  null_sender_table:
    description: Table that selects the bounce blocklists for the null sender.
    type: str
    default: hash:/etc/postfix/null_sender_access
  custom:
    description:
      - Extra restrictions for main.cf's lists (the submission overrides are not changed).
      - Unknown restrictions, C(permit_mx_backup), C(reject_unverified_sender) (sender callouts
        get a host listed), restrictions Postfix 3.9 removed, and C(check_policy_service) (use
        O(policy_services)) are refused. Blocklists need a reply filter.
      - In the relay and recipient stages, nothing that can permit an unauthenticated client may
        stand before C(reject_unauth_destination); only C(permit_mynetworks),
        C(permit_sasl_authenticated), C(permit_tls_clientcerts), C(check_client_access),
        C(check_ccert_access) and C(check_sasl_access) may.
    type: list
    elements: dict
    default: []
    suboptions:
      stage:
        description: The stage.
        type: str
        required: true
        choices: [client, helo, sender, relay, recipient, data, end_of_data]
      entry:
        description: One restriction with its argument, e.g. C(check_client_access cidr:/etc/postfix/client_access).
        type: str
        required: true
      position:
        description:
          - V(last) places the entry among the checks for untrusted clients, after those of the
            same or lower cost, so that the stage stays cheapest first; an unconditional
            C(permit), C(reject) or C(defer) goes to the very end.
          - "With V(last), an entry that can only refuse joins the one cost order of the whole
            chain: a no-lookup one goes to the client list, a DNS or external one given for the
            client, helo or sender stage to the recipient list. Access tables and permits stay
            in their stage (their OK ends only that list). An access table that looks something
            up in DNS or in an external table, in the client, helo or sender stage (ahead of the
            relay guard), is refused; an access table or permit there that can answer OK gets a
            warning, since its OK no longer exempts from the DNS and policy checks, which all
            stand in the recipient list. In the recipient stage an OK skips every DNS and policy
            check after it."
          - V(first), C(before:NAME) and C(after:NAME) pin it; NAME is a restriction name (or a
            whole entry) of the stage, the first match for C(before:), the last for C(after:).
            A pin that puts a cheap check behind a DNS or external one is refused.
          - C(warn_if_reject) must be pinned with C(before:NAME).
        type: str
        default: last
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only computes; it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - The module needs no Postfix on the host it runs on; run it where convenient, for example with
    C(delegate_to=localhost).
  - C(compatibility_level) is not set here; it changes many defaults and is the harden role's to
    set.
seealso:
  - module: mailguard.postfix.postfix_facts
  - name: Postfix SMTP relay and access control
    description: How restriction lists and stages are evaluated.
    link: https://www.postfix.org/SMTPD_ACCESS_README.html
  - name: Postfix backscatter howto
    description: Why mail must be refused during SMTP rather than bounced later.
    link: https://www.postfix.org/BACKSCATTER_README.html
  - name: Postfix SMTP access policy delegation
    description: The policy protocol, per-call timeout and default action.
    link: https://www.postfix.org/SMTPD_POLICY_README.html
  - name: Postfix address verification
    description: What reject_unverified_recipient probes and what it cannot.
    link: https://www.postfix.org/ADDRESS_VERIFICATION_README.html
  - name: postconf(5)
    description: Postfix configuration parameters.
    link: https://www.postfix.org/postconf.5.html
requirements:
  - The lists target Postfix 3.x (3.7 and 3.10 are tested).
"""

EXAMPLES = r"""
- name: Read the Postfix version
  mailguard.postfix.postfix_facts:
    gather_forwarding: false
    gather_queue: false

- name: Compute the restriction lists of an MX with submission for its users
  mailguard.postfix.restrictions:
    postfix_version: "{{ ansible_facts.postfix.version }}"
    profile: strict
    own_domains: [example.org]
    trusted_networks: [192.0.2.0/28]
    submission:
      sender_login_maps: hash:/etc/postfix/sender_logins
      sasl_type: dovecot
      sasl_path: private/auth
    dnsbls:
      - name: zen.spamhaus.org
        filter: 127.0.0.[2..11]
      - name: dbl.spamhaus.org
        type: sender
        filter: 127.0.1.[2..99]
      - name: ips.backscatterer.org
        type: null_sender_client
        filter: 127.0.0.2
    policy_services:
      - name: postfwd
        endpoint: inet:127.0.0.1:10040
        stage: end_of_data
        timeout: 10s
        applies_to_authenticated: true
    forwarding:
      recipients_table: hash:/etc/postfix/forwarding_recipients
      recipients: [carol@example.org]
      verify_recipients: [dave@example.org]
      spf_policy: unix:private/policyd-spf
  register: restrictions

- name: Write the tables the lists refer to
  ansible.builtin.copy:
    dest: "{{ item.key }}"
    content: "{{ item.value }}"
    mode: "0644"
  loop: "{{ restrictions.tables | dict2items }}"

- name: Compile them
  ansible.builtin.command:
    argv: [postmap, "{{ item }}"]
  loop: "{{ restrictions.postmap }}"
  changed_when: true

- name: Apply main.cf
  ansible.builtin.command:
    argv: [postconf, -e, "{{ item.key }}={{ item.value }}"]
  loop: "{{ restrictions.parameters | dict2items }}"
  changed_when: true

- name: Apply the master.cf overrides (the services must exist)
  ansible.builtin.command:
    argv: [postconf, -P, "{{ item.key }}={{ item.value }}"]
  loop: "{{ restrictions.service_parameters | dict2items }}"
  changed_when: true

- name: Show why each recipient check stands where it stands
  ansible.builtin.debug:
    msg: "{{ restrictions.stages.recipient.entries | map(attribute='reason') }}"

- name: Score blocklists in postscreen with a threshold of 3
  mailguard.postfix.restrictions:
    postfix_version: "3.10.1"
    profile: baseline
    postscreen: true
    postscreen_threshold: 3
    dnsbls:
      - name: zen.spamhaus.org
        filter: 127.0.0.[2..11]
        weight: 3
      - name: bl.spamcop.net
        filter: 127.0.0.2
        weight: 2
      - name: list.dnswl.org
        filter: 127.0.[0..255].[1..3]
        weight: -2
"""

RETURN = r"""
stages:
  description:
    - The main.cf restriction list of each stage (C(client), C(helo), C(sender), C(relay),
      C(recipient), C(data), C(end_of_data)). Port 25 uses these lists.
  returned: always
  type: dict
  contains:
    parameter:
      description: The main.cf parameter.
      type: str
      sample: smtpd_relay_restrictions
    value:
      description: The list as Postfix wants it, entries joined with C(", ").
      type: str
      sample: permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
    entries:
      description:
        - The entries in order, each with C(text), C(name), C(cost) (V(none), V(local), V(dns),
          V(external)), C(applies_to) (V(all) clients, V(trusted) for the permits, V(untrusted)),
          C(origin) (what in the intent put it there), C(pinned) and C(reason).
      type: list
      elements: dict
  sample:
    relay:
      parameter: smtpd_relay_restrictions
      value: permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
      entries:
        - text: permit_mynetworks
          name: permit_mynetworks
          cost: local
          applies_to: trusted
          origin: profile
          pinned: false
          reason: "Trusted networks (mynetworks) skip the checks that follow: ..."
evaluation_order:
  description:
    - The port 25 chain of one RCPT command for a client that is neither trusted nor
      authenticated, in the order smtpd evaluates it, each item with C(position), C(stage),
      C(parameter), C(text), C(cost), C(action) and C(applies_to). The permits of the gate are
      listed too; they are evaluated and decide nothing for such a client.
  returned: always
  type: list
  elements: dict
  sample:
    - {position: 2, stage: client, parameter: smtpd_client_restrictions, text: reject_invalid_helo_hostname,
       cost: none, action: reject, applies_to: untrusted}
restriction_classes:
  description: Restriction classes the lists select, by name, with C(value), C(reason) and C(entries).
  returned: always
  type: dict
  sample:
    forwarding_recipients:
      value: "check_policy_service { unix:private/policyd-spf, timeout=10s, default_action=DUNNO }"
      reason: Stricter checks for recipients whose mail is forwarded off-site.
      entries: []
parameters:
  description:
    - Everything to set in main.cf, one line per parameter (C(postconf -e name=value)) - the
      stage lists, C(smtpd_restriction_classes) and the classes, C(mynetworks), and the related
      parameters (C(smtpd_helo_required), C(disable_vrfy_command), C(strict_rfc821_envelopes),
      C(smtpd_reject_unlisted_recipient), C(smtpd_reject_unlisted_sender),
      C(smtpd_forbid_unauth_pipelining), C(smtpd_forbid_bare_newline), verify and postscreen
      parameters when used).
  returned: always
  type: dict
  sample:
    smtpd_helo_required: "yes"
    disable_vrfy_command: "yes"
    smtpd_forbid_unauth_pipelining: "yes"
    smtpd_forbid_bare_newline: normalize
    mynetworks: 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
    smtpd_relay_restrictions: permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
services:
  description:
    - master.cf C(-o) overrides per service key (C(postconf -P key/name=value)). C(smtp/inet)
      is listed with no overrides; port 25 uses main.cf's lists. Values hold no whitespace, as
      master.cf requires.
  returned: always
  type: dict
  sample:
    smtp/inet: {}
    submission/inet:
      smtpd_tls_security_level: encrypt
      smtpd_sasl_auth_enable: "yes"
      smtpd_tls_auth_only: "yes"
      smtpd_client_restrictions: permit_sasl_authenticated,reject
      smtpd_helo_restrictions: ""
      smtpd_sender_restrictions: reject_non_fqdn_sender,permit_sasl_authenticated,reject
      smtpd_relay_restrictions: permit_sasl_authenticated,reject_unauth_destination
      smtpd_recipient_restrictions: reject_non_fqdn_recipient,permit_sasl_authenticated,reject
service_parameters:
  description:
    - RV(services) flattened the way C(postconf -P) takes them, C(service/type/parameter) to value.
  returned: always
  type: dict
  sample:
    submission/inet/smtpd_sasl_auth_enable: "yes"
service_stages:
  description:
    - The effective list of every stage for each service in RV(services), main.cf merged with
      the service's overrides, each with C(parameter), C(source) (V(main.cf) or V(master.cf)),
      C(value) and C(entries).
  returned: always
  type: dict
tables:
  description:
    - Files the caller must write, by path, with their content. Compile those in RV(postmap)
      afterwards.
  returned: always
  type: dict
  sample:
    /etc/postfix/own_domains_as_sender: "example.org REJECT 5.7.1 Mail from example.org is accepted only from authenticated users\n"
postmap:
  description: Tables (C(type:path)) to compile with C(postmap) after writing them.
  returned: always
  type: list
  elements: str
  sample: [hash:/etc/postfix/own_domains_as_sender]
managed_classes:
  description:
    - Every restriction class name these lists may write (the forwarding class, its C(_verified) twin, the
      relay verification and the null sender classes), used now or not, so that a caller can remove a class
      an earlier run wrote and the lists no longer use; Postfix warns about its parameter otherwise.
  returned: always
  type: list
  elements: str
  sample: [forwarding_recipients, forwarding_recipients_verified, null_sender_blocklists, verify_relay_recipients]
operator_tables:
  description:
    - The operator's own tables that the lists name (O(relay_recipient_maps), and the tables of the
      C(check_*_access) entries in O(custom)), for the caller to check before going live. smtpd answers
      451 to every client while a named table is missing or not compiled.
  returned: always
  type: list
  elements: dict
  contains:
    table:
      description: The table as written in O(relay_recipient_maps) or the custom entry.
      type: str
    type:
      description: Its type, after a C(proxy:) prefix.
      type: str
    path:
      description: Its file, with C($config_directory) expanded; null for tables that are no file (C(mysql:), C(ldap:), ...).
      type: str
    compile:
      description: Whether C(postmap) builds a file from it (C(hash:), C(cdb:), ...; not C(texthash:)).
      type: bool
  sample:
    - {table: "hash:$config_directory/relay_recipients", type: hash, path: /etc/postfix/relay_recipients, compile: true}
findings:
  description:
    - Findings on the computed lists of main.cf and each service, as the audit would report
      them after applying. Relay and order findings make the module fail, so only others (an
      unfiltered blocklist allowed on purpose) can appear here.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailguard.postfix.plugins.module_utils import restriction_builder as rb


def _dnsbl_options(types):
    return dict(
        name=dict(type="str", required=True),
        type=dict(type="str", choices=list(types), default="client"),
        filter=dict(type="str"),
        weight=dict(type="int", default=1),
        allow_unfiltered=dict(type="bool", default=False),
    )


def _forwarding_options():
    options = dict(
        recipients_table=dict(type="str", required=True),
        recipients=dict(type="list", elements="str", default=[]),
        spf_policy=dict(type="str"),
        spf_timeout=dict(type="str", default="10s"),
        dnsbls=dict(type="list", elements="dict", default=[],
                    options=_dnsbl_options(("client", "reverse_client", "helo", "sender"))),
        verify_recipients=dict(type="list", elements="str", default=[]),
        verify_one_to_one=dict(type="bool", default=False),
    )
    # "class" is the name Postfix's documentation uses; it is a Python keyword.
    options["class"] = dict(type="str", default=rb.DEFAULT_FORWARDING_CLASS)
    return options


def argument_spec():
    return dict(
        postfix_version=dict(type="str", required=True),
        profile=dict(type="str", choices=list(rb.PROFILES), default=rb.DEFAULT_PROFILE),
        trusted_networks=dict(type="list", elements="str", default=[]),
        own_domains=dict(type="list", elements="str", default=[]),
        own_domains_table=dict(type="str", default=rb.DEFAULT_OWN_DOMAINS_TABLE),
        submission=dict(type="dict", options=dict(
            enabled=dict(type="bool", default=True),
            sasl=dict(type="bool", default=True),
            tls_required=dict(type="bool", default=True),
            services=dict(type="list", elements="str", default=list(rb.DEFAULT_SUBMISSION_SERVICES)),
            sender_login_maps=dict(type="str"),
            sender_login_table=dict(type="str", default=rb.DEFAULT_SENDER_LOGIN_TABLE),
            sasl_type=dict(type="str", choices=["cyrus", "dovecot"]),
            sasl_path=dict(type="str"),
        )),
        dnsbls=dict(type="list", elements="dict", default=[], options=_dnsbl_options(rb.DNSBL_TYPES)),
        postscreen=dict(type="bool", default=False),
        postscreen_threshold=dict(type="int"),
        policy_services=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            endpoint=dict(type="str", required=True),
            stage=dict(type="str", choices=list(rb.POLICY_STAGES), default="recipient"),
            timeout=dict(type="str", required=True),
            default_action=dict(type="str", default="DUNNO"),
            applies_to_authenticated=dict(type="bool", default=False),
        )),
        forwarding=dict(type="dict", options=_forwarding_options()),
        relay_domains=dict(type="list", elements="str", default=[]),
        relay_recipient_maps=dict(type="str"),
        config_directory=dict(type="str", default=rb.DEFAULT_CONFIG_DIRECTORY),
        relay_recipient_verification=dict(type="bool", default=False),
        relay_verification_table=dict(type="str", default=rb.DEFAULT_RELAY_VERIFICATION_TABLE),
        null_sender_table=dict(type="str", default=rb.DEFAULT_NULL_SENDER_TABLE),
        custom=dict(type="list", elements="dict", default=[], options=dict(
            stage=dict(type="str", required=True, choices=list(rb.BUILD_STAGES)),
            entry=dict(type="str", required=True),
            position=dict(type="str", default="last"),
        )),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = rb.build(module.params)
    except rb.IntentError as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
