#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postconf
short_description: Manage main.cf parameters and master.cf services of Postfix, checked before they go live
version_added: "0.1.0"
description:
  - Sets and removes main.cf parameters, and adds, changes and removes master.cf services and
    their C(-o) overrides, with Postfix's own C(postconf) command.
  - Refuses the whole request before anything changes when a parameter is unknown to the
    installed Postfix, a value does not fit the parameter's type (boolean, integer, time,
    reply code, a fixed set of words) or holds a newline or another control character, a
    restriction list names an unknown restriction or a table of a type C(postconf -m) does not
    list, a table file that does not exist or was never compiled, the relay and recipient lists
    would be left without a relay guard, or a master.cf entry has missing or invalid fields.
    Every problem found is listed.
  - Applies the change to a staged copy of main.cf and master.cf first and requires
    C(postfix -c STAGE check), C(postconf -c STAGE), C(postconf -c STAGE -n), C(-M) and C(-P)
    to pass without new warnings. Only then are the files put in place, each with an atomic
    rename that keeps its owner and mode. On any failure both files stay byte-identical and
    the error quotes Postfix.
  - Compares values the way C(postconf) prints them (runs of whitespace are one space), so a
    second run with the same input reports no change.
  - Does not reload Postfix. It returns O(ignore:reload_required) and O(ignore:restart_required) so
    that a handler can run C(postfix reload), or a full restart for the few parameters a
    reload does not apply.
author:
  - mailguard.postfix contributors (!UNKNOWN)
