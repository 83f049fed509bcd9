"""Blocklist logic: query names, what answers mean, listing and health verdicts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket
import threading

import pytest
from hypothesis import given, strategies as st

from ansible_collections.mailguard.postfix.plugins.module_utils import dnsbl
from fake_dns import FakeResolver, healthy_ip_list

LAB = dnsbl.Blocklist("bl.lab.test", "ip", "127.0.0.2")
ZEN = dnsbl.Blocklist("zen.spamhaus.org", "ip", "127.0.0.[2..11]")
DBL = dnsbl.Blocklist("dbl.lab.test", "domain", "127.0.1.[2..99]")


# --- query names ------------------------------------------------------------

def test_ipv4_address_is_queried_with_its_octets_reversed():
    assert dnsbl.query_name(LAB, "192.0.2.99") == "99.2.0.192.bl.lab.test"


def test_ipv6_address_is_queried_as_32_reversed_nibbles():
    # RFC 5782 section 2.4's example.
    name = dnsbl.query_name(LAB, "2001:db8:1:2:3:4:567:89ab")
    assert name == "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.lab.test"


def test_ipv4_mapped_ipv6_address_is_queried_as_ipv4():
    assert dnsbl.query_name(LAB, "::ffff:192.0.2.1") == "1.2.0.192.bl.lab.test"


def test_domain_list_is_queried_with_the_lower_cased_name():
    assert dnsbl.query_name(DBL, "Mail.Example.ORG.") == "mail.example.org.dbl.lab.test"


@pytest.mark.parametrize("target", ["mail.example.org", "not an address", "300.1.1.1"])
def test_an_ip_list_refuses_what_is_no_address(target):
    with pytest.raises(dnsbl.DnsblError, match="not an IP address"):
        dnsbl.query_name(LAB, target)


@given(st.ip_addresses())
def test_every_address_gives_a_name_that_reads_back_to_it(address):
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    labels = dnsbl.query_name(LAB, str(address))[:-len(".bl.lab.test")].split(".")
    if address.version == 4:
        assert ipaddress.ip_address(".".join(reversed(labels))) == address
    else:
        assert len(labels) == 32
        assert int("".join(reversed(labels)), 16) == int(address)


# --- reply filters ----------------------------------------------------------

@pytest.mark.parametrize("reply_filter, accepted, refused", [
    ("127.0.0.2", ["127.0.0.2"], ["127.0.0.3", "127.0.0.1", "127.255.255.254"]),
    ("127.0.0.[2..11]", ["127.0.0.2", "127.0.0.4", "127.0.0.11"], ["127.0.0.1", "127.0.0.12"]),
    ("127.0.0.[2;4]", ["127.0.0.2", "127.0.0.4"], ["127.0.0.3", "127.0.0.5"]),
    ("127.0.[0..1].[2;4..5;10]", ["127.0.1.2", "127.0.0.5", "127.0.1.10"], ["127.0.2.2", "127.0.0.3"]),
])
def test_reply_filters_accept_what_postfix_accepts(reply_filter, accepted, refused):
    octets = dnsbl.parse_filter(reply_filter)
    assert all(dnsbl.filter_accepts(octets, code) for code in accepted)
    assert not any(dnsbl.filter_accepts(octets, code) for code in refused)


@pytest.mark.parametrize("reply_filter", ["127.0.0", "127.0.0.[2-11]", "127.0.0.[11..2]", "127.0.0.256",
                                          "127.0.0.*", "127.0.0.2*2", "zen"])
def test_a_bad_filter_is_refused_with_the_syntax(reply_filter):
    with pytest.raises(dnsbl.DnsblError, match="reply filter"):
        dnsbl.parse_filter(reply_filter)


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_a_range_accepts_exactly_its_members(low, high, value):
    low, high = min(low, high), max(low, high)
    octets = dnsbl.parse_filter("127.0.0.[%d..%d]" % (low, high))
    assert dnsbl.filter_accepts(octets, "127.0.0.%d" % value) == (low <= value <= high)


def test_no_filter_accepts_any_code():
    assert dnsbl.filter_accepts(None, "127.0.0.99")


# --- list definitions -------------------------------------------------------

def test_lists_are_given_as_names_or_dicts():
    lists = dnsbl.parse_lists(["bl.lab.test", {"name": "dbl.lab.test", "kind": "domain", "filter": "127.0.1.2"}])
    assert [item.as_dict() for item in lists] == [
        {"name": "bl.lab.test", "kind": "ip", "filter": ""},
        {"name": "dbl.lab.test", "kind": "domain", "filter": "127.0.1.2"}]


@pytest.mark.parametrize("item, words", [
    ({"name": "bl.lab.test", "type": "client"}, "unknown key"),
    ({"name": "bl.lab.test", "kind": "asn"}, "kind"),
    ({"name": "bl lab"}, "not a domain name"),
    ({"name": "bl.lab.test", "filter": "127.0.0.[2-3]"}, "reply filter"),
    (42, "give a list name"),
])
def test_a_bad_list_is_refused_naming_the_item(item, words):
    with pytest.raises(dnsbl.DnsblError, match=r"lists\[1\].*" + words):
        dnsbl.parse_lists(["bl.lab.test", item])


def test_the_default_lists_include_the_backscatter_list_and_every_one_is_filtered():
    lists = dnsbl.default_lists()
    names = [item.name for item in lists]
    assert {"ips.backscatterer.org", "zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"} <= set(names)
    assert all(item.filter for item in lists)


# --- what an answer means ---------------------------------------------------

@pytest.mark.parametrize("result, status", [
    (dnsbl.DnsResult(dnsbl.ANSWER, ["127.0.0.4"]), dnsbl.LISTED),
    (dnsbl.DnsResult(dnsbl.NXDOMAIN), dnsbl.NOT_LISTED),
    (dnsbl.DnsResult(dnsbl.NODATA), dnsbl.NOT_LISTED),
    # An answer outside the filter is not a listing, as for Postfix.
    (dnsbl.DnsResult(dnsbl.ANSWER, ["127.0.0.12"]), dnsbl.NOT_LISTED),
    (dnsbl.DnsResult(dnsbl.ANSWER, ["127.255.255.254"]), dnsbl.ERROR),
    (dnsbl.DnsResult(dnsbl.ANSWER, ["127.255.255.255", "127.0.0.2"]), dnsbl.ERROR),
    (dnsbl.DnsResult(dnsbl.ANSWER, ["203.0.113.80"]), dnsbl.ERROR),
    (dnsbl.DnsResult(dnsbl.SERVFAIL), dnsbl.ERROR),
    (dnsbl.DnsResult(dnsbl.REFUSED), dnsbl.ERROR),
    (dnsbl.DnsResult(dnsbl.TIMEOUT), dnsbl.ERROR),
    (dnsbl.DnsResult(dnsbl.NETWORK_ERROR), dnsbl.ERROR),
])
def test_each_answer_is_a_listing_a_clean_result_or_an_error(result, status):
    assert dnsbl.classify(ZEN, result)["status"] == status


def test_an_error_code_is_explained():
    meaning = dnsbl.classify(ZEN, dnsbl.DnsResult(dnsbl.ANSWER, ["127.255.255.254"]))
    assert "public or open resolver" in meaning["error"] and "not a listing" in meaning["error"]


def test_an_unfiltered_list_counts_any_loopback_answer_but_never_an_error_code():
    unfiltered = dnsbl.Blocklist("bl.lab.test")
    assert dnsbl.classify(unfiltered, dnsbl.DnsResult(dnsbl.ANSWER, ["127.0.0.200"]))["status"] == dnsbl.LISTED
    assert dnsbl.classify(unfiltered, dnsbl.DnsResult(dnsbl.ANSWER, ["127.255.255.254"]))["status"] == dnsbl.ERROR


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=4),
       st.sampled_from(["127.0.0.2", "127.0.0.[2..11]", "127.0.[0..255].[1..255]"]))
def test_no_error_code_or_foreign_answer_ever_counts_as_listed(records, reply_filter):
    blocklist = dnsbl.Blocklist("bl.lab.test", "ip", reply_filter)
    status = dnsbl.classify(blocklist, dnsbl.DnsResult(dnsbl.ANSWER, records))["status"]
    suspicious = [r for r in records if r.startswith("127.255.255.") or not r.startswith("127.")]
    if suspicious:
        assert status == dnsbl.ERROR
    else:
        assert status in (dnsbl.LISTED, dnsbl.NOT_LISTED)


# --- listing ----------------------------------------------------------------

def test_listing_finds_a_listed_address_with_its_codes_and_reason_and_a_clean_one():
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test", ["192.0.2.66"]),
                            txt={"66.2.0.192.bl.lab.test": ["Listed in bl.lab.test (lab)"]})
    [report] = dnsbl.check_listings(resolver, [LAB], ["192.0.2.66", "192.0.2.25"], [])
    assert report["status"] == dnsbl.LISTED
    assert report["listed"] == ["192.0.2.66"] and report["errors"] == []
    listed, clean = report["results"]
    assert (listed["status"], listed["codes"], listed["reason"]) == (
        dnsbl.LISTED, ["127.0.0.2"], "Listed in bl.lab.test (lab)")
    assert (clean["status"], clean["codes"]) == (dnsbl.NOT_LISTED, [])


def test_listing_asks_domain_lists_for_names_and_ip_lists_for_addresses():
    resolver = FakeResolver(zones={"mx.example.org.dbl.lab.test": ["127.0.1.2"]})
    reports = dnsbl.check_listings(resolver, [LAB, DBL], ["192.0.2.25"], ["mx.example.org", "example.org"])
    assert [r["status"] for r in reports] == ["clean", dnsbl.LISTED]
    assert reports[1]["listed"] == ["mx.example.org"]
    asked = set(name for name, _rdtype in resolver.queries)
    assert "25.2.0.192.bl.lab.test" in asked and "mx.example.org.dbl.lab.test" in asked
    assert "mx.example.org.bl.lab.test" not in asked and "25.2.0.192.dbl.lab.test" not in asked


def test_listing_reports_errors_as_errors_never_as_clean():
    resolver = FakeResolver(everything={"err.lab.test": ["127.255.255.254"]}, failing={"slow.lab.test": dnsbl.TIMEOUT})
    lists = [dnsbl.Blocklist("err.lab.test", "ip", "127.0.0.2"), dnsbl.Blocklist("slow.lab.test", "ip", "127.0.0.2")]
    reports = dnsbl.check_listings(resolver, lists, ["192.0.2.25"], [])
    assert [r["status"] for r in reports] == [dnsbl.ERROR, dnsbl.ERROR]
    assert "127.255.255.254" in reports[0]["results"][0]["error"]
    assert "timeout" in reports[1]["results"][0]["error"]


def test_listing_on_a_list_that_lists_everything_is_an_error_not_an_alarm():
    resolver = FakeResolver(everything={"dead.lab.test": ["127.0.0.2"]})
    [report] = dnsbl.check_listings(resolver, [dnsbl.Blocklist("dead.lab.test", "ip", "127.0.0.2")],
                                    ["192.0.2.25"], [])
    assert report["lists_everything"] is True
    assert report["status"] == dnsbl.ERROR and report["listed"] == []
    assert "lists everything" in report["results"][0]["error"]


def test_queries_run_in_parallel_but_never_more_than_the_bound():
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    class SlowResolver(FakeResolver):
        def query(self, name, rdtype):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
                if running[0] >= 3:
                    release.set()
            release.wait(5)
            with lock:
                running[0] -= 1
            return dnsbl.DnsResult(dnsbl.NXDOMAIN)

    addresses = ["192.0.2.%d" % n for n in range(1, 21)]
    dnsbl.check_listings(SlowResolver(), [LAB], addresses, [], workers=3)
    assert peak[0] == 3


def test_a_resolver_that_raises_gives_an_error_not_a_clean_result():
    class BrokenResolver(FakeResolver):
        def query(self, name, rdtype):
            raise RuntimeError("boom")

    [report] = dnsbl.check_listings(BrokenResolver(), [LAB], ["192.0.2.25"], [])
    assert report["status"] == dnsbl.ERROR and "boom" in report["results"][0]["error"]


# --- health -----------------------------------------------------------------

def _health(resolver, blocklist):
    [verdict] = dnsbl.check_health(resolver, [blocklist], nonce="nonce")
    return verdict


def test_a_list_that_answers_its_test_points_is_healthy():
    verdict = _health(FakeResolver(zones=healthy_ip_list("bl.lab.test")), LAB)
    assert verdict["healthy"] is True and verdict["problem"] is None
    assert [p["key"] for p in verdict["probes"]] == ["127.0.0.2", "127.0.0.1", "nonce.invalid"]
    assert verdict["probes"][0]["query"] == "2.0.0.127.bl.lab.test"
    assert verdict["latency_ms"] >= 0


def test_a_domain_list_is_asked_for_test_and_invalid():
    resolver = FakeResolver(zones={"test.dbl.lab.test": ["127.0.1.2"]})
    verdict = _health(resolver, DBL)
    assert verdict["healthy"] is True
    assert [p["query"] for p in verdict["probes"]] == [
        "test.dbl.lab.test", "invalid.dbl.lab.test", "nonce.invalid.dbl.lab.test"]


def test_a_list_that_lists_everything_is_unhealthy():
    verdict = _health(FakeResolver(everything={"dead.lab.test": ["127.0.0.2"]}),
                      dnsbl.Blocklist("dead.lab.test", "ip", "127.0.0.2"))
    assert verdict["healthy"] is False and verdict["problem"] == dnsbl.LISTS_EVERYTHING
    assert "127.0.0.1" in verdict["message"] and "everything" in verdict["message"]


def test_a_list_that_lists_only_a_wildcard_is_caught_by_the_random_name():
    zones = healthy_ip_list("wild.lab.test")
    zones["nonce.invalid.wild.lab.test"] = ["127.0.0.2"]
    verdict = _health(FakeResolver(zones=zones), dnsbl.Blocklist("wild.lab.test", "ip", "127.0.0.2"))
    assert verdict["problem"] == dnsbl.LISTS_EVERYTHING


def test_a_list_that_answers_error_codes_is_unhealthy_with_the_meaning():
    verdict = _health(FakeResolver(everything={"err.lab.test": ["127.255.255.254"]}),
                      dnsbl.Blocklist("err.lab.test", "ip", "127.0.0.2"))
    assert verdict["healthy"] is False and verdict["problem"] == dnsbl.ERROR_ANSWER
    assert "public or open resolver" in verdict["message"]


@pytest.mark.parametrize("outcome", [dnsbl.TIMEOUT, dnsbl.SERVFAIL, dnsbl.REFUSED, dnsbl.NETWORK_ERROR])
def test_a_list_that_does_not_answer_is_unhealthy(outcome):
    verdict = _health(FakeResolver(failing={"gone.lab.test": outcome}),
                      dnsbl.Blocklist("gone.lab.test", "ip", "127.0.0.2"))
    assert verdict["healthy"] is False and verdict["problem"] == dnsbl.NO_ANSWER


def test_an_empty_list_misses_its_test_point():
    verdict = _health(FakeResolver(), LAB)
    assert verdict["problem"] == dnsbl.TEST_POINT_MISSING and "127.0.0.2" in verdict["message"]


def test_a_filter_that_does_not_fit_the_list_is_unhealthy():
    verdict = _health(FakeResolver(zones=healthy_ip_list("bl.lab.test", code="127.0.0.4")), LAB)
    assert verdict["problem"] == dnsbl.FILTER_MISMATCH and "127.0.0.4" in verdict["message"]


def test_a_lapsed_list_domain_answering_web_addresses_is_unhealthy():
    verdict = _health(FakeResolver(everything={"lapsed.test": ["203.0.113.80"]}),
                      dnsbl.Blocklist("lapsed.test", "ip", "127.0.0.2"))
    assert verdict["problem"] == dnsbl.BAD_ANSWER and "outside 127.0.0.0/8" in verdict["message"]


def test_each_list_gets_its_own_verdict_in_order():
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test"), everything={"dead.lab.test": ["127.0.0.2"]})
    verdicts = dnsbl.check_health(resolver, [dnsbl.Blocklist("dead.lab.test", "ip", "127.0.0.2"), LAB])
    assert [(v["name"], v["healthy"]) for v in verdicts] == [("dead.lab.test", False), ("bl.lab.test", True)]


# --- own addresses and names ------------------------------------------------

IP_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
2: eth0    inet 10.88.0.5/16 brd 10.88.255.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 198.51.100.25/24 brd 198.51.100.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 8.8.4.25/24 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet6 2a01:4f8::25/64 scope global \\       valid_lft forever preferred_lft forever
2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
"""


