"""Bad input to every module and role of the collection, against real Postfix.

Each case of CASES gives a module its arguments, or a role its variables,
with one thing wrong. All cases run in one ansible-playbook run (a play per
case, written by `_playbook`): a block around the module task or the
include_role, whose rescue keeps the failure, and before and after it the
checksums of main.cf, master.cf and the postfwd files and the answer of
`postfix status` (the reading after one case is the one before the next). Per case and host the tests then require a failure whose
message names the bad input, files that are byte-identical, and Postfix
still running.

The hosts were converged with partial dicts for every dict variable of the
roles (molecule.yml); the tests at the end read back that the keys left out
got the documented defaults.
"""

import collections
import json
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

from lab_hosts import host  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
EPHEMERAL_DIR = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))

MAIL = ["badinput-deb12", "badinput-deb13"]
# A stock Postfix that receives mail for no domain of its own (its mail name
# is its bare host name): the lab DNS host, which converge leaves alone.
NO_DOMAIN = ["badinput-ns"]
STATE_COMMAND = (
    "sha256sum /etc/postfix/main.cf /etc/postfix/master.cf /etc/postfix/postfwd.cf /etc/default/postfwd"
    " 2>/dev/null; postfix status >/dev/null 2>&1; echo postfix status: $?")

Case = collections.namedtuple("Case", "id target args expected hosts")


def case(case_id, target, args, expected, hosts=None):
    return Case(case_id, target, args, expected, hosts or MAIL)


SUBMISSION = {"service": "submission", "type": "inet"}

