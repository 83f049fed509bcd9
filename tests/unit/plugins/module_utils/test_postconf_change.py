"""postconf_change on real postconf output of Debian 12 (Postfix 3.7) and 13 (3.10)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.mailguard.postfix.plugins.module_utils import postconf_change as pc

from fake_postfix import RELEASES, read_fixture


def _reading(release, variant=""):
    base = (release, variant) if variant else (release,)
    defaults = pc.parse_parameters(read_fixture(release, "postconf-d.txt"))
    parameters = pc.parse_main(read_fixture(*(base + ("postconf-n.txt",))))
    services = pc.parse_services(read_fixture(*(base + ("postconf-M.txt",))),
                                 read_fixture(*(base + ("postconf-P.txt",))))
    return defaults, parameters, services


def _context(release="debian12", variant="", custom=(), program_exists=None):
    defaults, parameters, services = _reading(release, variant)
    return pc.Context(defaults, parameters, services, custom, program_exists)


def _problems(context, parameters=None, services=None, state="present"):
    with pytest.raises(pc.RequestError) as exc:
        pc.build_request(context, parameters, services, state)
    return exc.value.problems


def _plan(release="debian12", variant="", parameters=None, services=None, custom=()):
    context = _context(release, variant, custom)
    request = pc.build_request(context, parameters, services)
    return pc.plan_changes(context.parameters, context.services, request)


# --- types inferred from postconf -d --------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name, kind", [
    ("smtpd_helo_required", pc.TYPE_BOOLEAN),
    ("smtputf8_enable", pc.TYPE_BOOLEAN),  # ${{$compatibility_level} <level {1} ? {no} : {yes}}
    ("smtpd_per_request_deadline", pc.TYPE_BOOLEAN),  # nested conditional
    ("smtpd_timeout", pc.TYPE_TIME),  # ${stress?{10}:{300}}s
    ("postscreen_dnsbl_max_ttl", pc.TYPE_TIME),
    ("maximal_queue_lifetime", pc.TYPE_TIME),
    ("message_size_limit", pc.TYPE_INTEGER),
    ("smtpd_hard_error_limit", pc.TYPE_INTEGER),
    ("relay_destination_concurrency_limit", pc.TYPE_INTEGER),  # $default_destination_concurrency_limit
    ("error_destination_rate_delay", pc.TYPE_TIME),
    ("compatibility_level", pc.TYPE_TEXT),
    ("smtpd_forbid_bare_newline", pc.TYPE_TEXT),
    ("default_destination_concurrency_negative_feedback", pc.TYPE_TEXT),
    ("smtpd_recipient_restrictions", pc.TYPE_TEXT),
])
def test_types_are_inferred_from_the_installed_defaults(release, name, kind):
    defaults = _reading(release)[0]
    assert pc.infer_type(name, defaults) == kind


def test_every_literal_form_of_a_conditional_default_is_found():
    assert pc.literal_forms("${stress?{10}:{300}}s") == ["10s", "300s"]
    assert pc.literal_forms("${{$compatibility_level} <level {3.6} ? {no} : {yes}}") == ["no", "yes"]
    assert pc.literal_forms("${a?{$a}:{${stress?{yes}:{no}}}}") == [None, "yes", "no"]
    assert pc.literal_forms("$myhostname") == [None]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name, value", [
    ("smtpd_helo_required", "yes"),
    ("smtpd_helo_required", "NO"),
    ("message_size_limit", "52428800"),
    ("smtpd_timeout", "30s"),
    ("smtpd_timeout", "5m"),
    ("maximal_queue_lifetime", "3"),  # no unit: days, the default's unit
    ("smtpd_policy_service_try_limit", "1"),
    ("unverified_recipient_defer_code", "250"),  # postconf(5) allows it for these four
    ("unknown_local_recipient_reject_code", "550"),
    ("smtpd_forbid_bare_newline", "normalize"),  # 3.7 defaults to "no" but takes more words
    ("compatibility_level", "3.10"),
    ("inet_protocols", "ipv4, ipv6"),
    ("postscreen_dnsbl_allowlist_threshold", "-1"),
    ("smtpd_client_message_rate_limit", "$other_limit"),  # expanded at run time
    ("smtpd_banner", "$myhostname ESMTP"),
])
def test_values_that_fit_are_accepted(release, name, value):
    assert pc.value_problem(name, value, _reading(release)[0]) is None


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name, value, expected", [
    ("smtpd_helo_required", "maybe", "expected yes or no"),
    ("smtpd_helo_required", "true", "expected yes or no"),
    ("message_size_limit", "10M", "size in bytes, without units"),
    ("smtpd_client_connection_count_limit", "-5", "0 or more"),
    ("smtpd_policy_service_try_limit", "0", "at least 1"),
    ("delay_logging_resolution_limit", "7", "at most 6"),
    ("smtpd_timeout", "10x", "optional unit s, m, h, d or w"),
    ("smtpd_timeout", "1.5h", "optional unit"),
    ("smtpd_timeout", "0", "at least 1s"),
    ("access_map_defer_code", "550", "400-499"),
    ("access_map_reject_code", "250", "400-599"),
    ("unverified_recipient_defer_code", "200", "250 or 400-499"),
    ("smtpd_forbid_bare_newline", "maybe", "normalize"),
    ("smtpd_tls_security_level", "required", "encrypt"),
    ("inet_protocols", "ipv5", "ipv4"),
    ("compatibility_level", "latest", "release level"),
])
def test_values_that_do_not_fit_are_refused_with_what_was_expected(release, name, value, expected):
    problem = pc.value_problem(name, value, _reading(release)[0])
    assert problem and expected in problem


# --- the request ----------------------------------------------------------------

def test_a_mapping_and_a_list_give_the_same_request():
    context = _context()
    mapping = pc.build_request(context, {"smtpd_helo_required": True, "mynetworks": ["127.0.0.0/8", "[::1]/128"]})
    listed = pc.build_request(_context(), [
        {"name": "smtpd_helo_required", "value": True},
        {"name": "mynetworks", "value": ["127.0.0.0/8", "[::1]/128"], "state": "present"},
    ])
    assert mapping.parameters == listed.parameters == {
        "smtpd_helo_required": "yes", "mynetworks": "127.0.0.0/8, [::1]/128"}


def test_a_later_list_entry_wins_so_layers_can_be_concatenated():
    request = pc.build_request(_context(), [
        {"name": "smtpd_helo_required", "value": "no"},
        {"name": "smtpd_helo_required", "value": "yes"},
        {"name": "soft_bounce", "value": "yes"},
        {"name": "soft_bounce", "state": "absent"},
    ])
    assert request.parameters == {"smtpd_helo_required": "yes", "soft_bounce": None}


def test_whitespace_is_normalised_as_postfix_prints_it():
    request = pc.build_request(_context(), {"smtpd_helo_restrictions": "  permit_mynetworks,\t   reject_invalid_helo_hostname "})
    assert request.parameters["smtpd_helo_restrictions"] == "permit_mynetworks, reject_invalid_helo_hostname"


@pytest.mark.parametrize("parameters, services, expected", [
    ({"smtpd_banner": "$myhostname ESMTP\nmynetworks = 0.0.0.0/0"}, None,
     "parameters.smtpd_banner: the value holds a newline ('\\n' at character 18)"),
    ({"smtpd_client_restrictions": ["permit_mynetworks", "reject_unauth_pipelining\npermit"]}, None,
     "parameters.smtpd_client_restrictions: the value holds a newline"),
    ({"smtpd_helo_restrictions": "reject_invalid_helo_hostname\x1b[2J"}, None,
     "parameters.smtpd_helo_restrictions: the value holds a control character"),
    (None, [{"service": "smtp", "type": "inet", "overrides": {"syslog_name": "postfix/smtp\r\n -o x=y"}}],
     "services[smtp/inet].overrides.syslog_name: the value holds a carriage return"),
    (None, [{"service": "smtp", "type": "inet", "command": "smtpd\n-o smtpd_relay_restrictions=permit"}],
     "services[smtp/inet]: command: the value holds a newline"),
])
def test_a_value_with_a_line_break_or_control_character_is_refused_not_folded(parameters, services, expected):
    problems = _problems(_context(), parameters, services)
    assert len(problems) == 1 and expected in problems[0], problems


TYPES = ("btree", "cidr", "hash", "proxy", "regexp", "texthash", "static", "inline")


def _table_context(files=()):
    context = _context()
    context.table_types = set(TYPES)
    context.path_exists = lambda path: path in files
    return context


@pytest.mark.parametrize("value, files, expected", [
    ("check_sender_access hsah:/etc/postfix/access", ("/etc/postfix/access", "/etc/postfix/access.db"),
     "parameters.smtpd_sender_restrictions: table type hsah in hsah:/etc/postfix/access is not one this Postfix "
     "supports (did you mean hash?)"),
    ("check_sender_access hash:/etc/postfix/access", (),
     "hash:/etc/postfix/access: /etc/postfix/access.db does not exist, and neither does /etc/postfix/access"),
    ("check_sender_access hash:/etc/postfix/access", ("/etc/postfix/access",),
     "/etc/postfix/access.db does not exist, the table was never compiled: run postmap hash:/etc/postfix/access"),
    ("check_sender_access proxy:btree:$config_directory/access", ("/etc/postfix/access",),
     "/etc/postfix/access.db does not exist"),
    ("check_client_access cidr:/etc/postfix/clients", (), "cidr:/etc/postfix/clients: /etc/postfix/clients does not exist"),
])
def test_a_table_a_list_names_must_be_of_a_known_type_exist_and_be_compiled(value, files, expected):
    problems = _problems(_table_context(files), {"smtpd_sender_restrictions": value})
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("value, files", [
    ("check_sender_access hash:/etc/postfix/access", ("/etc/postfix/access", "/etc/postfix/access.db")),
    ("check_sender_access texthash:${config_directory}/access", ("/etc/postfix/access",)),
    ("check_sender_access inline:{ example.test=REJECT }", ()),
    ("check_sender_access hash:$other_directory/access", ()),
])
def test_tables_that_exist_or_cannot_be_looked_for_are_accepted(value, files):
    request = pc.build_request(_table_context(files), {"smtpd_sender_restrictions": value})
    assert request.parameters["smtpd_sender_restrictions"]


def test_tables_are_not_looked_for_without_a_way_to_look_as_in_check_mode():
    context = _table_context()
    context.path_exists = None
    assert pc.build_request(context, {"smtpd_sender_restrictions": "check_sender_access hash:/etc/postfix/access"})


def _guard_problems(parameters=None, services=None):
    context = _context()
    request = pc.build_request(context, parameters, services)
    return pc.guard_problems(context, pc.plan_changes(context.parameters, context.services, request))


def test_lists_that_lose_every_relay_guard_are_refused():
    problems = _guard_problems({"smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated",
                                "smtpd_recipient_restrictions": "permit_mynetworks, reject_unlisted_recipient"})
    assert len(problems) == 1 and problems[0].startswith("main.cf: after this change") and "no relay guard" in problems[0]


def test_a_service_whose_overrides_lose_the_relay_guard_is_refused_by_its_key():
    problems = _guard_problems(services=[{"service": "smtp", "type": "inet", "overrides": {
        "smtpd_relay_restrictions": "permit", "smtpd_recipient_restrictions": "permit_mynetworks"}}])
    assert len(problems) == 1 and problems[0].startswith("smtp/inet: after this change"), problems


def test_one_list_with_a_guard_is_enough():
    assert _guard_problems({"smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated",
                            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination"}) == []


def test_a_number_read_from_unquoted_yaml_is_flagged():
    request = pc.build_request(_context(), {"compatibility_level": 3.6})
    assert request.parameters["compatibility_level"] == "3.6"
    assert "quote" in request.notes[0]


@pytest.mark.parametrize("release", RELEASES)
def test_an_unknown_parameter_is_refused_with_a_suggestion(release):
    problems = _problems(_context(release), {"smtpd_helo_requird": "yes"})
    assert len(problems) == 1
    assert problems[0].startswith("parameters.smtpd_helo_requird: unknown parameter")
    assert "did you mean smtpd_helo_required?" in problems[0]
    assert "custom_parameters" in problems[0]


def test_every_problem_is_reported_at_once():
    problems = _problems(_context(), {"smtpd_helo_required": "maybe", "bogus_name": 1,
                                      "smtpd_timeout": "soon", "relayhost": None})
    assert len(problems) == 4


def test_declared_custom_parameters_are_accepted():
    request = pc.build_request(_context(custom=["mua_client_restrictions"]),
                               {"mua_client_restrictions": "permit_sasl_authenticated, reject"})
    assert request.parameters == {"mua_client_restrictions": "permit_sasl_authenticated, reject"}


def test_an_unknown_parameter_may_still_be_removed():
    request = pc.build_request(_context(), {"old_typo_parameter": None}, default_state="absent")
    assert request.parameters == {"old_typo_parameter": None}


def test_config_directory_is_not_managed_in_main_cf():
    assert "postconf -c" in _problems(_context(), {"config_directory": "/etc/postfix2"})[0]


def test_restriction_classes_being_declared_are_parameters_and_restriction_lists():
    context = _context()
    request = pc.build_request(context, {
        "smtpd_restriction_classes": "forwarders",
        "forwarders": "reject_unverified_recipient, permit",
        "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination, "
                                        "check_recipient_access hash:/etc/postfix/forwarders",
    })
    assert request.parameters["forwarders"] == "reject_unverified_recipient, permit"
    problems = _problems(_context(), {"smtpd_restriction_classes": "forwarders",
                                      "forwarders": "reject_unverifed_recipient"})
    assert "unknown restriction 'reject_unverifed_recipient' in forwarders" in problems[0]
    assert "did you mean reject_unverified_recipient?" in problems[0]


def test_class_names_tables_and_references_are_valid_entries_of_a_list():
    context = _context(custom=["my_checks"])
    pc.build_request(context, {
        "smtpd_restriction_classes": "strict",
        "strict": "reject_unknown_sender_domain",
        "smtpd_sender_restrictions": "strict, hash:/etc/postfix/sender_access, $my_checks",
        "my_checks": "reject_non_fqdn_sender",
    })


def test_a_helper_list_named_with_dollar_is_checked_as_a_restriction_list():
    problems = _problems(_context(custom=["my_checks"]), {
        "smtpd_sender_restrictions": "$my_checks",
        "my_checks": "reject_nonfqdn_sender",
    })
    assert problems == [
        "parameters.my_checks: unknown restriction 'reject_nonfqdn_sender' in my_checks (did you mean "
        "reject_non_fqdn_sender?); a restriction class must be listed in smtpd_restriction_classes"]


@pytest.mark.parametrize("value, expected", [
    ("permit_mynetworks reject_unauth_destinaton", "unknown restriction 'reject_unauth_destinaton'"),
    ("permit_mynetworks, check_client_access", "needs 1 argument"),
    ("check_policy_service { inet:127.0.0.1:10040", "unbalanced"),
])
def test_bad_restriction_lists_are_refused(value, expected):
    problems = _problems(_context(), {"smtpd_recipient_restrictions": value})
    assert len(problems) == 1 and expected in problems[0]


# --- master.cf ------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_services_are_read_with_their_overrides_in_file_order(release):
    services = _reading(release, "risky")[2]
    submission = services["submission/inet"]
    assert submission["command"] == ["smtpd"]
    assert list(submission["overrides"]) == ["syslog_name", "smtpd_relay_restrictions", "smtpd_client_restrictions"]
    assert submission["overrides"]["smtpd_client_restrictions"] == \
        "check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }"
    assert services["smtp/inet"]["private"] == "n"
    assert services["postlog/unix-dgram"]["command"] == ["postlogd"]


def test_pipe_services_keep_their_arguments():
    services = _reading("debian12")[2]
    assert services["maildrop/unix"]["command"] == [
        "pipe", "flags=DRXhu", "user=vmail", "argv=/usr/bin/maildrop", "-d", "${recipient}"]


def test_a_new_service_needs_a_command():
    problems = _problems(_context(), services=[{"service": "submission", "type": "inet"}])
    assert problems == ["services[submission/inet]: not in master.cf yet; give command (and the fields to use) to add it"]


@pytest.mark.parametrize("entry, expected", [
    ({"private": "-"}, "inet service cannot be private"),
    ({"private": True}, "inet service cannot be private"),
    ({"chroot": "maybe"}, "chroot must be y, n or -"),
    ({"wakeup": "soon"}, "wakeup must be"),
    ({"maxproc": "-1"}, "maxproc must be"),
    ({"command": "smtpd -o smtpd_tls_security_level=encrypt"}, "give them in overrides"),
    ({"overrides": {"smtpd_tls_security_levl": "encrypt"}}, "unknown parameter"),
    ({"overrides": {"smtpd_sasl_auth_enable": "please"}}, "expected yes or no"),
    ({"overrides": {"smtpd_client_restrictions": "permit_sasl_authenticated, rejct"}}, "unknown restriction 'rejct'"),
    ({"overrides": {"smtpd_banner": "a { b"}}, "balanced braces"),
])
def test_invalid_service_entries_are_refused(entry, expected):
    item = dict({"service": "submission", "type": "inet", "command": "smtpd"}, **entry)
    problems = _problems(_context(), services=[item])
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_command_that_is_not_installed_is_refused():
    context = _context(program_exists=lambda program: program == "smtpd")
    problems = _problems(context, services=[{"service": "policy", "type": "unix", "command": "spawn-bogus"}])
    assert "not a program in daemon_directory" in problems[0]


def test_a_service_listed_twice_is_refused():
    item = {"service": "smtp", "type": "inet", "overrides": {"syslog_name": "postfix/mx"}}
    assert _problems(_context(), services=[item, item]) == ["services[smtp/inet]: listed twice"]


def test_per_transport_parameters_of_a_new_service_are_known():
    pc.build_request(_context("debian13"), {"dovecot_destination_recipient_limit": 1}, services=[
        {"service": "dovecot", "type": "unix", "unpriv": "n", "chroot": "n",
         "command": "pipe flags=DRhu user=vmail argv=/usr/lib/dovecot/deliver -d ${recipient}"}])


@pytest.mark.parametrize("release", RELEASES)
def test_the_time_limit_of_a_new_service_with_a_hyphen_in_its_name_is_known(release):
    # As Debian's README for postfix-policyd-spf-python sets it.
    request = pc.build_request(_context(release), {"policyd-spf_time_limit": "3600s"}, services=[
        {"service": "policyd-spf", "type": "unix", "unpriv": "n", "chroot": "n", "maxproc": "0",
         "command": "spawn user=policyd-spf argv=/usr/bin/policyd-spf"}])
    assert request.parameters == {"policyd-spf_time_limit": "3600s"}


@pytest.mark.parametrize("name", ["-leading_hyphen", "two words", "semi;colon", "new\nline"])
def test_a_name_postfix_cannot_hold_is_refused(name):
    problems = _problems(_context(), {name: "1"})
    assert problems == ["parameters.%s: %r is not a parameter name (letters, digits, _ and -)" % (name, name)]


# --- the plan -------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_the_current_settings_give_an_empty_plan(release):
    defaults, parameters, services = _reading(release, "risky")
    request_parameters = dict((n, v) for n, v in parameters.items() if n in defaults)
    submission = services["submission/inet"]
    plan = _plan(release, "risky", request_parameters, [{
        "service": "submission", "type": "inet", "private": "n", "command": "smtpd",
        "overrides": dict(submission["overrides"])}])
    assert plan.edits == []


def test_parameters_are_set_and_removed_in_one_call_each():
    plan = _plan(parameters=[
        {"name": "smtpd_helo_required", "value": True},
        {"name": "biff", "state": "absent"},
        {"name": "soft_bounce", "state": "absent"},  # not set: nothing to do
        {"name": "inet_interfaces", "value": "all"},  # already so
    ])
    assert plan.edits == [("remove_parameters", ["biff"]), ("set_parameters", ["smtpd_helo_required=yes"])]
    assert plan.parameters["smtpd_helo_required"] == "yes" and "biff" not in plan.parameters


def test_a_new_service_is_written_whole_with_braces_for_values_with_spaces():
    plan = _plan(services=[{"service": "submission", "type": "inet", "command": "smtpd", "overrides": {
        "syslog_name": "postfix/submission",
        "smtpd_client_restrictions": ["permit_sasl_authenticated", "reject"]}}])
    assert plan.edits == [("set_services", [
        "submission/inet=submission inet n - - - - smtpd -o syslog_name=postfix/submission "
        "-o { smtpd_client_restrictions = permit_sasl_authenticated, reject }"])]


def test_changing_one_override_keeps_the_fields_and_the_other_overrides():
    plan = _plan("debian12", "risky", services=[{"service": "submission", "type": "inet", "overrides": {
        "syslog_name": "postfix/587", "smtpd_tls_security_level": "encrypt"}}])
    assert plan.edits == [("set_service_parameters", [
        "submission/inet/syslog_name=postfix/587", "submission/inet/smtpd_tls_security_level=encrypt"])]
    after = plan.services["submission/inet"]
    assert list(after["overrides"]) == ["syslog_name", "smtpd_relay_restrictions", "smtpd_client_restrictions",
                                        "smtpd_tls_security_level"]


def test_exclusive_overrides_remove_the_ones_not_named():
    plan = _plan("debian12", "risky", services=[{
        "service": "submission", "type": "inet", "exclusive_overrides": True,
        "overrides": {"syslog_name": "postfix/submission"}}])
    assert plan.edits == [("remove_service_parameters", [
        "submission/inet/smtpd_relay_restrictions", "submission/inet/smtpd_client_restrictions"])]


def test_a_null_override_removes_that_override():
    plan = _plan("debian12", "risky", services=[{
        "service": "submission", "type": "inet", "overrides": {"smtpd_relay_restrictions": None}}])
    assert plan.edits == [("remove_service_parameters", ["submission/inet/smtpd_relay_restrictions"])]


def test_a_field_change_rewrites_the_entry_and_keeps_its_overrides():
    plan = _plan("debian12", "risky", services=[{"service": "submission", "type": "inet", "chroot": "n"}])
    (method, (entry,)), = plan.edits
    assert method == "set_services"
    assert entry.startswith("submission/inet=submission inet n - n - - smtpd -o syslog_name=postfix/submission ")
    assert entry.endswith("-o { smtpd_client_restrictions = check_policy_service "
                          "{ inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO } }")


def test_an_override_with_spaces_on_an_existing_service_rewrites_the_entry():
    plan = _plan(services=[{"service": "smtp", "type": "inet",
                            "overrides": {"smtpd_client_restrictions": "permit_mynetworks, reject"}}])
    assert plan.edits == [("set_services", [
        "smtp/inet=smtp inet n - y - - smtpd -o { smtpd_client_restrictions = permit_mynetworks, reject }"])]


def test_a_service_is_removed_only_when_present():
    plan = _plan(services=[{"service": "mailman", "type": "unix", "state": "absent"},
                           {"service": "smtps", "type": "inet", "state": "absent"}])
    assert plan.edits == [("remove_services", ["mailman/unix"])]
    assert "mailman/unix" not in plan.services


# --- the outcome ------------------------------------------------------------------

def test_compare_names_what_changed():
    _defaults, parameters, services = _reading("debian12")
    plan = _plan(parameters=[{"name": "smtpd_helo_required", "value": "yes"}, {"name": "biff", "state": "absent"}],
                 services=[{"service": "relay", "type": "unix", "state": "absent"},
                           {"service": "submission", "type": "inet", "command": "smtpd"}])
    changed_parameters, changed_services = pc.compare(parameters, services, plan.parameters, plan.services)
    assert changed_parameters == ["biff", "smtpd_helo_required"]
    assert changed_services == ["submission/inet", "relay/unix"]
    assert pc.compare(parameters, services, parameters, services) == ([], [])


@pytest.mark.parametrize("names, restart", [
    (["smtpd_helo_required"], False),
    (["inet_interfaces"], True),
    (["smtpd_helo_required", "inet_protocols"], True),
])
def test_restart_is_required_only_for_what_a_reload_does_not_apply(names, restart):
    assert pc.restart_required(names) is restart


def test_the_diff_views_look_like_postconf_output():
    _defaults, parameters, services = _reading("debian12", "risky")
    main = pc.render_parameters(parameters)
    assert "relayhost =\n" in main and "smtpd_helo_required" not in main
    master = pc.render_services(services)
    assert "submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n" in master


def test_settings_that_postconf_n_leaves_out_are_read_from_main_cf():
    main_cf = ("# a comment = no setting\nsmtpd_helo_required = yes\n"
               "leftover_parameter = one,\n    two\nconfig_directory = /etc/postfix\n")
    assert pc.parse_main("smtpd_helo_required = yes\nconfig_directory = /tmp/stage\n", main_cf) == {
        "smtpd_helo_required": "yes", "leftover_parameter": "one, two"}
