"""Run the backscatter lab's traffic from a verifier and return its record.

The two halves of scenario `backscatter` (stock/ in its prepare, tests/ in
its verify) send the same traffic
(backscatter-traffic.yml) and read it with backscatter_report.py; this
module is what their tests share to do so.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import uuid

SHARED = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(SHARED))

import backscatter_report  # noqa: E402  pylint: disable=wrong-import-position
import lab_hosts  # noqa: E402  pylint: disable=wrong-import-position

# The collection's own reading of Postfix's refusal texts (smtp_probe's).
sys.path.insert(0, str(SHARED.parents[1] / ".build" / "collections"))
from ansible_collections.mailguard.postfix.plugins.module_utils import smtp_session  # noqa: E402  pylint: disable=wrong-import-position


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


# --- what one SMTP request costs in DNS ---------------------------------------
#
# The lab DNS server logs every query with the address that asked (unbound's
# log-queries). A case is one SMTP session from a client container to a host
# under test, ended after RCPT so that nothing is delivered; the queries the
# host under test sent between two marker lookups of its own are the case's.

# (client, case, MAIL FROM, RCPT TO, check that must refuse it on a hardened host)
LOCAL_REFUSALS = [
    ("spammer", "bare_helo-unknown_user", "forged@victim.test", "nosuchuser@example.test", "helo_not_fqdn"),
    ("spammer", "bare_helo-forward", "forged@victim.test", "alice@example.test", "helo_not_fqdn"),
    ("spammer", "bare_helo-unknown_relay", "forged@victim.test", "nosuchuser@relay.test", "helo_not_fqdn"),
    ("legit", "unknown_user", "forged@victim.test", "nosuchuser@example.test", "local_recipient_table"),
    ("legit", "unknown_relay", "forged@victim.test", "nosuchuser@relay.test", "relay_recipient_table"),
    ("legit", "non_fqdn_sender", "forged@victim", "carol@example.test", "sender_not_fqdn"),
    ("legit", "own_domain_sender", "carol@example.test", "carol@example.test", "own_domain_sender"),
]
# Mail that passes every cheap check, so that its DNS checks run: it shows
# that the counting sees the queries a lookup makes.
CLEAN_REQUEST = ("legit", "clean-mailbox", "friend@legit.test", "carol@example.test", None)

_SMTP_REQUEST = r"""
import json, smtplib, sys
host, helo, sender, rcpt = sys.argv[1:5]
client = smtplib.SMTP(host, 25, timeout=60)
client.ehlo(helo)
stage, (code, text) = "mail", client.docmd("MAIL", "FROM:<%s>" % sender)
if code < 400:
    stage, (code, text) = "rcpt", client.docmd("RCPT", "TO:<%s>" % rcpt)
client.docmd("RSET")
client.quit()
print(json.dumps({"stage": stage, "code": code, "text": text.decode()}))
"""
_QUERY_LINE = re.compile(r"info: (\S+) (\S+) (\S+) IN\s*$")


def podman(*argv, stdin=None, check=True):
    done = subprocess.run(["podman"] + list(argv), input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)
    if check and done.returncode != 0:
        raise AssertionError("podman %s failed (%d): %s" % (" ".join(argv), done.returncode, done.stderr))
    return done


def address(container):
    return podman("inspect", "--format", "{{.NetworkSettings.IPAddress}}", container).stdout.strip()


def helo_name(client):
    # spammer says a bare word, as many spam bots do.
    return "spammer" if client == "spammer" else "%s.lab.test" % client


def smtp_request(prefix, client, mx, sender, rcpt):
    """One SMTP session from a client container; the reply to MAIL or RCPT."""
    done = podman("exec", "-i", prefix + client, "python3", "-", address(prefix + mx), helo_name(client),
                  sender, rcpt, stdin=_SMTP_REQUEST)
    return json.loads(done.stdout)


def _marker(prefix, mx):
    """A lookup the host under test sends itself, to find its place in the query log."""
    name = "mark-%s.lab.test" % uuid.uuid4().hex[:12]
    podman("exec", prefix + mx, "getent", "ahostsv4", name, check=False)
    return name


def _query_log(prefix, first, last):
    """Query lines (asker, name, type) between two marker names, once the second one is logged."""
    deadline = time.monotonic() + 20
    while True:
        lines = podman("exec", prefix + "ns", "journalctl", "-u", "unbound", "-o", "cat", "--no-pager",
                       "-n", "3000").stdout.splitlines()
        names = [(m.group(1), m.group(2), m.group(3)) for m in map(_QUERY_LINE.search, lines) if m]
        starts = [i for i, q in enumerate(names) if q[1].startswith(first + ".")]
        ends = [i for i, q in enumerate(names) if q[1].startswith(last + ".")]
        if starts and ends:
            return names[starts[0] + 1:ends[0]]
        if time.monotonic() > deadline:
            raise AssertionError("the lab DNS log does not show the markers %s and %s" % (first, last))
        time.sleep(0.5)


def dns_cost(prefix, mx, request):
    """Send one request and count the queries the host under test made for it.

    Returns the reply, its refusing check, and the queries split into the
    client name lookup smtpd makes at connect (the PTR of the client's
    address and the forward lookup of the name it gives) and all others.
    """
    client, case, sender, rcpt, _check = request
    mx_address = address(prefix + mx)
    client_address = address(prefix + client)
    reverse = ".".join(reversed(client_address.split("."))) + ".in-addr.arpa."
    client_name = "%s.lab.test." % client
    first = _marker(prefix, mx)
    reply = smtp_request(prefix, client, mx, sender, rcpt)
    last = _marker(prefix, mx)
    queries = [q for q in _query_log(prefix, first, last) if q[0] == mx_address]
    connect = [q for q in queries if (q[1] == reverse and q[2] == "PTR")
               or (q[1] == client_name and q[2] in ("A", "AAAA"))]
    other = [q for q in queries if q not in connect]
    return {
        "mx": mx, "client": client, "case": case,
        "reply": "%d %s" % (reply["code"], reply["text"]), "code": reply["code"], "stage": reply["stage"],
        "refused_by": smtp_session.refusing_check(reply["text"]) if reply["code"] >= 400 else None,
        "client_name_queries": len(connect),
        "other_queries": ["%s %s" % (name, kind) for _asker, name, kind in other],
    }


def dns_cost_table(rows, title):
    lines = [title, "%-4s %-8s %-24s %-5s %-22s %-8s %s" % (
        "host", "client", "case", "code", "refused by", "connect", "other queries")]
    for row in rows:
        lines.append("%-4s %-8s %-24s %-5s %-22s %-8d %d %s" % (
            row["mx"], row["client"], row["case"], row["code"], row["refused_by"] or "-",
            row["client_name_queries"], len(row["other_queries"]), " ".join(row["other_queries"])))
    return "\n".join(lines)


# --- delivery notices on request (DSN) -----------------------------------------
#
# A forged message to a real mailbox that asks for a success notice, sent
# as any client would: NOTIFY only where the server offers DSN in its EHLO
# reply. Where the server honours it, the notice goes to the forged sender's
# domain, victim.test.

_DSN_REQUEST = r"""
import json, smtplib, sys
host, helo, sender, rcpt, tag = sys.argv[1:6]
client = smtplib.SMTP(host, 25, timeout=60)
client.ehlo(helo)
offered = client.has_extn("dsn")
body = "From: <%s>\r\nTo: <%s>\r\nSubject: notify %s\r\n\r\nHi.\r\n" % (sender, rcpt, tag)
client.sendmail(sender, [rcpt], body, mail_options=["RET=HDRS"] if offered else [],
                rcpt_options=["NOTIFY=SUCCESS,DELAY"] if offered else [])
