#!/usr/bin/env python
"""B4 Ansible: what a full converge and an idempotent run of the roles cost.

A lab DNS host (ns) and stock Debian 12 Postfix hosts on 10.98.5.0/24, each
converged once from stock by bench/playbooks/converge.yml:
mailguard.postfix.harden (with harden_submission, which rate_limits needs),
mailguard.postfix.policy_service (postfwd quotas; it runs harden again to put
its hook live) and mailguard.postfix.rate_limits, all with their defaults.
Ansible reaches the containers with the lab's connection (the Molecule
scenarios' "podman" of molecule/shared/plugins/connection: one podman exec
per module task, the module piped to the container's Python, as ssh with
pipelining does it), forks 5, from this machine. Measured in one run:

* Wall time of the converge and of the idempotent second run right after it,
  on fresh hosts for every converge: 1 host, then 4 (``--converge``); the
  idempotent run alone on 2 of the converged hosts (``--idempotent``). Also
  the CPU seconds of the controller (ansible-playbook and the podman commands
  it starts) and of the hosts' containers (their cgroups) during each run.
* Per-task times of every run (ansible.posix.profile_tasks), in the order the
  tasks ran; the top 10 of the idempotent runs, and the time per role pass
  (harden, policy_service, harden again inside policy_service, rate_limits).
* The floor: a generated playbook with as many ansible.builtin.ping tasks as
  the idempotent run had ok/changed tasks per host (its recap) and as many
  skipped tasks (when: false), against the same hosts (``--floor``, 1 host by
  default).

Ratios: idempotent / floor (goal <= 1.0), 4 hosts / 1 host for the converge
and the idempotent run (goal <= 1.3 each), 2 hosts / 1 host (no goal).
Results go to bench/results/ansible_runs.json.

    python bench/ansible_runs.py [--converge 1,4] [--idempotent 2] [--floor 1]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import tempfile
import time

import benchlab

NAME = "ansible_runs"
PLAYBOOK = "converge.yml"
RELEASE = "12"
# rate_limits limits the submission services; harden creates them with this.
EXTRA_VARS = {"harden_submission": {"enabled": True, "services": ["submission/inet"], "tls_required": True,
                                    "sasl_type": "cyrus", "sasl_path": "smtpd", "sender_login_maps": ""}}
PROFILE_ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
               "PROFILE_TASKS_SORT_ORDER": "none"}
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+"
                      r"rescued=(\d+)\s+ignored=(\d+)", re.M)
TASK_TIME_RE = re.compile(r"^(.*?) -+ (\d+\.\d+)s$")
RECAP_FIELDS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
TOP = 10
# As molecule/ratelimit's prepare.yml: under podman with cgroup v1, systemd may
# wait out postfwd's whole stop timeout (90 s) after postfwd has exited, and
# the first converge restarts postfwd. postfwd exits within a second.
POSTFWD_DROPIN = ("mkdir -p /etc/systemd/system/postfwd.service.d && printf '[Service]\\nTimeoutStopSec=3s\\n' "
                  "> /etc/systemd/system/postfwd.service.d/lab-stop-timeout.conf && systemctl daemon-reload")


def parse_recap(out):
    """The PLAY RECAP counts per host."""
    return {m.group(1): dict(zip(RECAP_FIELDS, (int(x) for x in m.groups()[1:]))) for m in RECAP_RE.finditer(out)}


def parse_tasks(out):
    """profile_tasks' summary (in execution order): [(name, seconds)]."""
    tail = out.split("TASKS RECAP", 1)[1] if "TASKS RECAP" in out else ""
    tasks = []
    for line in tail.splitlines():
        match = TASK_TIME_RE.match(line.strip())
        if match:
            tasks.append((match.group(1), float(match.group(2))))
    return tasks


def role_of(task):
    return task.split(" : ", 1)[0].rsplit(".", 1)[-1] if " : " in task else None


