#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dnsbl_check
short_description: Check whether a host is on DNS blocklists, or whether blocklists can be trusted
version_added: "0.1.0"
description:
  - Two checks, chosen with O(mode).
  - V(listing) asks each list whether this host's outbound addresses (IP lists) and its HELO name and
    domain (domain lists) are listed, and returns per list and per address or name the answer codes and
    the TXT reason the list gives.
  - V(health) asks each list for its RFC 5782 test points (C(127.0.0.2) listed and C(127.0.0.1) not for IP
    lists, C(test) listed and C(invalid) not for domain lists) and for a random name below C(invalid), and
    gives a verdict per list with the slowest query's latency. A list that lists what it must not lists
    everything, as lists that died have done, and would refuse every client.
  - Postfix treats a DNS error as "not listed" and, without a reply filter, any answer as "listed". This
    module keeps three outcomes apart. An answer the list's reply filter accepts is a listing. NXDOMAIN (or
    an answer the filter does not accept) is not. SERVFAIL, REFUSED, timeouts, the C(127.255.255.x) codes
    lists use to refuse a query, and answers outside C(127.0.0.0/8) are errors, never a listing and never
    clean.
  - In V(listing) mode each list is also asked for its never-listed test point; when it lists that, its
    listings are reported as errors, since a list that lists everything says nothing about this host.
  - Queries run in parallel on at most O(workers) threads, straight to the nameservers (the host's own
    from C(/etc/resolv.conf) by default, which is what Postfix on the host asks), so that each rcode is seen
    as it is.
  - The module changes nothing, on the host or anywhere else.
author:
  - mailguard.postfix contributors (!UNKNOWN)
