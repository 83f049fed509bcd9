#!/usr/bin/env python
"""B2: the computed order (cheap checks first) against the same checks DNS-first.

Two Debian 12 servers hardened by the role with the same two blocklists (a
client list and a sender domain list, both served by the lab DNS):

* ``computed``: the lists as the role computes them: syntax and local tables
  first, DNS checks last;
* ``dnsfirst``: the same entries, with every check that asks the DNS
  (reject_rbl_client, reject_rhsbl_*, reject_unknown_sender_domain,
  reject_unknown_reverse_client_hostname) moved to the front of
  smtpd_client_restrictions, the first list smtpd evaluates.

The lab DNS (unbound) answers through bench/dns_delay.py after a fixed 50 ms,
like a distant resolver. The load is forged mail (existing sender domains, a
new one per message, from 50 client addresses in turn, each with a proper
reverse name, none listed) to an unknown recipient: both servers refuse it
with 550, one after asking the DNS, one without. Queries are counted at the
DNS server. smtpd's own client name lookup at connect (reverse and forward) is
measured apart, with sessions that quit after EHLO, and subtracted.
"""

from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlab  # noqa: E402

SESSIONS = 20
DELAY_MS = 50
# A new sender domain and a new client address for each message (in turn
# from 50), as a spam run from many hosts with many forged domains: smtpd
# caches blocklist answers per process, so one client and one domain would
# be the best case for the DNS-first order.
FORGED = "forged@d{n}.victim.test"
SOURCES = 50
UNKNOWN = "no-such-user-{n}@example.test"
DNSBLS = [{"name": "bl.lab.test", "type": "client", "filter": "127.0.0.2"},
          {"name": "dbl.lab.test", "type": "sender", "filter": "127.0.0.2"}]
DNS_CHECKS = ("reject_rbl_client", "reject_rhsbl_", "reject_unknown_sender_domain", "reject_unknown_reverse_client_hostname",
              "reject_unknown_client_hostname", "reject_unknown_helo_hostname", "check_policy_service")


def split_list(value):
    """A restriction list as its entries, each with its arguments (tables, lists)."""
    entries = []
    for token in value.replace(",", " ").split():
        if entries and not re.match(r"^(permit|reject|check|defer|warn_if_reject|sleep)[a-z_]*$", token):
            entries[-1] += " " + token
        else:
            entries.append(token)
    return entries


def dns_first(lab, label):
    """Move every DNS check of the lists to the front of smtpd_client_restrictions."""
    names = ["smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
             "smtpd_relay_restrictions", "smtpd_recipient_restrictions"]
    values = dict(zip(names, lab.sh(label, "postconf -h " + " ".join(names)).stdout.split("\n")))
    moved = []
    kept = {}
    for name in names:
        entries = split_list(values[name])
        moved += [e for e in entries if e.startswith(DNS_CHECKS)]
        kept[name] = [e for e in entries if not e.startswith(DNS_CHECKS)]
    kept["smtpd_client_restrictions"] = moved + kept["smtpd_client_restrictions"]
    args = " ".join("'%s = %s'" % (name, ", ".join(entries)) for name, entries in kept.items())
    lab.sh(label, "postconf -e %s && postfix check && postfix reload" % args)
    return {name: lab.sh(label, "postconf -h " + name).stdout.strip() for name in names}, moved


def build(lab):
    for label in ("ns", "client", "computed", "dnsfirst"):
        lab.add(label, "12", caps=("NET_ADMIN",) if label == "client" else ())
    lab.add_addresses("client", SOURCES)
    lab.install_postfix_on(("computed", "dnsfirst"), "example.test")
    records = [("example.test", "MX", "10 computed.lab.test.")]
    lab.start_dns("ns", records, blocklists=[("bl.lab.test", []), ("dbl.lab.test", [], "domain")], delay_ms=DELAY_MS,
                  wildcards=[("victim.test", [("MX", "10 ns.lab.test."), ("A", lab.ip("ns"))])])
    for label in ("client", "computed", "dnsfirst"):
        lab.use_dns(label)
    seconds, _out = lab.ansible("harden.yml", ["computed", "dnsfirst"], {"harden_dnsbls": DNSBLS})
    benchlab.log("computed and dnsfirst hardened in %.0f s" % seconds)
    return dns_first(lab, "dnsfirst")


def run_case(lab, server, count, **options):
    return benchlab.measured_load(lab, "client", server, 25, SESSIONS, count, FORGED, UNKNOWN,
                                  sources=",".join(lab.hosts["client"]["extra"]), **options)


def main():
    count = benchlab.scaled(1000)
    with benchlab.Lab("order", 3) as lab:
        lists, moved = build(lab)
        computed_lists = {name: lab.sh("computed", "postconf -h " + name).stdout.strip() for name in lists}
        for server in ("computed", "dnsfirst"):
            benchlab.smtp_load(lab, "client", lab.ip(server), 25, SESSIONS, 40, FORGED, UNKNOWN,
                               sources=",".join(lab.hosts["client"]["extra"]))
        results = {}
        for round_number in (1, 2):
            for server in ("computed", "dnsfirst"):
                connect = run_case(lab, server, benchlab.scaled(200), stop_after="ehlo")
                row = run_case(lab, server, count)
                row["connect"] = connect
                row["dns_queries_beyond_connect"] = round(row["dns_queries_per_session"] - connect["dns_queries_per_session"], 3)
                benchlab.log("round %d %-8s %6.1f msg/s  %.2f queries/message beyond connect (%.2f at connect)  %s" % (
                    round_number, server, row["per_second"], row["dns_queries_beyond_connect"],
                    connect["dns_queries_per_session"], row["outcomes"]))
                if row["outcomes"].get("550@rcpt", 0) != row["tried"]:
                    raise RuntimeError("%s: expected 550 at RCPT for every message, got %s" % (server, row["outcomes"]))
                benchlab.keep_best(results, server, row, round_number)
        cond = benchlab.conditions(lab, ["computed", "dnsfirst", "client"])
    ratios = [
        benchlab.ratio("DNS queries per locally refused message beyond the connect lookup, computed order",
                       results["computed"]["dns_queries_beyond_connect"], 0.0, higher_is_better=False),
        benchlab.ratio("DNS queries per locally refused message beyond the connect lookup, DNS-first order",
                       results["dnsfirst"]["dns_queries_beyond_connect"], note="the same checks, DNS first"),
        benchlab.ratio("computed / DNS-first, messages/s", results["computed"]["per_second"] / results["dnsfirst"]["per_second"], 2.0),
    ]
    text = ("%d cores, Debian 12 containers (Postfix %s); lab DNS answering after %d ms; %d parallel sessions, one message per "
            "connection, %d messages per case and round, best of 2 interleaved rounds; connect lookups measured with "
            "sessions that quit after EHLO." % (cond["cores"], cond["hosts"]["computed"]["postfix"], DELAY_MS, SESSIONS, count))
    benchlab.write_result("order", "B2: cheap checks first vs DNS first",
                          {"cases": results, "lists": {"computed": computed_lists, "dnsfirst": lists}, "moved": moved,
                           "conditions": cond}, ratios, text)


if __name__ == "__main__":
    main()
