"""What the policy_service and rate_limits roles, and harden's submission, promise, proved over SMTP.

The probes run on the controller and speak to each container by its address:
submission on port 587 with STARTTLS and AUTH, and plain SMTP on port 25.
The stock twin has the same SASL users on a submission port switched on the
quick way (AUTH, no TLS requirement, no quota, no anvil limit, any user may
send as anyone) and SASL on in main.cf, so port 25 offers AUTH too; it must
show each weakness the hardened hosts close, or the test says why stock
behaves the same. Debian 12 fails open and keeps the counters over restarts;
Debian 13 fails closed and does not keep them (see molecule.yml).

The tests run in file order: the quota test uses up u1's hourly quota, which
the later tests rely on; the port 25 test runs before anvil's burst uses up
port 25's connection rate, the password guessing test after every other
login.
"""

import base64
import email.utils
import json
import os
import pathlib
import smtplib
import ssl
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

from lab_hosts import address, host, postfix_facts  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])

RELEASES = ["deb12", "deb13"]
TWIN = "ratelimit-twin"
DOMAIN = "example.test"
MAILBOX = "carol@example.test"
PASSWORDS = {"u1": "u1-lab-secret", "u2": "u2-lab-secret"}
U1_HOURLY = 5
PROBE_HELO = "prober.lab.test"
CHECKSUM = "md5sum /etc/postfix/main.cf /etc/postfix/master.cf /etc/postfix/postfwd.cf /etc/default/postfwd"
FAIL_CLOSED = {"deb12": False, "deb13": True}
KEEPS_COUNTERS = {"deb12": True, "deb13": False}


def limited(release):
    return "ratelimit-%s" % release


def _tls():
    context = ssl.create_default_context()
    # The lab's certificate is Debian's self-signed snakeoil one.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _session(name, port=587, starttls=True):
    """An SMTP session from the prober to ``name``, after EHLO (and STARTTLS, EHLO again)."""
    client = smtplib.SMTP(address(name), port, local_hostname=PROBE_HELO, timeout=30)
    client.ehlo()
    if starttls:
        client.starttls(context=_tls())
        client.ehlo()
    return client


class Submission(object):
    """One authenticated session on port 587 after STARTTLS."""

    def __init__(self, name, user, password=None):
        self.client = _session(name)
        self.client.login(user, password or PASSWORDS[user])
        self.user = user

    def send(self, rcpt, tag):
        """MAIL, RCPT, DATA; returns (stage, code, text) of the last reply."""
        code, text = self.client.mail("%s@%s" % (self.user, DOMAIN))
        if code >= 400:
            return "mail", code, text.decode()
        code, text = self.client.rcpt(rcpt)
        if code >= 400:
            self.client.rset()
            return "rcpt", code, text.decode()
        body = ("From: <%s@%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nSubject: %s\r\n\r\nquota test\r\n"
                % (self.user, DOMAIN, rcpt, email.utils.formatdate(), uuid.uuid4().hex, DOMAIN, tag))
        try:
            code, text = self.client.data(body)
        except smtplib.SMTPDataError as exc:
            return "data", exc.smtp_code, exc.smtp_error.decode()
        return "end_of_data", code, text.decode()

    def close(self):
        try:
            self.client.quit()
        except smtplib.SMTPException:
            self.client.close()


def send_many(name, user, count, tag):
    session = Submission(name, user)
    try:
        return [session.send(MAILBOX, tag) for _index in range(count)]
    finally:
        session.close()


def delivered(name, tag, expected):
    """Messages with ``tag`` in carol's mailbox, after waiting (at most a minute) for ``expected``."""
    count = host(name).check_output(
        "for i in $(seq 60); do n=$(grep -c '^Subject: %s$' /var/mail/carol 2>/dev/null); "
        "[ \"${n:-0}\" -ge %d ] && break; sleep 1; done; "
        "grep -c '^Subject: %s$' /var/mail/carol 2>/dev/null || true" % (tag, expected, tag))
    return int(count.strip() or 0)


def postfwd(name, action):
    host(name).run_expect([0], "systemctl %s postfwd" % action)
    if action != "stop":
        host(name).run_expect([0], "for i in $(seq 50); do "
                                   "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 10040), 1)' "
                                   "2>/dev/null && exit 0; sleep 0.2; done; exit 1")


def tag():
    return "mailguard-%s" % uuid.uuid4().hex


