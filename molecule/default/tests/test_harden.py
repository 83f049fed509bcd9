"""What the harden role promises, proved by speaking SMTP from outside.

The probes run on the controller, a client with a published reverse name and
a fully qualified HELO, and connect to each container by its address. Each
probe that checks a weakness also runs against the stock twin of the same
release, which must show the weakness wherever stock Postfix has it; where
stock Postfix is already safe the twin says so.
"""

import json
import os
import pathlib
import re
import shlex
import smtplib
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

from lab_hosts import address, host, postfix_facts  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
EPHEMERAL_DIR = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])

RELEASES = ["deb12", "deb13"]
DOMAIN = "example.test"
FORGED_SENDER = "forged@victim.test"
PROBE_HELO = "prober.lab.test"
CHECKSUM = "md5sum /etc/postfix/main.cf /etc/postfix/master.cf"


def session(name, mail_from, rcpt_to, helo=PROBE_HELO, data=None, port=25):
    """One SMTP session; returns the replies by stage. Addresses go out verbatim."""
    replies = {}
    client = smtplib.SMTP(timeout=20)
    try:
        replies["connect"] = client.connect(address(name), port)
        replies["helo"] = client.ehlo(helo)
        replies["mail"] = client.docmd("MAIL", "FROM:<%s>" % mail_from)
        replies["rcpt"] = client.docmd("RCPT", "TO:<%s>" % rcpt_to)
        if data is not None and replies["rcpt"][0] < 400:
            replies["data"] = client.data(data)
        else:
            client.rset()
    finally:
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()
    return replies


def refusal(replies):
    """(stage, code, text) of the first 4xx/5xx reply, or None when all were accepted."""
    for stage in ("connect", "helo", "mail", "rcpt", "data"):
        if stage in replies and replies[stage][0] >= 400:
            return stage, replies[stage][0], replies[stage][1].decode()
    return None


def hardened(release):
    return "harden-%s" % release


def stock(release):
    return "twin-%s" % release


