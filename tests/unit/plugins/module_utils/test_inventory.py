from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import inventory

# What `postalias -s hash:/etc/aliases` prints on Debian 12, NIS keys included.
ALIASES_LISTING = """@:\t@
YP_LAST_MODIFIED:\t1795877330
YP_MASTER_NAME:\tmx12.example.test
postmaster:\troot
alice:\tbob@ext.test
team:\tcarol, dan@ext.test, "|/usr/bin/procmail"
"""

HANDLED = {"example.test", "localhost", "relay.test"}


def test_alias_listing_skips_nis_keys():
    entries = inventory.parse_alias_listing(ALIASES_LISTING)
    assert [key for key, _targets in entries] == ["postmaster", "alice", "team"]
    assert entries[2][1] == ["carol", "dan@ext.test", '"|/usr/bin/procmail"']


def test_forwarding_summary_counts_offsite_and_one_to_one():
    summary = inventory.forwarding_summary(inventory.parse_alias_listing(ALIASES_LISTING), HANDLED, 10)
    assert summary["entries"] == 3
    assert summary["offsite"] == 2
    assert summary["offsite_one_to_one"] == 1
    assert summary["offsite_examples"] == ["alice -> bob@ext.test", "team -> dan@ext.test"]


def test_offsite_recipients_lists_every_address_and_the_one_to_one_ones():
    entries = inventory.parse_alias_listing(ALIASES_LISTING) + [("eve", ["eve@ext.test", "eve@example.test"])]
    forwarded, one_to_one = inventory.offsite_recipients(entries, HANDLED, local_domains=["example.test", "mx.test"])
    assert forwarded == ["alice@example.test", "alice@mx.test", "team@example.test", "team@mx.test",
                         "eve@example.test", "eve@mx.test"]
    assert one_to_one == ["alice@example.test", "alice@mx.test"]


def test_offsite_recipients_keep_virtual_addresses_and_skip_catch_alls():
    entries = inventory.parse_map_listing(
        "@virt.test\tdan@ext.test\nDave@example.test dan@ext.test\nkeep@example.test carol\n")
    assert inventory.offsite_recipients(entries, HANDLED) == (["dave@example.test"], ["dave@example.test"])


def test_examples_are_capped():
    entries = [("u%d" % i, ["u%d@ext.test" % i]) for i in range(50)]
    summary = inventory.forwarding_summary(entries, HANDLED, 3)
    assert summary["offsite"] == 50 and len(summary["offsite_examples"]) == 3


def test_virtual_catch_all_keys_are_counted():
    entries = inventory.parse_map_listing("@virt.test\tcarol@example.test\ndave@example.test dan@ext.test\n")
    summary = inventory.forwarding_summary(entries, HANDLED, 10, catch_all_keys=True)
    assert summary["catch_all"] == ["@virt.test -> carol@example.test"]
    assert summary["offsite"] == 1


@pytest.mark.parametrize("target, offsite", [
    ("bob@ext.test", True),
    ("bob@EXAMPLE.test", False),
    ("carol", False),
    ("|/usr/bin/procmail", False),
    ("/var/mail/archive", False),
    (":include:/etc/mail/list", False),
    ("\\alice", False),
    ("<bob@ext.test>", True),
])
def test_is_offsite(target, offsite):
    assert inventory.is_offsite(target, HANDLED) is offsite


def test_forward_file_ignores_comments():
    assert inventory.parse_forward_file("# keep a copy\n\\alice, bob@ext.test\n") == ["\\alice", "bob@ext.test"]


def test_handled_domains_separates_tables_and_keeps_their_case():
    domains, tables = inventory.handled_domains({
        "mydestination": "mx.Example.test, localhost",
        "relay_domains": "hash:/etc/postfix/Relay_Domains",
        "virtual_alias_domains": "",
    })
    assert domains == {"mx.example.test", "localhost"}
    assert tables == ["hash:/etc/postfix/Relay_Domains"]


def test_queue_counts_null_sender_bounces_to_remote_recipients():
    lines = [
        {"queue_name": "deferred", "queue_id": "A1", "sender": "", "recipients": [
            {"address": "spoofed@victim.test", "delay_reason": "connect to victim.test: refused"}]},
        {"queue_name": "deferred", "queue_id": "A2", "sender": "", "recipients": [
            {"address": "root@localhost"}]},
        {"queue_name": "active", "queue_id": "A3", "sender": "carol@example.test", "recipients": [
            {"address": "x@ext.test"}]},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    summary = inventory.parse_queue(text, HANDLED, 10)
    assert summary["total"] == 3
    assert summary["by_queue"] == {"deferred": 2, "active": 1}
    assert summary["null_sender"] == 2
    assert summary["bounces_to_remote"] == 1
    assert summary["examples"][0]["recipients"] == ["spoofed@victim.test"]
    assert summary["unparsed_lines"] == 1


IP_ADDR = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n"
    "2: eth0    inet 10.88.0.2/16 brd 10.88.255.255 scope global eth0\\       valid_lft forever\n"
)


def test_ip_addr_gives_interface_networks():
    assert inventory.parse_ip_addr(IP_ADDR) == ["127.0.0.0/8", "::1/128", "10.88.0.0/16"]


@pytest.mark.parametrize("mynetworks, wide", [
    ("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128", []),
    ("127.0.0.0/8 10.88.0.0/16", []),
    ("127.0.0.0/8 10.0.0.0/8", ["10.0.0.0/8"]),
    ("0.0.0.0/0", ["0.0.0.0/0"]),
    ("192.0.2.10/32 192.0.2.10", []),
    ("[2001:db8::]/32", ["[2001:db8::]/32"]),
])
def test_mynetworks_outside_host_networks(mynetworks, wide):
    assert inventory.mynetworks_outside(mynetworks, inventory.parse_ip_addr(IP_ADDR))[0] == wide


def test_mynetworks_tables_are_not_judged():
    wide, unjudged = inventory.mynetworks_outside("hash:/etc/postfix/network_table", ["127.0.0.0/8"])
    assert wide == [] and unjudged == ["hash:/etc/postfix/network_table"]
