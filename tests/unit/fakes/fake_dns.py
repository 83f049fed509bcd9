"""A fake resolver for the blocklist tests: DNS answers from a table, no network."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.mailguard.postfix.plugins.module_utils import dnsbl


class FakeResolver(object):
    """Answers from ``zones``: {query name: DnsResult or list of A records}.

    ``everything`` maps a list zone to the A records it answers for every
    name below it, like a dead list. Names it does not know are NXDOMAIN.
    ``txt`` maps a query name to its TXT records. Every query is recorded.
    """

    nameservers = ["192.0.2.53"]

    def __init__(self, zones=None, everything=None, txt=None, failing=None):
        self.zones = dict(zones or {})
        self.everything = dict(everything or {})
        self.txt = dict(txt or {})
        self.failing = dict(failing or {})
        self.queries = []
        self._lock = threading.Lock()

    def query(self, name, rdtype):
        with self._lock:
            self.queries.append((name, rdtype))
        for zone, outcome in self.failing.items():
            if name.endswith("." + zone):
                return dnsbl.DnsResult(outcome, detail="fake")
        if rdtype == "TXT":
            if name in self.txt:
                return dnsbl.DnsResult(dnsbl.ANSWER, self.txt[name], 0.001)
            return dnsbl.DnsResult(dnsbl.NXDOMAIN, elapsed=0.001)
        answer = self.zones.get(name)
        if answer is None:
            for zone, records in self.everything.items():
                if name.endswith("." + zone):
                    answer = records
        if answer is None:
            return dnsbl.DnsResult(dnsbl.NXDOMAIN, elapsed=0.002)
        if isinstance(answer, dnsbl.DnsResult):
            return answer
        return dnsbl.DnsResult(dnsbl.ANSWER, answer, 0.003)


def healthy_ip_list(zone, listed=(), code="127.0.0.2"):
    """Records of an IP list with its RFC 5782 test point and the given addresses listed."""
    records = {"2.0.0.127.%s" % zone: [code]}
    for address in listed:
        records["%s.%s" % (dnsbl.reversed_address(address), zone)] = [code]
    return records