options:
  parameters:
    description:
      - main.cf parameters to set or remove.
      - Either a mapping of parameter name to value, where every entry takes O(state), or a
        list of mappings with keys C(name), C(value) and C(state) (C(present) or C(absent),
        default O(state)). In a list, a later entry for the same name wins, so lists from
        several inventory layers can be concatenated.
      - A value may be a string, a number, a boolean (written as C(yes) or C(no)) or a list
        (written joined with C(", ")). Use C('') for an empty value.
      - Quote release numbers such as C("3.10") in YAML; unquoted, YAML reads them as the
        number 3.1.
      - A parameter that is not in C(postconf -d) of the installed Postfix is refused unless it
        is listed in O(custom_parameters) or in C(smtpd_restriction_classes).
      - Removing a parameter that is not set is not a change; unknown names may be removed.
    type: raw
  state:
    description:
      - Whether the parameters of O(parameters) (and list entries without their own C(state))
        are set or removed.
    type: str
    choices: [present, absent]
    default: present
  services:
    description:
      - master.cf services to add, change or remove, identified by O(services[].service) and
        O(services[].type).
      - For a service that exists, only the fields given are changed; the others, and the
        C(-o) overrides not named in O(services[].overrides), are kept.
      - A service that does not exist needs O(services[].command); fields not given are C(-)
        (Postfix's default), except C(private), which is C(n) for an C(inet) service because
        master(8) refuses a private C(inet) service.
    type: list
    elements: dict
    suboptions:
      service:
        description:
          - The service name (first master.cf column), such as C(submission),
            C(127.0.0.1:10025) or C(policy).
        type: str
        required: true
      type:
        description: The service type (second column).
        type: str
        required: true
        choices: [inet, unix, unix-dgram, fifo, pass]
      private:
        description: C(y), C(n) or C(-). An C(inet) service must be C(n).
        type: raw
      unpriv:
        description: C(y), C(n) or C(-).
        type: raw
      chroot:
        description: C(y), C(n) or C(-).
        type: raw
      wakeup:
        description: C(-), or a wakeup time in seconds, optionally followed by C(?).
        type: raw
      maxproc:
        description: C(-), or the process limit (C(0) means no limit).
        type: raw
      command:
        description:
          - The program in C(daemon_directory) and its arguments, such as C(smtpd) or
            C(pipe flags=DRhu user=vmail argv=/usr/bin/maildrop -d ${recipient}).
          - C(-o) options do not belong here; use O(services[].overrides).
        type: str
      overrides:
        description:
          - C(-o name=value) settings of the service, as a mapping of parameter name to value.
            Values are typed and checked like O(parameters). A value of C(null) removes that
            override.
          - Values with spaces are written in the C(-o { name = value }) form.
        type: dict
      exclusive_overrides:
        description: Remove the overrides of this service that O(services[].overrides) does not name.
        type: bool
        default: false
      state:
        description: Whether the service is in master.cf.
        type: str
        choices: [present, absent]
        default: present
  config_directory:
    description:
      - The Postfix configuration directory, passed to every command as C(-c).
      - Defaults to the directory Postfix itself uses (C(postconf -h config_directory),
        normally C(/etc/postfix)).
    type: path
  custom_parameters:
    description:
      - Names of user-defined parameters that O(parameters) or O(services[].overrides) may set
        on purpose, such as a helper list that other values use as C($name).
      - Names in C(smtpd_restriction_classes), the current value or the one being set, are
        accepted without being listed here.
      - Postfix warns about a user-defined parameter that nothing uses, so such a change
        fails in the staged check.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - Check mode validates the input, predicts the change from what C(postconf) prints now,
        and runs no command that writes, not even on a staged copy.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details:
      - The diff shows main.cf as C(postconf -n) prints it and master.cf as C(postconf -M) with
        one C(-o) override per line, before and after.
seealso:
  - name: postconf(5)
    description: Every main.cf parameter, its type and default.
    link: https://www.postfix.org/postconf.5.html
  - name: master(5)
    description: The master.cf fields and C(-o) overrides.
    link: https://www.postfix.org/master.5.html
  - name: postconf(1)
    description: The command this module drives (C(-e), C(-X), C(-M), C(-MX), C(-P), C(-PX)).
    link: https://www.postfix.org/postconf.1.html
  - name: Postfix SMTP relay and access control
    description: How restriction lists and restriction classes are evaluated.
    link: https://www.postfix.org/SMTPD_ACCESS_README.html
notes:
  - Needs root on the managed host when something changes, because C(postfix check) runs only
    as root. Check mode needs only read access.
  - C(postfix check) and C(postconf) do not look at boolean, number or restriction values, and
    do not see a private C(inet) service; master(8) and smtpd(8) stop on them later. That is
    why the module checks them itself.
  - main.cf is put in place before master.cf. Running daemons read main.cf as they start, but
    master(8) reads master.cf only on reload, so the new main.cf with the old master.cf is the
    state Postfix runs in until the reload anyway. If master.cf cannot be put in place, main.cf
    is restored.
  - Warnings that the unchanged configuration already gives are reported as warnings and do
    not block a change; new ones do.
requirements:
  - Postfix 3.x (3.7 and 3.10 are tested).
"""

EXAMPLES = r"""
- name: Require HELO and refuse clients that pipeline before the greeting
  mailguard.postfix.postconf:
    parameters:
      smtpd_helo_required: true
      smtpd_forbid_unauth_pipelining: true
      compatibility_level: "3.6"
  notify: Reload postfix

- name: Recipient restrictions as a list, layered data with state
  mailguard.postfix.postconf:
    parameters:
      - name: smtpd_recipient_restrictions
        value:
          - permit_mynetworks
          - permit_sasl_authenticated
          - reject_unauth_destination
          - check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }
      - name: soft_bounce
        state: absent
  register: postconf_result

- name: Restart when a parameter needs it, otherwise reload
  ansible.builtin.command: "postfix {{ 'stop' if postconf_result.restart_required else 'reload' }}"
  when: postconf_result.reload_required
  changed_when: true

- name: A restriction class for recipients that forward off-site
  mailguard.postfix.postconf:
    parameters:
      smtpd_restriction_classes: forwarders
      forwarders: reject_unverified_recipient, permit

- name: Submission on port 587 with its own overrides
  mailguard.postfix.postconf:
    services:
      - service: submission
        type: inet
        private: n
        chroot: y
        command: smtpd
        overrides:
          syslog_name: postfix/submission
          smtpd_tls_security_level: encrypt
          smtpd_sasl_auth_enable: true
          smtpd_client_restrictions: [permit_sasl_authenticated, reject]
        exclusive_overrides: true

- name: Change one override of an existing service, keep the rest
  mailguard.postfix.postconf:
    services:
      - service: smtp
        type: inet
        overrides:
          smtpd_client_connection_count_limit: 20

