"""Blocklist health and listings, proved against the lab's real DNS server.

The lab DNS container serves five lists: bl.lab.test (healthy, lists the
mail host itself), dbl.lab.test (a healthy domain list), dead.lab.test
(lists everything), err.lab.test (answers 127.255.255.254) and
silent.lab.test (drops every query). The mail host was hardened with
bl.lab.test and dead.lab.test and harden_dnsbl_unhealthy: leave_out.

The twin of the SMTP probe is the same role with its health check switched
off: it puts the dead list into main.cf and the same clean client is
refused. It runs last, because it leaves the host with the dead list.
"""

import functools
import json
import os
import pathlib
import smtplib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

from lab_hosts import address, host  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
EPHEMERAL_DIR = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])

MAIL = "dnsbl-deb13"
NS = "dnsbl-ns"
PROBE_HELO = "prober.lab.test"
MAIN_CF = "md5sum /etc/postfix/main.cf /etc/postfix/master.cf"

HEALTHY = {"name": "bl.lab.test", "kind": "ip", "filter": "127.0.0.2"}
DOMAIN = {"name": "dbl.lab.test", "kind": "domain", "filter": "127.0.0.2"}
DEAD = {"name": "dead.lab.test", "kind": "ip", "filter": "127.0.0.2"}
ERR = {"name": "err.lab.test", "kind": "ip", "filter": "127.0.0.2"}
SILENT = {"name": "silent.lab.test", "kind": "ip", "filter": "127.0.0.2"}


def _env():
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")


def ansible_playbook(playbook, extra_vars=None, extra_args=()):
    command = ["ansible-playbook", "-i", INVENTORY, "-l", MAIL, str(playbook)]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    command += list(extra_args)
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600, check=False)