client.quit()
print(json.dumps({"dsn_offered": offered}))
"""


def _wait_for_empty_queue(container):
    deadline = time.monotonic() + 60
    podman("exec", container, "postqueue", "-f", check=False)
    while podman("exec", container, "postqueue", "-j").stdout.strip():
        if time.monotonic() > deadline:
            raise AssertionError("the queue of %s did not empty within 60 s" % container)
        time.sleep(0.5)


def forged_notify_request(prefix, mx, mailbox="carol@example.test", sender="forged@victim.test"):
    """Send a forged NOTIFY=SUCCESS message from legit to a real mailbox of mx.

    Returns whether mx offered DSN, whether the message reached the mailbox,
    and the notices about it that reached victim, once both queues are empty.
    """
    tag = "dsn-%s-%s" % (mx, uuid.uuid4().hex[:12])
    done = podman("exec", "-i", prefix + "legit", "python3", "-", address(prefix + mx), helo_name("legit"),
                  sender, mailbox, tag, stdin=_DSN_REQUEST)
    result = json.loads(done.stdout)
    _wait_for_empty_queue(prefix + mx)
    _wait_for_empty_queue(prefix + "victim")
    box = podman("exec", prefix + mx, "cat", "/var/mail/" + mailbox.split("@")[0], check=False).stdout
    sink = podman("exec", prefix + "victim", "cat", "/var/mail/sink", check=False).stdout
    result["delivered"] = any(tag in text for _sender, text in backscatter_report.split_mbox(box))
    result["notices"] = [text for sender_, text in backscatter_report.split_mbox(sink)
                         if sender_ == "MAILER-DAEMON" and tag in text]
    print("%s: DSN offered on port 25: %s; forged NOTIFY=SUCCESS message delivered: %s; "
          "notices to the forged sender: %d"
          % (mx, result["dsn_offered"], result["delivered"], len(result["notices"])))
    return result


def evidence_path(name):
    """A file beside the checkout where one scenario leaves its counts for the other to print."""
    root = pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", SHARED.parents[1]))
    path = root / ".build" / "lab-evidence" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def stop_dns(prefix):
    podman("exec", prefix + "ns", "systemctl", "stop", "unbound")


def start_dns(prefix, mx_hosts):
    """Start the lab DNS again and wait until the hosts under test resolve through it."""
    podman("exec", prefix + "ns", "systemctl", "start", "unbound")
    deadline = time.monotonic() + 30
    for mx in mx_hosts:
        while podman("exec", prefix + mx, "getent", "ahostsv4", "ns.lab.test", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError("%s does not resolve through the lab DNS after its restart" % mx)
            time.sleep(0.5)


# ansible_facts.postfix of a lab host, read with the collection's postfix_facts (the audit).
postfix_facts = lab_hosts.postfix_facts