- name: Remove a service
  mailguard.postfix.postconf:
    services:
      - service: smtps
        type: inet
        state: absent
"""

RETURN = r"""
changed_parameters:
  description: main.cf parameters that were (or in check mode would be) set, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [smtpd_helo_required, smtpd_recipient_restrictions]
changed_services:
  description: master.cf services (C(service/type)) that were added, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [submission/inet]
reload_required:
  description: Whether Postfix must be reloaded (C(postfix reload)) for the change to take effect.
  returned: always
  type: bool
  sample: true
restart_required:
  description:
    - Whether a changed parameter takes effect only after C(postfix stop) and C(postfix start)
      (C(inet_interfaces), C(inet_protocols), C(queue_directory), C(data_directory),
      C(process_id_directory)).
  returned: always
  type: bool
  sample: false
config_directory:
  description: The configuration directory that was managed.
  returned: always
  type: str
  sample: /etc/postfix
problems:
  description: Why the request was refused, one entry per problem.
  returned: when the input was refused
  type: list
  elements: str
  sample:
    - "parameters.smtpd_helo_required: expected yes or no, got 'maybe'"
postfix_output:
  description: What Postfix printed on stderr when the staged copy did not pass.
  returned: when the staged check failed
  type: list
  elements: str
  sample:
    - "postconf: warning: /etc/postfix/master.cf: unused parameter: smtpd_bogus=1"
"""

import hashlib
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailguard.postfix.plugins.module_utils import postconf_change as pc
from ansible_collections.mailguard.postfix.plugins.module_utils.postfix_cli import PostfixCommands

FILES = ("main.cf", "master.cf")


class StageError(Exception):
    """Postfix refused the staged configuration; ``lines`` is what it said."""

    def __init__(self, message, lines=()):
        super(StageError, self).__init__(message)
        self.lines = list(lines)


class MoveError(Exception):
    pass


def _read(cmds, what, method, *args):
    rc, out, err = getattr(cmds, method)(*args)
    if rc != 0:
        raise StageError("%s failed (rc=%d)" % (what, rc), pc.stderr_lines(err) or pc.stderr_lines(out))
    return out


def _text(path):
    with open(path) as handle:
        return handle.read()


def read_configuration(cmds):
    """``(defaults, parameters, services)`` as the directory's postconf prints them."""
    defaults = pc.parse_parameters(_read(cmds, "postconf -d", "postconf", "-d"))
    parameters = pc.parse_main(_read(cmds, "postconf -n", "postconf", "-n"),
                               _text(os.path.join(cmds.config_directory, "main.cf")))
    services = pc.parse_services(_read(cmds, "postconf -M", "postconf", "-M"),
                                 _read(cmds, "postconf -P", "postconf", "-P"))
    return defaults, parameters, services


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def _checks(cmds):
    """Run the checks on a directory; returns ``(failures, warnings, outputs)``."""
    failures, warnings, outputs = [], [], {}
    for label, call, args in (
        ("postfix check", cmds.check, ()),
        ("postconf", cmds.postconf, ()),
        ("postconf -n", cmds.postconf, ("-n",)),
        ("postconf -M", cmds.postconf, ("-M",)),
        ("postconf -P", cmds.postconf, ("-P",)),
    ):
        rc, out, err = call(*args)
        outputs[label] = out
        lines = pc.stderr_lines(err)
        if rc != 0:
            lines = lines or pc.stderr_lines(out)
            if not lines and label == "postfix check":
                lines = pc.stderr_lines(cmds.check_on_terminal()[1])
            failures.append("%s: rc=%d" % (label, rc))
            failures.extend(lines)
        else:
            warnings.extend(line for line in lines if line not in warnings)
    return failures, warnings, outputs


