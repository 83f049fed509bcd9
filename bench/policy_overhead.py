#!/usr/bin/env python
"""B3 policy overhead: what postfwd (mailguard.postfix.policy_service) costs submission.

Three Debian 12 containers on 10.98.4.0/24: the lab DNS (ns), a submission
host (mx) hardened by mailguard.postfix.harden with SASL submission on port
587 (Cyrus sasldb users, STARTTLS required, AUTH only after STARTTLS, as
molecule/ratelimit sets it up), and a client. Measured in one run:

* Submission throughput: bench/smtp_load.py sends authenticated
  messages (STARTTLS, AUTH PLAIN as one of 100 users in turn, one message a
  connection, 8 connections) to a local mailbox on mx: first with harden
  alone, then after mailguard.postfix.policy_service put postfwd in at
  END-OF-MESSAGE, then twice more without and with it, the hook taken out
  and put back with postconf (the configuration without it is checked to be
  harden's), so that the load of other containers shifts both alike. Quotas
  are set far above the load (the limits of the role's defaults, larger
  numbers), so no message is refused by one; every outcome is counted and
  reported, and the messages in the mailbox. Messages/s of each, their ratio
  (goal >= 0.85), and mx's CPU (its cgroup, from the start of the load until
  the queue is empty, delivery included; postfwd's and journald's share) per
  1,000 messages.
* postfwd alone: bench/policy_load.py on mx sends the END-OF-MESSAGE
  requests of such a submission, sasl_username rotating over 500 users, at
  1, 4 and 16 connections (kept open, one request after another, as smtpd
  does) to postfwd on 127.0.0.1:10040 and, at each level right before it, to
  the floor, bench/policy_floor.py, a trivial server that always answers
  DUNNO. Requests/s, p50/p90/p99 latency, the CPU of the server's processes
  per request, and the ratios postfwd/floor; goal p99 <= 5 ms at 16
  connections.
* Diagnostics (what limits postfwd): at 16 connections, postfwd started by
  hand with the role's options and one change each (VARIANTS): no logging,
  request cache off, rate counters in each child instead of the cache daemon
  (not a usable setting), the single-process postfwd1 instead of Debian's
  default postfwd2 (prefork children and a cache daemon), and a one-rule
  ruleset; CPU per request of each.

Every load is bounded in count (benchlab.scaled) and time. Results go to
bench/results/policy_overhead.json.

    python bench/policy_overhead.py
"""

from __future__ import annotations

import json
import os
import shlex
import time

import benchlab

NAME = "policy_overhead"
MX = "mx"
PASSWORD = "bench-lab-secret"
SUBMISSION_USERS = 100
POLICY_USERS = 500
SENDER = "bench@mx.%s" % benchlab.DOMAIN
RCPT = "carol@mx.%s" % benchlab.DOMAIN
SESSIONS = 8
LEVELS = (1, 4, 16)
# Submission runs without and with postfwd, alternating, so that a neighbour's load shifts both alike.
ROUNDS = 3
POSTFWD_PORT = 10040
FLOOR_PORT = 10041
SUBMISSION = {"enabled": True, "services": ["submission/inet"], "tls_required": True,
              "sasl_type": "cyrus", "sasl_path": "smtpd", "sender_login_maps": ""}
# The role's default limits, each far above what the benchmark sends.
LIMITS = {"messages_per_hour": 1000000, "messages_per_day": 10000000, "recipients_per_hour": 2500000,
          "recipients_per_day": 25000000, "bytes_per_day": 10 ** 13}
# postfwd started by hand at 16 connections: (name, program, options added to the role's, what it shows).
VARIANTS = (
    ("as_deployed", "postfwd2", "", "the role's options again, started by hand like the others"),
    ("no_logging", "postfwd2", "--perfmon", "no syslog at all: the cost of logging every request"),
    ("no_request_cache", "postfwd2", "--cache=0", "request cache off: the cost of cache look-ups that never hit"),
    ("counters_in_each_child", "postfwd2", "--no_parent_rate_cache",
     "rate counters kept in each child, not in the cache daemon (NOT a valid setting: each child counts its own quota)"),
    ("single_process", "postfwd1", "", "postfwd1 (one process, counters in it) instead of postfwd2 (prefork and a cache daemon)"),
    ("trivial_ruleset", "postfwd2", "", "one rule, action=DUNNO: postfwd2's cost without the quota rules"),
)

