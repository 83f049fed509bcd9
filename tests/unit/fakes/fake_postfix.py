"""A stand-in for PostfixCommands that replays real Postfix output.

The recorded output lives in tests/fixtures/postconf/<release>/ (see the
README there). Tests may change main.cf values, master.cf services, service
overrides, tables and the queue on top of a recording, to seed one exposure
at a time on an otherwise real configuration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "postconf"))
RELEASES = ("debian12", "debian13")


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


def read_fixture(*parts):
    path = fixture_path(*parts)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return handle.read()


def _set_params(text, changes, drop=()):
    lines, seen = [], set()
    for line in text.splitlines():
        name = line.split("=", 1)[0].strip()
        if name in drop:
            continue
        if name in changes:
            lines.append("%s = %s" % (name, changes[name]) if changes[name] != "" else "%s =" % name)
            seen.add(name)
        else:
            lines.append(line)
    for name, value in changes.items():
        if name not in seen:
            lines.append("%s = %s" % (name, value))
    return "\n".join(lines) + "\n"


class FakeCommands(object):
    """Replays ``postconf``, ``postmap -s``, ``postalias -s``, ``postqueue -j`` and ``ip``."""

    def __init__(self, release="debian12", variant="", main=None, drop=(), extra_master="",
                 service_params=None, tables=None, queue=None, installed=True, failing=None,
                 drop_services=()):
        self.base = os.path.join(release, variant) if variant else release
        self.main = dict(main or {})
        self.drop = set(drop)
        self.extra_master = extra_master
        # "service/type" keys whose recorded master.cf lines are left out.
        self.drop_services = set(drop_services)
        self.service_params = dict(service_params or {})
        self.tables = dict(tables or {})
        self.queue = queue
        self.installed = installed
        self.config_directory = None
        self.failing = failing or {}
        self.calls = []

    def _read(self, name):
        text = read_fixture(self.base, name)
        if text is None:
            raise AssertionError("fixture %s/%s is missing; run tools/capture-fixtures.sh" % (self.base, name))
        return text

    def postconf(self, *args):
        self.calls.append(("postconf",) + args)
        key = " ".join(args)
        if key in self.failing:
            return self.failing[key]
        if args == ("-h", "config_directory"):
            return 0, "/etc/postfix\n", ""
        if args == ("-n",):
            explicit = dict((k, v) for k, v in self.main.items() if k not in self.drop)
            return 0, _set_params(self._read("postconf-n.txt"), explicit, self.drop), ""
        if args == ("-x",):
            return 0, _set_params(self._read("postconf-x.txt"), self.main), ""
        if args == ("-M",):
            kept = [line for line in self._read("postconf-M.txt").splitlines(True)
                    if "/".join(line.split()[:2]) not in self.drop_services]
            return 0, "".join(kept) + self.extra_master, ""
        if args in (("-P",), ("-P", "-x")):
            name = "postconf-P.txt" if args == ("-P",) else "postconf-Px.txt"
            text = read_fixture(self.base, name)
            if text is None:
                text = self._read("postconf-P.txt")
            extra = "".join("%s = %s\n" % (k, v) for k, v in self.service_params.items())
            return 0, text + extra, ""
        raise AssertionError("unexpected postconf call %r" % (args,))

    def list_table(self, table, aliases=False):
        self.calls.append(("postalias" if aliases else "postmap", "-s", table))
        if table in self.tables:
            return 0, self.tables[table], ""
        if aliases and table == "hash:/etc/aliases":
            return 0, self._read("postalias-s-aliases.txt"), ""
        return 1, "", "postmap: fatal: open database %s.db: No such file or directory" % table.split(":", 1)[1]

    def queue_json(self):
        self.calls.append(("postqueue", "-j"))
        if self.queue is not None:
            return 0, self.queue, ""
        text = read_fixture(self.base, "postqueue-j.jsonl")
        return 0, text or "", ""

    def host_addresses(self):
        return 0, self._read("ip-o-addr.txt"), ""


class FakeReader(object):
    """Host reader with a fixed set of users and ``.forward`` files."""

    def __init__(self, forwards=None, unreadable=(), free=None):
        self.forwards = dict(forwards or {})
        self.unreadable = set(unreadable)
        # Free bytes by path; a path not given has plenty.
        self.free = dict(free or {})

    def users(self):
        names = sorted(set(self.forwards) | set(self.unreadable) | {"root"})
        return [(name, "/home/%s" % name) for name in names]

    def read(self, path):
        user = path.split("/")[2]
        if user in self.unreadable:
            raise IOError(13, "Permission denied")
        return self.forwards.get(user)

    def free_bytes(self, path):
        return self.free.get(path, 10 * 1024 ** 3)