def test_only_public_addresses_are_found_unless_private_ones_are_asked_for():
    assert dnsbl.addresses_from_ip_addr(IP_ADDR) == ["8.8.4.25", "2a01:4f8::25"]
    assert dnsbl.addresses_from_ip_addr(IP_ADDR, include_private=True) == [
        "10.88.0.5", "198.51.100.25", "8.8.4.25", "2a01:4f8::25"]


def test_postfix_bind_address_and_helo_name_win_over_the_interfaces():
    def run(argv):
        if argv[0] == "postconf":
            return 0, "8.8.4.26\n\nmx1.example.org\nexample.org\n", ""
        return 0, IP_ADDR, ""
    assert dnsbl.discover_targets(run) == (["8.8.4.26"], ["mx1.example.org", "example.org"])


def test_without_postfix_the_interfaces_and_the_host_name_are_used():
    def run(argv):
        return (127, "", "not found") if argv[0] == "postconf" else (0, IP_ADDR, "")
    assert dnsbl.discover_targets(run, fqdn="mx2.example.net") == (
        ["8.8.4.25", "2a01:4f8::25"], ["mx2.example.net", "example.net"])


# --- changes the watch timer logs -------------------------------------------

def _state(status, codes=(), reason=""):
    return {"bl.lab.test 192.0.2.25": {"list": "bl.lab.test", "target": "192.0.2.25", "status": status,
                                       "codes": list(codes), "reason": reason, "error": "" if status != "error"
                                       else "no answer before the timeout"}}


