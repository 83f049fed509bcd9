#!/usr/bin/env python
"""B1b: blocklisted clients refused by postscreen vs by smtpd at RCPT.

Two Debian 12 servers hardened by the role with the same blocklist
(bl.lab.test, served by the lab DNS, which lists the client's address):

* ``screen``: ``harden_postscreen: true``: postscreen in front of smtpd on
  port 25 asks the list when the client connects and refuses it itself
  (postscreen_dnsbl_action enforce), so no smtpd process is spent;
* ``smtpd``: postscreen off: the list is a reject_rbl_client entry of the
  recipient restrictions, so smtpd refuses the client at RCPT.

The client (listed) drives bench/smtp_load.py at 40 parallel sessions (under
the 50 connections one client may hold open), one message per connection;
each case runs twice, interleaved, and the best round counts. Reported:
connections/s, server CPU seconds per 1,000 connections (the containers'
cgroups), DNS queries per connection, the reply each connection got, and the
ratio postscreen / smtpd for both. postscreen keeps some connections for its
greet wait (6 s) while it tests a client: it spends little CPU on them, but
they cap the connections/s a fixed number of sessions can reach.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlab  # noqa: E402

SESSIONS = 40
FORGED = "forged@victim.test"
RCPT = "bench@example.test"
DNSBLS = [{"name": "bl.lab.test", "filter": "127.0.0.2"}]


def build(lab):
    for label in ("ns", "client", "screen", "smtpd"):
        lab.add(label, "12")
    lab.install_postfix_on(("screen", "smtpd"), "example.test")
    records = [("example.test", "MX", "10 screen.lab.test."), ("victim.test", "MX", "10 ns.lab.test."),
               ("victim.test", "A", lab.ip("ns"))]
    lab.start_dns("ns", records, blocklists=[("bl.lab.test", [lab.ip("client")])])
    for label in ("client", "screen", "smtpd"):
        lab.use_dns(label)
    for label in ("screen", "smtpd"):
        lab.sh(label, "id bench >/dev/null 2>&1 || useradd -m bench")
    # Both in one run, side by side.
    seconds, _out = lab.ansible("harden.yml", ["screen", "smtpd"], {"harden_dnsbls": DNSBLS},
                                host_vars={"screen": {"harden_postscreen": True}, "smtpd": {"harden_postscreen": False}})
    benchlab.log("screen hardened with postscreen and smtpd without it in %.0f s" % seconds)


def run_case(lab, server, count):
    return benchlab.measured_load(lab, "client", server, 25, SESSIONS, count, FORGED, RCPT)


def main():
    count = benchlab.scaled(3000)
    with benchlab.Lab("postscreen", 2) as lab:
        build(lab)
        for server in ("screen", "smtpd"):
            benchlab.smtp_load(lab, "client", lab.ip(server), 25, SESSIONS, 50, FORGED, RCPT)
        results = {}
        for round_number in (1, 2):
            for server in ("screen", "smtpd"):
                row = run_case(lab, server, count)
                benchlab.log("round %d %-7s %7.1f conn/s  cpu %.2f s/1000  %s" % (
                    round_number, server, row["per_second"], row["server_cpu_per_1000"], row["outcomes"]))
                refused = sum(n for outcome, n in row["outcomes"].items() if outcome.startswith("5"))
                if refused != row["tried"]:
                    raise RuntimeError("%s: %d of %d connections refused with 5xx: %s" % (server, refused, row["tried"], row["outcomes"]))
                benchlab.keep_best(results, server, row, round_number)
        settings = {label: lab.sh(label, "postconf -h postscreen_dnsbl_action postscreen_greet_action postscreen_dnsbl_sites").stdout.split("\n")
                    for label in ("screen",)}
        cond = benchlab.conditions(lab, ["screen", "smtpd", "client"])
    ratios = [
        benchlab.ratio("postscreen / smtpd at RCPT, connections/s", results["screen"]["per_second"] / results["smtpd"]["per_second"], 1.5),
        benchlab.ratio("smtpd at RCPT / postscreen, server CPU per connection",
                       results["smtpd"]["server_cpu_per_1000"] / results["screen"]["server_cpu_per_1000"], 1.5,
                       note="how much more a refusal by smtpd costs the server"),
    ]
    text = ("%d cores, Debian 12 containers (Postfix %s), one blocklisted client with %d parallel sessions, one message per "
            "connection, %d connections per case and round, best of 2 interleaved rounds; lab DNS without delay." % (
                cond["cores"], cond["hosts"]["screen"]["postfix"], SESSIONS, count))
    benchlab.write_result("postscreen", "B1b: postscreen vs smtpd for blocklisted clients",
                          {"cases": results, "postscreen_settings": settings, "conditions": cond}, ratios, text)


if __name__ == "__main__":
    main()
