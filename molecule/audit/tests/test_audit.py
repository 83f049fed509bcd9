"""What the audit playbook promises, read from the report converge wrote.

Risky hosts carry the settings of molecule/shared/vars/risky.yml; every one of
them must come back as a finding with the right id, category and service.
Stock hosts are Debian's own Postfix and must not be reported as relays. No
audited host may change.
"""

import json
import os
import pathlib
import socket
import sys

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

from lab_hosts import address  # noqa: E402  pylint: disable=wrong-import-position

SCENARIO_DIR = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
EPHEMERAL_DIR = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
REPORT_DIR = EPHEMERAL_DIR / "audit-report"
CHECKSUMS_BEFORE_DIR = EPHEMERAL_DIR / "before-audit"

# Must match the command in prepare.yml that recorded the checksums.
CHECKSUM_COMMAND = (
    "set -o pipefail && find /etc/postfix /etc/aliases /etc/aliases.db -type f -print0"
    " | sort -z | xargs -0 md5sum"
)

MAIN_CF = "main.cf"
SUBMISSION = "submission/inet"
BROKEN = "2526/inet"


def _platforms():
    with open(SCENARIO_DIR / "molecule.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)["platforms"]


def _hosts_in(group):
    return [p["name"] for p in _platforms() if group in p.get("groups", [])]


ALL_HOSTS = [p["name"] for p in _platforms()]
RISKY_HOSTS = _hosts_in("risky")
STOCK_HOSTS = _hosts_in("stock")

# The Postfix series each image ships, by the suffix of the platform name.
POSTFIX_SERIES = {"deb12": "3.7.", "deb13": "3.10."}

# (finding id, category, service, parameter or None) for every seeded risk.
SEEDED_RISKS = [
    ("relay-domains-without-recipient-maps", "backscatter", MAIN_CF, None),
    ("catch-all-alias", "backscatter", MAIN_CF, "virtual_alias_maps"),
    ("luser-relay", "backscatter", MAIN_CF, "luser_relay"),
    ("soft-bounce-on", "backscatter", MAIN_CF, "soft_bounce"),
    ("unverified-recipient-defer-code-250", "backscatter", MAIN_CF, "unverified_recipient_defer_code"),
    ("after-queue-content-filter", "backscatter", MAIN_CF, "content_filter"),
    ("reject-unlisted-recipient-off", "backscatter", MAIN_CF, "smtpd_reject_unlisted_recipient"),
    ("forwarding-without-strict-entry", "backscatter", MAIN_CF, None),
    ("backscatter-in-queue", "backscatter", MAIN_CF, None),
    ("permit-mx-backup", "relay", MAIN_CF, "smtpd_relay_restrictions"),
    ("mynetworks-too-wide", "relay", MAIN_CF, "mynetworks"),
    ("master-override-opens-relay", "relay", SUBMISSION, "smtpd_relay_restrictions"),
    ("dnsbl-without-reply-filter", "order", MAIN_CF, "smtpd_client_restrictions"),
    ("expensive-before-cheap", "order", MAIN_CF, "smtpd_client_restrictions"),
    ("policy-service-without-timeout", "order", MAIN_CF, "smtpd_end_of_data_restrictions"),
    ("permit-shadows-reject", "order", MAIN_CF, "smtpd_sender_restrictions"),
    ("compatibility-level-unset", "version", MAIN_CF, "compatibility_level"),
]


def _facts(hostname):
    with open(REPORT_DIR / "hosts" / (hostname + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def _findings(hostname, **match):
    return [f for f in _facts(hostname)["findings"] if all(f.get(k) == v for k, v in match.items())]


def _brief(findings):
    return sorted((f["id"], f["service"], f.get("parameter"), f["severity"]) for f in findings)


def _inventory_name(host):
    return host.backend.get_hostname()


def test_scenario_has_stock_and_risky_hosts_on_both_releases():
    assert len(RISKY_HOSTS) == 2 and len(STOCK_HOSTS) == 2
    assert {name.rsplit("-", 1)[1] for name in RISKY_HOSTS} == set(POSTFIX_SERIES)
    assert {name.rsplit("-", 1)[1] for name in STOCK_HOSTS} == set(POSTFIX_SERIES)


# --- the report covers every host -------------------------------------------


@pytest.mark.parametrize("hostname", ALL_HOSTS)
def test_every_host_is_audited_with_its_postfix_version(hostname):
    facts = _facts(hostname)
    assert facts["installed"] is True
    assert facts["version"].startswith(POSTFIX_SERIES[hostname.rsplit("-", 1)[1]])


@pytest.mark.parametrize("summary", ["summary.md", "summary.html"])
def test_summary_names_every_host(summary):
    text = (REPORT_DIR / summary).read_text(encoding="utf-8")
    missing = [name for name in ALL_HOSTS if name not in text]
    assert not missing, "%s does not mention %s" % (summary, ", ".join(missing))


def test_summary_json_is_written():
    json.loads((REPORT_DIR / "summary.json").read_text(encoding="utf-8"))


# --- risky hosts: every seeded risk is reported -----------------------------


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
@pytest.mark.parametrize(
    "finding_id, category, service, parameter",
    SEEDED_RISKS,
    ids=[risk[0] for risk in SEEDED_RISKS],
)
def test_each_seeded_risk_is_reported_with_its_id_and_service(hostname, finding_id, category, service, parameter):
    reported = _findings(hostname, id=finding_id)
    assert reported, "%s: %s not reported; findings: %s" % (hostname, finding_id, _brief(_facts(hostname)["findings"]))
    matching = [f for f in reported if f["service"] == service and (parameter is None or f["parameter"] == parameter)]
    assert matching, "%s: %s reported only as %s, expected service %s parameter %s" % (
        hostname, finding_id, _brief(reported), service, parameter)
    assert all(f["category"] == category for f in matching), _brief(matching)


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_a_lookup_that_smtpd_runs_before_a_cheaper_check_of_a_later_list_is_reported(hostname):
    # The helo list's DNS check runs before the relay list's guard, which
    # would refuse relay attempts without a query.
    across = [f for f in _findings(hostname, id="expensive-before-cheap", service=MAIN_CF)
              if "in smtpd_relay_restrictions" in f["message"]]
    assert across, _brief(_findings(hostname, id="expensive-before-cheap"))
    assert across[0]["parameter"] == "smtpd_helo_restrictions"
    assert "'reject_unknown_helo_hostname' (dns)" in across[0]["message"]
    # The client list's blocklist, followed by a cheap check in its own list,
    # is reported once, by the rule for one list.
    client = _findings(hostname, id="expensive-before-cheap", parameter="smtpd_client_restrictions",
                       service=MAIN_CF)
    assert len(client) == 1, _brief(client)
    # The submission service's policy check in its client list runs before
    # its relay list's guard, which would refuse relay attempts first.
    submission = _findings(hostname, id="expensive-before-cheap", service=SUBMISSION)
    assert any("check_policy_service" in f["message"] and "in smtpd_relay_restrictions" in f["message"]
               for f in submission), _brief(submission)


@pytest.mark.parametrize("hostname", STOCK_HOSTS)
def test_stock_debian_postfix_has_no_order_finding(hostname):
    # Stock Debian makes no DNS check in any list: nothing runs before a cheaper one.
    assert not _findings(hostname, id="expensive-before-cheap"), _brief(_findings(hostname, category="order"))


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_master_cf_override_that_opens_relay_is_reported_for_submission(hostname):
    reported = _findings(hostname, id="master-override-opens-relay")
    assert [f["service"] for f in reported] == [SUBMISSION], _brief(reported)
    assert reported[0]["severity"] == "critical"


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_a_service_whose_only_relay_guard_follows_a_bare_permit_is_reported_as_not_starting(hostname):
    reported = _findings(hostname, service=BROKEN)
    assert [f["id"] for f in reported if f["category"] == "relay"] == ["relay-check-missing"], _brief(reported)
    assert "will not start" in [f for f in reported if f["id"] == "relay-check-missing"][0]["message"]
    # And it does not: smtpd exits before it greets anyone on that port.
    with socket.create_connection((address(hostname), 2526), timeout=10) as conn:
        conn.settimeout(10)
        try:
            greeting = conn.recv(64)
        except (socket.timeout, ConnectionResetError):
            greeting = b""
    assert not greeting.startswith(b"220"), greeting


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_main_cf_is_not_called_an_open_relay_when_only_an_override_opens_it(hostname):
    assert not _findings(hostname, id="open-relay-permit"), _brief(_findings(hostname, id="open-relay-permit"))
    assert not _findings(hostname, id="master-override-opens-relay", service=MAIN_CF)


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_submission_override_stages_come_from_master_cf(hostname):
    stages = _facts(hostname)["smtpd_services"][SUBMISSION]["stages"]
    assert stages["relay"]["source"] == "master.cf"
    assert [e["name"] for e in stages["relay"]["entries"]] == [
        "permit_mynetworks", "permit_dnswl_client", "reject_unauth_destination"]
    # Not overridden: inherited from main.cf.
    assert stages["sender"]["source"] == "main.cf"


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_brace_form_policy_service_override_is_one_entry_with_its_timeout(hostname):
    client = _facts(hostname)["smtpd_services"][SUBMISSION]["stages"]["client"]
    assert client["source"] == "master.cf"
    assert [e["name"] for e in client["entries"]] == ["check_policy_service"]
    assert "timeout=10s" in client["entries"][0]["text"]
    assert "default_action=DUNNO" in client["entries"][0]["text"]
    wrongly_reported = _findings(hostname, id="policy-service-without-timeout", service=SUBMISSION,
                                 parameter="smtpd_client_restrictions")
    assert not wrongly_reported, _brief(wrongly_reported)


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_null_sender_bounces_to_remote_addresses_are_counted_in_the_queue(hostname):
    queue = _facts(hostname)["queue"]
    # The injected null-sender message, and the bounce Postfix wrote itself
    # to the forged sender.
    assert queue["null_sender"] >= 2, queue
    assert queue["bounces_to_remote"] >= 2, queue


@pytest.mark.parametrize("hostname", RISKY_HOSTS)
def test_offsite_alias_and_forward_file_are_inventoried(hostname):
    forwarding = _facts(hostname)["forwarding"]
    assert forwarding["aliases"]["offsite"] >= 1, forwarding["aliases"]
    assert forwarding["forward_files"]["offsite"] >= 1, forwarding["forward_files"]
    assert any("bob@ext.test" in example for example in forwarding["aliases"]["offsite_examples"])
    assert any("carol@elsewhere.test" in example for example in forwarding["forward_files"]["offsite_examples"])


# --- stock hosts: Debian's own Postfix is not a relay -----------------------


@pytest.mark.parametrize("hostname", STOCK_HOSTS)
def test_stock_debian_postfix_has_no_relay_finding_above_low(hostname):
    serious = [f for f in _findings(hostname, category="relay") if f["severity"] in ("critical", "high", "medium")]
    assert not serious, _brief(serious)


@pytest.mark.parametrize("hostname", STOCK_HOSTS)
def test_stock_debian_postfix_has_one_backscatter_finding_dsn_on_port_25(hostname):
    # Debian's smtpd on port 25 offers DSN to anyone, so a forger's
    # NOTIFY=SUCCESS sends a notice to the forged sender (the backscatter
    # scenario shows it); nothing else in a stock install bounces to forgers.
    reported = _findings(hostname, category="backscatter")
    assert _brief(reported) == [("dsn-offered-on-port-25", "smtp/inet", "smtpd_discard_ehlo_keywords", "medium")]


# --- the audit changes nothing on the hosts ---------------------------------


def test_audit_leaves_postfix_configuration_and_aliases_unchanged(host):
    before = (CHECKSUMS_BEFORE_DIR / (_inventory_name(host) + ".md5")).read_text(encoding="utf-8")
    after = host.check_output("bash -c %s", CHECKSUM_COMMAND)
    assert after.strip() == before.strip()


def test_postfix_is_still_running_after_the_audit(host):
    assert host.run("postfix status").rc == 0
