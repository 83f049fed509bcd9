"""Stock Debian Postfix (mx1: Debian 12, mx2: Debian 13) does emit backscatter.

The same traffic as scenario `backscatter`, with mx1 as Debian's package and
an operator's forward, virtual alias and relay domain leave it: forged mail
that mx1 accepts and cannot deliver bounces to victim. This is what makes the
hardened scenario's probes able to fail.
"""

import functools
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))

import backscatter_lab  # noqa: E402  pylint: disable=wrong-import-position

MX = backscatter_lab.MX
CLIENTS = ["spammer", "legit"]


@functools.lru_cache(maxsize=None)
def record():
    return backscatter_lab.send_traffic("base-")


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