# --- the hook ------------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_the_policy_hook_sits_at_end_of_data_with_timeout_and_default_action(release):
    target = host(limited(release))
    value = target.check_output("postconf -h smtpd_end_of_data_restrictions")
    assert value.startswith("check_policy_service { inet:127.0.0.1:10040, timeout=10s, ")
    if FAIL_CLOSED[release]:
        assert "default_action=451 4.3.5 Sending quota service unavailable" in value
    else:
        assert "default_action=DUNNO" in value
    # Submission inherits main.cf's end-of-data list: no override shadows it.
    assert "smtpd_end_of_data_restrictions" not in target.check_output("postconf -P submission/inet")


@pytest.mark.parametrize("release", RELEASES)
def test_postfwd_runs_unprivileged_on_loopback_only(release):
    target = host(limited(release))
    processes = target.check_output("ps -eo user=,args= | grep '[p]ostfwd' || true")
    assert "postfwd2::policy" in processes and "postfwd2::cache" in processes, processes
    assert all(line.split()[0] == "postfw" for line in processes.splitlines()), processes
    listening = target.check_output("ss -Hltn 'sport = :10040'")
    assert listening and all("127.0.0.1:10040" in line for line in listening.splitlines()), listening


# --- per-user quotas -------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_u1_gets_exactly_its_hourly_quota_then_a_4xx_at_end_of_data_naming_it(release):
    name = limited(release)
    # Start from a clean count, so that a second verify run proves the same.
    postfwd(name, "stop")
    host(name).run_expect([0], "rm -f /var/lib/mailguard-postfwd/rates")
    postfwd(name, "start")
    label = tag()
    results = send_many(name, "u1", U1_HOURLY + 1, label)
    accepted = [r for r in results if r[1] == 250]
    assert len(accepted) == U1_HOURLY, results
    stage, code, text = results[-1]
    assert (stage, code) == ("end_of_data", 450), results[-1]
    assert "messages_per_hour quota of 5 messages per hour exceeded for u1" in text
    # The twin: plain submission accepts u1's sixth message too.
    twin_label = tag()
    twin = send_many(TWIN, "u1", U1_HOURLY + 1, twin_label)
    assert [r[1] for r in twin] == [250] * (U1_HOURLY + 1), twin
    # Every accepted message arrives; the refused one never does.
    assert delivered(name, label, U1_HOURLY) == U1_HOURLY
    assert delivered(TWIN, twin_label, U1_HOURLY + 1) == U1_HOURLY + 1


@pytest.mark.parametrize("release", RELEASES)
def test_the_refusal_is_logged_with_the_user_name(release):
    log = host(limited(release)).check_output("journalctl --no-pager -t postfwd2/policy -n 200")
    assert "user=u1" in log and "MG_USER_1_MESSAGES_PER_HOUR" in log, log[-2000:]


@pytest.mark.parametrize("release", RELEASES)
def test_u2_keeps_sending_while_u1_is_over_its_quota(release):
    name = limited(release)
    label = tag()
    results = send_many(name, "u2", 3, label)
    assert [r[1] for r in results] == [250, 250, 250], results
    assert delivered(name, label, 3) == 3


# --- counters over reload and restart -------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_counters_survive_a_reload_and_a_restart_only_when_kept(release):
    name = limited(release)
    postfwd(name, "reload")
    after_reload = send_many(name, "u1", 1, tag())[0]
    postfwd(name, "restart")
    label = tag()
    after_restart = send_many(name, "u1", 1, label)[0]
    if KEEPS_COUNTERS[release]:
        # --keep_rates and --save_rates: u1 is still over its quota.
        assert after_reload[:2] == ("end_of_data", 450), after_reload
        assert after_restart[:2] == ("end_of_data", 450), after_restart
    else:
        # Without them postfwd starts counting again: what the setting prevents.
        assert after_reload[1] == 250, after_reload
        assert after_restart[1] == 250, after_restart
        assert delivered(name, label, 1) == 1


# --- the policy service down ----------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_with_postfwd_stopped_mail_follows_the_default_action_and_never_gets_a_5xx(release):
    name = limited(release)
    label = tag()
    postfwd(name, "stop")
    try:
        results = send_many(name, "u2", 2, label)
    finally:
        postfwd(name, "start")
    for stage, code, text in results:
        assert code // 100 != 5, (stage, code, text)
        if FAIL_CLOSED[release]:
            assert (stage, code) == ("end_of_data", 451), (stage, code, text)
            assert "Sending quota service unavailable" in text
        else:
            assert code == 250, (stage, code, text)
    expected = 0 if FAIL_CLOSED[release] else 2
    assert delivered(name, label, expected) == expected
    # And once postfwd is back, u2 sends again.
    assert send_many(name, "u2", 1, tag())[0][1] == 250


