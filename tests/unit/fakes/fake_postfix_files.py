"""A stand-in for postconf(1) and postfix(1) that edits real main.cf and master.cf files.

The postconf module's tests run it in place of run_command: it answers
postconf -d/-h/-m/-n/-M/-P from the files in the configuration directory and
the recorded defaults of tests/fixtures/postconf/<release>/, and writes the
files for -e/-X/-M/-MX/-P/-PX the way postconf does, so that the module's
staged copy, its checks and its atomic moves all work on files. Every command
is recorded with its exact argv and environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
from collections import OrderedDict

from ansible_collections.mailguard.postfix.plugins.module_utils import postconf_change as pc

from fake_postfix import FIXTURES

POSTCONF = "/usr/sbin/postconf"
# What postconf -m prints on Debian 12 (postfix, without the plugin packages).
TABLE_TYPES = ("btree", "cidr", "environ", "fail", "hash", "inline", "internal", "memcache", "nis", "pipemap",
               "proxy", "randmap", "regexp", "socketmap", "static", "tcp", "texthash", "unionmap", "unix")
POSTFIX = "/usr/sbin/postfix"
WRITE_FLAGS = ("-e", "-X", "-MX", "-PX")


def _fixture(release, name):
    with open(os.path.join(FIXTURES, release, name)) as handle:
        return handle.read()


def _logical_lines(text):
    lines = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.strip())
    return lines


class FakePostfix(object):
    """postconf -d/-n/-M/-P/-e/-X/-M/-MX/-P/-PX and postfix check on real files."""

    def __init__(self, release, daemon_directory):
        self.release = release
        self.defaults = _fixture(release, "postconf-d.txt").replace(
            "daemon_directory = /usr/lib/postfix/sbin", "daemon_directory = %s" % daemon_directory)
        self.calls = []
        self.environments = []
        # exact argv -> (rc, stdout, stderr), for commands that must fail or warn.
        self.answers = {}
        self.default_directory = None

    # -- files
    def read(self, directory):
        with open(os.path.join(directory, "main.cf")) as handle:
            params = OrderedDict()
            for line in _logical_lines(handle.read()):
                name, _sep, value = line.partition("=")
                params[name.strip()] = pc.normalise(value)
        with open(os.path.join(directory, "master.cf")) as handle:
            services = OrderedDict()
            for line in _logical_lines(handle.read()):
                words = pc.split_master_words(line)
                services["%s/%s" % (words[0], words[1])] = self._record(words)
        return params, services

    @classmethod
    def _record(cls, words):
        """A master.cf entry from its words: the seven fields, the command and its -o overrides."""
        record = {"fields": words[:7], "command": [], "overrides": OrderedDict()}
        rest = words[7:]
        index = 0
        while index < len(rest):
            if index and rest[index] == "-o":
                cls._add_override(record, rest[index + 1])
                index += 2
            else:
                record["command"].append(rest[index])
                index += 1
        return record

    @staticmethod
    def _add_override(record, word):
        if word.startswith("{"):
            word = word[1:-1]
        name, _sep, value = word.partition("=")
        record["overrides"][name.strip()] = pc.normalise(value)

    def write(self, directory, params, services):
        with open(os.path.join(directory, "main.cf"), "w") as handle:
            handle.writelines("%s = %s\n" % item for item in params.items())
        with open(os.path.join(directory, "master.cf"), "w") as handle:
            for record in services.values():
                handle.write(" ".join(record["fields"] + record["command"]) + "\n")
                for name, value in record["overrides"].items():
                    handle.write("  -o %s\n" % ("{%s=%s}" % (name, value) if " " in value else "%s=%s" % (name, value)))

    # -- output
    def master_text(self, services):
        lines = []
        for record in services.values():
            words = record["fields"] + record["command"]
            for name, value in record["overrides"].items():
                words += ["-o", "{%s=%s}" % (name, value) if " " in value else "%s=%s" % (name, value)]
            lines.append(" ".join(words))
        return "".join(line + "\n" for line in lines)

    @staticmethod
    def service_parameters_text(services):
        return "".join("%s/%s = %s\n" % (key, name, value)
                       for key, record in services.items() for name, value in sorted(record["overrides"].items()))

    # -- run_command
    def __call__(self, module, argv, environ_update=None, **kwargs):
        self.calls.append(tuple(argv))
        self.environments.append(dict(environ_update or {}))
        if tuple(argv) in self.answers:
            return self.answers[tuple(argv)]
        args = list(argv[1:])
        directory = self.default_directory
        if args[:1] == ["-c"]:
            directory, args = args[1], args[2:]
        if argv[0] == POSTFIX:
            return 0, "", ""
        if args == ["-h", "config_directory"]:
            return 0, self.default_directory + "\n", ""
        if args == ["-d"]:
            return 0, self.defaults, ""
        if args == ["-m"]:
            return 0, "".join(t + "\n" for t in TABLE_TYPES), ""
        params, services = self.read(directory)
        if args == []:
            return 0, "".join("%s = %s\n" % item for item in params.items()), ""
        if args == ["-n"]:
            # Like postconf: a parameter nothing uses is left out (it only warns),
            # and the directory given with -c is shown as if main.cf set it.
            known = set(pc.parse_parameters(self.defaults))
            text = " ".join(list(params.values()) + [v for r in services.values() for v in r["overrides"].values()])
            used = set(re.findall(r"\$\{?(\w+)", text)) | set(params.get("smtpd_restriction_classes", "").replace(",", " ").split())
            shown = OrderedDict((n, v) for n, v in params.items() if n in known or n in used)
            shown["config_directory"] = directory
            return 0, "".join(("%s = %s\n" % (n, v)) if v else "%s =\n" % n for n, v in sorted(shown.items())), ""
        if args == ["-M"]:
            return 0, self.master_text(services), ""
        if args == ["-P"]:
            return 0, self.service_parameters_text(services), ""
        flag, operands = args[0], args[1:]
        if flag == "-e":
            for operand in operands:
                name, _sep, value = operand.partition("=")
                params[name] = value
        elif flag == "-X":
            for name in operands:
                params.pop(name, None)
        elif flag == "-M":
            for operand in operands:
                key, _sep, entry = operand.partition("=")
                services[key.strip()] = self._record(pc.split_master_words(entry))
        elif flag == "-MX":
            for key in operands:
                services.pop(key, None)
        elif flag == "-P":
            for operand in operands:
                path, _sep, value = operand.partition("=")
                key, name = path.rsplit("/", 1)
                if " " in value:
                    return 1, "", "postconf: fatal: -Pe does not accept whitespace in parameter value\n"
                services[key]["overrides"][name] = value
        elif flag == "-PX":
            for path in operands:
                key, name = path.rsplit("/", 1)
                services[key]["overrides"].pop(name, None)
        else:
            raise AssertionError("unexpected command %r" % (argv,))
        self.write(directory, params, services)
        return 0, "", ""