def stage(module, live, config_directory, plan):
    """Apply the plan to a copy in module.tmpdir and check it; returns the copy's reading."""
    root = module.tmpdir
    staged = os.path.join(root, "postconf-stage")
    pristine = os.path.join(root, "postconf-current")
    hashes = {}
    for directory in (staged, pristine):
        os.mkdir(directory, 0o700)
    for name in FILES:
        source = os.path.join(config_directory, name)
        hashes[name] = _sha256(source)
        for directory in (staged, pristine):
            shutil.copy2(source, os.path.join(directory, name))

    stage_cmds = live.for_directory(staged)

    def said(lines):
        return [line.replace(staged, config_directory) for line in lines]

    for method, args in plan.edits:
        rc, out, err = getattr(stage_cmds, method)(args)
        lines = pc.stderr_lines(err)
        if rc != 0 or lines:
            raise StageError("postconf refused the change (%s)" % method.replace("_", " "), said(lines or pc.stderr_lines(out)))

    failures, warnings, outputs = _checks(stage_cmds)
    if failures:
        raise StageError("the changed configuration does not pass Postfix's checks", said(failures))
    if warnings:
        # A warning the unchanged files give too is not caused by this change.
        _failures, before, _outputs = _checks(live.for_directory(pristine))
        known = set(line.replace(pristine, config_directory) for line in before)
        new = [line for line in said(warnings) if line not in known]
        if new:
            raise StageError("Postfix warns about the changed configuration", new)
        for line in sorted(set(said(warnings))):
            module.warn("Postfix warns about the current configuration too (not caused by this change): %s" % line)

    parameters = pc.parse_main(outputs["postconf -n"], _text(os.path.join(staged, "main.cf")))
    services = pc.parse_services(outputs["postconf -M"], outputs["postconf -P"])
    return staged, hashes, parameters, services


def _atomic_move(module, source, destination):
    """module.atomic_move, raising instead of ending the run.

    Older ansible-core reports a failed move through fail_json, which would
    end the module before the other file could be put back.
    """
    original = module.fail_json

    def refuse(msg="", **kwargs):
        raise MoveError(msg)

    module.fail_json = refuse
    try:
        module.atomic_move(source, destination)
    except MoveError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise MoveError(str(exc))
    finally:
        module.fail_json = original


def install(module, config_directory, staged, hashes, names):
    """Put the staged files in place: main.cf first, master.cf second."""
    for name in FILES:
        if _sha256(os.path.join(config_directory, name)) != hashes[name]:
            module.fail_json(msg="%s changed while the new configuration was checked; nothing was changed, "
                                 "run again" % os.path.join(config_directory, name))
    backup = os.path.join(module.tmpdir, "postconf-backup")
    os.mkdir(backup, 0o700)
    moved = []
    for name in [n for n in FILES if n in names]:
        live_path = os.path.join(config_directory, name)
        shutil.copy2(live_path, os.path.join(backup, name))
        try:
            _atomic_move(module, os.path.join(staged, name), live_path)
        except MoveError as exc:
            restored, lost = [], []
            for done in moved:
                try:
                    _atomic_move(module, os.path.join(backup, done), os.path.join(config_directory, done))
                    restored.append(done)
                except MoveError as again:
                    # The module's tmpdir is removed on exit; keep the old file beside the new one.
                    kept = os.path.join(config_directory, done + ".before-postconf")
                    try:
                        shutil.copy2(os.path.join(backup, done), kept)
                    except (IOError, OSError):
                        kept = "(lost)"
                    lost.append("%s (%s; the old file is %s)" % (done, again, kept))
            msg = "could not put %s in place: %s." % (live_path, exc)
            if not moved:
                msg += " Nothing was changed."
            if restored:
                msg += " Restored %s; the configuration is unchanged." % ", ".join(restored)
            if lost:
                msg += " COULD NOT RESTORE %s: the new file is live." % "; ".join(lost)
            module.fail_json(msg=msg)
        moved.append(name)


def diff_of(config_directory, before_parameters, before_services, after_parameters, after_services):
    diffs = []
    for name, render, before, after, how in (
        ("main.cf", pc.render_parameters, before_parameters, after_parameters, "postconf -n"),
        ("master.cf", pc.render_services, before_services, after_services, "postconf -M and -P"),
    ):
        before_text, after_text = render(before), render(after)
        if before_text != after_text:
            path = os.path.join(config_directory, name)
            diffs.append({
                "before_header": "%s (%s, before)" % (path, how),
                "after_header": "%s (%s, after)" % (path, how),
                "before": before_text,
                "after": after_text,
            })
    return diffs