@functools.lru_cache(maxsize=None)
def checks():
    """Every dnsbl_check this file asks for, run in one playbook on the mail host."""
    result_file = EPHEMERAL_DIR / "dnsbl-checks.json"
    wanted = {
        "health": {"mode": "health", "lists": [HEALTHY, DOMAIN, DEAD, ERR, SILENT]},
        "listing": {"mode": "listing", "lists": [HEALTHY], "addresses": [address(MAIL), address(NS)],
                    "domains": []},
        "own": {"mode": "listing", "lists": [HEALTHY, DOMAIN], "include_private": True},
        "dead": {"mode": "listing", "lists": [DEAD, ERR], "addresses": [address(NS)], "domains": []},
    }
    run = ansible_playbook(SCENARIO_DIR / "checks.yml",
                           {"dnsbl_lab_checks": wanted, "dnsbl_lab_result": str(result_file)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return json.loads(result_file.read_text(encoding="utf-8"))


def health():
    return {verdict["name"]: verdict for verdict in checks()["health"]["lists"]}


def session(port, mail_from="sender@victim.test", rcpt_to="postmaster@example.test"):
    """One SMTP session from the controller; returns (stage, code, text) of the first refusal, or None."""
    client = smtplib.SMTP(timeout=30)
    try:
        replies = [("connect", client.connect(address(MAIL), port)), ("helo", client.ehlo(PROBE_HELO)),
                   ("mail", client.docmd("MAIL", "FROM:<%s>" % mail_from)),
                   ("rcpt", client.docmd("RCPT", "TO:<%s>" % rcpt_to))]
        client.rset()
    finally:
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()
    for stage, (code, text) in replies:
        if code >= 400:
            return stage, code, text.decode()
    return None


def main_cf_lists():
    return host(MAIL).check_output("postconf -h smtpd_client_restrictions smtpd_recipient_restrictions")


# --- health mode: the four behaviours of a list -----------------------------


def test_a_healthy_list_answers_its_test_points():
    verdict = health()["bl.lab.test"]
    assert verdict["healthy"] is True, verdict["message"]
    keys = {probe["key"]: probe["status"] for probe in verdict["probes"]}
    assert keys["127.0.0.2"] == "listed" and keys["127.0.0.1"] == "not_listed"


def test_a_healthy_domain_list_lists_test_and_not_invalid():
    verdict = health()["dbl.lab.test"]
    assert verdict["healthy"] is True, verdict["message"]
    assert {probe["key"]: probe["status"] for probe in verdict["probes"]}["test"] == "listed"


def test_a_dead_list_is_found_to_list_everything():
    verdict = health()["dead.lab.test"]
    assert verdict["healthy"] is False and verdict["problem"] == "lists_everything"
    assert "127.0.0.1" in verdict["message"]


def test_a_list_answering_the_public_resolver_code_is_an_error_not_a_listing():
    verdict = health()["err.lab.test"]
    assert verdict["healthy"] is False and verdict["problem"] == "error_answer"
    assert "127.255.255.254" in verdict["message"]
    assert all(probe["status"] == "error" for probe in verdict["probes"])


def test_a_list_whose_server_never_answers_is_unhealthy():
    verdict = health()["silent.lab.test"]
    assert verdict["healthy"] is False and verdict["problem"] == "no_answer"
    assert all(probe["outcome"] == "timeout" for probe in verdict["probes"])


# --- listing mode -----------------------------------------------------------


def test_listing_finds_the_listed_lab_address_and_a_clean_one():
    [report] = checks()["listing"]["lists"]
    assert report["listed"] == [address(MAIL)]
    by_target = {item["target"]: item for item in report["results"]}
    assert by_target[address(MAIL)]["codes"] == ["127.0.0.2"]
    assert "bl.lab.test" in by_target[address(MAIL)]["reason"]
    assert by_target[address(NS)]["status"] == "not_listed"


def test_listing_of_own_addresses_by_default_finds_the_host_itself():
    result = checks()["own"]
    assert address(MAIL) in result["addresses"]
    assert [item["target"] for item in result["listed"]] == [address(MAIL)]


def test_listing_on_a_dead_list_is_reported_as_an_error_not_a_listing():
    result = checks()["dead"]
    assert result["listed"] == []
    assert [item["list"] for item in result["errors"]] == ["dead.lab.test", "err.lab.test"]


# --- the harden role ---------------------------------------------------------


def test_the_converged_host_uses_the_healthy_list_and_not_the_dead_one():
    lists = main_cf_lists()
    assert "reject_rbl_client bl.lab.test=127.0.0.2" in lists
    assert "dead.lab.test" not in lists


def test_converge_left_the_dead_list_out_with_a_warning():
    # Written by converge.yml from what the role decided and warned.
    record = json.loads((EPHEMERAL_DIR / ("harden-dnsbls-%s.json" % MAIL)).read_text(encoding="utf-8"))
    assert record["effective"] == ["bl.lab.test"]
    assert record["left_out"] == ["dead.lab.test"]
    assert any(w.startswith("unhealthy blocklist dead.lab.test: lists 127.0.0.1") for w in record["warnings"])


def test_a_dead_list_fails_the_run_with_its_problem_and_main_cf_stays_as_it_was():
    before = host(MAIL).check_output(MAIN_CF)
    run = ansible_playbook(SCENARIO_DIR / "converge.yml", {"harden_dnsbl_unhealthy": "fail"})
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "Refusing to let Postfix on %s use 1 unhealthy DNS blocklist(s)" % MAIL in output
    assert "dead.lab.test: lists 127.0.0.1 and a random name below invalid" in output
    assert host(MAIL).check_output(MAIN_CF) == before


def test_a_dead_forwarding_list_is_checked_like_the_others_and_fails_the_run():
    # harden_forwarding_dnsbls guard the forwarding class only, but a dead
    # one would refuse every client whose mail is forwarded.
    before = host(MAIL).check_output(MAIN_CF)
    run = ansible_playbook(SCENARIO_DIR / "converge.yml", {
        "harden_dnsbl_unhealthy": "fail",
        "harden_dnsbls": [{"name": "bl.lab.test", "filter": "127.0.0.2"}],
        "harden_forwarding_recipients": ["fwd@example.test"],
        "harden_forwarding_dnsbls": [{"name": "dead.lab.test", "filter": "127.0.0.2"}]})
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "Refusing to let Postfix on %s use 1 unhealthy DNS blocklist(s)" % MAIL in output
    assert "dead.lab.test: lists 127.0.0.1 and a random name below invalid" in output
    assert host(MAIL).check_output(MAIN_CF) == before


def test_a_clean_client_is_accepted_by_the_hardened_host():
    assert session(25) is None


# --- the watch timer ----------------------------------------------------------


def test_the_watch_timer_is_installed_and_active():
    target = host(MAIL)
    assert target.file("/etc/systemd/system/mailguard-dnsbl-watch.timer").exists
    assert target.service("mailguard-dnsbl-watch.timer").is_enabled
    assert target.check_output("systemctl is-active mailguard-dnsbl-watch.timer") == "active"


def test_the_watch_service_runs_and_logs_the_host_s_own_listing():
    target = host(MAIL)
    run = target.run("systemctl start mailguard-dnsbl-watch.service")
    assert run.rc == 0, run.stderr
    assert target.check_output("systemctl show -p Result --value mailguard-dnsbl-watch.service") == "success"
    journal = target.check_output("journalctl -q -o cat -t mailguard-dnsbl-watch")
    assert "%s on bl.lab.test: LISTED (127.0.0.2)" % address(MAIL) in journal
    state = json.loads(target.file("/var/lib/mailguard-postfix-dnsbl-watch/state.json").content_string)
    assert state["bl.lab.test %s" % address(MAIL)]["status"] == "listed"


# --- the fleet playbook --------------------------------------------------------


def _fleet(report_dir, *extra):
    extra_vars = {"dnsbl_lists": [HEALTHY, DOMAIN], "dnsbl_include_private": True,
                  "dnsbl_report_dir": str(report_dir)}
    command = ["ansible-playbook", "-i", INVENTORY, "-l", MAIL, "mailguard.postfix.dnsbl_check",
               "-e", json.dumps(extra_vars)]
    for item in extra:
        command += ["-e", item]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600, check=False)


def test_the_playbook_writes_a_fleet_report_and_exits_non_zero_on_a_listing_when_asked():
    report_dir = EPHEMERAL_DIR / "dnsbl-report"
    run = _fleet(report_dir, "dnsbl_fail_on=listed")
    assert run.returncode != 0
    assert "Listed: %s" % MAIL in run.stdout + run.stderr
    summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["listed"] == [MAIL]
    assert summary["hosts"][MAIL]["lists"] == {"bl.lab.test": "listed", "dbl.lab.test": "clean"}
    markdown = (report_dir / "summary.md").read_text(encoding="utf-8")
    assert "| %s | %s | bl.lab.test | 127.0.0.2 |" % (MAIL, address(MAIL)) in markdown


# --- the twin: the same role without its health check -------------------------


def test_without_the_health_check_the_clean_probe_still_catches_the_dead_list_and_restores():
    # The second line of defence: the dead list refuses the role's own clean
    # probe after the change, so the previous configuration comes back.
    before = host(MAIL).check_output(MAIN_CF)
    run = ansible_playbook(SCENARIO_DIR / "converge.yml", {"harden_dnsbl_health_check": False})
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "clean_message (expected acceptance; rejected_at_rcpt: 554" in output, output[-3000:]
    assert "dead.lab.test" in output and "were restored" in output
    assert host(MAIL).check_output(MAIN_CF) == before
    assert session(25) is None


def test_twin_without_the_health_check_postfix_uses_the_dead_list_and_refuses_a_clean_client():
    run = ansible_playbook(SCENARIO_DIR / "converge.yml",
                           {"harden_dnsbl_health_check": False, "harden_verify_clean": False})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "reject_rbl_client dead.lab.test=127.0.0.2" in main_cf_lists()
    refusal = session(25)
    assert refusal is not None and refusal[1] == 554 and "dead.lab.test" in refusal[2], refusal
