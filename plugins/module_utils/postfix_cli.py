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

C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

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
        return self._module.run_command(argv, environ_update=C_LOCALE)

    def postconf(self, *args):
        return self.run("postconf", list(args))

    def list_table(self, table, aliases=False):
        """All ``key value`` pairs of a table (``postmap -s`` / ``postalias -s``)."""
        return self.run("postalias" if aliases else "postmap", ["-s", table])

    def queue_json(self):
        return self.run("postqueue", ["-j"])

    def host_addresses(self):
        return self.run("ip", ["-o", "addr", "show"], config=False)