def test_a_new_listing_is_a_warning_with_its_reason():
    changes = dnsbl.listing_changes(_state(dnsbl.NOT_LISTED), _state(dnsbl.LISTED, ["127.0.0.2"], "spam"))
    assert changes == [("warning", "192.0.2.25 on bl.lab.test: LISTED (127.0.0.2): spam")]


def test_a_delisting_is_a_notice_and_an_unchanged_state_says_nothing():
    assert dnsbl.listing_changes(_state(dnsbl.LISTED, ["127.0.0.2"]), _state(dnsbl.NOT_LISTED)) == [
        ("notice", "192.0.2.25 on bl.lab.test: no longer listed (was listed)")]
    assert dnsbl.listing_changes(_state(dnsbl.LISTED), _state(dnsbl.LISTED)) == []


def test_the_first_check_reports_listings_and_errors_but_not_clean_results():
    assert dnsbl.listing_changes({}, _state(dnsbl.NOT_LISTED)) == []
    assert dnsbl.listing_changes({}, _state(dnsbl.ERROR))[0][0] == "warning"


def test_state_is_built_from_a_listing_check():
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test", ["192.0.2.25"]))
    state = dnsbl.listing_state(dnsbl.check_listings(resolver, [LAB], ["192.0.2.25"], []))
    assert state["bl.lab.test 192.0.2.25"]["status"] == dnsbl.LISTED