@pytest.mark.parametrize("release", RELEASES)
def test_forged_sender_to_unknown_local_recipient_is_rejected_at_rcpt_with_5xx(release):
    rcpt = "nobody-%s@%s" % (uuid.uuid4().hex[:8], DOMAIN)
    stage, code, text = refusal(session(hardened(release), FORGED_SENDER, rcpt))
    assert (stage, code // 100) == ("rcpt", 5), text
    assert "User unknown" in text
    # Stock Debian already refuses unknown local users; relay domains are
    # where it accepts them (next test).
    assert refusal(session(stock(release), FORGED_SENDER, rcpt))[:2] == ("rcpt", 550)


@pytest.mark.parametrize("release", RELEASES)
def test_forged_sender_to_unknown_relay_recipient_is_rejected_at_rcpt(release):
    rcpt = "nobody-%s@relay.test" % uuid.uuid4().hex[:8]
    stage, code, text = refusal(session(hardened(release), FORGED_SENDER, rcpt))
    assert (stage, code // 100) == ("rcpt", 5), text
    # The twin: stock Postfix with relay_domains and no relay_recipient_maps
    # accepts any recipient, and bounces later (backscatter).
    assert refusal(session(stock(release), FORGED_SENDER, rcpt)) is None


RELAY_FORMS = [
    "relaytest@remote.test",
    "relaytest%remote.test@example.test",
    "remote.test!relaytest@example.test",
    "@example.test:relaytest@remote.test",
    '"relaytest@remote.test"@example.test',
]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("rcpt", RELAY_FORMS)
def test_relay_attempts_are_rejected_with_5xx(release, rcpt):
    stage, code, text = refusal(session(hardened(release), FORGED_SENDER, rcpt))
    assert (stage, code // 100) == ("rcpt", 5), text
    # Stock Debian refuses relaying too, but with a 4xx (defer_unauth_destination):
    # the client is invited to retry.
    assert refusal(session(stock(release), FORGED_SENDER, rcpt))[:2] == ("rcpt", 454)


@pytest.mark.parametrize("release", RELEASES)
def test_own_domain_as_sender_from_unauthenticated_client_is_rejected(release):
    stage, code, text = refusal(session(hardened(release), "postmaster@%s" % DOMAIN, "carol@%s" % DOMAIN))
    assert (stage, code // 100) == ("rcpt", 5), text
    assert refusal(session(stock(release), "postmaster@%s" % DOMAIN, "carol@%s" % DOMAIN)) is None


@pytest.mark.parametrize("release", RELEASES)
def test_non_fqdn_helo_is_rejected(release):
    stage, code, text = refusal(session(hardened(release), FORGED_SENDER, "carol@%s" % DOMAIN, helo="mailhost"))
    assert (stage, code // 100) == ("rcpt", 5), text
    assert "Helo command rejected" in text
    assert refusal(session(stock(release), FORGED_SENDER, "carol@%s" % DOMAIN, helo="mailhost")) is None


@pytest.mark.parametrize("release", RELEASES)
def test_legitimate_mail_to_a_local_user_reaches_the_mailbox(release):
    subject = "mailguard legit %s" % uuid.uuid4().hex
    body = "From: <friend@victim.test>\r\nTo: <carol@%s>\r\nSubject: %s\r\n\r\nhello\r\n" % (DOMAIN, subject)
    replies = session(hardened(release), "friend@victim.test", "carol@%s" % DOMAIN, data=body)
    assert refusal(replies) is None, replies
    mailbox = host(hardened(release))
    for _attempt in range(30):
        if mailbox.file("/var/mail/carol").exists and subject in mailbox.file("/var/mail/carol").content_string:
            break
        time.sleep(1)
    assert subject in mailbox.file("/var/mail/carol").content_string


@pytest.mark.parametrize("release", RELEASES)
def test_postfix_check_is_clean_and_postfix_runs(release):
    target = host(hardened(release))
    check = target.run("postfix check")
    assert check.rc == 0 and check.stderr == ""
    assert target.run("postfix status").rc == 0


@pytest.mark.parametrize("release", RELEASES)
def test_no_bounce_waits_in_the_queue(release):
    queue = host(hardened(release)).check_output("postqueue -j")
    senders = [json.loads(line)["sender"] for line in queue.splitlines() if line.strip()]
    assert "MAILER-DAEMON" not in senders and "" not in senders


def _playbook(extra_args, hosts):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = ["ansible-playbook", "-i", INVENTORY, "-l", ",".join(hosts),
               str(SCENARIO_DIR / "converge-any.yml")] + extra_args
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def _checksums(names):
    return {name: host(name).check_output(CHECKSUM) for name in names}


def test_check_mode_on_an_unhardened_host_lists_changes_and_changes_nothing():
    twins = [stock(r) for r in RELEASES]
    before = _checksums(twins)
    # With submission and postscreen on as well: the Debian 12 twin gets an
    # operator's submission service first, not chrooted (no reload; the line
    # goes again below), the Debian 13 twin has none.
    operator = host(stock("deb12"))
    operator.check_output("postconf -M 'submission/inet=submission inet n - n - - smtpd "
                          "-o syslog_name=postfix/submission'")
    try:
        during = _checksums(twins)
        result = _playbook(["--check", "--diff", "-e", json.dumps({"harden_submission": SUBMISSION,
                                                                   "harden_postscreen": True})], twins)
        after = _checksums(twins)
    finally:
        operator.check_output("postconf -MX submission/inet")
    assert after == during
    assert _checksums(twins) == before
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for release in RELEASES:
        recap = [line for line in result.stdout.splitlines() if line.startswith(stock(release) + " ")]
        assert recap and "changed=0" not in recap[0], recap
    assert "+smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" \
        in result.stdout
    diffs = _diffs_by_host(result.stdout, "Set the main.cf parameters and master.cf services")
    # The existing submission service would get the overrides, and keep its
    # own master.cf fields (chroot n) and its other override.
    kept = diffs[stock("deb12")]
    assert "\n submission inet n - n - - smtpd\n   -o syslog_name=postfix/submission\n" in kept, kept
    assert "+  -o smtpd_sasl_auth_enable=yes" in kept and "+submission" not in kept, kept
    # A new one would get Debian's fields.
    added = diffs[stock("deb13")]
    assert "+submission inet n - y - - smtpd\n+  -o smtpd_tls_security_level=encrypt" in added, added
    # postscreen would take port 25, with Debian's lines for its helpers;
    # nothing is recorded, since nothing was changed.
    for release in RELEASES:
        diff = diffs[stock(release)]
        assert "-smtp inet n - y - - smtpd\n" in diff and "+smtp inet n - y - 1 postscreen\n" in diff, diff
        assert "+smtpd pass - - y - - smtpd\n" in diff, diff
        assert not host(stock(release)).file("/var/lib/mailguard-postfix").exists
    for release in RELEASES:
        assert host(stock(release)).run("postfix status").rc == 0


# Only "enabled": the role fills in the other submission settings.
SUBMISSION = {"enabled": True}


def _diffs_by_host(output, task):
    """The --diff text each host printed for one task, by host name."""
    chunk = output.split("TASK [mailguard.postfix.harden : %s]" % task, 1)[1].split("\nTASK [", 1)[0]
    diffs, lines = {}, []
    for line in chunk.splitlines():
        match = re.match(r"^(?:changed|ok): \[([^\]]+)\]", line)
        if match:
            diffs[match.group(1)] = "\n".join(lines)
            lines = []
        else:
            lines.append(line)
    return diffs


@pytest.mark.parametrize("bad_vars, expected", [
    ({"harden_extra_parameters": {"smtpd_helo_required": "maybe"}}, "smtpd_helo_required: expected yes or no"),
    ({"harden_dnsbls": [{"name": "zen.spamhaus.org"}]}, "zen.spamhaus.org"),
    ({"harden_custom_restrictions": [{"stage": "recipient", "entry": "reject_unknwon_sender_domain"}]},
     "reject_unknwon_sender_domain"),
    # A table the lists would name that is missing: smtpd would answer 451
    # to every relay recipient. texthash: is its own type, not hash:, and
    # $config_directory is expanded as Postfix does.
    ({"harden_relay_recipient_maps": "texthash:$config_directory/no_such_relay_recipients"},
     "/etc/postfix/no_such_relay_recipients does not exist"),
])
def test_invalid_input_fails_clearly_and_leaves_the_live_config_untouched(bad_vars, expected):
    names = [hardened(r) for r in RELEASES]
    before = _checksums(names)
    result = _playbook(["-e", json.dumps(bad_vars)], names)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert expected in output, output[-3000:]
    assert _checksums(names) == before
    for name in names:
        assert host(name).run("postfix status").rc == 0


def test_failed_verification_restores_the_previous_configuration():
    # A change (the baseline profile) whose verification cannot succeed
    # (nothing listens on port 2526): the role must put the previous files
    # back, leave Postfix running, and fail the host saying so.
    names = [hardened(r) for r in RELEASES]
    before = _checksums(names)
    result = _playbook(["-e", json.dumps({"harden_profile": "baseline", "harden_verify_port": 2526})], names)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "The previous main.cf and master.cf were restored" in output, output[-3000:]
    assert _checksums(names) == before
    for name in names:
        assert host(name).run("postfix status").rc == 0
        assert refusal(session(name, FORGED_SENDER, "relaytest@remote.test"))[:2] == ("rcpt", 554)


# Runs on the lab DNS host: postscreen remembers clients that passed its
# tests, and the controller has passed them during the other probes. The
# same host is listed in the lab blocklist bl.lab.test.
EARLY_TALKER = r"""
import socket, sys
sock = socket.create_connection((sys.argv[1], 25), timeout=30)
reader = sock.makefile("rb")
early = sys.argv[2] == "early"
commands = [b"MAIL FROM:<friend@victim.test>", b"RCPT TO:<carol@example.test>"]
def reply():
    line = reader.readline()
    if not line:
        print("disconnected")
        sys.exit(0)
    return line
if early:
    # EHLO and MAIL in one write, at once after connecting: the data is there
    # before the greeting whether or not the server greets quickly, and MAIL
    # follows EHLO without waiting for its reply either way.
    sock.sendall(b"EHLO early.lab.test\r\n" + commands.pop(0) + b"\r\n")
else:
    while not reply().startswith(b"220 "):
        pass
    sock.sendall(b"EHLO early.lab.test\r\n")
while not reply().startswith(b"250 "):
    pass
line = reply() if early else b""
for command in commands:
    sock.sendall(command + b"\r\n")
    line = reply()
sock.sendall(b"QUIT\r\n")
print(line.decode().strip())
"""


def _session_from(source, name, early=False):
    """An SMTP session from another lab host; returns the RCPT reply.

    With ``early`` it says EHLO before the server's greeting, as spamware does.
    """
    return host(source).check_output("python3 -c %s %s %s" % (
        shlex.quote(EARLY_TALKER), address(name), "early" if early else "polite"))


def _from_listed_host(name):
    return _session_from("harden-ns", name)


def _early_talker(name, source="harden-ns"):
    return _session_from(source, name, early=True)


def test_postscreen_refuses_a_client_that_talks_before_the_greeting():
    assert "postscreen" in host("harden-deb13").check_output("postconf -M smtp/inet")
    # From a host on no blocklist, so that the pregreet test alone decides.
    assert _early_talker("harden-deb13", source="twin-deb12").startswith("550 5.5.1")


def test_without_postscreen_an_early_talker_is_hung_up_on():
    # The role turns on smtpd_forbid_unauth_pipelining where Postfix 3.7
    # leaves it off: smtpd hangs up on a client that talks first.
    assert _early_talker("harden-deb12") == "disconnected"
    # Stock Debian 12 (Postfix 3.7) serves such a client like anyone else;
    # stock Debian 13 (3.10) already hangs up, its default since 3.9.
    assert _early_talker("twin-deb12").startswith("250")
    assert _early_talker("twin-deb13") == "disconnected"


def test_a_client_on_the_blocklist_is_refused_with_the_lists_reply_filter():
    # smtpd on Debian 12 queries bl.lab.test=127.0.0.2 after the cheap checks.
    reply = _from_listed_host("harden-deb12")
    assert reply.startswith("554") and "bl.lab.test" in reply, reply
    # postscreen on Debian 13 scores the same list (weight 1 reaches the
    # threshold) before any smtpd process is spent on the client.
    reply = _from_listed_host("harden-deb13")
    assert reply.startswith("550 5.7.1") and "blocked using bl.lab.test" in reply, reply
    # Stock Postfix asks no blocklist.
    assert _from_listed_host("twin-deb12").startswith("250")


def test_a_service_whose_overrides_open_relaying_is_closed():
    # Prepare gave Debian 13 and its twin a second smtpd on port 2525 with
    # "-o mynetworks=0.0.0.0/0": every client passes permit_mynetworks.
    rcpt = "relaytest@remote.test"
    # The twin is an open relay on that port: anyone's mail to any domain is taken.
    assert refusal(session(stock("deb13"), FORGED_SENDER, rcpt, port=2525)) is None
    # The audit names the service, so the role knows what to take away.
    findings = postfix_facts(stock("deb13"))["findings"]
    assert any(f["service"] == "2525/inet" and f["category"] == "relay" and f["severity"] == "critical"
               for f in findings), findings
    # Hardened: the service lost the overrides that opened it and falls back
    # to main.cf's computed lists, which refuse with a 5xx.
    stage, code, text = refusal(session(hardened("deb13"), FORGED_SENDER, rcpt, port=2525))
    assert (stage, code // 100) == ("rcpt", 5), text
    assert "Relay access denied" in text
    # Its other override stays: only what opened the relay was dropped.
    overrides = host(hardened("deb13")).check_output("postconf -P 2525/inet")
    assert "syslog_name = postfix/open" in overrides
    assert "mynetworks" not in overrides


def test_postfix_missing_is_installed_non_interactively():
    # Prepare left Debian 12 without Postfix; the role installed it with the
    # two debconf answers preseeded, so the stock setup it then hardened is
    # Debian's "Internet Site" for the given mail name.
    target = host(hardened("deb12"))
    assert target.package("postfix").is_installed
    debconf = target.check_output("debconf-show postfix")
    assert "postfix/main_mailer_type: Internet Site" in debconf
    assert "postfix/mailname: example.test" in debconf
    assert target.file("/etc/mailname").content_string.strip() == "example.test"
    assert "example.test" in target.check_output("postconf -h mydestination")


def test_check_mode_without_postfix_says_it_would_install_and_changes_nothing():
    # The lab DNS host has no Postfix.
    target = host("harden-ns")
    assert not target.package("postfix").is_installed
    # A mail name other software left: the install would keep it rather
    # than take the inventory name (harden_mailname is not set for this host).
    target.check_output("echo ns-mail.lab.test > /etc/mailname")
    try:
        result = _playbook(["--check", "--diff"], ["harden-ns"])
    finally:
        target.check_output("rm -f /etc/mailname")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Postfix is not installed on harden-ns: a real run would install it" in output
    assert "mail name ns-mail.lab.test) and then harden it" in output, output[-3000:]
    assert not target.package("postfix").is_installed
    assert not target.file("/etc/postfix").exists
    assert "postfix/mailname" not in target.run("debconf-show postfix").stdout


def _postscreen_state(name):
    target = host(name)
    return {
        "port25": target.check_output("postconf -M smtp/inet").split(),
        "added": target.check_output("postconf -M smtpd/pass dnsblog/unix tlsproxy/unix"),
        "parameters": [line for line in target.check_output("postconf -n").splitlines()
                       if line.startswith("postscreen_")],
        "record": target.file("/var/lib/mailguard-postfix/harden-postscreen.json").exists,
    }


def test_postscreen_off_keeps_an_smtpd_the_operator_put_back_on_port_25_by_hand():
    # The role's record still says what postscreen replaced, but the operator
    # has since put an smtpd of their own on port 25: that entry stays, and
    # only what the role added for postscreen goes.
    name = hardened("deb13")
    target = host(name)
    record = "/var/lib/mailguard-postfix/harden-postscreen.json"
    saved = "/root/before-operator-smtpd"
    target.check_output("mkdir -p %s && cp -p /etc/postfix/main.cf /etc/postfix/master.cf %s %s" % (saved, record, saved))
    try:
        target.check_output("postconf -M 'smtp/inet=smtp inet n - y - 20 smtpd -o syslog_name=postfix/operator' "
                            "&& postfix reload")
        result = _playbook(["-e", json.dumps({"harden_postscreen": False})], [name])
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        off = _postscreen_state(name)
        assert off["port25"][:8] == ["smtp", "inet", "n", "-", "y", "-", "20", "smtpd"], off
        assert "syslog_name=postfix/operator" in " ".join(off["port25"]), off
        assert off["added"] == "" and off["parameters"] == [] and not off["record"], off
        assert target.run("postfix status").rc == 0
    finally:
        target.check_output("cp -p %s/main.cf %s/master.cf /etc/postfix/ && cp -p %s/%s %s && postfix reload" % (
            saved, saved, saved, record.rsplit("/", 1)[1], record))


# Last in this file: it switches postscreen on Debian 13 off and on again, and
# leaves the host as the scenario converged it.
def test_postscreen_turned_off_again_restores_smtpd_on_port_25():
    name = hardened("deb13")
    target = host(name)
    record = "/var/lib/mailguard-postfix/harden-postscreen.json"
    converged = _postscreen_state(name)
    assert converged["port25"][-1] == "postscreen" and converged["record"]
    assert _early_talker(name, source="twin-deb12").startswith("550 5.5.1")

    # Without the record the postscreen looks like one an operator set up
    # before the role: harden_postscreen false leaves it alone.
    target.check_output("mv %s %s.aside" % (record, record))
    try:
        result = _playbook(["-e", json.dumps({"harden_postscreen": False})], [name])
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "this role did not put it there" in result.stdout
        assert _postscreen_state(name)["port25"][-1] == "postscreen"
    finally:
        target.check_output("mv %s.aside %s" % (record, record))

    # With the record: smtpd again on port 25, as Debian had it, and the
    # services and parameters the role added are gone.
    result = _playbook(["-e", json.dumps({"harden_postscreen": False})], [name])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    off = _postscreen_state(name)
    # The smtpd on port 25 keeps DSN to itself (harden_port25_dsn false).
    assert off["port25"] == ["smtp", "inet", "n", "-", "y", "-", "-", "smtpd",
                             "-o", "smtpd_discard_ehlo_keywords=silent-discard,dsn"]
    assert off["added"] == "" and off["parameters"] == [] and not off["record"]
    # smtpd, not postscreen, answers now: an early talker is hung up on
    # (smtpd_forbid_unauth_pipelining) instead of refused with postscreen's
    # 550 5.5.1, the listed host is refused by smtpd's own blocklist check
    # (554) instead of postscreen's 550, and a polite client's mail goes in.
    assert _early_talker(name, source="twin-deb12") == "disconnected"
    reply = _from_listed_host(name)
    assert reply.startswith("554") and "bl.lab.test" in reply, reply
    body = "From: <friend@victim.test>\r\nTo: <carol@%s>\r\nSubject: after postscreen\r\n\r\nhi\r\n" % DOMAIN
    assert refusal(session(name, "friend@victim.test", "carol@%s" % DOMAIN, data=body)) is None

    # And on again, as the scenario converged it.
    result = _playbook([], [name])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert _postscreen_state(name) == converged
    assert _early_talker(name, source="twin-deb12").startswith("550 5.5.1")