CASES = [
    # --- postconf: values that are not one line of text ----------------------------------
    case("postconf-newline-in-main-cf-value", "postconf",
         {"parameters": {"smtpd_banner": "$myhostname ESMTP\nmynetworks = 0.0.0.0/0"}},
         "parameters.smtpd_banner: the value holds a newline"),
    case("postconf-newline-in-a-list-item", "postconf",
         {"parameters": {"smtpd_client_restrictions": ["permit_mynetworks", "reject_unauth_pipelining\npermit"]}},
         "parameters.smtpd_client_restrictions: the value holds a newline"),
    case("postconf-escape-character-in-restriction-list", "postconf",
         {"parameters": {"smtpd_helo_restrictions": "reject_invalid_helo_hostname\x1b[2J"}},
         "parameters.smtpd_helo_restrictions: the value holds a control character"),
    case("postconf-carriage-return-in-override", "postconf",
         {"services": [dict(SUBMISSION, overrides={
             "syslog_name": "postfix/submission\r\n  -o smtpd_relay_restrictions=permit"})]},
         "services[submission/inet].overrides.syslog_name: the value holds a carriage return"),
    # --- postconf: typed values ----------------------------------------------------------
    case("postconf-size-with-unit", "postconf", {"parameters": {"message_size_limit": "10M"}},
         "parameters.message_size_limit: expected an integer (a size in bytes, without units), got '10M'"),
    case("postconf-time-with-unknown-unit", "postconf", {"parameters": {"smtpd_timeout": "5min"}},
         "parameters.smtpd_timeout: expected a time"),
    case("postconf-word-outside-the-set", "postconf", {"parameters": {"smtpd_tls_security_level": "mandatory"}},
         "parameters.smtpd_tls_security_level: expected one of '', none, may, encrypt, got 'mandatory'"),
    case("postconf-boolean-that-is-no-boolean", "postconf", {"parameters": {"disable_vrfy_command": "sometimes"}},
         "parameters.disable_vrfy_command: expected yes or no, got 'sometimes'"),
    case("postconf-protocol-outside-the-set", "postconf", {"parameters": {"inet_protocols": "ipv4, ipv5"}},
         "parameters.inet_protocols: expected a list of all, ipv4, ipv6, got 'ipv4, ipv5'"),
    case("postconf-reply-code-out-of-range", "postconf",
         {"parameters": {"unknown_local_recipient_reject_code": 650}},
         "parameters.unknown_local_recipient_reject_code: expected an SMTP reply code 400-599, got 650"),
    case("postconf-misspelt-parameter", "postconf",
         {"parameters": {"smtpd_recipient_restriction": "reject_unauth_destination"}},
         "has no parameter smtpd_recipient_restriction (did you mean smtpd_recipient_restrictions?)"),
    # --- postconf: master.cf fields and overrides ------------------------------------------
    case("postconf-process-limit-below-zero", "postconf", {"services": [dict(SUBMISSION, maxproc="-1")]},
         "services[submission/inet]: maxproc must be -, or a number of processes (0: no limit), got '-1'"),
    case("postconf-wakeup-with-a-unit", "postconf",
         {"services": [{"service": "pickup", "type": "unix", "wakeup": "1h"}]},
         "services[pickup/unix]: wakeup must be -, or seconds"),
    case("postconf-chroot-flag-outside-y-n", "postconf", {"services": [dict(SUBMISSION, chroot="maybe")]},
         "services[submission/inet]: chroot must be y, n or - (the default), got 'maybe'"),
    case("postconf-private-inet-service", "postconf",
         {"services": [{"service": "2526", "type": "inet", "private": "y", "command": "smtpd"}]},
         "services[2526/inet]: an inet service cannot be private"),
    case("postconf-unknown-service-type", "postconf",
         {"services": [{"service": "2526", "type": "tcp", "command": "smtpd"}]},
         "tcp"),
    case("postconf-unknown-program", "postconf",
         {"services": [{"service": "2526", "type": "inet", "command": "smtpdd"}]},
         "services[2526/inet]: command 'smtpdd' is not a program in daemon_directory"),
    case("postconf-override-integer-in-words", "postconf",
         {"services": [dict(SUBMISSION, overrides={"smtpd_client_connection_count_limit": "ten"})]},
         "services[submission/inet].overrides.smtpd_client_connection_count_limit: expected an integer"),
    case("postconf-override-misspelt-restriction", "postconf",
         {"services": [dict(SUBMISSION, overrides={
             "smtpd_recipient_restrictions": "permit_sasl_authenticated,reject_unath_destination"})]},
         "unknown restriction 'reject_unath_destination' in smtpd_recipient_restrictions"),
    # --- postconf: tables a list names, and the relay guard ---------------------------------
    case("postconf-unknown-table-type", "postconf",
         {"parameters": {"smtpd_sender_restrictions": "check_sender_access hsah:/etc/postfix/uncompiled_access"}},
         "parameters.smtpd_sender_restrictions: table type hsah"),
    case("postconf-table-that-does-not-exist", "postconf",
         {"parameters": {"smtpd_sender_restrictions": "check_sender_access hash:/etc/postfix/no_such_access"}},
         "parameters.smtpd_sender_restrictions: hash:/etc/postfix/no_such_access: /etc/postfix/no_such_access.db "
         "does not exist"),
    case("postconf-table-that-is-not-compiled", "postconf",
         {"parameters": {"smtpd_sender_restrictions": "check_sender_access hash:/etc/postfix/uncompiled_access"}},
         "parameters.smtpd_sender_restrictions: hash:/etc/postfix/uncompiled_access: "
         "/etc/postfix/uncompiled_access.db does not exist"),
    case("postconf-lists-without-relay-guard", "postconf",
         {"parameters": {"smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated",
                         "smtpd_recipient_restrictions": "permit_mynetworks, reject_unlisted_recipient"}},
         "no relay guard"),
    # --- restrictions -------------------------------------------------------------------------
    case("restrictions-unicode-own-domain", "restrictions",
         {"postfix_version": "3.7.11", "own_domains": ["b\u00fccher.example"]},
         "own_domains[0] 'b\u00fccher.example' is an internationalised domain name: write it as xn--bcher-kva.example"),
    case("restrictions-permit-before-relay-guard", "restrictions",
         {"postfix_version": "3.7.11", "custom": [{"stage": "relay", "entry": "permit", "position": "first"}]},
         "permit"),
    case("restrictions-unknown-table-type", "restrictions",
         {"postfix_version": "3.7.11", "relay_domains": ["relay.test"],
          "relay_recipient_maps": "hsah:/etc/postfix/relay_recipients"},
         "relay_recipient_maps 'hsah:/etc/postfix/relay_recipients': hsah is not a Postfix table type"),
    case("restrictions-filter-that-takes-error-answers", "restrictions",
         {"postfix_version": "3.7.11", "dnsbls": [{"name": "zen.spamhaus.org", "filter": "127.255.255.[0..255]"}]},
         "127.255.255.[0..255]"),
    case("restrictions-policy-timeout-in-words", "restrictions",
         {"postfix_version": "3.7.11", "policy_services": [
             {"name": "quota", "endpoint": "inet:127.0.0.1:10040", "timeout": "10 minutes"}]},
         "10 minutes"),
    # --- postfwd_ruleset, dnsbl_check, smtp_probe, postfix_facts --------------------------------
    case("postfwd-quota-with-a-unit", "postfwd_ruleset", {"user_limits": {"messages_per_hour": "20/h"}},
         "user_limits.messages_per_hour is '20/h'"),
    case("postfwd-newline-in-exempt-sender", "postfwd_ruleset",
         {"exempt_senders": ["alerts@example.test\nid=x; action=OK"]},
         "exempt_senders[0]"),
    case("dnsbl-filter-out-of-range", "dnsbl_check",
         {"mode": "health", "lists": [{"name": "bl.lab.test", "kind": "ip", "filter": "127.0.0.[2..300]"}]},
         "127.0.0.[2..300]"),
    case("dnsbl-address-that-is-no-address", "dnsbl_check",
         {"lists": ["bl.lab.test"], "addresses": ["192.0.2.300"]},
         "'192.0.2.300' is not an IP address"),
    case("smtp-probe-crlf-in-recipient", "smtp_probe",
         {"host": "127.0.0.1", "cases": [{"name": "injected", "mail_from": "",
                                         "rcpt_to": ["postmaster@example.test>\r\nRSET\r\nRCPT TO:<x@remote.test"]}]},
         "case injected: rcpt_to[0]"),
    case("smtp-probe-port-out-of-range", "smtp_probe",
         {"host": "127.0.0.1", "port": 70000, "presets": ["open_relay"],
          "preset_options": {"domain": "example.test"}},
         "70000"),
    case("facts-config-directory-that-does-not-exist", "postfix_facts",
         {"config_directory": "/etc/postfix-nowhere"}, "/etc/postfix-nowhere"),
    # --- roles ------------------------------------------------------------------------------------
    case("harden-unicode-own-domain", "role:harden", {"harden_own_domains": ["b\u00fccher.example"]},
         "'b\u00fccher.example' is an internationalised domain name"),
    case("harden-empty-own-domains-where-postfix-has-none", "role:harden",
         {"harden_own_domains": [], "harden_install_postfix": False},
         "harden_own_domains is empty and Postfix on badinput-ns receives mail for no domain", hosts=NO_DOMAIN),
    case("harden-size-with-unit-in-extra-parameters", "role:harden",
         {"harden_extra_parameters": {"message_size_limit": "50MB"}},
         "parameters.message_size_limit: expected an integer (a size in bytes, without units), got '50MB'"),
    case("harden-newline-in-extra-parameters", "role:harden",
         {"harden_extra_parameters": {"smtpd_banner": "$myhostname\nsmtpd_relay_restrictions = permit"}},
         "parameters.smtpd_banner: the value holds a newline"),
    case("harden-unknown-table-type-in-custom-restrictions", "role:harden",
         {"harden_custom_restrictions": [{"stage": "sender",
                                          "entry": "check_sender_access hsah:/etc/postfix/uncompiled_access"}]},
         "hsah is not a Postfix table type"),
    case("harden-partial-submission-dict-with-a-wrong-word", "role:harden",
         {"harden_submission": {"enabled": True, "sasl_type": "sasldb"}},
         "sasldb"),
    case("harden-trusted-network-of-the-whole-internet", "role:harden", {"harden_trusted_networks": ["0.0.0.0/0"]},
         "0.0.0.0/0"),
    case("harden-policy-service-that-bounces-when-down", "role:harden",
         {"harden_policy_services": [{"name": "quota2", "endpoint": "inet:127.0.0.1:10041", "stage": "end_of_data",
                                      "timeout": "10s", "default_action": "554 5.7.1 no"}]},
         "554 5.7.1 no"),
    case("policy-service-quota-with-a-unit", "role:policy_service",
         {"policy_service_user_limits": {"messages_per_hour": "20/h"}},
         "user_limits.messages_per_hour is '20/h'"),
    # Only the documented messages_per_day (1000) of the merged dict makes
    # this hourly quota unreachable: proof that a partial dict is merged.
    case("policy-service-partial-limits-contradict-the-defaults", "role:policy_service",
         {"policy_service_user_limits": {"messages_per_hour": 2000}},
         "user_limits: messages_per_hour 2000 is more than messages_per_day 1000"),
    case("policy-service-exempt-network-of-33-bits", "role:policy_service",
         {"policy_service_exempt_networks": ["10.0.0.0/33"]},
         "exempt_networks[0] '10.0.0.0/33' is not a network"),
    case("rate-limits-rate-with-a-unit", "role:rate_limits", {"rate_limits_port25": {"connection_rate_limit": "60/min"}},
         "'60/min'\" cannot be converted to an int"),
    case("rate-limits-negative-limit-in-partial-dict", "role:rate_limits",
         {"rate_limits_submission": {"auth_rate_limit": -1}},
         "smtpd_client_auth_rate_limit: expected an integer of 0 or more, got '-1'"),
    case("rate-limits-time-unit-in-words", "role:rate_limits", {"rate_limits_time_unit": "1 hour"},
         "parameters.anvil_rate_time_unit: expected a time"),
    case("rate-limits-service-missing-from-master-cf", "role:rate_limits",
         {"rate_limits_submission_services": ["smtps/inet"]},
         "services[smtps/inet]: not in master.cf yet"),
    case("rate-limits-newline-in-exceptions", "role:rate_limits",
         {"rate_limits_port25_exceptions": ["192.0.2.0/24\n0.0.0.0/0"]},
         "parameters.smtpd_client_event_limit_exceptions: the value holds a newline"),
]


