#!/usr/bin/env python
"""B1: what refusing at the door costs, against stock Postfix and smtp-sink.

Four Debian 12 servers on one podman network, each in its own container, and
one client that drives bench/smtp_load.py (one message per connection) at 10
and 50 parallel sessions:

* ``hardened``: Postfix with the harden role's defaults;
* ``stock``: Debian's Postfix as installed;
* ``sink``: Postfix's smtp-sink on port 25, a server with no logic (the ceiling),
  also the MX of victim.test, where bounces to the forged senders arrive;
* ``ext``: smtp-sink refusing every RCPT (5xx), the provider a forward goes to;

and the lab DNS (unbound, no delay). Cases, each run twice with the rounds
interleaved (the best round counts, the machine is noisy):

* forged sender (an existing domain, victim.test) to an unknown recipient:
  hardened and stock refuse it at RCPT (550);
* the same forged message to a real mailbox on stock: accepted and delivered,
  the accept path; the server's CPU is counted until its queue is empty again;
* the same forged message to an alias of stock that forwards to ext: accepted,
  refused by ext, bounced to the forged sender (backscatter), counted until
  the bounce has left;
* the same load at smtp-sink (accepts everything, stores nothing);
* clean mail (legit.test, SPF and a reverse name) to a real mailbox, hardened
  and stock, counted until delivered.

Reported: messages/s, server CPU seconds per 1,000 messages (the container's
cgroup: smtpd, cleanup, qmgr, local, logging), DNS queries per message, the
outcome of every message, and the ratios the README quotes.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlab  # noqa: E402

SESSIONS = (10, 50)
FORGED = "forged@victim.test"
UNKNOWN = "no-such-user-{n}@example.test"
MAILBOX = "bench@example.test"
FORWARD = "fwd@example.test"
CLEAN = "alice@legit.test"


def records(lab):
    return [("example.test", "MX", "10 hardened.lab.test."),
            ("victim.test", "MX", "10 sink.lab.test."), ("victim.test", "A", lab.ip("sink")),
            ("victim.test", "TXT", '"v=spf1 ip4:%s -all"' % lab.ip("sink")),
            ("ext.test", "MX", "10 ext.lab.test."),
            ("legit.test", "MX", "10 client.lab.test."), ("legit.test", "A", lab.ip("client")),
            ("legit.test", "TXT", '"v=spf1 ip4:%s -all"' % lab.ip("client"))]


def build(lab):
    for label in ("ns", "client", "hardened", "stock", "sink", "ext"):
        lab.add(label, "12")
    lab.install_postfix_on(("client", "hardened", "stock", "sink", "ext"), "example.test")
    lab.start_dns("ns", records(lab))
    for label in ("client", "hardened", "stock", "sink", "ext"):
        lab.use_dns(label)
    lab.sh("stock", "echo 'fwd: someone@ext.test' >> /etc/aliases && newaliases")
    # A real mailbox on both Postfix servers; mail is delivered to mbox files.
    for label in ("hardened", "stock"):
        lab.sh(label, "id bench >/dev/null 2>&1 || useradd -m bench")
    # Postfix on the client only sends (smtp-source); nothing listens there.
    lab.sh("client", "systemctl stop postfix")
    lab.sh("sink", "systemctl stop postfix && systemctl disable postfix 2>/dev/null; "
                   "systemd-run --unit bench-sink /usr/sbin/smtp-sink -u postfix -m 200 0.0.0.0:25 256 >/dev/null")
    lab.sh("ext", "systemctl stop postfix && systemctl disable postfix 2>/dev/null; "
                  "systemd-run --unit bench-sink /usr/sbin/smtp-sink -u postfix -f RCPT -m 200 0.0.0.0:25 256 >/dev/null")
    if benchlab.smtp_reply(lab.ip("sink"), 25, FORGED, MAILBOX) != ("rcpt", 250):
        raise RuntimeError("smtp-sink does not answer on %s:25" % lab.ip("sink"))
    seconds, _out = lab.ansible("harden.yml", ["hardened"])
    benchlab.log("hardened with the role's defaults in %.0f s" % seconds)


def run_case(lab, server, sessions, count, sender, rcpt, expect):
    """One load; its figures, with the server's CPU until its queue is empty."""
    since = time.time() - 1
    client_cpu = lab.cpu_seconds("client")
    row = benchlab.measured_load(lab, "client", server, 25, sessions, count, sender, rcpt, drain=server != "sink")
    tried = row["tried"]
    row.update(sessions=sessions, expected=expect, as_expected=row["outcomes"].get(expect, 0),
               bounced=benchlab.count_log(lab, server, r"status=bounced", since) if server != "sink" else 0,
               client_cpu_per_1000=round((lab.cpu_seconds("client") - client_cpu) / tried * 1000, 3))
    return row