@pytest.mark.parametrize("release", RELEASES)
def test_a_killed_postfwd_is_started_again_and_mail_meanwhile_never_gets_a_5xx(release):
    name = limited(release)
    target = host(name)
    before = target.check_output("systemctl show -p MainPID --value postfwd")
    target.run_expect([0], "systemctl kill -s KILL postfwd")
    during = send_many(name, "u2", 1, tag())[0]
    assert during[1] // 100 != 5, during
    # systemd starts it again (Restart=on-failure, after 2 s).
    target.run_expect([0], "for i in $(seq 60); do systemctl is-active -q postfwd && "
                           "[ \"$(systemctl show -p NRestarts --value postfwd)\" -ge 1 ] && exit 0; "
                           "sleep 0.5; done; exit 1")
    postfwd(name, "status")
    assert target.check_output("systemctl show -p MainPID --value postfwd") != before
    assert send_many(name, "u2", 1, tag())[0][1] == 250
    if KEEPS_COUNTERS[release]:
        # Started from the counters of its last clean stop (the restart of
        # the test above), when u1 was over its quota.
        assert send_many(name, "u1", 1, tag())[0][:2] == ("end_of_data", 450)


# --- no passwords on port 25 (before anvil's burst uses up port 25's rate) --------


def _ehlo_features(name, port, starttls=False):
    client = _session(name, port, starttls)
    try:
        return dict(client.esmtp_features)
    finally:
        client.quit()


@pytest.mark.parametrize("release", RELEASES)
def test_port_25_offers_no_auth_although_main_cf_switches_sasl_on(release):
    # prepare.yml set smtpd_sasl_auth_enable = yes in main.cf on every host.
    name = limited(release)
    assert "auth" not in _ehlo_features(name, 25)
    assert "auth" not in _ehlo_features(name, 25, starttls=True)
    assert host(name).check_output("postconf -h smtpd_sasl_auth_enable") == "yes"
    assert "smtp/inet/smtpd_sasl_auth_enable = no" in host(name).check_output("postconf -P smtp/inet")
    # Submission keeps AUTH (after STARTTLS).
    assert "auth" in _ehlo_features(name, 587, starttls=True)
    # The twin's port 25 offers passwords to the Internet, in clear.
    assert "auth" in _ehlo_features(TWIN, 25)


# --- anvil on port 25 -----------------------------------------------------------


def _burst(name, count):
    codes = []
    for _index in range(count):
        client = smtplib.SMTP(timeout=30)
        try:
            code, _text = client.connect(address(name), 25)
            codes.append(code)
        finally:
            client.close()
    return codes


@pytest.mark.parametrize("release", RELEASES)
def test_an_unauthenticated_burst_on_port_25_hits_the_anvil_connection_rate_with_421(release):
    # smtpd_client_connection_rate_limit is 8 per minute in the lab.
    codes = _burst(limited(release), 12)
    assert 421 in codes, codes
    assert all(code in (220, 421) for code in codes), codes
    assert codes.count(220) <= 8
    # The twin has no rate limit: every connection is greeted.
    assert _burst(TWIN, 12) == [220] * 12


@pytest.mark.parametrize("release", RELEASES)
def test_nobody_is_exempt_from_the_anvil_limits_by_default(release):
    target = host(limited(release))
    assert target.check_output("postconf -h smtpd_client_event_limit_exceptions") == ""
    overrides = target.check_output("postconf -P submission/inet").splitlines()
    assert "submission/inet/smtpd_client_event_limit_exceptions =" in [line.strip() for line in overrides]
    # Stock Postfix exempts $mynetworks, a local webmail included.
    assert host(TWIN).check_output("postconf -h smtpd_client_event_limit_exceptions") == \
        "${smtpd_client_connection_limit_exceptions:$mynetworks}"


# --- submission itself ------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_auth_is_not_offered_before_starttls(release):
    client = smtplib.SMTP(address(limited(release)), 587, local_hostname=PROBE_HELO, timeout=30)
    try:
        client.ehlo()
        assert "starttls" in client.esmtp_features
        assert "auth" not in client.esmtp_features
    finally:
        client.quit()
    twin = smtplib.SMTP(address(TWIN), 587, local_hostname=PROBE_HELO, timeout=30)
    try:
        twin.ehlo()
        # The quick submission port offers passwords in clear.
        assert "auth" in twin.esmtp_features
    finally:
        twin.quit()