requirements:
  - dnspython 2.0 or later on the host that runs the module (Debian's C(python3-dnspython)).
options:
  mode:
    description:
      - V(listing) checks O(addresses) and O(domains) against O(lists).
      - V(health) checks O(lists) themselves.
    type: str
    choices: [listing, health]
    default: listing
  lists:
    description:
      - The blocklists, each a zone name (an IP list with no reply filter) or a dict with C(name), the list's
        zone; C(kind), V(ip) (default, queried with reversed addresses) or V(domain) (queried with names);
        and C(filter), the answers that mean listed in Postfix's reply filter syntax, such as C(127.0.0.2),
        C(127.0.0.[2..11]) or C(127.0.0.[2;4;10]). Without a filter any answer in C(127.0.0.0/8) except the
        error codes counts as listed.
      - "Default: C(ips.backscatterer.org=127.0.0.2), C(zen.spamhaus.org=127.0.0.[2..11]),
        C(bl.spamcop.net=127.0.0.2), C(b.barracudacentral.org=127.0.0.2) (IP lists) and
        C(dbl.spamhaus.org=127.0.1.[2..99]) (a domain list). Spamhaus refuses queries that come through
        public resolvers with C(127.255.255.254), which is reported as an error."
    type: list
    elements: raw
  addresses:
    description:
      - IPv4 and IPv6 addresses to look up on the IP lists, in V(listing) mode. IPv6 addresses are queried
        as their 32 nibbles reversed.
      - Default, on the host that runs the module, its outbound addresses. These are C(smtp_bind_address) and
        C(smtp_bind_address6) when Postfix sets them, else every global address of C(ip -o addr show) that
        is public (see O(include_private)).
      - Give them when the module is delegated, for example to the controller.
    type: list
    elements: str
  domains:
    description:
      - Domain names to look up on the domain lists, in V(listing) mode.
      - Default, on the host that runs the module, Postfix's C(smtp_helo_name) and C(mydomain), or the
        host's fully qualified name and its parent domain without Postfix.
    type: list
    elements: str
  include_private:
    description:
      - Also check private and other non-public addresses the host has, when O(addresses) is not given.
        Public lists never list them; a lab's own lists may.
    type: bool
    default: false
  nameservers:
    description:
      - IP addresses of the resolvers to ask, in order. Default, the nameservers of C(/etc/resolv.conf).
      - Lists such as Spamhaus refuse queries from public resolvers; ask the resolver Postfix uses.
    type: list
    elements: str
  port:
    description: DNS port of the nameservers.
    type: int
    default: 53
  timeout:
    description: Seconds to wait for each answer from one nameserver.
    type: float
    default: 3
  retries:
    description: Further rounds over all nameservers after a round without a usable answer.
    type: int
    default: 1
  workers:
    description: Most queries in flight at once.
    type: int
    default: 8
  fail_on:
    description:
      - Conditions that fail the task; each one met and not listed here is a warning instead.
      - V(listed), in V(listing) mode, any address or name that a list lists.
      - V(error), in V(listing) mode, any lookup that ended in an error, which may hide a listing.
      - V(unhealthy), in V(health) mode, any list that is not healthy.
      - The results are returned in every case.
    type: list
    elements: str
    choices: [listed, error, unhealthy]
    default: []
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The module only reads, and runs the same way in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - The queries go to the nameservers and, through them, to the lists' servers. Lists limit how often they
    may be asked; run the check every few hours, not every minute.
  - The harden role (C(mailguard.postfix.harden)) runs the health check before it lets Postfix use a list,
    and can install a timer that runs the listing check on the host. The playbook
    C(mailguard.postfix.dnsbl_check) runs the listing check on a fleet and writes a report.
seealso:
  - name: RFC 5782
    description: DNS blacklists and whitelists, with the test points a list must answer.
    link: https://www.rfc-editor.org/rfc/rfc5782
  - name: postconf(5), reject_rbl_client
    description: Postfix's reply filter syntax, such as C(127.0.0.[2..11]).
    link: https://www.postfix.org/postconf.5.html#reject_rbl_client
  - module: mailguard.postfix.restrictions
"""

EXAMPLES = r"""
- name: Is this host on a blocklist? (default lists, own addresses and HELO names)
  mailguard.postfix.dnsbl_check:
  register: blocklists

- name: Fail when a list lists us; warn when a list cannot tell
  mailguard.postfix.dnsbl_check:
    mode: listing
    fail_on: [listed]

- name: Check named addresses and domains from the controller
  mailguard.postfix.dnsbl_check:
    lists:
      - {name: ips.backscatterer.org, filter: 127.0.0.2}
      - {name: dbl.spamhaus.org, kind: domain, filter: "127.0.1.[2..99]"}
    addresses: [192.0.2.25, "2001:db8::25"]
    domains: [mx1.example.org, example.org]
    nameservers: [192.0.2.53]
  delegate_to: localhost

- name: Are the lists Postfix is about to use healthy?
  mailguard.postfix.dnsbl_check:
    mode: health
    lists:
      - {name: zen.spamhaus.org, filter: "127.0.0.[2..11]"}
      - {name: bl.spamcop.net, filter: 127.0.0.2}
    fail_on: [unhealthy]
"""

RETURN = r"""
mode:
  description: The mode that ran.
  returned: always
  type: str
  sample: listing
addresses:
  description: The addresses looked up on the IP lists (listing mode).
  returned: always
  type: list
  elements: str
  sample: [192.0.2.25]
domains:
  description: The names looked up on the domain lists (listing mode).
  returned: always
  type: list
  elements: str
  sample: [mx1.example.org, example.org]
nameservers:
  description: The nameservers asked.
  returned: always
  type: list
  elements: str
lists:
  description:
    - One entry per list, in the order of O(lists), with C(name), C(kind) and C(filter).
    - "In listing mode also: C(status) (V(listed), V(clean) or V(error)); C(listed) and C(errors), the
      addresses and names in each state; C(lists_everything); C(results), per address or name its
      C(target), C(query), C(status) (V(listed), V(not_listed) or V(error)), C(codes), C(reason) (the TXT
      record), C(error) and C(elapsed_ms)."
    - "In health mode also: C(healthy); C(problem), the first problem found (V(no_answer),
      V(error_answer), V(bad_answer), V(lists_everything), V(filter_mismatch), V(test_point_missing)) or
      null; C(message); C(problems), every problem as C({code, message}); C(latency_ms), the slowest query;
      C(probes), each query with its C(key), C(expect), C(status), C(outcome) and C(codes)."
  returned: always
  type: list
  elements: dict
  sample:
    - name: bl.spamcop.net
      kind: ip
      filter: 127.0.0.2
      status: listed
      listed: [192.0.2.25]
      errors: []
      lists_everything: false
      results:
        - target: 192.0.2.25
          query: 25.2.0.192.bl.spamcop.net
          status: listed
          codes: [127.0.0.2]
          reason: "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.25"
          error: ""
          elapsed_ms: 41
listed:
  description: Every listing found, as C({list, target, codes, reason}) (listing mode).
  returned: always
  type: list
  elements: dict
errors:
  description: Every lookup that ended in an error, as C({list, target, error}) (listing mode).
  returned: always
  type: list
  elements: dict
healthy:
  description: Names of the lists found healthy (health mode).
  returned: always
  type: list
  elements: str
unhealthy:
  description: Names of the lists found unhealthy (health mode).
  returned: always
  type: list
  elements: str
msg:
  description: One line that sums up the check.
  returned: always
  type: str
  sample: "1 listing on 5 lists for 1 address and 2 names: 192.0.2.25 on bl.spamcop.net"
