"""Stock Debian Postfix (mx1: Debian 12, mx2: Debian 13) does emit backscatter.

The stock half of scenario `backscatter`: its prepare runs these tests on
the lab as Debian's package and an operator's forward, virtual alias and
relay domain leave it, before converge hardens mx1 and mx2. Forged mail
that a host accepts and cannot deliver bounces to victim, and the cheap
checks the hardened hosts refuse with are missing here. This is what makes
the hardened tests (../tests) able to fail. The counts it takes are left
in .build/lab-evidence/ for the hardened tests to print beside theirs.
"""

import functools
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

import backscatter_lab  # noqa: E402  pylint: disable=wrong-import-position

MX = backscatter_lab.MX
CLIENTS = ["spammer", "legit"]


@functools.lru_cache(maxsize=None)
def record():
    return backscatter_lab.send_traffic("bs-")


def row(mx, client, case):
    return backscatter_lab.rows_by_case(record())[(mx, client, case)]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("case", ["forged-forward", "forged-virtual_alias", "forged-unknown_relay",
                                  "forged-stale_alias"])
@pytest.mark.parametrize("mx", MX)
def test_stock_accepts_forged_mail_and_bounces_it_to_the_forged_sender(mx, client, case):
    result = row(mx, client, case)
    assert result["outcome"] == "accepted", result
    assert result["bounced"], result


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("mx", MX)
def test_stock_already_refuses_unknown_local_users(mx, client):
    # Stock Debian validates local recipients (local_recipient_maps), so this
    # case produces no backscatter there; the hardened scenario checks it
    # all the same.
    result = row(mx, client, "forged-unknown_user")
    assert result["outcome"] == "rejected_at_rcpt", result
    assert result["refused_by"] == "local_recipient_table", result


def test_victim_received_the_bounces():
    # Four cases from each of two clients, on each of two hosts.
    assert len(backscatter_lab.bounces_to_victim(record())) == 16


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("case, mailbox", backscatter_lab.CLEAN_MAIL)
def test_clean_mail_arrives_on_stock_too(mx, case, mailbox):
    backscatter_lab.assert_clean_mail_delivered(record(), mx, case, mailbox)


@pytest.mark.parametrize("mx", MX)
def test_stock_sends_the_success_notice_a_forger_asks_for_to_the_forged_sender(mx):
    # The twin of the hardened hosts' DSN test: Debian offers DSN on port 25,
    # so the forger's NOTIFY=SUCCESS sends a notice to victim.
    result = backscatter_lab.forged_notify_request("bs-", mx)
    assert result["dsn_offered"] and result["delivered"], result
    assert len(result["notices"]) == 1, result


# --- the stock twins of the DNS-cost and dead-resolver probes ----------------

# What stock Postfix refuses of the local-refusal cases: only unknown local users.
STOCK_REFUSES = {"bare_helo-unknown_user", "unknown_user"}


@functools.lru_cache(maxsize=None)
def dns_costs():
    record()
    rows = [backscatter_lab.dns_cost("bs-", mx, request) for mx in MX
            for request in backscatter_lab.LOCAL_REFUSALS + [backscatter_lab.CLEAN_REQUEST]]
    backscatter_lab.evidence_path("stock-dns-costs.json").write_text(json.dumps(rows, indent=1))
    print(backscatter_lab.dns_cost_table(rows, "DNS queries per request, stock hosts:"))
    return dict(((r["mx"], r["client"], r["case"]), r) for r in rows)


@pytest.mark.parametrize("mx", MX)
@pytest.mark.parametrize("client, case, _sender, _rcpt, _check", backscatter_lab.LOCAL_REFUSALS)
def test_stock_accepts_what_the_hardened_hosts_refuse_with_a_cheap_check(mx, client, case, _sender, _rcpt, _check):
    result = dns_costs()[(mx, client, case)]
    if case in STOCK_REFUSES:
        assert result["refused_by"] == "local_recipient_table", result
    else:
        # Accepted at RCPT: the forged message would go in, and bounce or be spam.
        assert result["code"] == 250, result


@pytest.mark.parametrize("mx", MX)
def test_stock_accepts_forged_mail_for_an_unknown_relay_user_with_the_resolver_dead(mx):
    # The twin of the hardened hosts' dead-resolver refusal: stock needs no
    # DNS to accept it, and the bounce follows later.
    dns_costs()
    client, _case, sender, rcpt, _check = [r for r in backscatter_lab.LOCAL_REFUSALS if r[1] == "unknown_relay"][0]
    backscatter_lab.stop_dns("bs-")
    try:
        reply = backscatter_lab.smtp_request("bs-", client, mx, sender, rcpt)
    finally:
        backscatter_lab.start_dns("bs-", MX)
    print("Stock %s with the lab DNS server stopped, forged mail to an unknown relay user: %d %s"
          % (mx, reply["code"], reply["text"]))
    assert reply["code"] == 250, reply
