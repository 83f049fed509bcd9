# -*- coding: utf-8 -*-
# Copyright: mailguard.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs Postfix's commands.

Every call is an argv list run with the C locale, so that output parses the
same on every host. The object only needs something that looks like
AnsibleModule (``get_bin_path`` and ``run_command``), which keeps it easy to
fake in unit tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from shlex import quote as shlex_quote
except ImportError:  # Python 2
    from pipes import quote as shlex_quote

from ansible_collections.mailguard.postfix.plugins.module_utils import postfix_values as pv

TOOLS = ("postconf", "postmap", "postalias", "postqueue", "postfix", "ip")


class PostfixCommands(object):
    """Run postconf, postmap, postalias, postqueue and postfix for one config directory."""

    def __init__(self, module, config_directory=None, required=False):
        self._module = module
        self.config_directory = config_directory
        self._paths = {}
        self._required = required

    def path(self, tool):
        """Absolute path of a tool, or None when it is not installed."""
        if tool not in self._paths:
            self._paths[tool] = self._module.get_bin_path(tool, required=self._required and tool != "ip")
        return self._paths[tool]

    @property
    def installed(self):
        return self.path("postconf") is not None

    def run(self, tool, args, config=True):
        """Run ``tool [-c DIR] args``; returns ``(rc, stdout, stderr)``.

        A missing tool gives rc 127 and a message, never an exception.
        """
        binary = self.path(tool)
        if binary is None:
            return 127, "", "%s: command not found" % tool
        argv = [binary]
        if config and self.config_directory and tool != "ip":
            argv.extend(["-c", self.config_directory])
        argv.extend(args)
        return self._module.run_command(argv, environ_update=pv.C_LOCALE)

    def postconf(self, *args):
        return self.run("postconf", list(args))

    def list_table(self, table, aliases=False):
        """All ``key value`` pairs of a table (``postmap -s`` / ``postalias -s``)."""
        return self.run("postalias" if aliases else "postmap", ["-s", table])

    def queue_json(self):
        return self.run("postqueue", ["-j"])

    def host_addresses(self):
        return self.run("ip", ["-o", "addr", "show"], config=False)

    # --- Writing, for the postconf module ------------------------------------
    # Each edit takes every change of one kind in a single call, so a staged
    # copy is edited in as few steps as there are kinds of change.

    def for_directory(self, config_directory):
        """The same commands, run against another configuration directory."""
        other = PostfixCommands(self._module, config_directory=config_directory, required=self._required)
        other._paths = self._paths
        return other

    def parameter(self, name):
        """``postconf -h NAME``: the value alone, unexpanded."""
        return self.run("postconf", ["-h", name])

    def defaults(self):
        """``postconf -d``: every parameter the installed Postfix knows, with its default."""
        return self.run("postconf", ["-d"])

    def set_parameters(self, assignments):
        """``postconf -e name=value ...`` on main.cf."""
        return self.run("postconf", ["-e"] + list(assignments))

    def remove_parameters(self, names):
        """``postconf -X name ...`` on main.cf."""
        return self.run("postconf", ["-X"] + list(names))

    def set_services(self, entries):
        """``postconf -M service/type=entry ...``: add or replace whole master.cf entries."""
        return self.run("postconf", ["-M"] + list(entries))

    def remove_services(self, keys):
        """``postconf -MX service/type ...``."""
        return self.run("postconf", ["-MX"] + list(keys))

    def set_service_parameters(self, assignments):
        """``postconf -P service/type/name=value ...``: master.cf ``-o`` overrides."""
        return self.run("postconf", ["-P"] + list(assignments))

    def remove_service_parameters(self, keys):
        """``postconf -PX service/type/name ...``."""
        return self.run("postconf", ["-PX"] + list(keys))

    def check(self):
        """``postfix [-c DIR] check``; needs root, as every ``postfix`` command does."""
        return self.run("postfix", ["check"])

    def check_on_terminal(self):
        """``postfix check`` with its output on a terminal, to learn why it failed.

        Postfix 3.7's postfix(1) writes a fatal error to stderr only when
        stderr is a terminal, and otherwise only to syslog; script(1) (Debian's
        essential bsdutils) gives it one. stdout and stderr arrive together,
        with CR LF line ends.
        """
        script = self._module.get_bin_path("script")
        postfix = self.path("postfix")
        if script is None or postfix is None:
            return 127, "", "script: command not found"
        argv = [postfix]
        if self.config_directory:
            argv.extend(["-c", self.config_directory])
        argv.append("check")
        command = " ".join(shlex_quote(arg) for arg in argv)
        return self._module.run_command([script, "-qec", command, "/dev/null"], environ_update=pv.C_LOCALE)
