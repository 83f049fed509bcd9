"""Run the backscatter lab's traffic from a verifier and return its record.

The scenarios `backscatter` and `baseline` send the same traffic
(backscatter-traffic.yml) and read it with backscatter_report.py; this
module is what their tests share to do so.
"""

import os
import pathlib
import subprocess
import sys
import uuid

SHARED = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(SHARED))

import backscatter_report  # noqa: E402  pylint: disable=wrong-import-position


def send_traffic(prefix):
    """Send the lab's traffic to mx1 and return the record, parsed into rows."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    ephemeral = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    run = uuid.uuid4().hex[:12]
    record = ephemeral / ("traffic-%s.json" % run)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = ["ansible-playbook", "-i", inventory, str(SHARED / "backscatter-traffic.yml"),
               "-e", "lab_prefix=%s" % prefix, "-e", "lab_run_id=%s" % run,
               "-e", "lab_traffic_record=%s" % record]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, "the lab traffic did not run:\n%s\n%s" % (done.stdout[-4000:], done.stderr[-2000:])
    data = backscatter_report.load(str(record))
    # Print the table, so a verifier log shows what happened to each message.
    print(backscatter_report.table(data))
    return data


# Where each clean message from legit must end up; {mx} is the host it was sent to.
MX = ["mx1", "mx2"]
CLEAN_MAIL = [
    ("clean-mailbox", "{mx}:carol"),
    ("clean-forward", "ext:bob"),
    ("clean-virtual_alias", "ext:dan"),
    ("clean-known_relay", "ext:known"),
]


def assert_clean_mail_delivered(record, mx, case, mailbox):
    result = rows_by_case(record)[(mx, "legit", case)]
    assert result["outcome"] == "accepted", result
    assert result["delivered"] == [mailbox.format(mx=mx)], result


def rows_by_case(record):
    return dict(((r["mx"], r["client"], r["case"]), r) for r in backscatter_report.rows(record))


bounces_to_victim = backscatter_report.bounces_to_victim
queued_bounces = backscatter_report.queued_bounces