PROC_CPU = r'''
import os, sys
pattern, skip, total = sys.argv[1], {str(os.getpid()), str(os.getppid())}, 0
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid in skip:
        continue
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            cmd = handle.read().replace(b"\0", b" ").decode("ascii", "replace")
        with open("/proc/%s/stat" % pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if pattern in cmd:
        total += sum(int(x) for x in fields[11:15])
print(total / os.sysconf("SC_CLK_TCK"))
'''

SETUP_MX = r"""
set -e
useradd -m carol
useradd -M bench
cat > /etc/postfix/sasl/smtpd.conf <<'EOF'
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: /etc/sasldb2
EOF
realm=$(postconf -h myhostname)
for i in $(seq 1 %(users)d); do printf '%%s' "$PASSWORD" | saslpasswd2 -p -c -f /etc/sasldb2 -u "$realm" "u$i"; done
install -o root -g postfix -m 0640 /etc/sasldb2 /var/spool/postfix/etc/sasldb2
mkdir -p /etc/systemd/system/postfwd.service.d
printf '[Service]\nTimeoutStopSec=3s\n' > /etc/systemd/system/postfwd.service.d/lab-stop-timeout.conf
systemctl daemon-reload
"""


def wait_port(lab, label, port):
    lab.sh(label, "for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", %d), 1)' "
                  "2>/dev/null && exit 0; sleep 0.1; done; exit 1" % port)


def wait_port_free(lab, label, port):
    lab.sh(label, "for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", %d), 1)' "
                  "2>/dev/null || exit 0; sleep 0.1; done; exit 1" % port)


def proc_cpu(lab, label, pattern):
    return float(lab.sh(label, "python3 /usr/local/lib/proc_cpu.py %s" % shlex.quote(pattern)).stdout)


def config(lab):
    """main.cf (postconf -n) and master.cf's -o overrides (postconf -P), sorted."""
    return sorted(lab.sh(MX, "postconf -n; postconf -P").stdout.splitlines())


def set_hook(lab, value):
    lab.sh(MX, "postconf -e %s && postfix reload 2>/dev/null" % shlex.quote("smtpd_end_of_data_restrictions=" + value))


def submission(lab, count):
    return benchlab.smtp_load(lab, "client", lab.ip(MX), 587, SESSIONS, count, SENDER, RCPT, starttls=True, user="u{u}",
                              users=SUBMISSION_USERS, password=PASSWORD, max_seconds=60)


def submission_phase(lab, phase):
    """A warm-up, then the counted load; CPU from its start until mx's queue is empty."""
    warm = submission(lab, benchlab.scaled(40, floor=20))
    lab.wait_queue_empty(MX)
    lab.sh(MX, "truncate -s 0 /var/mail/carol 2>/dev/null || true")
    cpu, postfwd, journald = lab.cpu_seconds(MX), proc_cpu(lab, MX, "postfwd"), proc_cpu(lab, MX, "systemd-journald")
    result = submission(lab, benchlab.scaled(500, floor=100))
    result["drain_seconds"] = round(lab.wait_queue_empty(MX), 2)
    per = 1000.0 / max(1, result["accepted"])
    result["mx_cpu_seconds"] = round(lab.cpu_seconds(MX) - cpu, 3)
    result["cpu_s_per_1000"] = round(result["mx_cpu_seconds"] * per, 3)
    result["postfwd_cpu_s_per_1000"] = round((proc_cpu(lab, MX, "postfwd") - postfwd) * per, 3)
    result["journald_cpu_s_per_1000"] = round((proc_cpu(lab, MX, "systemd-journald") - journald) * per, 3)
    result["delivered"] = int(lab.sh(MX, "grep -c '^Subject: bench ' /var/mail/carol || true").stdout.strip() or 0)
    result["warmup_outcomes"] = warm["outcomes"]
    result["phase"] = phase
    benchlab.log("submission %s: %.1f msg/s, outcomes %s, delivered %d, %.2f CPU s/1000 (postfwd %.2f)" % (
        phase, result["per_second"], result["outcomes"], result["delivered"], result["cpu_s_per_1000"],
        result["postfwd_cpu_s_per_1000"]))
    return result


