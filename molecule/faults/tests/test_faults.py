"""Faults on hardened hosts under traffic: nothing lost, nothing broken, every refusal explained.

Each test starts two streams from the client to both mail hosts: clean mail
(stream@client.test, whose SPF record passes the client, to the local user
stream) and forged mail (forged@victim.test to a user that does not exist).
It then brings one fault about, ends it, stops the streams and counts every
message: the clean ones must all be accepted (4xx and failed connections
are retried) and delivered, none refused with a 5xx; the forged ones must
all be refused with a 5xx, none accepted. The counts are printed per fault.
The blocklist fault is the exception: while the list lists everything, clean
mail is refused with its 554, which is what the watch is there to report.
Each test puts its fault right again before it ends.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

import stream_counts  # noqa: E402  pylint: disable=wrong-import-position
from lab_hosts import address, host  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])

MX = {"mx12": "faults-deb12", "mx13": "faults-deb13"}
CLIENT = "faults-client"
CHECKSUM = "md5sum /etc/postfix/main.cf /etc/postfix/master.cf"
CLEAN = ("stream@client.test", "stream@example.test")
FORGED = ("forged@victim.test", "no-such-user@example.test")


def client():
    return host(CLIENT)


def mail_hosts():
    return [host(name) for name in MX.values()]


def targets():
    return [(label, address(name)) for label, name in MX.items()]


def probe(sender, recipient):
    """One session per mail host up to RCPT: {label: {stage, code, text}}."""
    out = client().check_output(
        "python3 %s probe %s --sender=%s --recipient=%s --helo=client.lab.test --timeout=30" % (
            stream_counts.STREAM, " ".join("--target=%s=%s" % t for t in targets()), sender, recipient))
    return json.loads(out)


def playbook(name, *extra_vars):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = ["ansible-playbook", "-i", INVENTORY, str(SCENARIO_DIR / name)]
    for item in extra_vars:
        command += ["-e", json.dumps(item)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)


class Streams(object):
    """The clean and the forged stream of one fault."""

    def __init__(self, fault, rate=2.0, max_seconds=240):
        self.fault = fault
        self.units = {}
        for kind, (sender, recipient), kind_rate in (("clean", CLEAN, rate), ("forged", FORGED, 1.0)):
            unit = "stream-%s-%s" % (fault, kind)
            log = stream_counts.start(client(), unit, targets(), sender, recipient,
                                      rate=kind_rate, max_seconds=max_seconds)
            self.units[kind] = (unit, log)

    def attempts(self, kind):
        return [r for r in stream_counts.read(client(), self.units[kind][1]) if r["event"] == "attempt"]

    def wait_for(self, kind, label, predicate, timeout, after):
        """Wait until an attempt of `kind` to `label` after time `after` matches predicate."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            hits = [a for a in self.attempts(kind) if a["target"] == label and a["time"] > after and predicate(a)]
            if hits:
                return hits[0]
            time.sleep(1)
        raise AssertionError("no %s attempt to %s matched within %d s: %s" % (
            kind, label, timeout, self.attempts(kind)[-5:]))

    def finish(self, capsys):
        """Stop both streams, let the queues drain, print and return the counts."""
        results = {}
        for kind, (unit, log) in self.units.items():
            attempts, stopped = stream_counts.stop(client(), unit, log)
            results[kind] = (attempts, stopped)
        stream_counts.wait_for_empty_queues(mail_hosts())
        delivered = stream_counts.delivered_ids(mail_hosts(), "/var/mail/stream")
        counts = dict((kind, stream_counts.count(attempts, stopped, delivered))
                      for kind, (attempts, stopped) in results.items())
        with capsys.disabled():
            print()
            for kind in ("clean", "forged"):
                print(stream_counts.line("%s, %s mail" % (self.fault, kind), counts[kind]))
        return counts


def assert_nothing_lost(counts):
    clean, forged = counts["clean"], counts["forged"]
    assert clean["sent"] > 0 and forged["sent"] > 0
    assert clean["refused_5xx"] == 0, "clean mail refused with a 5xx: %s" % clean["tries_by_code"]
    assert all(code.startswith("4") or code == "no reply" for code in clean["tries_by_code"]), clean["tries_by_code"]
    assert not clean["never_accepted"], "clean messages never accepted: %s" % clean["never_accepted"][:5]
    assert clean["accepted"] == clean["sent"] == clean["delivered"]
    assert not clean["lost"] and not clean["duplicates"]
    assert forged["accepted"] == 0, "forged mail accepted: %d" % forged["accepted"]
    assert forged["refused_5xx"] == forged["sent"], forged
    # No bounce either: one to victim.test would wait in the queue (its host
    # takes no mail), and finish() waits for empty queues.


def mail_log(mail_host, since):
    return mail_host.check_output("journalctl -q -o cat --since=@%d -t postfix/smtpd" % int(since))


# --- the operator's own configuration -----------------------------------------