def _task(item):
    if item.target.startswith("role:"):
        return {"name": "Apply %s with the bad input" % item.target[5:],
                "ansible.builtin.include_role": {"name": "mailguard.postfix.%s" % item.target[5:]}}
    return {"name": "Call %s with the bad input" % item.target, "mailguard.postfix.%s" % item.target: item.args}


def _play(item):
    """One play per case: role variables as play vars, so that they end with the play."""
    variables = {"badinput_case": item.id}
    if item.target.startswith("role:"):
        variables.update(item.args)
    return {
        "name": "Case %s" % item.id,
        "hosts": ":".join(item.hosts),
        "gather_facts": False,
        "vars": variables,
        "tasks": [
            {"name": "Read the host before the case", "ansible.builtin.import_tasks": str(SCENARIO_DIR / "tasks" / "case-before.yml")},
            {"name": "Run the case", "block": [_task(item)], "rescue": [{
                "name": "Keep the failure",
                "ansible.builtin.set_fact": {"badinput_failure": "{{ ansible_failed_result }}",
                                             "badinput_failed_task": "{{ ansible_failed_task.name }}"}}]},
            {"name": "Read the host after the case", "ansible.builtin.import_tasks": str(SCENARIO_DIR / "tasks" / "case-after.yml")},
        ],
    }