def policy_load(lab, port, connections, pattern, count):
    """bench/policy_load.py against 127.0.0.1:port on mx, with the CPU of the server's processes per request sent."""
    before, container = proc_cpu(lab, MX, pattern), lab.cpu_seconds(MX)
    since = time.time()
    result = json.loads(lab.sh(MX, "python3 /usr/local/lib/policy_load.py --port %d --connections %d --count %d --users %d "
                                   "--warmup 10 --max-seconds 15" % (port, connections, count, POLICY_USERS), timeout=120).stdout)
    sent = max(1, result["sent"])
    result["server_cpu_us_per_request"] = round((proc_cpu(lab, MX, pattern) - before) / sent * 1e6, 1)
    result["container_cpu_us_per_request"] = round((lab.cpu_seconds(MX) - container) / sent * 1e6, 1)
    if "postfwd" in pattern:
        lines = lab.sh(MX, "journalctl -q --no-pager -o cat --since @%d | grep -c '^\\[RULES\\]' || true" % int(since)).stdout
        result["rule_log_lines_per_request"] = round(int(lines.strip() or 0) / sent, 2)
    return result


def policy_levels(lab):
    rows = []
    for connections in LEVELS:
        floor = policy_load(lab, FLOOR_PORT, connections, "policy_floor.py", benchlab.scaled(5000, floor=500))
        postfwd = policy_load(lab, POSTFWD_PORT, connections, "postfwd", benchlab.scaled(1500 if connections == 1 else 2500, floor=300))
        benchlab.log("policy at %d: floor %.0f/s p99 %.2f ms, postfwd %.0f/s p99 %.2f ms, %.0f us CPU/request, actions %s" % (
            connections, floor["per_second"], floor["p99_ms"], postfwd["per_second"], postfwd["p99_ms"],
            postfwd["server_cpu_us_per_request"], postfwd["actions"]))
        rows.append({"connections": connections, "floor": floor, "postfwd": postfwd,
                     "rps_ratio": round(postfwd["per_second"] / floor["per_second"], 4),
                     "p99_ratio": round(postfwd["p99_ms"] / floor["p99_ms"], 2)})
    return rows


def diagnostics(lab):
    """postfwd at 16 connections, started by hand with the role's options and one change each."""
    lab.sh(MX, "systemctl stop postfwd")
    args = lab.sh(MX, ". /etc/default/postfwd && echo \"$ARGS\"").stdout.strip()
    lab.put(MX, "/etc/postfix/bench-trivial.cf", "id=BENCH_TRIVIAL; action=DUNNO\n", mode="0644")
    rows = {}
    for name, program, extra, why in VARIANTS:
        ruleset = "/etc/postfix/bench-trivial.cf" if name == "trivial_ruleset" else "/etc/postfix/postfwd.cf"
        options = " ".join(x for x in (args, extra if name != "trivial_ruleset" else "") if x)
        lab.sh(MX, "/usr/sbin/%s %s --daemon --file %s --interface 127.0.0.1 --port %d --user postfw --group postfw "
                   "--pidfile /run/bench-postfwd.pid 2>/dev/null" % (program, options, ruleset, POSTFWD_PORT))
        wait_port(lab, MX, POSTFWD_PORT)
        row = policy_load(lab, POSTFWD_PORT, 16, "postfwd", benchlab.scaled(1000, floor=300))
        row["command"] = "%s %s --file %s" % (program, options, ruleset)
        row["why"] = why
        rows[name] = row
        benchlab.log("postfwd %s at 16: %.0f/s p99 %.2f ms, %.0f us CPU/request" % (
            name, row["per_second"], row["p99_ms"], row["server_cpu_us_per_request"]))
        # postfwd (user postfw) cannot remove its pid file from /run: wait for the process itself.
        lab.sh(MX, "pid=$(cat /run/bench-postfwd.pid); /usr/sbin/%s --file %s --pidfile /run/bench-postfwd.pid --kill >/dev/null 2>&1; "
                   "for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
                   "kill -0 $pid 2>/dev/null && kill -9 $pid; rm -f /run/bench-postfwd.pid" % (program, ruleset), check=False)
        wait_port_free(lab, MX, POSTFWD_PORT)
    return rows


