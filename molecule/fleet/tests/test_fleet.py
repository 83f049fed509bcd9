"""The fleet rollout (playbooks/harden.yml) under a steady stream of mail.

Converge and the idempotence run are the playbook itself. The tests then
run it again the way an operator does (ansible-playbook with extra vars):
once with a host that its pre-flight must refuse, once with a table that is
broken on one host so that the new configuration fails its post-check
there. The client's stream runs through all of it; the last test stops it
and counts every message at the mailboxes. The tests run in file order.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

import stream_counts  # noqa: E402  pylint: disable=wrong-import-position
from lab_hosts import address, host  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
SUMMARY = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "harden-summary" / "summary.json"

MX = ["fleet-mx1", "fleet-mx2", "fleet-mx3"]
CLIENT = "fleet-client"
CHECKSUM = "md5sum /etc/postfix/main.cf /etc/postfix/master.cf"
STREAM_LOG = "/var/log/mail-stream.jsonl"
# A restriction the new configuration adds, naming the operator's table.
SENDER_ACCESS = [{"stage": "sender", "entry": "check_sender_access hash:/etc/postfix/sender_access"}]


def rollout(**extra_vars):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = ["ansible-playbook", "-i", INVENTORY, str(SCENARIO_DIR / "converge.yml"),
               "-e", json.dumps(extra_vars)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    print(done.stdout[-6000:])
    return done


def summary():
    return json.loads(SUMMARY.read_text(encoding="utf-8"))


def statuses(report):
    return {name: entry["status"] for name, entry in report["hosts"].items()}


def checksums():
    return {name: host(name).check_output(CHECKSUM) for name in MX}


def client_probe(sender, recipient="stream@example.test"):
    targets = ["--target=%s=%s" % (name, address(name)) for name in MX]
    out = host(CLIENT).check_output(
        "python3 /usr/local/lib/mail_stream.py probe %s --sender=%s --recipient=%s --helo=client.lab.test"
        % (" ".join(targets), sender, recipient))
    return json.loads(out)


def stream_attempts():
    lines = host(CLIENT).check_output("cat %s" % STREAM_LOG).splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_rollout_hardened_every_host_and_the_second_run_changed_nothing():
    report = summary()
    # The idempotence run wrote this summary: it found nothing to change.
    assert report["phase"] == "rollout" and report["outcome"] == "complete"
    assert statuses(report) == {name: "unchanged" for name in MX}
    assert report["counts"]["unchanged"] == 3
    # One host asked the blocklists; the others used its verdicts.
    askers = [name for name, entry in report["hosts"].items() if entry["dnsbl"] == "asked the lists"]
    assert askers == ["fleet-mx1"], report["hosts"]
    assert all(entry["dnsbl"] == "reused the verdicts of this run"
               for name, entry in report["hosts"].items() if name != "fleet-mx1")
    markdown = SUMMARY.with_name("summary.md").read_text(encoding="utf-8")
    assert all(name in markdown for name in MX)


def test_every_host_refuses_what_it_took_before_the_rollout():
    stock = json.loads(host(CLIENT).check_output("cat /var/lib/mail-stream-stock-probe.json"))
    hardened = client_probe("forged")
    print("stock:", stock, "\nhardened:", hardened)
    for name in MX:
        # The twin: the same host before the rollout accepted it.
        assert stock[name]["stage"] == "rcpt" and stock[name]["code"] == 250
        assert hardened[name]["stage"] == "rcpt" and 500 <= hardened[name]["code"] < 600


def test_a_failed_preflight_stops_the_run_before_any_host_changes():
    mx3 = host("fleet-mx3")
    mx3.check_output("printf '@catchall.test stream\\n' > /etc/postfix/virtual && postmap /etc/postfix/virtual"
                     " && postconf -e virtual_alias_domains=catchall.test"
                     " virtual_alias_maps=hash:/etc/postfix/virtual && postfix reload")
    try:
        before = checksums()
        done = rollout(harden_custom_restrictions=SENDER_ACCESS)
        assert done.returncode != 0
        report = summary()
        assert report["phase"] == "pre-flight"
        assert statuses(report) == {"fleet-mx1": "skipped", "fleet-mx2": "skipped", "fleet-mx3": "failed"}
        assert "catch-all" in report["hosts"]["fleet-mx3"]["reason"]
        assert "fleet-mx3" in report["hosts"]["fleet-mx1"]["reason"]
        assert "no host was changed" in done.stdout
        assert checksums() == before
    finally:
        mx3.check_output("postconf -X virtual_alias_domains virtual_alias_maps && postfix reload")


def test_a_table_that_does_not_exist_stops_the_preflight_on_every_host():
    before = checksums()
    done = rollout(harden_custom_restrictions=[
        {"stage": "sender", "entry": "check_sender_access hash:$config_directory/no_such_table"}])
    assert done.returncode != 0
    report = summary()
    assert report["phase"] == "pre-flight"
    assert statuses(report) == {name: "failed" for name in MX}
    for entry in report["hosts"].values():
        assert "/etc/postfix/no_such_table does not exist" in entry["reason"], entry
    assert checksums() == before


def test_a_broken_table_restores_its_host_and_stops_the_rollout():
    mx2 = host("fleet-mx2")
    # The compiled table is damaged on this host only: smtpd cannot open it
    # and answers 451 to every client once the new lists name it.
    mx2.check_output("head -c 4096 /dev/zero | tr '\\0' x > /etc/postfix/sender_access.db")
    try:
        before = checksums()
        done = rollout(harden_custom_restrictions=SENDER_ACCESS)
        finished = time.time()
        assert done.returncode != 0
        report = summary()
        print(json.dumps(report, indent=2, sort_keys=True))
        assert report["phase"] == "rollout"
        assert statuses(report) == {"fleet-mx1": "changed", "fleet-mx2": "restored", "fleet-mx3": "skipped"}
        assert report["outcome"].startswith("stopped: fleet-mx2 failed")
        reason = report["hosts"]["fleet-mx2"]["reason"]
        assert "clean_message" in reason and re.search(r"\b4\d\d\b", reason), reason
        assert "not touched" in report["hosts"]["fleet-mx3"]["reason"]
        # The probes went to the address the role chose, and it said why.
        assert re.search(r"Probing fleet-mx1 at %s:25 from fleet-client \(the default address in its facts"
                         % re.escape(address("fleet-mx1")), re.sub(r"\s+", " ", done.stdout)), done.stdout[-3000:]
        after = checksums()
        assert after["fleet-mx1"] != before["fleet-mx1"]
        assert after["fleet-mx2"] == before["fleet-mx2"]
        assert after["fleet-mx3"] == before["fleet-mx3"]
        assert mx2.run("postfix status").rc == 0
        # The restored host takes the stream's mail again.
        deadline = time.time() + 60
        while time.time() < deadline:
            if any(a["target"] == "mx2" and a["code"] == 250 and a["time"] > finished for a in stream_attempts()):
                break
            time.sleep(2)
        else:
            raise AssertionError("fleet-mx2 accepted no stream message within 60 s after it was restored")
    finally:
        mx2.check_output("postmap hash:/etc/postfix/sender_access")


def test_no_message_of_the_stream_was_lost(capsys):
    client = host(CLIENT)
    client.check_output("systemctl stop mail-stream")
    mail_hosts = [host(name) for name in MX]
    stream_counts.wait_for_empty_queues(mail_hosts)
    records = stream_attempts()
    attempts = [a for a in records if a["event"] == "attempt"]
    stopped = [a for a in records if a["event"] == "stopped"]
    assert stopped, "the stream wrote no final record"
    counts = stream_counts.count(attempts, stopped[-1], stream_counts.delivered_ids(mail_hosts, "/var/mail/stream"))
    per_target = counts["accepted_by_target"]
    # Straight to the terminal, passed or not: the counts are the result.
    with capsys.disabled():
        print("\n" + stream_counts.line("stream", counts))
        print("stream: accepted per host: %s" % json.dumps(per_target, sort_keys=True))
    assert counts["sent"] > 100 and all(per_target.get(t, 0) > 0 for t in ("mx1", "mx2", "mx3")), per_target
    assert not counts["refused_5xx"], "legitimate mail refused with a 5xx: %s" % counts["tries_by_code"]
    assert all(code.startswith("4") or code == "no reply" for code in counts["tries_by_code"]), counts["tries_by_code"]
    assert not counts["never_accepted"], "messages never accepted: %s" % counts["never_accepted"][:5]
    assert not counts["lost"], "accepted but not delivered: %s" % counts["lost"][:5]