def test_the_operator_s_restriction_class_stays_beside_the_role_s_own():
    deb13 = host(MX["mx13"])
    classes = [c.strip() for c in deb13.check_output("postconf -h smtpd_restriction_classes").split(",")]
    assert "lab_operator" in classes and "forwarding_recipients" in classes, classes
    assert deb13.check_output("postconf -h lab_operator") == "reject_unverified_sender"
    assert "unused parameter" not in deb13.run("postconf -n").stderr


# --- restarts ----------------------------------------------------------------


def test_reload_and_restart_under_traffic_lose_nothing_and_refuse_only_with_4xx(capsys):
    streams = Streams("restart", rate=3.0)
    time.sleep(5)
    for step in ("postfix reload", "systemctl restart postfix", "postfix reload", "systemctl restart postfix"):
        for mail_host in mail_hosts():
            mail_host.check_output(step)
        time.sleep(4)
    time.sleep(4)
    counts = streams.finish(capsys)
    assert_nothing_lost(counts)
    for mail_host in mail_hosts():
        assert mail_host.run("postfix status").rc == 0


# --- DNS ---------------------------------------------------------------------


def test_without_dns_clean_mail_waits_with_4xx_and_forged_mail_is_still_refused(capsys):
    lab_dns = client()
    streams = Streams("dns")
    time.sleep(3)
    lab_dns.check_output("systemctl stop unbound")
    try:
        stopped = time.time()
        for label in MX:
            streams.wait_for("clean", label, lambda a: 400 <= a["code"] < 500, 40, stopped)
            streams.wait_for("forged", label, lambda a: 500 <= a["code"] < 600, 40, stopped)
        # Up, but answering SERVFAIL to everything.
        lab_dns.check_output("systemd-run --unit=dns-servfail /usr/bin/python3 /usr/local/lib/dns_servfail.py")
        failing = time.time()
        time.sleep(2)
        assert lab_dns.run("systemctl is-active dns-servfail").stdout.strip() == "active"
        for label in MX:
            streams.wait_for("clean", label, lambda a: 400 <= a["code"] < 500, 40, failing)
            streams.wait_for("forged", label, lambda a: 500 <= a["code"] < 600, 40, failing)
    finally:
        lab_dns.run("systemctl stop dns-servfail")
        lab_dns.check_output("systemctl start unbound")
    back = time.time()
    for label in MX:
        streams.wait_for("clean", label, lambda a: a["code"] == 250, 60, back)
    refusals = [a for a in streams.attempts("clean") if stopped < a["time"] < back and 400 <= a["code"] < 500]
    counts = streams.finish(capsys)
    with capsys.disabled():
        print("dns: clean tries refused while the DNS was down or failing: %s" % sorted(
            set("%d %s" % (a["code"], a["text"][:60]) for a in refusals)))
    assert_nothing_lost(counts)


# --- SPF policy server --------------------------------------------------------

HUNG_SPF = "printf '#!/bin/sh\\n# A policy server that takes the request and never answers.\\nexec sleep 600\\n'"


def test_a_hung_spf_server_delays_clean_mail_by_its_timeout_and_never_refuses_it(capsys):
    try:
        for mail_host in mail_hosts():
            # The running servers go too; spawn starts the hung one for the next client.
            mail_host.check_output("dpkg-divert --quiet --local --rename --add /usr/bin/policyd-spf && "
                                   "%s > /usr/bin/policyd-spf && chmod 0755 /usr/bin/policyd-spf && "
                                   "(pkill -f '^/usr/bin/python3 /usr/bin/policyd-spf' || true)" % HUNG_SPF)
        hung = time.time()
        started = time.monotonic()
        replies = probe(*CLEAN)
        waited = time.monotonic() - started
        streams = Streams("spf", rate=1.0, max_seconds=30)
        time.sleep(20)
    finally:
        for mail_host in mail_hosts():
            mail_host.check_output("if dpkg-divert --list /usr/bin/policyd-spf | grep -q local; then "
                                   "rm -f /usr/bin/policyd-spf && "
                                   "dpkg-divert --quiet --local --rename --remove /usr/bin/policyd-spf; fi && "
                                   "(pkill -f '^sleep 600' || true)")
    counts = streams.finish(capsys)
    with capsys.disabled():
        print("spf: one probe of both hosts while the server hung took %.1f s: %s" % (waited, replies))
    # harden_spf_timeout is 5s: smtpd asks twice, then the policy's default
    # action (DUNNO) lets the mail on; the probe asked both hosts in turn.
    assert all(reply["code"] == 250 for reply in replies.values()), replies
    assert 2 * 5 <= waited <= 2 * (2 * 5 + 5), "a hung server delayed both hosts by %.1f s" % waited
    for mail_host in mail_hosts():
        assert "problem talking to server private/policyd-spf: Connection timed out" in mail_log(mail_host, hung)
        assert mail_host.check_output("postconf -h policyd-spf_time_limit") == "3600s"
    assert_nothing_lost(counts)


# --- queue disk --------------------------------------------------------------


def _fill_queue_disk(mail_host):
    """Leave a few MB on the queue's file system, well below what smtpd wants (15 MB)."""
    free = int(mail_host.check_output("df -B1 --output=avail /var/spool/postfix | tail -1"))
    mail_host.check_output("head -c %d /dev/zero > /var/spool/postfix/fill" % (free - 6 * 1024 * 1024))