def _playbook():
    hosts = sorted(set(h for item in CASES for h in item.hosts))
    plays = [{"name": "Read the hosts' network facts once, as the roles need them, and the hosts' state",
              "hosts": ":".join(hosts), "gather_facts": True, "gather_subset": ["network"], "tasks": [
                  {"name": "Read the checksums of the configuration and whether Postfix runs",
                   "ansible.builtin.command": {"argv": ["sh", "-c", "{{ badinput_state_command }}"]},
                   "register": "badinput_state", "changed_when": False}]}]
    plays.extend(_play(item) for item in CASES)
    plays.append({"name": "Save the records", "hosts": ":".join(hosts), "gather_facts": False,
                  "tasks": [{"name": "Save", "ansible.builtin.import_tasks": str(SCENARIO_DIR / "tasks" / "case-save.yml")}]})
    return plays


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Every case run once in one ansible-playbook run: {(case id, host): record}."""
    work = tmp_path_factory.mktemp("badinput")
    playbook = work / "bad-input.yml"
    # JSON is YAML; escapes keep control characters intact to the module.
    playbook.write_text(json.dumps(_playbook(), indent=1, ensure_ascii=True))
    extra = work / "extra-vars.json"
    extra.write_text(json.dumps({"badinput_records_dir": str(work), "badinput_state_command": STATE_COMMAND}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(playbook), "-e", "@%s" % extra],
                            env=env, capture_output=True, text=True, timeout=1200, check=False)
    (EPHEMERAL_DIR / "bad-input.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout[-4000:] + result.stderr[-2000:])
    found = {}
    for name in sorted(set(h for item in CASES for h in item.hosts)):
        for record in json.loads((work / ("%s.json" % name)).read_text()):
            found[(record["case"], name)] = record
    return found


def test_the_table_has_at_least_30_cases_with_unique_names():
    assert len(CASES) >= 30
    assert len(set(item.id for item in CASES)) == len(CASES)


@pytest.mark.parametrize("item", CASES, ids=[item.id for item in CASES])
def test_bad_input_fails_naming_it_and_leaves_postfix_untouched_and_running(records, item):
    for name in item.hosts:
        record = records[(item.id, name)]
        messages = "\n".join([record["msg"]] + record["item_msgs"])
        assert record["failed"], "%s accepted the bad input of %s" % (name, item.id)
        assert item.expected in messages, "%s (task %r): %s" % (name, record["task"], messages)
        assert record["after"] == record["before"], "%s: %s changed the files or stopped Postfix" % (name, item.id)
        assert record["after"].rstrip().endswith("postfix status: 0"), record["after"]


# --- partial dicts: the keys left out get the documented defaults --------------------------------


def _postconf(name, *parameters):
    return host(name).check_output("postconf -h %s" % " ".join(parameters)).split("\n")


def _service_parameter(name, key):
    return host(name).check_output("postconf -Ph %s" % key)


@pytest.mark.parametrize("name", MAIL)
def test_a_partial_port25_dict_gets_the_documented_limits_for_the_others(name):
    # molecule.yml gives only connection_rate_limit: 8.
    assert _postconf(name, "smtpd_client_connection_rate_limit", "smtpd_client_connection_count_limit",
                     "smtpd_client_message_rate_limit", "smtpd_client_recipient_rate_limit",
                     "smtpd_client_new_tls_session_rate_limit", "smtpd_client_auth_rate_limit") == \
        ["8", "20", "100", "300", "60", "0"]


@pytest.mark.parametrize("name", MAIL)
def test_a_partial_submission_limits_dict_gets_the_documented_limits_for_the_others(name):
    # molecule.yml gives only auth_rate_limit: 5.
    values = [_service_parameter(name, "submission/inet/smtpd_client_%s" % limit) for limit in (
        "auth_rate_limit", "connection_count_limit", "connection_rate_limit", "message_rate_limit",
        "recipient_rate_limit", "new_tls_session_rate_limit")]
    assert values == ["5", "10", "30", "30", "100", "30"]


@pytest.mark.parametrize("name", MAIL)
def test_a_partial_harden_submission_dict_gets_the_documented_service_and_settings(name):
    # molecule.yml gives only enabled: true.
    assert _service_parameter(name, "submission/inet/smtpd_tls_security_level") == "encrypt"
    assert _service_parameter(name, "submission/inet/smtpd_sasl_type") == "cyrus"
    assert _service_parameter(name, "submission/inet/smtpd_sasl_path") == "smtpd"


@pytest.mark.parametrize("name", MAIL)
def test_a_partial_quota_dict_keeps_the_documented_quotas_and_null_switches_one_off(name):
    # molecule.yml gives messages_per_hour: 20 and bytes_per_day: null.
    ruleset = host(name).file("/etc/postfix/postfwd.cf").content_string
    assert "id=MG_SASL_MESSAGES_PER_HOUR;" in ruleset and "rate(sasl_username/20/3600/" in ruleset
    assert "rate(sasl_username/1000/86400/" in ruleset
    assert "rcpt(sasl_username/500/3600/" in ruleset
    assert "rcpt(sasl_username/2500/86400/" in ruleset
    assert "MG_SASL_BYTES_PER_DAY" not in ruleset and "size(" not in ruleset
