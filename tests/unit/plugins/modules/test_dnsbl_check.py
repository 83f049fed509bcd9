"""dnsbl_check as Ansible runs it: defaults, both modes, fail_on, bad input, missing dnspython."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils import basic

from ansible_collections.mailguard.postfix.plugins.module_utils import dnsbl
from ansible_collections.mailguard.postfix.plugins.modules import dnsbl_check

from fake_dns import FakeResolver, healthy_ip_list

IP_ADDR = "2: eth0    inet 8.8.4.25/24 scope global eth0\\ valid_lft forever\n"
LAB_LISTS = [{"name": "bl.lab.test", "filter": "127.0.0.2"},
             {"name": "dbl.lab.test", "kind": "domain", "filter": "127.0.1.2"}]


@pytest.fixture
def run_module(monkeypatch, run_main):
    """Run main() against a fake resolver; returns (result, warnings, resolver, commands)."""

    def runner(args, resolver=None, postconf=(0, "\n\nmx1.example.org\nexample.org\n", "")):
        resolver = resolver or FakeResolver()
        commands, made = [], []

        def make_resolver(nameservers=None, port=53, timeout=3.0, retries=1):
            made.append((nameservers, port, timeout, retries))
            return resolver

        def run_command(self, argv, **kwargs):
            commands.append(argv)
            if argv[0].endswith("postconf"):
                return postconf
            return 0, IP_ADDR, ""

        monkeypatch.setattr(dnsbl, "DnsPythonResolver", make_resolver)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
        result, warnings = run_main(dnsbl_check.main, args)
        result["_made"] = made
        return result, warnings, resolver, commands

    return runner


def test_listing_defaults_to_own_public_addresses_and_helo_names(run_module):
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test"))
    result, warnings, resolver, _commands = run_module({"lists": LAB_LISTS}, resolver)
    assert "failed" not in result and result["changed"] is False
    assert result["addresses"] == ["8.8.4.25"]
    assert result["domains"] == ["mx1.example.org", "example.org"]
    assert result["listed"] == [] and result["errors"] == []
    assert [r["status"] for r in result["lists"]] == ["clean", "clean"]
    assert warnings == []


def test_without_lists_the_default_set_is_queried(run_module):
    result, _warnings, resolver, _commands = run_module({"addresses": ["198.51.100.25"], "domains": []})
    assert [r["name"] for r in result["lists"]][:4] == [
        "ips.backscatterer.org", "zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]
    assert ("25.100.51.198.ips.backscatterer.org", "A") in resolver.queries


def test_a_listing_warns_by_default_and_fails_when_asked(run_module):
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test", ["198.51.100.25"]),
                            txt={"25.100.51.198.bl.lab.test": ["Listed in bl.lab.test (lab)"]})
    args = {"lists": LAB_LISTS, "addresses": ["198.51.100.25"], "domains": []}
    result, warnings, _resolver, _commands = run_module(args, resolver)
    assert "failed" not in result
    assert result["listed"] == [{"list": "bl.lab.test", "target": "198.51.100.25", "codes": ["127.0.0.2"],
                                 "reason": "Listed in bl.lab.test (lab)"}]
    assert warnings == ["198.51.100.25 is listed on bl.lab.test (127.0.0.2): Listed in bl.lab.test (lab)"]
    assert "1 listing on 2 lists" in result["msg"]

    result, _warnings, _resolver, _commands = run_module(dict(args, fail_on=["listed"]), resolver)
    assert result["failed"] is True and result["listed"]


def test_a_lookup_error_fails_only_when_errors_are_asked_to_fail(run_module):
    resolver = FakeResolver(failing={"bl.lab.test": dnsbl.TIMEOUT})
    args = {"lists": LAB_LISTS[:1], "addresses": ["198.51.100.25"], "domains": [], "fail_on": ["listed"]}
    result, warnings, _resolver, _commands = run_module(args, resolver)
    assert "failed" not in result and result["errors"][0]["target"] == "198.51.100.25"
    assert "cannot tell" in warnings[0]
    result, _warnings, _resolver, _commands = run_module(dict(args, fail_on=["error"]), resolver)
    assert result["failed"] is True


def test_health_mode_gives_a_verdict_per_list(run_module):
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test"), everything={"dead.lab.test": ["127.0.0.2"]})
    args = {"mode": "health", "lists": [LAB_LISTS[0], {"name": "dead.lab.test", "filter": "127.0.0.2"}]}
    result, warnings, _resolver, commands = run_module(args, resolver)
    assert "failed" not in result
    assert result["healthy"] == ["bl.lab.test"] and result["unhealthy"] == ["dead.lab.test"]
    assert result["lists"][1]["problem"] == dnsbl.LISTS_EVERYTHING
    assert len(warnings) == 1 and warnings[0].startswith("unhealthy blocklist dead.lab.test: lists 127.0.0.1")
    # Health mode needs no own address: nothing is run on the host.
    assert commands == []

    result, _warnings, _resolver, _commands = run_module(dict(args, fail_on=["unhealthy"]), resolver)
    assert result["failed"] is True and "dead.lab.test" in result["msg"]


def test_check_mode_runs_the_same_read_only_check(run_module):
    resolver = FakeResolver(zones=healthy_ip_list("bl.lab.test"))
    result, _warnings, _resolver, _commands = run_module(
        {"mode": "health", "lists": LAB_LISTS[:1], "_ansible_check_mode": True}, resolver)
    assert result["changed"] is False and result["healthy"] == ["bl.lab.test"]


def test_resolver_options_are_passed_on(run_module):
    result, _warnings, _resolver, _commands = run_module(
        {"mode": "health", "lists": LAB_LISTS[:1], "nameservers": ["192.0.2.53"], "timeout": 1.5, "retries": 0})
    assert result["_made"] == [(["192.0.2.53"], 53, 1.5, 0)]


@pytest.mark.parametrize("args, words", [
    ({"lists": [{"name": "bl.lab.test", "filter": "127.0.0.[2-4]"}]}, "reply filter"),
    ({"lists": [{"name": "bl.lab.test", "type": "client"}]}, "unknown key"),
    ({"lists": []}, "lists is empty"),
    ({"lists": LAB_LISTS, "addresses": ["mx1.example.org"]}, "not an IP address"),
    ({"lists": LAB_LISTS, "timeout": 0}, "timeout must be greater than 0"),
])
def test_bad_input_fails_before_any_query(run_module, args, words):
    result, _warnings, resolver, _commands = run_module(args)
    assert result["failed"] is True and words in result["msg"]
    assert resolver.queries == []


def test_missing_dnspython_gives_ansibles_usual_message(run_module, monkeypatch):
    monkeypatch.setattr(dnsbl, "HAS_DNSPYTHON", False)
    result, _warnings, _resolver, _commands = run_module({"mode": "health"})
    assert result["failed"] is True
    assert "dnspython" in result["msg"] and "Failed to import the required Python library" in result["msg"]
