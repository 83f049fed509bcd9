#!/usr/bin/env python
"""B5 facts at scale on a real host: mailguard.postfix.postfix_facts against its floor.

One Debian 12 container (mx, 10.98.6.0/24, with a lab DNS container) with
Debian's Postfix and:

* /etc/aliases with 100,000 more entries (a third forwarding off-site, to
  ext.test), compiled by postalias (alias_maps = hash:/etc/aliases);
* a virtual alias table of 100,000 entries for virt.test
  (virtual_alias_domains = virt.test, virtual_alias_maps =
  hash:/etc/postfix/virtual, the same targets), compiled by postmap;
* 10,000 queued messages that stay queued: smtp-source on mx itself sends
  them over SMTP to 127.0.0.1 with defer_transports = smtp, local, so qmgr
  moves each to the deferred queue without trying to deliver it (two thirds
  are bounces, null sender, to an off-site recipient: backscatter waiting to
  leave; the rest ordinary mail to root). The backoff times are set above the
  benchmark's length, so no queue run starts while it measures.

Measured inside mx, each command started by a small runner
(bench_rusage.py below) that reads its stdout through a pipe, as the module
reads its commands' output, and takes wall time and peak RSS (ru_maxrss of
wait4: the largest process of the command's tree) and CPU:

* the module as Ansible runs it: the AnsiballZ file that Ansible left on the
  host (ANSIBLE_KEEP_REMOTE_FILES=1) after bench/playbooks/postfix_facts.yml,
  with the module's defaults, as the audit calls it;
* the same module file exploded (AnsiballZ's ``explode``/``execute``) with
  the arguments the harden role passes (every forwarding recipient, no
  queue), once by default (``--harden-rounds``): every forwarding address
  is listed, so this is where a cost that grows faster than the tables
  would show (it did, 46 s at 100,000 entries, until the de-duplication of
  those addresses used a set);
* the floor: postalias -s hash:/etc/aliases, postmap -s
  hash:/etc/postfix/virtual and postqueue -j, one after the other (their wall
  and CPU times added, their peak RSS the largest of the three);
* for the breakdown: the other commands the module runs (postconf -h
  config_directory, -n, -x, -M, -P, -P -x; ip -o addr show), and a Python
  floor: python3 reading the floor's three outputs into memory with
  subprocess, nothing else.

Rounds alternate floor and module (3 by default) and the best of each is
kept. Also the wall time of the playbook and of each of its tasks
(profile_tasks), and of the setup. Ratios: module / floor for wall time and
peak memory, and the audit task through Ansible against the README's one-minute ceiling
(the promise: "well under a minute" at 100,000 entries). Results go to
bench/results/facts_host.json.

    python bench/facts_host.py [--entries 100000] [--messages 10000] [--rounds 3] [--harden-rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import time

import benchlab

NAME = "facts_host"
MX = "mx"
VIRTUAL = "/etc/postfix/virtual"
RUNNER = "/usr/local/lib/bench_rusage.py"
REMOTE_TMP = "/root/.ansible/bench-audit"
HARDEN_DIR = "/root/.ansible/bench-harden"
FLOOR = (("postalias -s", ["postalias", "-s", "hash:/etc/aliases"]),
         ("postmap -s", ["postmap", "-s", "hash:" + VIRTUAL]),
         ("postqueue -j", ["postqueue", "-j"]))
POSTCONF = ([["postconf", "-h", "config_directory"], ["postconf", "-n"], ["postconf", "-x"], ["postconf", "-M"],
             ["postconf", "-P"], ["postconf", "-P", "-x"], ["ip", "-o", "addr", "show"]])

# Runs one command with its stdout read through a pipe; prints a JSON line.
RUSAGE = r'''
import json, os, subprocess, sys, time
save = None
argv = sys.argv[1:]
if argv[0] == "--save":
    save, argv = argv[1], argv[2:]
start = time.perf_counter()
proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
size, chunks = 0, []
while True:
    chunk = proc.stdout.read(1 << 16)
    if not chunk:
        break
    size += len(chunk)
    if save:
        chunks.append(chunk)
_pid, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
seconds = time.perf_counter() - start
if save:
    with open(save, "wb") as handle:
        handle.write(b"".join(chunks))
print(json.dumps({"seconds": seconds, "rc": proc.returncode, "maxrss_kb": usage.ru_maxrss, "stdout_bytes": size,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime}))
'''

# The Python floor: the three outputs read into memory, nothing parsed.
PYTHON_FLOOR = r'''
import subprocess
outputs = [subprocess.run(argv, capture_output=True, check=True).stdout
           for argv in (["postalias", "-s", "hash:/etc/aliases"], ["postmap", "-s", "hash:/etc/postfix/virtual"],
                        ["postqueue", "-j"])]
print(sum(len(x) for x in outputs))
'''

TABLES = r'''
import sys
n = int(sys.argv[1])
with open("/etc/aliases", "a") as aliases, open("/etc/postfix/virtual", "w") as virtual:
    for i in range(n):
        target = "user%d@ext.test" % i if i % 3 == 0 else "local%d" % i
        aliases.write("alias%d:\t%s\n" % (i, target))
        virtual.write("v%d@virt.test\t%s\n" % (i, target if "@" in target else target + "@mx.lab.test"))
'''

# The harden role's arguments (roles/harden/tasks/inspect.yml) in an exploded module's args file.
HARDEN_ARGS = r'''
import json, sys
with open(sys.argv[1], encoding="utf-8") as handle:
    params = json.load(handle)
params["ANSIBLE_MODULE_ARGS"].update(gather_queue=False, gather_forwarding_recipients=True)
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(params, handle)
'''

QUEUE_COUNT = ("for q in incoming active deferred; do printf '%s ' $(find /var/spool/postfix/$q -type f | wc -l); done")


def measure(lab, argv, save=None):
    prefix = ["python3", RUNNER] + (["--save", save] if save else [])
    row = json.loads(lab.sh(MX, shlex.join(prefix + argv), timeout=600).stdout)
    if row["rc"] != 0:
        raise RuntimeError("%s failed in %s (rc %d)" % (shlex.join(argv), MX, row["rc"]))
    return row


def explode_as_harden(lab, module):
    """A copy of the module file that Ansible left, exploded, with the harden role's arguments; its path."""
    copy = "%s/%s" % (HARDEN_DIR, os.path.basename(module))
    lab.sh(MX, "set -e; rm -rf {d}; mkdir -p {d}; cp {m} {c}; python3 {c} explode >/dev/null; python3 -c {edit} {d}/debug_dir/args".format(
        d=HARDEN_DIR, m=shlex.quote(module), c=copy, edit=shlex.quote(HARDEN_ARGS)))
    return copy


