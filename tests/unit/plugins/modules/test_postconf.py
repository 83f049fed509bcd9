"""The postconf module as Ansible runs it, against fake_postfix_files' postconf and postfix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import shutil
import stat
from collections import OrderedDict

import pytest

from ansible.module_utils import basic

from ansible_collections.mailguard.postfix.plugins.modules import postconf

from fake_postfix import FIXTURES
from fake_postfix_files import POSTCONF, POSTFIX, WRITE_FLAGS, FakePostfix


def _sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def lab(tmp_path, monkeypatch, run_main):
    """A config directory from the Debian fixtures, a module tmpdir, and the stand-in."""

    class Lab(object):
        pass

    env = Lab()
    env.config = str(tmp_path / "etc" / "postfix")
    env.moduletmp = str(tmp_path / "moduletmp")
    daemons = tmp_path / "daemons"
    os.makedirs(env.config)
    os.makedirs(env.moduletmp)
    os.makedirs(str(daemons))
    for program in ("smtpd", "pipe", "spawn"):
        (daemons / program).write_text(u"")
    env.stage = os.path.join(env.moduletmp, "postconf-stage")
    env.pristine = os.path.join(env.moduletmp, "postconf-current")
    env.moves = []

    def setup(release="debian12"):
        for name in ("main.cf", "master.cf"):
            shutil.copy(os.path.join(FIXTURES, release, name), os.path.join(env.config, name))
        os.chmod(os.path.join(env.config, "main.cf"), 0o640)
        env.fake = FakePostfix(release, str(daemons))
        env.fake.default_directory = env.config
        return env

    def hashes():
        return dict((n, _sha(os.path.join(env.config, n))) for n in ("main.cf", "master.cf"))

    def run(args, check_mode=False, diff=False, with_directory=True):
        env.fake.calls[:] = []
        if with_directory:
            args = dict(args, config_directory=env.config)
        result, warnings = run_main(postconf.main, args, check_mode=check_mode, diff=diff)
        result["warnings"] = warnings
        return result

    real_move = basic.AnsibleModule.atomic_move

    def atomic_move(self, src, dest, *args, **kwargs):
        env.moves.append((src, dest))
        if getattr(env, "fail_move", None) and dest.endswith(env.fail_move):
            raise Exception("Could not replace %s: disk full" % dest)
        return real_move(self, src, dest, *args, **kwargs)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/sbin/%s" % name

    def run_command(self, argv, **kwargs):
        return env.fake(self, argv, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "atomic_move", atomic_move)
    monkeypatch.setattr(basic.AnsibleModule, "tmpdir", property(lambda self: env.moduletmp))
    env.setup, env.run, env.hashes = setup, run, hashes
    return env


def reads(config):
    return [(POSTCONF, "-c", config, "-d"), (POSTCONF, "-c", config, "-n"),
            (POSTCONF, "-c", config, "-M"), (POSTCONF, "-c", config, "-P"), (POSTCONF, "-c", config, "-m")]


def checks(directory):
    return [(POSTFIX, "-c", directory, "check"), (POSTCONF, "-c", directory), (POSTCONF, "-c", directory, "-n"),
            (POSTCONF, "-c", directory, "-M"), (POSTCONF, "-c", directory, "-P")]


def writes(calls):
    return [c for c in calls if c[0] == POSTCONF and (set(c) & set(WRITE_FLAGS) or c[3:4] in (("-M",), ("-P",)) and len(c) > 4)]


@pytest.mark.parametrize("release", ["debian12", "debian13"])
def test_a_change_is_staged_checked_and_put_in_place(lab, release):
    lab.setup(release)
    result = lab.run({"parameters": [{"name": "smtpd_helo_required", "value": True},
                                     {"name": "biff", "state": "absent"}]})
    assert result["changed"] is True
    assert result["changed_parameters"] == ["biff", "smtpd_helo_required"]
    assert result["changed_services"] == []
    assert result["reload_required"] is True and result["restart_required"] is False
    assert lab.fake.calls == reads(lab.config) + [
        (POSTCONF, "-c", lab.stage, "-X", "biff"),
        (POSTCONF, "-c", lab.stage, "-e", "smtpd_helo_required=yes"),
    ] + checks(lab.stage)
    assert all(env.get("LC_ALL") == "C" and env.get("LANG") == "C" for env in lab.fake.environments)
    main_cf = os.path.join(lab.config, "main.cf")
    with open(main_cf) as handle:
        text = handle.read()
    assert "smtpd_helo_required = yes\n" in text and "biff" not in text
    assert stat.S_IMODE(os.stat(main_cf).st_mode) == 0o640
    # Only the file that changed is moved.
    assert [dest for _src, dest in lab.moves] == [main_cf]


def test_a_second_run_with_the_same_input_changes_nothing(lab):
    lab.setup()
    args = {"parameters": {"smtpd_helo_required": "yes", "smtpd_recipient_restrictions":
                           ["permit_mynetworks", "reject_unauth_destination"]},
            "services": [{"service": "submission", "type": "inet", "command": "smtpd",
                          "overrides": {"syslog_name": "postfix/submission",
                                        "smtpd_client_restrictions": "permit_sasl_authenticated, reject"}}]}
    assert lab.run(args)["changed"] is True
    before = lab.hashes()
    second = lab.run(args)
    assert second["changed"] is False
    assert second["changed_parameters"] == [] and second["changed_services"] == []
    assert second["reload_required"] is False
    assert lab.fake.calls == reads(lab.config)
    assert lab.hashes() == before


def test_check_mode_predicts_the_change_and_runs_nothing_that_writes(lab):
    lab.setup()
    before = lab.hashes()
    result = lab.run({"parameters": {"inet_interfaces": "loopback-only"},
                      "services": [{"service": "submission", "type": "inet", "command": "smtpd"}]},
                     check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["changed_parameters"] == ["inet_interfaces"]
    assert result["changed_services"] == ["submission/inet"]
    assert result["restart_required"] is True
    assert lab.fake.calls == reads(lab.config)
    assert writes(lab.fake.calls) == [] and lab.moves == []
    assert not os.path.exists(lab.stage)
    assert lab.hashes() == before
    main_diff, master_diff = result["diff"]
    assert "-inet_interfaces = all" in "\n".join("-" + line for line in main_diff["before"].splitlines())
    assert "inet_interfaces = loopback-only\n" in main_diff["after"]
    assert main_diff["before_header"] == os.path.join(lab.config, "main.cf") + " (postconf -n, before)"
    assert "submission inet n - - - - smtpd\n" in master_diff["after"]
    assert "submission" not in master_diff["before"]


def test_check_mode_and_the_real_run_agree(lab):
    lab.setup("debian13")
    args = {"parameters": {"smtpd_helo_restrictions": "permit_mynetworks,   reject_invalid_helo_hostname"},
            "services": [{"service": "smtp", "type": "inet", "overrides": {"smtpd_tls_security_level": "may"}}]}
    predicted = lab.run(args, check_mode=True, diff=True)
    applied = lab.run(args, diff=True)
    for key in ("changed", "changed_parameters", "changed_services", "reload_required", "restart_required", "diff"):
        assert predicted[key] == applied[key], key
    assert (POSTCONF, "-c", lab.stage, "-P", "smtp/inet/smtpd_tls_security_level=may") in lab.fake.calls


def test_a_new_service_is_added_whole_and_an_override_changed_later(lab):
    lab.setup()
    lab.run({"services": [{"service": "submission", "type": "inet", "chroot": "y", "command": "smtpd",
                           "overrides": {"syslog_name": "postfix/submission",
                                         "smtpd_client_restrictions": ["permit_sasl_authenticated", "reject"]}}]})
    assert (POSTCONF, "-c", lab.stage, "-M",
            "submission/inet=submission inet n - y - - smtpd -o syslog_name=postfix/submission "
            "-o { smtpd_client_restrictions = permit_sasl_authenticated, reject }") in lab.fake.calls
    shutil.rmtree(lab.stage)
    shutil.rmtree(lab.pristine)
    shutil.rmtree(os.path.join(lab.moduletmp, "postconf-backup"))
    result = lab.run({"services": [{"service": "submission", "type": "inet",
                                    "overrides": {"smtpd_tls_security_level": "encrypt"}}]})
    assert result["changed_services"] == ["submission/inet"] and result["changed_parameters"] == []
    assert writes(lab.fake.calls) == [
        (POSTCONF, "-c", lab.stage, "-P", "submission/inet/smtpd_tls_security_level=encrypt")]
    params, services = lab.fake.read(lab.config)
    assert services["submission/inet"]["overrides"] == OrderedDict([
        ("syslog_name", "postfix/submission"),
        ("smtpd_client_restrictions", "permit_sasl_authenticated, reject"),
        ("smtpd_tls_security_level", "encrypt")])
    assert services["submission/inet"]["fields"][:7] == ["submission", "inet", "n", "-", "y", "-", "-"]


@pytest.mark.parametrize("args, expected", [
    ({"parameters": {"smtpd_helo_requierd": "yes"}},
     "parameters.smtpd_helo_requierd: unknown parameter: Postfix 3.7.11 has no parameter smtpd_helo_requierd "
     "(did you mean smtpd_helo_required?)"),
    ({"parameters": {"smtpd_helo_required": "maybe"}},
     "parameters.smtpd_helo_required: expected yes or no, got 'maybe'"),
    ({"parameters": {"smtpd_timeout": "5 minutes"}}, "parameters.smtpd_timeout: expected a time"),
    ({"parameters": {"message_size_limit": "50M"}}, "parameters.message_size_limit: expected an integer"),
    ({"parameters": {"smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destinaton"}},
     "unknown restriction 'reject_unauth_destinaton' in smtpd_recipient_restrictions"),
    ({"services": [{"service": "submission", "type": "inet", "private": "y", "command": "smtpd"}]},
     "services[submission/inet]: an inet service cannot be private"),
    ({"services": [{"service": "submission", "type": "inet"}]}, "services[submission/inet]: not in master.cf yet"),
    ({"services": [{"service": "policy", "type": "unix", "command": "spawn-bogus"}]}, "not a program in daemon_directory"),
    ({"services": [{"service": "smtp", "type": "inet", "overrides": {"smtpd_tls_security_levl": "may"}}]},
     "services[smtp/inet].overrides.smtpd_tls_security_levl: unknown parameter"),
])
def test_bad_input_is_refused_before_anything_runs_that_changes(lab, args, expected):
    lab.setup()
    before = lab.hashes()
    result = lab.run(args)
    assert result["failed"] is True
    assert result["msg"].startswith("Nothing was changed; the request has 1 problem(s):")
    assert expected in result["msg"]
    assert result["problems"] and expected in result["problems"][0]
    assert lab.fake.calls == reads(lab.config)
    assert lab.moves == [] and not os.path.exists(lab.stage)
    assert lab.hashes() == before


def test_a_warning_in_the_staged_copy_leaves_the_live_files_byte_identical(lab):
    lab.setup()
    before = lab.hashes()
    warning = "postconf: warning: %s/main.cf: unused parameter: my_list=reject\n"
    lab.fake.answers[(POSTCONF, "-c", lab.stage)] = (0, "", warning % lab.stage)
    lab.fake.answers[(POSTCONF, "-c", lab.pristine)] = (0, "", "")
    result = lab.run({"parameters": {"my_list": "reject"}, "custom_parameters": ["my_list"]})
    assert result["failed"] is True
    assert "Nothing was changed: Postfix warns about the changed configuration" in result["msg"]
    assert (warning % lab.config).strip() in result["msg"]
    assert result["postfix_output"] == [(warning % lab.config).strip()]
    assert lab.moves == []
    assert lab.hashes() == before


FATAL = "postfix: fatal: config variable inet_interfaces: host not found: mail.invalid"


@pytest.mark.parametrize("release", ["debian12", "debian13"])
def test_a_failing_postfix_check_leaves_the_live_files_byte_identical(lab, release):
    lab.setup(release)
    before = lab.hashes()
    check = (POSTFIX, "-c", lab.stage, "check")
    on_terminal = ("/usr/sbin/script", "-qec", "%s -c %s check" % (POSTFIX, lab.stage), "/dev/null")
    if release == "debian12":
        # Postfix 3.7 says why only on a terminal (otherwise only to syslog).
        lab.fake.answers[check] = (1, "", "")
        lab.fake.answers[on_terminal] = (1, FATAL + "\r\n", "")
    else:
        lab.fake.answers[check] = (1, "", FATAL + "\n")
    result = lab.run({"parameters": {"inet_interfaces": "mail.invalid"}})
    assert result["failed"] is True
    assert FATAL in result["msg"]
    assert result["postfix_output"] == ["postfix check: rc=1", FATAL]
    assert (on_terminal in lab.fake.calls) is (release == "debian12")
    assert lab.moves == [] and lab.hashes() == before


def test_a_repeated_warning_is_reported_once(lab):
    lab.setup()
    warning = "postconf: warning: %s/main.cf: unused parameter: my_list=reject" % lab.stage
    lab.fake.answers[(POSTFIX, "-c", lab.stage, "check")] = (0, "", (warning + "\n") * 3)
    lab.fake.answers[(POSTCONF, "-c", lab.stage)] = (0, "", warning + "\n")
    lab.fake.answers[(POSTCONF, "-c", lab.pristine)] = (0, "", "")
    result = lab.run({"parameters": {"my_list": "reject"}, "custom_parameters": ["my_list"]})
    assert result["postfix_output"] == [warning.replace(lab.stage, lab.config)]


def test_a_warning_the_current_configuration_gives_too_does_not_block(lab):
    lab.setup()
    old = "postconf: warning: %s/main.cf: unused parameter: leftover=1\n"
    lab.fake.answers[(POSTCONF, "-c", lab.stage)] = (0, "", old % lab.stage)
    lab.fake.answers[(POSTCONF, "-c", lab.pristine)] = (0, "", old % lab.pristine)
    result = lab.run({"parameters": {"smtpd_helo_required": "yes"}})
    assert result["changed"] is True
    assert lab.fake.calls[-5:] == checks(lab.pristine)
    assert any("not caused by this change" in w and "leftover=1" in w for w in result["warnings"])


def test_main_cf_is_restored_when_master_cf_cannot_be_put_in_place(lab):
    lab.setup()
    before = lab.hashes()
    lab.fail_move = "master.cf"
    result = lab.run({"parameters": {"smtpd_helo_required": "yes"},
                      "services": [{"service": "submission", "type": "inet", "command": "smtpd"}]})
    assert result["failed"] is True
    assert "disk full" in result["msg"] and "Restored main.cf" in result["msg"]
    assert [os.path.basename(dest) for _src, dest in lab.moves] == ["main.cf", "master.cf", "main.cf"]
    assert lab.hashes() == before


def test_postfix_s_own_directory_is_used_by_default(lab):
    lab.setup()
    result = lab.run({"parameters": {"smtpd_helo_required": "yes"}}, check_mode=True, with_directory=False)
    assert result["config_directory"] == lab.config
    assert lab.fake.calls[0] == (POSTCONF, "-h", "config_directory")
    assert lab.fake.calls[1:] == reads(lab.config)


def test_removing_a_service_and_restart_parameters(lab):
    lab.setup("debian13")
    result = lab.run({"parameters": {"inet_protocols": "ipv4"},
                      "services": [{"service": "relay", "type": "unix", "state": "absent"}]})
    assert result["changed_services"] == ["relay/unix"]
    assert result["restart_required"] is True
    assert (POSTCONF, "-c", lab.stage, "-MX", "relay/unix") in lab.fake.calls
    assert [os.path.basename(dest) for _src, dest in lab.moves] == ["main.cf", "master.cf"]
    assert not re.search(r"^relay\s", open(os.path.join(lab.config, "master.cf")).read(), re.M)


def test_a_leftover_parameter_that_postconf_n_hides_can_be_removed(lab):
    lab.setup()
    with open(os.path.join(lab.config, "main.cf"), "a") as handle:
        handle.write("leftover_parameter = 1\n")
    args = {"parameters": [{"name": "leftover_parameter", "state": "absent"}]}
    predicted = lab.run(args, check_mode=True)
    assert predicted["changed"] is True and predicted["changed_parameters"] == ["leftover_parameter"]
    result = lab.run(args)
    assert result["changed_parameters"] == ["leftover_parameter"]
    assert (POSTCONF, "-c", lab.stage, "-X", "leftover_parameter") in lab.fake.calls
    assert "leftover_parameter" not in open(os.path.join(lab.config, "main.cf")).read()