def setup(lab):
    lab.add("ns")
    lab.add(MX)
    lab.add("client")
    lab.install_postfix(MX)
    lab.sh(MX, "export PASSWORD=%s\n%s" % (shlex.quote(PASSWORD), SETUP_MX % {"users": SUBMISSION_USERS}))
    lab.sh(MX, "systemctl reload postfix")
    for label, files in ((MX, ("policy_load.py", "policy_floor.py")), ("client", ())):
        for name in files:
            with open(os.path.join(benchlab.HERE, name), encoding="utf-8") as handle:
                lab.put(label, "/usr/local/lib/" + name, handle.read())
    lab.put(MX, "/usr/local/lib/proc_cpu.py", PROC_CPU)
    lab.start_dns("ns")
    for label in ("ns", MX, "client"):
        lab.use_dns(label)


def mean(values):
    return sum(values) / len(values)


def main():
    start = time.time()
    load_start = [round(x, 2) for x in os.getloadavg()]
    harden_vars = {"harden_submission": SUBMISSION}
    policy_vars = dict(harden_vars, policy_service_user_limits=LIMITS)
    with benchlab.Lab("policy", 4) as lab:
        setup(lab)
        timings = {"setup_seconds": round(time.time() - start, 1)}
        timings["harden_seconds"] = round(lab.ansible("harden.yml", [MX], harden_vars)[0], 1)
        plain_config = config(lab)
        plain_hook = lab.sh(MX, "postconf -h smtpd_end_of_data_restrictions").stdout.strip()
        phases = [submission_phase(lab, "without postfwd (harden only)")]
        timings["policy_service_seconds"] = round(lab.ansible("policy_service.yml", [MX], policy_vars)[0], 1)
        hook = lab.sh(MX, "postconf -h smtpd_end_of_data_restrictions").stdout.strip()
        phases.append(submission_phase(lab, "with postfwd (policy_service)"))
        unhooked_diff = []
        for round_number in range(2, ROUNDS + 1):
            set_hook(lab, plain_hook)
            unhooked_diff = sorted(set(unhooked_diff) | (set(config(lab)) ^ set(plain_config)))
            phases.append(submission_phase(lab, "without postfwd (hook taken out, round %d)" % round_number))
            set_hook(lab, hook)
            phases.append(submission_phase(lab, "with postfwd (hook put back, round %d)" % round_number))
        lab.sh(MX, "systemd-run --unit bench-policy-floor -p User=nobody python3 /usr/local/lib/policy_floor.py "
                   "--listen 127.0.0.1:%d >/dev/null" % FLOOR_PORT)
        wait_port(lab, MX, FLOOR_PORT)
        levels = policy_levels(lab)
        variants = diagnostics(lab)
        conditions = benchlab.conditions(lab, ["ns", MX, "client"])
        conditions["load_average_at_start"] = load_start
        conditions["postfwd"] = lab.sh(MX, "/usr/sbin/postfwd --version 2>&1 | head -1").stdout.strip()
        conditions["postfwd_alternative"] = lab.sh(MX, "readlink -f /usr/sbin/postfwd").stdout.strip()
        conditions["postfwd_args"] = lab.sh(MX, ". /etc/default/postfwd && echo \"$ARGS\"").stdout.strip()
        conditions["postfwd_rules"] = int(lab.sh(MX, "grep -c '^id=' /etc/postfix/postfwd.cf").stdout.strip())

    without = [p for p in phases if p["phase"].startswith("without")]
    with_policy = [p for p in phases if p["phase"].startswith("with ")]
    base_rate, base_cpu = mean([p["per_second"] for p in without]), mean([p["cpu_s_per_1000"] for p in without])
    policy_rate, policy_cpu = mean([p["per_second"] for p in with_policy]), mean([p["cpu_s_per_1000"] for p in with_policy])
    top = levels[-1]
    timings["total_seconds"] = round(time.time() - start, 1)
    ratios = [
        benchlab.ratio("submission_with_postfwd_vs_without", policy_rate / base_rate, 0.85, True,
                       "messages/s with postfwd at END-OF-MESSAGE / without, means of %d alternating runs each" % ROUNDS),
        benchlab.ratio("submission_capacity_with_postfwd_vs_without_by_cpu", base_cpu / policy_cpu, None, True,
                       "mx CPU per message without / with postfwd: the throughput ratio of a host that is CPU-bound, "
                       "less sensitive to the load of other containers than messages/s"),
        benchlab.ratio("postfwd_p99_ms_at_16", top["postfwd"]["p99_ms"], 5.0, False,
                       "p99 latency of one policy request to postfwd at 16 connections, milliseconds"),
        benchlab.ratio("postfwd_vs_floor_rps_at_16", top["rps_ratio"], None, True, "requests/s postfwd / DUNNO floor"),
        benchlab.ratio("postfwd_vs_floor_p99_at_16", top["p99_ratio"], None, False, "p99 postfwd / DUNNO floor"),
        benchlab.ratio("postfwd_vs_floor_rps_at_1", levels[0]["rps_ratio"], None, True, "requests/s postfwd / DUNNO floor"),
        benchlab.ratio("postfwd_vs_floor_rps_at_4", levels[1]["rps_ratio"], None, True, "requests/s postfwd / DUNNO floor"),
        benchlab.ratio("submission_cpu_per_1000_with_vs_without", policy_cpu / base_cpu, None, False,
                       "mx CPU per 1,000 messages (delivery included) with postfwd / without"),
    ]
    data = {"submission": {"phases": phases, "messages_per_second_without": round(base_rate, 2),
                           "messages_per_second_with_postfwd": round(policy_rate, 2),
                           "cpu_s_per_1000_without": round(base_cpu, 3), "cpu_s_per_1000_with_postfwd": round(policy_cpu, 3),
                           "end_of_data_restrictions_without": plain_hook, "end_of_data_restrictions_with": hook,
                           "config_diff_after_taking_hook_out": unhooked_diff},
            "policy": levels, "postfwd_variants_at_16": variants, "timings": timings, "conditions": conditions}
    text = ("Debian 12 containers on one %d-core host (load average %s at the start, %s at "
            "the end), BENCH_SCALE %s. Submission: mailguard.postfix.harden with harden_submission (port 587, "
            "tls_required, Cyrus sasldb); the client does STARTTLS (TLS 1.3, snakeoil certificate) and AUTH PLAIN as "
            "u1..u%d in turn, %d connections, one message each, to a local mbox. Runs alternate, %d of each: harden only; "
            "mailguard.postfix.policy_service (postfwd %s as %s, options '%s', %d rules: the default limit set with "
            "numbers far above the load); then the hook taken out with postconf (main.cf and master.cf then equal to "
            "harden's) and put back. "
            "Policy requests from mx itself to 127.0.0.1 (END-OF-MESSAGE attributes, %d rotating sasl_username values, "
            "connections kept open, closed loop); client, servers and Postfix share the same cores." % (
                conditions["cores"], load_start, conditions["load_average"], benchlab.SCALE, SUBMISSION_USERS, SESSIONS, ROUNDS,
                conditions["postfwd"], conditions["postfwd_alternative"], conditions["postfwd_args"],
                conditions["postfwd_rules"], POLICY_USERS))
    benchlab.write_result(NAME, "B3 policy overhead: postfwd in the submission path", data, ratios, text)


if __name__ == "__main__":
    main()