def smtp_source_check(lab, count):
    """Postfix's own smtp-source at smtp-sink: the generator's headroom."""
    seconds = benchlab.smtp_source(lab, "client", lab.ip("sink"), 25, 50, count, FORGED, MAILBOX)
    return {"tool": "smtp-source", "sessions": 50, "messages": count, "per_second": round(count / seconds, 2)}


def main():
    reject_n = benchlab.scaled(1500)
    accept_n = benchlab.scaled(600)
    cases = []
    for sessions in SESSIONS:
        cases += [("hardened_reject", "hardened", sessions, reject_n, FORGED, UNKNOWN, "550@rcpt"),
                  ("stock_reject", "stock", sessions, reject_n, FORGED, UNKNOWN, "550@rcpt"),
                  ("stock_accept", "stock", sessions, accept_n, FORGED, MAILBOX, "250"),
                  ("stock_forward_bounce", "stock", sessions, accept_n, FORGED, FORWARD, "250"),
                  ("sink", "sink", sessions, reject_n, FORGED, UNKNOWN, "250"),
                  ("hardened_clean", "hardened", sessions, accept_n, CLEAN, MAILBOX, "250"),
                  ("stock_clean", "stock", sessions, accept_n, CLEAN, MAILBOX, "250")]
    with benchlab.Lab("reject", 1) as lab:
        build(lab)
        # Warm up: every server has its processes started and its maps open.
        for name, server, _s, _n, sender, rcpt, _e in cases[:7]:
            benchlab.smtp_load(lab, "client", lab.ip(server), 25, 10, 50, sender, rcpt)
        results = {}
        for round_number in (1, 2):
            for name, server, sessions, count, sender, rcpt, expect in cases:
                row = run_case(lab, server, sessions, count, sender, rcpt, expect)
                key = "%s@%d" % (name, sessions)
                benchlab.log("round %d %-20s %7.1f msg/s  cpu %.2f s/1000  %s" % (
                    round_number, key, row["per_second"], row["server_cpu_per_1000"], row["outcomes"]))
                if name == "stock_forward_bounce" and row["bounced"] != row["tried"]:
                    raise RuntimeError("%s: %d of %d forwards bounced" % (key, row["bounced"], row["tried"]))
                if row["as_expected"] != row["tried"]:
                    raise RuntimeError("%s: expected %s for all %d messages, got %s" % (key, expect, row["tried"], row["outcomes"]))
                benchlab.keep_best(results, key, row, round_number)
        generator = smtp_source_check(lab, reject_n)
        cond = benchlab.conditions(lab, ["hardened", "stock", "sink", "client"])

    def rate(key):
        return results[key]["per_second"]

    def cpu(key):
        return results[key]["server_cpu_per_1000"]

    ratios = []
    for sessions in SESSIONS:
        tag = " (%d sessions)" % sessions
        ratios += [
            benchlab.ratio("hardened reject / stock reject, msg/s" + tag, rate("hardened_reject@%d" % sessions) / rate("stock_reject@%d" % sessions), 0.9),
            benchlab.ratio("hardened reject / stock accept, msg/s" + tag, rate("hardened_reject@%d" % sessions) / rate("stock_accept@%d" % sessions), 2.5),
            benchlab.ratio("hardened reject / stock accept-forward-bounce, msg/s" + tag,
                           rate("hardened_reject@%d" % sessions) / rate("stock_forward_bounce@%d" % sessions)),
            benchlab.ratio("hardened reject / smtp-sink, msg/s" + tag, rate("hardened_reject@%d" % sessions) / rate("sink@%d" % sessions)),
            benchlab.ratio("hardened clean accept / stock clean accept, msg/s" + tag,
                           rate("hardened_clean@%d" % sessions) / rate("stock_clean@%d" % sessions), 0.9),
            benchlab.ratio("server CPU per message, stock accept / hardened reject" + tag,
                           cpu("stock_accept@%d" % sessions) / cpu("hardened_reject@%d" % sessions),
                           note="how much more the accept path costs the server"),
            benchlab.ratio("server CPU per message, hardened clean / stock clean" + tag,
                           cpu("hardened_clean@%d" % sessions) / cpu("stock_clean@%d" % sessions), higher_is_better=False),
        ]
    ratios.append(benchlab.ratio("smtp_load at smtp-sink / smtp-source at smtp-sink (50 sessions)",
                                 rate("sink@50") / generator["per_second"],
                                 note="the load generator's own ceiling against Postfix's"))
    text = ("%d cores, Debian 12 containers (Postfix %s) on one podman network, client and servers sharing the cores; "
            "one message per connection, %d refused / %d accepted messages per case and round, best of 2 interleaved rounds; "
            "lab DNS without delay; msg/s counts a case until the server's queue is empty again (delivery and bounces included), "
            "CPU from the servers' cgroups over the same time." % (
                cond["cores"], cond["hosts"]["hardened"]["postfix"], reject_n, accept_n))
    benchlab.write_result("reject_path", "B1: the reject path", {"cases": results, "generator": generator, "conditions": cond},
                          ratios, text)


if __name__ == "__main__":
    main()