@pytest.mark.parametrize("release", RELEASES)
def test_a_wrong_password_is_refused(release):
    with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
        Submission(limited(release), "u2", "wrong-password")
    assert exc.value.smtp_code == 535
    # Stock Cyrus SASL refuses it the same way: this proves the lab's
    # password check, not something the roles add.
    with pytest.raises(smtplib.SMTPAuthenticationError):
        Submission(TWIN, "u2", "wrong-password")


@pytest.mark.parametrize("release", RELEASES)
def test_authenticated_relay_is_accepted_and_unauthenticated_relay_refused(release):
    name = limited(release)
    session = Submission(name, "u2")
    try:
        assert session.client.mail("u2@%s" % DOMAIN)[0] == 250
        assert session.client.rcpt("someone@remote.test")[0] == 250
        session.client.rset()
    finally:
        session.close()
    client = smtplib.SMTP(address(name), 587, local_hostname=PROBE_HELO, timeout=30)
    try:
        client.ehlo()
        client.starttls(context=_tls())
        client.ehlo()
        client.mail("someone@%s" % DOMAIN)
        code, text = client.rcpt("someone@remote.test")
        assert code // 100 == 5, text
    finally:
        client.quit()
    # Stock Postfix's permit_sasl_authenticated, reject refuses it too: the
    # twin shows the test can tell the difference only for the AUTH part.
    twin = smtplib.SMTP(address(TWIN), 587, local_hostname=PROBE_HELO, timeout=30)
    try:
        twin.ehlo()
        twin.mail("someone@%s" % DOMAIN)
        assert twin.rcpt("someone@remote.test")[0] // 100 == 5
    finally:
        twin.quit()


@pytest.mark.parametrize("release", RELEASES)
def test_a_user_may_send_as_its_own_address_only(release):
    # Debian 12: sender_login_maps local_users; Debian 13: a hash table.
    name = limited(release)
    session = Submission(name, "u1")
    try:
        client = session.client
        assert client.mail("u2@%s" % DOMAIN)[0] == 250
        code, text = client.rcpt(MAILBOX)
        assert code == 553 and b"not owned by user u1" in text, (code, text)
        client.rset()
        client.mail("someone@remote.test")
        assert client.rcpt(MAILBOX)[0] == 553
        client.rset()
        # As itself it is accepted (u1's quota is used up, so no DATA here;
        # u2 sends its own mail through in the quota tests above).
        assert client.mail("u1@%s" % DOMAIN)[0] == 250
        assert client.rcpt(MAILBOX)[0] == 250
        client.rset()
    finally:
        session.close()
    # The twin takes u2's mail from u1 and delivers it.
    label = tag()
    twin = Submission(TWIN, "u1")
    try:
        twin.user = "u2"
        assert twin.send(MAILBOX, label)[:2] == ("end_of_data", 250)
    finally:
        twin.close()
    assert delivered(TWIN, label, 1) == 1


def test_the_audit_reports_what_the_twin_leaves_open_and_nothing_on_the_hardened_hosts():
    def abuse(name):
        return sorted((f["id"], f["service"]) for f in postfix_facts(name)["findings"] if f["category"] == "abuse")

    for release in RELEASES:
        assert abuse(limited(release)) == [], release
    assert abuse(TWIN) == [("auth-offered-on-port-25", "smtp/inet"), ("auth-rate-unlimited", "smtp/inet"),
                           ("auth-rate-unlimited", "submission/inet"), ("sender-login-unbound", "smtp/inet"),
                           ("sender-login-unbound", "submission/inet")]


def _failed_logins(name, attempts, per_session=5):
    """Wrong passwords for u2, ``per_session`` to a session; the replies' (code, text), until a 4xx."""
    replies = []
    while len(replies) < attempts:
        client = _session(name)
        try:
            for _index in range(min(per_session, attempts - len(replies))):
                code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0u2\0guess").decode())
                replies.append((code, text.decode()))
                if code // 100 == 4:
                    return replies
        finally:
            client.close()
    return replies


# Last of the submission tests: for a minute after it the prober may not
# log in on the hardened hosts at all.
@pytest.mark.parametrize("release", RELEASES)
def test_a_client_that_keeps_guessing_passwords_is_stopped_by_the_auth_rate_limit(release):
    # rate_limits_submission.auth_rate_limit is 30 per minute in the lab;
    # the logins of the tests above count too.
    replies = _failed_logins(limited(release), 31)
    code, text = replies[-1]
    assert code == 450 and "too many AUTH commands" in text, replies[-3:]
    assert all(reply[0] == 535 for reply in replies[:-1]), replies
    assert "AUTH command rate limit exceeded" in host(limited(release)).check_output(
        "journalctl --no-pager -n 300 -t postfix/submission/smtpd -t postfix/smtpd")
    # The twin answers every guess.
    assert [reply[0] for reply in _failed_logins(TWIN, 31)] == [535] * 31