"""

import socket

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mailguard.postfix.plugins.module_utils import dnsbl
from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv


def _plural(count, word, plural=None):
    return "%d %s" % (count, word if count == 1 else (plural or word + "s"))


def _listing(module, resolver, lists):
    params = module.params
    addresses, domains = params["addresses"], params["domains"]
    if addresses is None or domains is None:
        found_addresses, found_domains = dnsbl.discover_targets(
            _runner(module), include_private=params["include_private"], fqdn=socket.getfqdn())
        addresses = found_addresses if addresses is None else addresses
        domains = found_domains if domains is None else domains
    try:
        for address in addresses:
            dnsbl.reversed_address(address)
        domains = [dnsbl.normalize_domain(name, "domain") for name in domains]
    except dnsbl.DnsblError as exc:
        module.fail_json(msg="%s; give addresses as IPv4 or IPv6 addresses and domains as names" % exc)
    if not addresses and not domains:
        module.warn("no address or name to check: the host has no public address and no HELO name was found; "
                    "give addresses or domains (or include_private)")

    reports = dnsbl.check_listings(resolver, lists, addresses, domains, params["workers"])
    listed = [{"list": r["name"], "target": res["target"], "codes": res["codes"], "reason": res["reason"]}
              for r in reports for res in r["results"] if res["status"] == dnsbl.LISTED]
    errors = [{"list": r["name"], "target": res["target"], "error": res["error"]}
              for r in reports for res in r["results"] if res["status"] == dnsbl.ERROR]
    msg = "%s on %s for %s and %s" % (
        _plural(len(listed), "listing"), _plural(len(lists), "list"),
        _plural(len(addresses), "address", "addresses"), _plural(len(domains), "name"))
    if listed:
        msg += ": " + "; ".join("%s on %s" % (item["target"], item["list"]) for item in listed)
    if errors:
        msg += " (%s: %s)" % (_plural(len(errors), "lookup error"),
                              "; ".join("%s on %s: %s" % (e["target"], e["list"], e["error"]) for e in errors))
    result = dict(changed=False, mode="listing", addresses=addresses, domains=domains,
                  nameservers=resolver.nameservers, lists=reports, listed=listed, errors=errors,
                  healthy=[], unhealthy=[], msg=msg)
    failing = [(cond, present) for cond, present in (("listed", listed), ("error", errors)) if present]
    if any(cond in params["fail_on"] for cond, _present in failing):
        module.fail_json(**result)
    for item in listed:
        module.warn("%s is listed on %s (%s)%s" % (item["target"], item["list"], ", ".join(item["codes"]),
                                                   (": " + item["reason"]) if item["reason"] else ""))
    for item in errors:
        module.warn("%s on %s: cannot tell whether it is listed: %s" % (item["target"], item["list"], item["error"]))
    module.exit_json(**result)


def _health(module, resolver, lists):
    verdicts = dnsbl.check_health(resolver, lists, module.params["workers"])
    unhealthy = [v for v in verdicts if not v["healthy"]]
    msg = "%d of %s healthy" % (len(verdicts) - len(unhealthy), _plural(len(verdicts), "list"))
    if unhealthy:
        msg += "; unhealthy: " + " | ".join(v["message"] for v in unhealthy)
    result = dict(changed=False, mode="health", addresses=[], domains=[], nameservers=resolver.nameservers,
                  lists=verdicts, listed=[], errors=[],
                  healthy=[v["name"] for v in verdicts if v["healthy"]],
                  unhealthy=[v["name"] for v in unhealthy], msg=msg)
    if unhealthy and "unhealthy" in module.params["fail_on"]:
        module.fail_json(**result)
    for verdict in unhealthy:
        module.warn("unhealthy blocklist %s" % verdict["message"])
    module.exit_json(**result)


def _runner(module):
    def run(argv):
        path = module.get_bin_path(argv[0])
        if not path:
            return 127, "", "%s not found" % argv[0]
        return module.run_command([path] + list(argv[1:]), environ_update=pv.C_LOCALE)
    return run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=["listing", "health"], default="listing"),
            lists=dict(type="list", elements="raw"),
            addresses=dict(type="list", elements="str"),
            domains=dict(type="list", elements="str"),
            include_private=dict(type="bool", default=False),
            nameservers=dict(type="list", elements="str"),
            port=dict(type="int", default=53),
            timeout=dict(type="float", default=3),
            retries=dict(type="int", default=1),
            workers=dict(type="int", default=8),
            fail_on=dict(type="list", elements="str", choices=["listed", "error", "unhealthy"], default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name in ("timeout", "workers"):
        if params[name] <= 0:
            module.fail_json(msg="%s must be greater than 0, not %s" % (name, params[name]))
    if params["retries"] < 0:
        module.fail_json(msg="retries must be 0 or more, not %s" % params["retries"])
    if not dnsbl.HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=str(dnsbl.DNSPYTHON_IMPORT_ERROR))

    try:
        lists = dnsbl.default_lists() if params["lists"] is None else dnsbl.parse_lists(params["lists"])
    except dnsbl.DnsblError as exc:
        module.fail_json(msg="%s" % exc)
    if not lists:
        module.fail_json(msg="lists is empty: give at least one blocklist, or leave lists out for the default set")
    try:
        resolver = dnsbl.DnsPythonResolver(params["nameservers"], params["port"], params["timeout"], params["retries"])
    except dnsbl.DnsblError as exc:
        module.fail_json(msg="%s" % exc)
    except Exception as exc:  # dnspython's own complaint about /etc/resolv.conf
        module.fail_json(msg="cannot read the host's resolver configuration (%s); give nameservers" % exc)

    if params["mode"] == "health":
        _health(module, resolver, lists)
    _listing(module, resolver, lists)


if __name__ == "__main__":
    main()