# --- the dnspython resolver against a DNS server on loopback ----------------

dns_message = pytest.importorskip("dns.message")
dns_rcode = pytest.importorskip("dns.rcode")
dns_rrset = pytest.importorskip("dns.rrset")


class LoopbackServer(object):
    """Answers on 127.0.0.1 by the first label of the question: a, txt, servfail, refused, silent."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            query = dns_message.from_wire(data)
            question = query.question[0]
            label = question.name.labels[0].decode()
            if label == "silent":
                continue
            response = dns_message.make_response(query)
            if label == "servfail":
                response.set_rcode(dns_rcode.SERVFAIL)
            elif label == "refused":
                response.set_rcode(dns_rcode.REFUSED)
            elif label == "nx":
                response.set_rcode(dns_rcode.NXDOMAIN)
            elif label == "a" and question.rdtype == 1:
                response.answer.append(dns_rrset.from_text(question.name, 60, "IN", "A", "127.0.0.2", "127.0.0.4"))
            elif label == "a":
                response.answer.append(dns_rrset.from_text(question.name, 60, "IN", "TXT", '"listed" " here"'))
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def loopback_resolver():
    server = LoopbackServer()
    try:
        yield dnsbl.DnsPythonResolver(["127.0.0.1"], port=server.port, timeout=0.3, retries=1)
    finally:
        server.close()


@pytest.mark.parametrize("label, rdtype, outcome, records", [
    ("a", "A", dnsbl.ANSWER, ["127.0.0.2", "127.0.0.4"]),
    ("a", "TXT", dnsbl.ANSWER, ["listed here"]),
    ("nx", "A", dnsbl.NXDOMAIN, []),
    ("nodata", "A", dnsbl.NODATA, []),
    ("servfail", "A", dnsbl.SERVFAIL, []),
    ("refused", "A", dnsbl.REFUSED, []),
    ("silent", "A", dnsbl.TIMEOUT, []),
])
def test_the_dnspython_resolver_sees_every_rcode_as_it_is(loopback_resolver, label, rdtype, outcome, records):
    result = loopback_resolver.query("%s.bl.lab.test" % label, rdtype)
    assert result.outcome == outcome
    assert sorted(result.records) == records


def test_a_nameserver_that_is_no_address_is_refused():
    with pytest.raises(dnsbl.DnsblError, match="not an IP address"):
        dnsbl.DnsPythonResolver(["ns.example.org"])


def test_health_messages_are_the_same_from_run_to_run():
    resolver = FakeResolver(everything={"dead.lab.test": ["127.0.0.2"]}, failing={"gone.lab.test": dnsbl.TIMEOUT})
    lists = [dnsbl.Blocklist("dead.lab.test", "ip", "127.0.0.2"), dnsbl.Blocklist("gone.lab.test", "ip", "127.0.0.2")]
    first = [v["message"] for v in dnsbl.check_health(resolver, lists)]
    second = [v["message"] for v in dnsbl.check_health(resolver, lists)]
    assert first == second
    assert "lists 127.0.0.1 and a random name below invalid (127.0.0.2)" in first[0]
    assert "no usable answer to 3 of 3 queries" in first[1]