# --- roles together, in either order, and bad input --------------------------------


def _playbook(playbook, extra_args=(), releases=tuple(RELEASES)):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = ["ansible-playbook", "-i", INVENTORY, "-l", ",".join(limited(r) for r in releases),
               str(SCENARIO_DIR / playbook)] + list(extra_args)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)


def _checksums():
    return dict((r, host(limited(r)).check_output(CHECKSUM)) for r in RELEASES)


def test_running_the_roles_in_the_other_order_changes_nothing_and_keeps_the_hook():
    before = _checksums()
    result = _playbook("converge-reversed.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for release in RELEASES:
        recap = [line for line in result.stdout.splitlines() if line.startswith(limited(release) + " ")]
        assert recap and "changed=0" in recap[0], recap
    assert _checksums() == before


POLICY = "mailguard.postfix.policy_service"
RATE_LIMITS = "mailguard.postfix.rate_limits"


@pytest.mark.parametrize("role, bad_vars, expected", [
    (POLICY, {"policy_service_user_limits": {"messages_per_hour": 0}},
     "user_limits.messages_per_hour is 0: a quota must be greater than 0"),
    (POLICY, {"policy_service_user_overrides": [{"user": "u1", "messages_per_hour": -3}]},
     "user_overrides[0].messages_per_hour is -3"),
    (POLICY, {"policy_service_user_limits": {"mails_per_hour": 5}}, "unknown limit 'mails_per_hour'"),
    (POLICY, {"policy_service_user_overrides": [{"user": "u1", "messages_per_hour": 5},
                                                {"user": "u1", "messages_per_day": 9}]},
     "user u1 already has limits in user_overrides[0]"),
    (POLICY, {"policy_service_default_action": "554 5.7.1 no"}, "never a 5xx"),
    (RATE_LIMITS, {"rate_limits_port25": {"connection_rate_limit": 5, "connections_per_second": 1}},
     "connections_per_second"),
])
def test_bad_input_fails_clearly_and_leaves_the_hosts_untouched(role, bad_vars, expected):
    before = _checksums()
    result = _playbook("apply-one-role.yml", ["-e", json.dumps(dict(bad_vars, lab_role=role))])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output, output[-3000:]
    assert _checksums() == before
    for release in RELEASES:
        assert host(limited(release)).run("systemctl is-active postfwd").stdout.strip() == "active"
        assert host(limited(release)).run("postfix status").rc == 0


def test_a_submission_override_that_drops_the_quotas_fails_the_role_naming_the_service():
    # The role's own guard: stock Postfix has no quotas to lose, so no twin.
    target = host(limited("deb12"))
    target.run_expect([0], "postconf -P submission/inet/smtpd_end_of_data_restrictions=")
    try:
        result = _playbook("apply-one-role.yml", ["-e", "lab_role=mailguard.postfix.policy_service"],
                           releases=("deb12",))
    finally:
        target.run_expect([0], "postconf -PX submission/inet/smtpd_end_of_data_restrictions")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "submission/inet on ratelimit-deb12 do not ask postfwd at end of data" in output, output[-3000:]


def test_a_partial_limits_dict_gets_the_documented_defaults_for_the_limits_it_leaves_out():
    # The scenario's own limits (message 20, recipient 40) are in main.cf
    # now; a dict that names one limit must not leave them, nor Postfix's
    # defaults, in place of the role's documented 100 and 300.
    target = host(limited("deb12"))
    names = "smtpd_client_connection_rate_limit smtpd_client_message_rate_limit smtpd_client_recipient_rate_limit"
    try:
        result = _playbook("apply-one-role.yml", ["-e", json.dumps({
            "lab_role": "mailguard.postfix.rate_limits", "rate_limits_port25": {"connection_rate_limit": 7}})],
            releases=("deb12",))
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert target.check_output("postconf -h %s" % names).split() == ["7", "100", "300"]
    finally:
        # Back to the scenario's limits for any test that runs after this one.
        _playbook("apply-one-role.yml", ["-e", "lab_role=mailguard.postfix.rate_limits"], releases=("deb12",))
    assert target.check_output("postconf -h %s" % names).split() == ["8", "20", "40"]
