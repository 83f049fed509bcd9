"""Run mail_stream.py on a lab client and count its messages at the mailboxes.

A scenario's tests start a stream as a transient systemd unit on the client
(start), stop it (stop: the stream retries what is pending for a while, then
writes its last record), and count what happened to each message (count):
sent, accepted, refused for good (5xx), delivered into the mailboxes of
the mail hosts, duplicates and lost. "Lost" is a message the server accepted
and never delivered, or one the stream never got accepted.
"""

import json
import time

STREAM = "/usr/local/lib/mail_stream.py"


def start(client, unit, targets, sender, recipient, rate=1.0, max_seconds=300, max_messages=2000,
          helo="client.lab.test"):
    """Start a stream as unit `unit`; targets is [(label, address)]. Returns the log's path."""
    log = "/var/log/%s.jsonl" % unit
    # A unit of that name left over from an earlier run would stop systemd-run.
    client.run("systemctl stop %s; systemctl reset-failed %s; rm -f %s" % (unit, unit, log))
    command = ["systemd-run", "--unit=%s" % unit, "--property=TimeoutStopSec=180",
               "/usr/bin/python3", STREAM]
    command += ["--target=%s=%s" % target for target in targets]
    command += ["--sender=%s" % sender, "--recipient=%s" % recipient, "--helo=%s" % helo,
                "--rate=%s" % rate, "--max-seconds=%s" % max_seconds, "--max-messages=%s" % max_messages,
                "--log=%s" % log]
    client.check_output(" ".join(command))
    return log


def stop(client, unit, log, timeout=200):
    """Stop the stream and wait for its last record; returns (attempts, stopped record)."""
    client.run("systemctl stop %s" % unit)
    deadline = time.time() + timeout
    while True:
        records = read(client, log)
        stopped = [r for r in records if r["event"] == "stopped"]
        if stopped:
            return [r for r in records if r["event"] == "attempt"], stopped[-1]
        if time.time() > deadline:
            raise AssertionError("stream %s wrote no last record within %d s" % (unit, timeout))
        time.sleep(1)


def read(client, log):
    out = client.run("cat %s" % log).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def delivered_ids(mail_hosts, mailbox):
    """X-Stream-Id values in `mailbox` on each host: {id: how many times}."""
    found = {}
    for mail_host in mail_hosts:
        out = mail_host.run("grep -h '^X-Stream-Id: ' %s" % mailbox).stdout
        for line in out.splitlines():
            message_id = line.split(": ", 1)[1].strip()
            found[message_id] = found.get(message_id, 0) + 1
    return found


def count(attempts, stopped, delivered):
    """What happened to each message of one stream (see the module's docstring)."""
    sent = {}
    for attempt in attempts:
        sent.setdefault(attempt["id"], attempt["target"])
    accepted = set(a["id"] for a in attempts if 200 <= a["code"] < 300)
    refused = set(a["id"] for a in attempts if 500 <= a["code"] < 600)
    by_code = {}
    for attempt in attempts:
        if not 200 <= attempt["code"] < 300:
            key = str(attempt["code"]) if attempt["code"] else "no reply"
            by_code[key] = by_code.get(key, 0) + 1
    ours = set(delivered) & set(sent)
    lost = sorted(accepted - ours) + sorted(set(stopped.get("pending", [])) - refused)
    return {
        "sent": len(sent),
        "accepted": len(accepted),
        "refused_5xx": len(refused),
        "delivered": len(ours),
        "duplicates": sorted(i for i in ours if delivered[i] > 1),
        "lost": lost,
        "tries_by_code": by_code,
        "accepted_by_target": dict((t, sum(1 for i in accepted if sent[i] == t)) for t in sorted(set(sent.values()))),
        "never_accepted": sorted(set(sent) - accepted - refused),
    }


def line(label, counts):
    """One line of counts for the test output."""
    return ("%s: sent %d, accepted %d, refused for good (5xx) %d, delivered %d, duplicates %d, lost %d; "
            "tries refused or failed, by code: %s" % (
                label, counts["sent"], counts["accepted"], counts["refused_5xx"], counts["delivered"],
                len(counts["duplicates"]), len(counts["lost"]), json.dumps(counts["tries_by_code"], sort_keys=True)))


def wait_for_empty_queues(mail_hosts, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(not mail_host.check_output("postqueue -j").strip() for mail_host in mail_hosts):
            return
        time.sleep(2)
    raise AssertionError("mail still queued after %d s: %s" % (
        timeout, [mail_host.check_output("postqueue -j") for mail_host in mail_hosts]))
