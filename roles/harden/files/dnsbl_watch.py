# -*- coding: utf-8 -*-
# Copyright (c) mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check this host's own addresses and HELO names on DNS blocklists; log what changed.

Installed by the mailguard.postfix.harden role (harden_dnsbl_watch) and run by
the systemd timer mailguard-dnsbl-watch.timer:

    python3 dnsbl_watch.py CONFIG.json STATE.json

The logic is the collection's own module_utils/dnsbl.py, which the role
copies beside this file, so the timer and the dnsbl_check module judge
answers the same way. Only Debian's python3-dnspython is needed, not Ansible.

Each run writes one line with the totals, and one line per address or name
whose state changed since the last run: a new listing or a lookup error at
warning priority, a delisting at notice priority (journalctl -t
mailguard-dnsbl-watch -p warning shows the listings). A listing is reported,
not a failure of the service.

The configuration's "health_lists" are the lists Postfix itself uses. Each
run asks them for their RFC 5782 test points, as the role does before it
lets Postfix use a list. A list that fails (it lists everything, so Postfix
refuses every client it checks against it, or it no longer answers, so it
refuses nobody) is logged at error priority and fails the service, so that
`systemctl --failed` and the journal show it until the role runs again and
leaves the list out or stops, as its harden_dnsbl_unhealthy says. Bad
configuration fails the service too.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dnsbl  # noqa: E402  pylint: disable=import-error,wrong-import-position
import postfix_values  # noqa: E402  pylint: disable=import-error,wrong-import-position

# sd-daemon(3) priority prefixes, understood by the journal on stdout.
PRIORITIES = {"err": 3, "warning": 4, "notice": 5, "info": 6}


def log(level, text):
    print("<%d>%s" % (PRIORITIES[level], text))
    sys.stdout.flush()


def run(argv):
    env = dict(os.environ, **postfix_values.C_LOCALE)
    try:
        process = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 universal_newlines=True, check=False)
    except OSError as exc:
        return 127, "", str(exc)
    return process.returncode, process.stdout, process.stderr


def load_json(path, default):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def save_json(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".state.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
    os.replace(temporary, path)


def main(argv):
    if len(argv) != 3:
        log("err", "usage: %s CONFIG.json STATE.json" % argv[0])
        return 2
    try:
        config = load_json(argv[1], None)
        if not isinstance(config, dict):
            raise dnsbl.DnsblError("%s is missing or not a JSON object" % argv[1])
        lists = dnsbl.parse_lists(config["lists"]) if config.get("lists") else dnsbl.default_lists()
        addresses, domains = config.get("addresses"), config.get("domains")
        if addresses is None or domains is None:
            found_addresses, found_domains = dnsbl.discover_targets(
                run, include_private=bool(config.get("include_private")), fqdn=socket.getfqdn())
            addresses = found_addresses if addresses is None else addresses
            domains = found_domains if domains is None else domains
        resolver = dnsbl.DnsPythonResolver(config.get("nameservers") or None, config.get("port", 53),
                                           config.get("timeout", 3), config.get("retries", 1))
    except (dnsbl.DnsblError, ValueError, KeyError) as exc:
        log("err", "cannot check: %s" % exc)
        return 1

    try:
        health_lists = dnsbl.parse_lists(config.get("health_lists") or [])
    except (dnsbl.DnsblError, ValueError, KeyError) as exc:
        log("err", "cannot check: health_lists: %s" % exc)
        return 1
    unhealthy = [verdict for verdict in dnsbl.check_health(resolver, health_lists, config.get("workers", 8))
                 if not verdict["healthy"]]
    for verdict in unhealthy:
        log("err", "Postfix uses %s, which fails its health check: %s. Run the harden role again: it leaves "
                   "the list out or stops, as harden_dnsbl_unhealthy says." % (verdict["name"], verdict["message"]))

    reports = dnsbl.check_listings(resolver, lists, addresses, domains, config.get("workers", 8))
    current = dnsbl.listing_state(reports)
    previous = load_json(argv[2], {})
    for level, text in dnsbl.listing_changes(previous, current):
        log(level, text)
    listed = sum(len(report["listed"]) for report in reports)
    errors = sum(len(report["errors"]) for report in reports)
    log("warning" if listed else "info",
        "checked %s on %d list(s): %d listing(s), %d lookup error(s)" % (
            ", ".join(list(addresses) + list(domains)) or "nothing", len(lists), listed, errors))
    save_json(argv[2], current)
    if health_lists:
        log("err" if unhealthy else "info", "health of the %d list(s) Postfix uses: %d unhealthy" % (
            len(health_lists), len(unhealthy)))
    return 1 if unhealthy else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