def main():
    service_options = dict(
        service=dict(type="str", required=True),
        type=dict(type="str", required=True, choices=list(pc.SERVICE_TYPES)),
        private=dict(type="raw"),
        unpriv=dict(type="raw"),
        chroot=dict(type="raw"),
        wakeup=dict(type="raw"),
        maxproc=dict(type="raw"),
        command=dict(type="str"),
        overrides=dict(type="dict"),
        exclusive_overrides=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(
        argument_spec=dict(
            parameters=dict(type="raw"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            services=dict(type="list", elements="dict", options=service_options),
            config_directory=dict(type="path"),
            custom_parameters=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )

    cmds = PostfixCommands(module, required=True)
    config_directory = module.params["config_directory"]
    if not config_directory:
        rc, out, err = cmds.parameter("config_directory")
        if rc != 0 or not out.strip():
            module.fail_json(msg="cannot find Postfix's configuration directory: postconf -h config_directory: %s"
                                 % (err.strip() or "rc=%d" % rc))
        config_directory = out.strip()
    for name in [""] + list(FILES):
        path = os.path.join(config_directory, name)
        if not (os.path.isdir(path) if not name else os.path.isfile(path)):
            module.fail_json(msg="%s does not exist; is config_directory right?" % path)
    live = cmds.for_directory(config_directory)

    result = dict(changed=False, changed_parameters=[], changed_services=[], reload_required=False,
                  restart_required=False, config_directory=config_directory)
    try:
        defaults, parameters, services = read_configuration(live)
    except StageError as exc:
        module.fail_json(msg="cannot read the Postfix configuration in %s: %s: %s"
                             % (config_directory, exc, " ".join(exc.lines)), **result)

    daemon_directory = parameters.get("daemon_directory", defaults.get("daemon_directory", ""))

    def program_exists(program):
        if not daemon_directory or "$" in daemon_directory:
            return True
        # master(8) runs daemon_directory + "/" + command, whatever the command looks like.
        return os.path.isfile(daemon_directory + "/" + program)

    rc, out, _err = live.postconf("-m")
    table_types = out.split() if rc == 0 and out.strip() else None
    # In check mode an earlier task that would write a table did not run, so
    # the files the lists name are not looked for.
    context = pc.Context(defaults, parameters, services, module.params["custom_parameters"], program_exists,
                         table_types=table_types, path_exists=None if module.check_mode else os.path.exists,
                         config_directory=config_directory)
    try:
        request = pc.build_request(context, module.params["parameters"], module.params["services"],
                                   module.params["state"])
        plan = pc.plan_changes(parameters, services, request)
        problems = pc.guard_problems(context, plan)
        if problems:
            raise pc.RequestError(problems)
    except pc.RequestError as exc:
        module.fail_json(msg="Nothing was changed; the request has %d problem(s):\n%s"
                             % (len(exc.problems), "\n".join("- " + p for p in exc.problems)),
                         problems=exc.problems, **result)
    for note in request.notes:
        module.warn(note)

    after_parameters, after_services = plan.parameters, plan.services
    if plan.edits and not module.check_mode:
        try:
            staged, hashes, after_parameters, after_services = stage(module, live, config_directory, plan)
        except StageError as exc:
            module.fail_json(msg="Nothing was changed: %s (in a staged copy of %s). Postfix said:\n%s"
                                 % (exc, config_directory, "\n".join(exc.lines) or "(nothing)"),
                             postfix_output=exc.lines, **result)
    changed_parameters, changed_services = pc.compare(parameters, services, after_parameters, after_services)
    changed = bool(changed_parameters or changed_services)
    if changed and not module.check_mode:
        names = (["main.cf"] if changed_parameters else []) + (["master.cf"] if changed_services else [])
        install(module, config_directory, staged, hashes, names)

    result.update(changed=changed, changed_parameters=changed_parameters, changed_services=changed_services,
                  reload_required=changed, restart_required=pc.restart_required(changed_parameters))
    if module._diff and changed:
        result["diff"] = diff_of(config_directory, parameters, services, after_parameters, after_services)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
