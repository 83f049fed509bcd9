"""postfix_facts as Ansible runs it: exact argv, C locale, read-only, check mode."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.mailguard.postfix.plugins.module_utils import facts as facts_module
from ansible_collections.mailguard.postfix.plugins.modules import postfix_facts

FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "postconf"))
READ_ONLY = {
    ("/usr/sbin/postconf", "-h", "config_directory"),
    ("/usr/sbin/postconf", "-n"),
    ("/usr/sbin/postconf", "-x"),
    ("/usr/sbin/postconf", "-M"),
    ("/usr/sbin/postconf", "-P"),
    ("/usr/sbin/postconf", "-P", "-x"),
    ("/usr/sbin/postalias", "-s", "hash:/etc/aliases"),
    ("/usr/sbin/postqueue", "-j"),
    ("/usr/sbin/ip", "-o", "addr", "show"),
}


def _fixture(release, name):
    path = os.path.join(FIXTURES, release, name)
    if not os.path.exists(path):
        return ""
    with open(path) as handle:
        return handle.read()


def _outputs(release):
    return {
        ("-h", "config_directory"): "/etc/postfix\n",
        ("-n",): _fixture(release, "postconf-n.txt"),
        ("-x",): _fixture(release, "postconf-x.txt"),
        ("-M",): _fixture(release, "postconf-M.txt"),
        ("-P",): _fixture(release, "postconf-P.txt"),
        ("-P", "-x"): _fixture(release, "postconf-Px.txt") or _fixture(release, "postconf-P.txt"),
        ("-s", "hash:/etc/aliases"): _fixture(release, "postalias-s-aliases.txt"),
        ("-j",): _fixture(release, "postqueue-j.jsonl"),
        ("-o", "addr", "show"): _fixture(release, "ip-o-addr.txt"),
    }


@pytest.fixture
def run_module(monkeypatch, run_main):
    """Run the module with fake binaries; returns (result, argv list, environments)."""

    def runner(args, release="debian12", installed=True, check_mode=False):
        calls, environments = [], []
        outputs = _outputs(release)

        def get_bin_path(self, name, required=False, opt_dirs=None):
            if not installed and name != "ip":
                if required:
                    self.fail_json(msg="%s not found" % name)
                return None
            return "/usr/sbin/%s" % name

        def run_command(self, argv, environ_update=None, **kwargs):
            calls.append(tuple(argv))
            environments.append(environ_update or {})
            args = tuple(argv[1:])
            if args[:1] == ("-c",):
                args = args[2:]
            return 0, outputs[args], ""

        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        monkeypatch.setattr(facts_module.HostReader, "users", lambda self: iter(()))
        result, _warnings = run_main(postfix_facts.main, args, check_mode=check_mode)
        return result, calls, environments

    return runner


@pytest.mark.parametrize("release", ["debian12", "debian13"])
def test_runs_only_read_commands_in_the_c_locale(run_module, release):
    result, calls, environments = run_module({}, release=release)
    assert result["changed"] is False
    assert set(calls) <= READ_ONLY
    assert ("/usr/sbin/postconf", "-x") in calls
    assert all(env.get("LC_ALL") == "C" and env.get("LANG") == "C" for env in environments)
    facts = result["ansible_facts"]["postfix"]
    assert facts["installed"] is True
    assert facts["smtpd_services"]["smtp/inet"]["role"] == "smtp"
    json.dumps(facts)


def test_check_mode_gives_the_same_facts(run_module):
    normal = run_module({})[0]
    checked = run_module({}, check_mode=True)[0]
    assert checked["ansible_facts"] == normal["ansible_facts"]
    assert checked["changed"] is False


def test_config_directory_is_passed_as_dash_c(run_module, tmp_path):
    _result, calls, _env = run_module({"config_directory": str(tmp_path)})
    postconf_calls = [c for c in calls if c[0].endswith("postconf")]
    assert postconf_calls and all(c[1:3] == ("-c", str(tmp_path)) for c in postconf_calls)


def test_missing_config_directory_fails_before_running_anything(run_module):
    result, calls, _env = run_module({"config_directory": "/nonexistent/postfix"})
    assert result["failed"] is True
    assert "/nonexistent/postfix" in result["msg"]
    assert calls == []


def test_host_without_postfix_is_reported_not_failed(run_module):
    result, calls, _env = run_module({}, installed=False)
    facts = result["ansible_facts"]["postfix"]
    assert "failed" not in result
    assert facts["installed"] is False
    assert [f["id"] for f in facts["findings"]] == ["postfix-not-installed"]


def test_inventories_can_be_skipped(run_module):
    result, calls, _env = run_module({"gather_forwarding": False, "gather_queue": False})
    assert not [c for c in calls if c[0].endswith(("postqueue", "postalias"))]
    assert "queue" not in result["ansible_facts"]["postfix"]