def passes(tasks):
    """Consecutive tasks of one role as one pass: [{role, seconds, tasks}], in order.

    profile_tasks names an include_role task without its role: it counts
    with the pass it is part of.
    """
    rows = []
    for name, seconds in tasks:
        role = role_of(name) or (rows[-1]["role"] if rows else "play")
        if rows and rows[-1]["role"] == role:
            rows[-1]["seconds"] += seconds
            rows[-1]["tasks"] += 1
        else:
            rows.append({"role": role, "seconds": seconds, "tasks": 1})
    for row in rows:
        row["seconds"] = round(row["seconds"], 2)
    return rows


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(lab, playbook, labels, kind, extra_vars=None):
    """One ansible-playbook run with profile_tasks, and what it cost."""
    load = os.getloadavg()[0]
    hosts_cpu = sum(lab.cpu_seconds(label) for label in labels)
    controller = children_cpu()
    seconds, out = lab.ansible(playbook, labels, extra_vars, env=PROFILE_ENV)
    controller = children_cpu() - controller
    hosts_cpu = sum(lab.cpu_seconds(label) for label in labels) - hosts_cpu
    tasks = parse_tasks(out)
    recap = parse_recap(out)
    row = {"kind": kind, "hosts": len(labels), "labels": list(labels), "seconds": round(seconds, 2),
           "controller_cpu_seconds": round(controller, 2), "hosts_cpu_seconds": round(hosts_cpu, 2),
           "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2),
           "recap": recap, "changed": sum(r["changed"] for r in recap.values()),
           "tasks_timed": len(tasks), "tasks_seconds_sum": round(sum(s for _n, s in tasks), 2),
           "passes": passes(tasks),
           "top": [{"task": n, "seconds": s} for n, s in sorted(tasks, key=lambda t: -t[1])[:TOP]],
           "tasks": [{"task": n, "seconds": s} for n, s in tasks]}
    benchlab.log("%s on %d host(s): %.1f s wall, controller CPU %.1f s, hosts CPU %.1f s, recap %s" % (
        kind, len(labels), seconds, controller, hosts_cpu, recap[labels[0]]))
    return row


def floor_playbook(path, pings, skipped):
    """As many remote no-op tasks and skipped tasks as the idempotent run had."""
    lines = ["---", "- name: Floor of the idempotent run (%d ping tasks, %d skipped tasks)" % (pings, skipped),
             "  hosts: all", "  gather_facts: false", "  tasks:"]
    for i in range(pings):
        lines += ["    - name: Ping %d" % (i + 1), "      ansible.builtin.ping:"]
    for i in range(skipped):
        lines += ["    - name: Skipped %d" % (i + 1), "      ansible.builtin.ping:", "      when: false"]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def floor_run(lab, idempotent, work):
    """The floor for an idempotent run, on the same hosts."""
    recaps = list(idempotent["recap"].values())
    pings = max(r["ok"] + r["changed"] for r in recaps)
    skipped = max(r["skipped"] for r in recaps)
    path = os.path.join(work, "floor-%d.yml" % idempotent["hosts"])
    floor_playbook(path, pings, skipped)
    # lab.ansible takes playbooks from bench/playbooks; an absolute path goes as it is.
    row = timed_run(lab, path, idempotent["labels"], "floor")
    row["ping_tasks"], row["skipped_tasks"] = pings, skipped
    row["counts_differ_between_hosts"] = len({(r["ok"] + r["changed"], r["skipped"]) for r in recaps}) > 1
    row["seconds_per_ping_task"] = round(row["tasks_seconds_sum"] / max(1, pings), 3)
    # Tasks of the idempotent run that took at least half a floor ping: the
    # ones that ran a module on the host; the others ran on the controller.
    slow = [t for t in idempotent["tasks"] if t["seconds"] >= row["seconds_per_ping_task"] / 2]
    idempotent["host_tasks"] = {"count": len(slow), "seconds": round(sum(t["seconds"] for t in slow), 2),
                                "threshold_seconds": round(row["seconds_per_ping_task"] / 2, 3),
                                "other_tasks": len(idempotent["tasks"]) - len(slow),
                                "other_seconds": round(idempotent["tasks_seconds_sum"] - sum(t["seconds"] for t in slow), 2)}
    row.pop("tasks")
    return row