def test_a_full_queue_disk_gets_postfix_s_452_and_the_role_changes_nothing(capsys):
    before = dict((name, host(name).check_output(CHECKSUM)) for name in MX.values())
    streams = Streams("disk", rate=1.0)
    try:
        for mail_host in mail_hosts():
            _fill_queue_disk(mail_host)
        full = time.time()
        for label in MX:
            reply = streams.wait_for("clean", label, lambda a: a["code"] == 452, 30, full)
            assert "Insufficient system storage" in reply["text"]
        result = playbook("converge.yml", {"harden_extra_parameters": {"delay_warning_time": "4h"}})
        output = result.stdout + result.stderr
    finally:
        for mail_host in mail_hosts():
            mail_host.check_output("rm -f /var/spool/postfix/fill")
    freed = time.time()
    for label in MX:
        streams.wait_for("clean", label, lambda a: a["code"] == 250, 60, freed)
    counts = streams.finish(capsys)
    assert result.returncode != 0
    for name in MX.values():
        assert "Not changing Postfix on %s: the file system of /var/spool/postfix has" % name in output, output[-3000:]
        assert host(name).check_output(CHECKSUM) == before[name]
        assert host(name).run("postfix status").rc == 0
    assert_nothing_lost(counts)


# --- a blocklist gone bad ------------------------------------------------------


EVERYTHING = {"lab_dns_blocklists": [{"zone": "bl.lab.test", "kind": "everything"}]}


@pytest.fixture
def broken_blocklist():
    """The lab's blocklist answers "listed" for every name until the test ends."""
    result = playbook("lab-dns.yml", EVERYTHING)
    assert result.returncode == 0, result.stdout[-3000:]
    yield
    playbook("lab-dns.yml")
    for mail_host in mail_hosts():
        mail_host.run("postfix reload")


def test_a_blocklist_that_starts_listing_everything_is_reported_and_the_next_run_acts_as_configured(
        broken_blocklist, capsys):
    streams = Streams("blocklist", rate=1.0)
    # Each smtpd process keeps the blocklist answers it already had for as
    # long as it lives (up to max_idle or max_use): new processes see the change.
    for mail_host in mail_hosts():
        mail_host.check_output("postfix reload")
    # What an unwatched list does: every client refused for good.
    refused = probe(*CLEAN)
    assert all(reply["code"] == 554 and "bl.lab.test" in reply["text"] for reply in refused.values()), refused
    for mail_host in mail_hosts():
        run = mail_host.run("systemctl start mailguard-dnsbl-watch.service")
        assert run.rc != 0
        assert mail_host.check_output("systemctl show -p Result --value mailguard-dnsbl-watch.service") == "exit-code"
        journal = mail_host.check_output("journalctl -q -o cat -t mailguard-dnsbl-watch -p err")
        assert "Postfix uses bl.lab.test, which fails its health check" in journal, journal
        assert "lists 127.0.0.1" in journal, journal
    before = host(MX["mx13"]).check_output(CHECKSUM)
    result = playbook("converge.yml")
    output = result.stdout + result.stderr
    # Debian 12 (harden_dnsbl_unhealthy: leave_out) goes on without it,
    # Debian 13 (fail) stops before anything changes.
    deb12, deb13 = host(MX["mx12"]), host(MX["mx13"])
    assert "Leaving out unhealthy DNS blocklist(s) bl.lab.test" in output, output[-3000:]
    assert "bl.lab.test" not in deb12.check_output("postconf -h smtpd_recipient_restrictions")
    assert "Refusing to let Postfix on faults-deb13 use 2 unhealthy DNS blocklist(s)" in output, output[-3000:]
    assert deb13.check_output(CHECKSUM) == before
    after = probe(*CLEAN)
    ran = time.time()
    streams.wait_for("clean", "mx12", lambda a: a["code"] == 250, 30, ran)
    counts = streams.finish(capsys)
    with capsys.disabled():
        print("blocklist: clean probes while the list listed everything: %s; after the run: %s" % (
            json.dumps(refused, sort_keys=True), json.dumps(after, sort_keys=True)))
    assert after["mx12"]["code"] == 250, after
    assert after["mx13"]["code"] == 554, after
    # The watch on Debian 12 now asks only the lists Postfix still uses.
    assert deb12.run("systemctl start mailguard-dnsbl-watch.service").rc == 0
    # Clean mail refused for good only by the bad list, and nothing lost;
    # forged mail refused as always.
    clean_refusals = [a for a in streams.attempts("clean") if 500 <= a["code"] < 600]
    assert all(a["code"] == 554 and "bl.lab.test" in a["text"] for a in clean_refusals), clean_refusals[:3]
    assert not [a for a in clean_refusals if a["target"] == "mx12" and a["time"] > ran]
    assert not counts["clean"]["lost"] and not counts["forged"]["lost"]
    assert counts["forged"]["accepted"] == 0