def combined(rows):
    """Commands run one after the other: times add up, memory is the largest."""
    return {"seconds": sum(r["seconds"] for r in rows), "cpu_seconds": sum(r["cpu_seconds"] for r in rows),
            "maxrss_kb": max(r["maxrss_kb"] for r in rows), "stdout_bytes": sum(r["stdout_bytes"] for r in rows)}


def best(rows):
    """The fastest round, with the median and the spread of the wall times."""
    row = dict(min(rows, key=lambda r: r["seconds"]))
    row["median_seconds"] = statistics.median(r["seconds"] for r in rows)
    row["all_seconds"] = [round(r["seconds"], 3) for r in rows]
    row["maxrss_kb_max"] = max(r["maxrss_kb"] for r in rows)
    for key in ("seconds", "median_seconds", "cpu_seconds"):
        row[key] = round(row[key], 3)
    return row


def setup(lab, entries, messages):
    """Postfix with the tables compiled and the queue filled; seconds of each step."""
    steps = {}
    start = time.time()
    lab.add("ns")
    lab.add(MX)
    lab.install_postfix(MX)
    lab.start_dns("ns")
    lab.use_dns("ns")
    lab.use_dns(MX)
    for name, text in ((RUNNER, RUSAGE), ("/usr/local/lib/bench_python_floor.py", PYTHON_FLOOR),
                       ("/usr/local/lib/bench_tables.py", TABLES)):
        lab.put(MX, name, text)
    steps["containers_and_postfix"] = time.time() - start
    mark = time.time()
    lab.sh(MX, "python3 /usr/local/lib/bench_tables.py %d" % entries)
    steps["write_tables"] = time.time() - mark
    mark = time.time()
    lab.sh(MX, "postalias hash:/etc/aliases")
    steps["postalias"] = time.time() - mark
    mark = time.time()
    lab.sh(MX, "postmap hash:%s" % VIRTUAL)
    steps["postmap"] = time.time() - mark
    # Nothing leaves the queue: both transports defer, and no queue run
    # starts again before the benchmark is over.
    lab.sh(MX, "postconf -e 'virtual_alias_domains = virt.test' 'virtual_alias_maps = hash:%s' "
               "'defer_transports = smtp, local' 'minimal_backoff_time = 4000s' 'maximal_backoff_time = 8000s' "
               "'queue_run_delay = 4000s' && postfix reload >/dev/null 2>&1" % VIRTUAL)
    mark = time.time()
    bounces = messages * 2 // 3
    for count, sender, rcpt in ((bounces, "", "forged@victim.test"), (messages - bounces, "bench@ext.test", "root@mx.lab.test")):
        if count:
            lab.sh(MX, "smtp-source -d -s 10 -m %d -f %s -t %s 127.0.0.1:25" % (count, shlex.quote(sender), rcpt), timeout=600)
    deadline = time.time() + 300
    while True:
        incoming, active, deferred = (int(x) for x in lab.sh(MX, QUEUE_COUNT).stdout.split())
        if incoming == 0 and active == 0 and deferred >= messages:
            break
        if time.time() > deadline:
            raise RuntimeError("queue not settled: incoming %d, active %d, deferred %d" % (incoming, active, deferred))
        time.sleep(1)
    steps["queue"] = time.time() - mark
    steps["total"] = time.time() - start
    return {k: round(v, 1) for k, v in steps.items()}, deferred


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=100000, help="aliases and virtual aliases, each")
    parser.add_argument("--messages", type=int, default=10000, help="queued messages")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--harden-rounds", type=int, default=1, help="runs of the module as harden calls it (0: none)")
    args = parser.parse_args()
    start = time.time()
    load_start = [round(x, 2) for x in os.getloadavg()]
    with benchlab.Lab("facts", 6) as lab:
        steps, queued = setup(lab, args.entries, args.messages)
        benchlab.log("setup %s, %d messages deferred" % (steps, queued))
        env = {"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
               "PROFILE_TASKS_SORT_ORDER": "none"}
        playbook_seconds, out = lab.ansible("postfix_facts.yml", [MX], env=env)
        tasks = dict((m.group(1), float(m.group(2))) for m in re.finditer(r"^(Read Postfix as the [\w ]+? does) -+ (\d+\.\d+)s$", out, re.M))
        counted = re.search(r'"msg": "(aliases .*?)"', out)
        module = lab.sh(MX, "ls -t %s/*/AnsiballZ_postfix_facts.py | head -1" % REMOTE_TMP).stdout.strip()
        if not module:
            raise RuntimeError("no AnsiballZ_postfix_facts.py left in %s" % REMOTE_TMP)
        harden_module = explode_as_harden(lab, module)
        rounds = {"floor": [], "postconf": [], "python_floor": [], "audit": [], "harden": []}
        per_command = {label: [] for label, _argv in FLOOR}
        for _round in range(args.rounds):
            floor_rows = []
            for label, argv in FLOOR:
                floor_rows.append(measure(lab, argv))
                per_command[label].append(floor_rows[-1])
            rounds["floor"].append(combined(floor_rows))
            rounds["postconf"].append(combined([measure(lab, argv) for argv in POSTCONF]))
            rounds["python_floor"].append(measure(lab, ["python3", "/usr/local/lib/bench_python_floor.py"]))
            rounds["audit"].append(measure(lab, ["python3", module], save="/tmp/facts-audit.json"))
            benchlab.log("round: floor %.2f s %d kB, module %.2f s %d kB" % (
                rounds["floor"][-1]["seconds"], rounds["floor"][-1]["maxrss_kb"], rounds["audit"][-1]["seconds"],
                rounds["audit"][-1]["maxrss_kb"]))
        for _round in range(args.harden_rounds):
            rounds["harden"].append(measure(lab, ["python3", harden_module, "execute"], save="/tmp/facts-harden.json"))
            benchlab.log("module as harden calls it: %.2f s %d kB" % (rounds["harden"][-1]["seconds"], rounds["harden"][-1]["maxrss_kb"]))
        facts = json.loads(lab.sh(MX, "cat /tmp/facts-audit.json").stdout)["ansible_facts"]["postfix"]
        harden_facts = json.loads(lab.sh(MX, "cat /tmp/facts-harden.json").stdout)["ansible_facts"]["postfix"] if args.harden_rounds else None
        counts = {"aliases": facts["forwarding"]["aliases"]["entries"],
                  "aliases_offsite": facts["forwarding"]["aliases"]["offsite"],
                  "virtual_aliases": facts["forwarding"]["virtual_aliases"]["entries"],
                  "virtual_offsite": facts["forwarding"]["virtual_aliases"]["offsite"],
                  "queue_total": facts["queue"]["total"], "queue_by_queue": facts["queue"]["by_queue"],
                  "bounces_to_remote": facts["queue"]["bounces_to_remote"],
                  "forwarded_recipients_harden": len(harden_facts["forwarding"]["recipients"]["forwarded"]) if harden_facts else None,
                  "one_to_one_virtual_harden": len(harden_facts["forwarding"]["recipients"]["one_to_one_virtual"]) if harden_facts else None,
                  "findings": sorted({f["id"] for f in facts["findings"]}),
                  "playbook_debug": counted.group(1) if counted else None}
        sizes = lab.sh(MX, "stat -c '%n %s' /etc/aliases /etc/aliases.db {0} {0}.db".format(VIRTUAL)).stdout.split("\n")[:4]
        conditions = benchlab.conditions(lab, ["ns", MX])
    results = {name: best(rows) for name, rows in rounds.items() if rows}
    results["floor_commands"] = {label: best(rows) for label, rows in per_command.items()}
    floor, audit, harden = results["floor"], results["audit"], results.get("harden")
    breakdown = {"floor_commands_seconds": floor["seconds"], "postconf_and_ip_seconds": results["postconf"]["seconds"],
                 "python_rest_seconds": round(audit["seconds"] - floor["seconds"] - results["postconf"]["seconds"], 3),
                 "python_floor_seconds": results["python_floor"]["seconds"]}
    conditions["load_average_at_start"] = load_start
    timings = {"setup": steps, "playbook_seconds": round(playbook_seconds, 2), "playbook_tasks_seconds": tasks,
               "total_seconds": round(time.time() - start, 1)}
    audit_task = tasks.get("Read Postfix as the audit does")
    ratios = [
        benchlab.ratio("module_vs_floor_wall", audit["seconds"] / floor["seconds"], None, False,
                       "postfix_facts with the audit's defaults / postalias -s + postmap -s + postqueue -j, best of %d" % args.rounds),
        benchlab.ratio("module_vs_floor_memory", audit["maxrss_kb"] / floor["maxrss_kb"], None, False,
                       "peak RSS of postfix_facts (the module's Python process) / the largest of the three commands"),
        benchlab.ratio("module_vs_python_floor_memory", audit["maxrss_kb"] / results["python_floor"]["maxrss_kb"], None, False,
                       "peak RSS of postfix_facts / python3 reading the three outputs into memory"),
        benchlab.ratio("harden_call_vs_floor_wall",
                       harden["seconds"] / (floor["seconds"] - results["floor_commands"]["postqueue -j"]["seconds"]) if harden else None,
                       None, False, "postfix_facts as harden calls it (all forwarding recipients, no queue) / postalias -s + postmap -s"),
        benchlab.ratio("audit_task_vs_one_minute", (audit_task or playbook_seconds) / 60.0, None, False,
                       "the audit's postfix_facts task through Ansible (profile_tasks) / 60 s, the README's one-minute ceiling "
                       "(the promise: well under a minute at 100,000 entries)"),
    ]
    data = {"results": results, "breakdown_audit": breakdown, "counts": counts, "entries": args.entries,
            "messages": args.messages, "queued": queued, "files": sizes, "timings": timings, "conditions": conditions,
            "rounds": rounds}
    text = ("One Debian 12 container with Postfix %s on a %d-core machine (load average %s at "
            "the start, %s at the end). %d aliases (hash:/etc/aliases) and %d virtual aliases (hash:%s), a third "
            "forwarding off-site; %d messages in the deferred queue (two thirds bounces to an off-site recipient), "
            "kept there by defer_transports. Module and floor run inside the container by a Python runner that reads "
            "stdout through a pipe; wall time, CPU and peak RSS (ru_maxrss: the largest process, not the sum; postqueue's "
            "showq daemon is not counted in either) of the best of %d alternating rounds." % (
                conditions["hosts"][MX]["postfix"], conditions["cores"], load_start, conditions["load_average"],
                args.entries, args.entries, VIRTUAL, queued, args.rounds))
    benchlab.write_result(NAME, "B5 postfix_facts on a real host with 100,000 aliases and 10,000 queued messages, against "
                          "postalias/postmap/postqueue", data, ratios, text)


if __name__ == "__main__":
    main()