def setup(lab, labels):
    lab.add("ns")
    for label in labels:
        lab.add(label, RELEASE)
    lab.install_postfix_on(labels)
    for label in labels:
        lab.sh(label, POSTFWD_DROPIN)
    lab.start_dns("ns")
    for label in ["ns"] + labels:
        lab.use_dns(label)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--converge", default="1,4", help="host counts, each converged on fresh hosts, then run again")
    parser.add_argument("--idempotent", default="2", help="host counts run again only, on hosts converged before")
    parser.add_argument("--floor", default="1", help="host counts whose idempotent run gets its floor run")
    args = parser.parse_args()
    counts = [int(x) for x in args.converge.split(",") if x]
    extra = [int(x) for x in args.idempotent.split(",") if x]
    floors = {int(x) for x in args.floor.split(",") if x}
    if not counts or max(extra + [0]) > max(counts):
        parser.error("--idempotent counts need as many converged hosts (--converge)")

    start = time.time()
    load_start = [round(x, 2) for x in os.getloadavg()]
    labels = ["h%d" % (i + 1) for i in range(sum(counts))]
    runs = []
    work = tempfile.mkdtemp(prefix="mgbench-floor-")
    try:
        with benchlab.Lab("ansible", 5) as lab:
            setup(lab, labels)
            timings = {"setup_seconds": round(time.time() - start, 1)}
            benchlab.log("setup: %d Postfix hosts in %.0f s" % (len(labels), timings["setup_seconds"]))
            fresh = list(labels)
            converged = []
            for count in counts:
                hosts, fresh = fresh[:count], fresh[count:]
                runs.append(timed_run(lab, PLAYBOOK, hosts, "converge", EXTRA_VARS))
                runs.append(timed_run(lab, PLAYBOOK, hosts, "idempotent", EXTRA_VARS))
                if count in floors:
                    runs.append(floor_run(lab, runs[-1], work))
                converged = hosts
            for count in extra:
                runs.append(timed_run(lab, PLAYBOOK, converged[:count], "idempotent", EXTRA_VARS))
                if count in floors:
                    runs.append(floor_run(lab, runs[-1], work))
            conditions = benchlab.conditions(lab, ["ns"] + labels)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    conditions["load_average_at_start"] = load_start
    conditions["ansible"] = benchlab.run([os.path.join(benchlab.VENV_BIN, "ansible-playbook"), "--version"]).stdout.splitlines()[0]
    timings["total_seconds"] = round(time.time() - start, 1)

    def pick(kind, hosts):
        found = [r for r in runs if r["kind"] == kind and r["hosts"] == hosts]
        return found[-1] if found else None

    ratios = []
    for hosts in sorted(floors):
        idem, floor = pick("idempotent", hosts), pick("floor", hosts)
        if idem and floor:
            ratios.append(benchlab.ratio("idempotent_vs_floor_%d_host%s" % (hosts, "s" if hosts > 1 else ""),
                                         idem["seconds"] / floor["seconds"], 1.0, False,
                                         "wall time of the idempotent run / floor playbook of %d pings and %d skipped tasks"
                                         % (floor["ping_tasks"], floor["skipped_tasks"])))
            ratios.append(benchlab.ratio("idempotent_vs_floor_cpu_%d_host%s" % (hosts, "s" if hosts > 1 else ""),
                                         (idem["controller_cpu_seconds"] + idem["hosts_cpu_seconds"])
                                         / (floor["controller_cpu_seconds"] + floor["hosts_cpu_seconds"]), None, False,
                                         "CPU seconds (controller + hosts) of the idempotent run / of the floor"))
    for kind in ("converge", "idempotent"):
        one = pick(kind, 1)
        for hosts, goal in ((4, 1.3), (2, None)):
            other = pick(kind, hosts)
            if one and other:
                ratios.append(benchlab.ratio("%s_%d_hosts_vs_1" % (kind, hosts), other["seconds"] / one["seconds"], goal,
                                             False, "wall time of the %s run on %d hosts / on 1 host (forks 5)" % (kind, hosts)))
    idempotent = [r for r in runs if r["kind"] == "idempotent"]
    data = {"runs": runs, "timings": timings, "conditions": conditions,
            "idempotent_changed": {str(r["hosts"]): r["changed"] for r in idempotent},
            "extra_vars": EXTRA_VARS}
    text = ("%d Debian %s containers with stock Postfix %s (Debian's package, Internet Site) and a lab DNS container, "
            "on one %d-core machine (load average %s at the start, %s at the end). "
            "bench/playbooks/converge.yml (harden, policy_service, rate_limits; role defaults plus harden_submission) "
            "from %s, with the lab's podman connection (molecule/shared/plugins/connection: one podman exec "
            "per module task, modules piped to the container's Python), forks 5, profile_tasks on in every run. postfwd's unit gets TimeoutStopSec=3s, as in "
            "molecule/ratelimit (systemd under podman with cgroup v1 may otherwise wait 90 s on its restart). "
            "Converges on fresh hosts (%s); the idempotent run right after each, and on %s of the converged hosts; "
            "the floor is a generated playbook of ping and "
            "skipped tasks, as many as the idempotent run's recap counts per host, on the same hosts." % (
                len(labels), RELEASE, conditions["hosts"][labels[0]]["postfix"], conditions["cores"], load_start,
                conditions["load_average"], conditions["ansible"], ", ".join("%d host(s)" % c for c in counts),
                ", ".join("%d" % c for c in extra) or "none"))
    benchlab.write_result(NAME, "B4 Ansible: converge and idempotent runs, per-task times, against a floor",
                          data, ratios, text)


if __name__ == "__main__":
    main()
