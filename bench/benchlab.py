"""The benchmarks' lab: podman containers on a network of their own.

Every benchmark in bench/ builds its hosts with this module: containers of the
lab images (``make images``) with systemd, fixed addresses on a podman network
of their own, Postfix installed from the image's package cache, and a lab DNS
server (Debian's unbound with local data, NXDOMAIN for every other name) that
every host resolves through before any load starts. Load and probes go only to
these containers. Figures are taken in the same run as the peer they are
compared with, and written to bench/results/<name>.json.

Environment: MAILGUARD_IMAGE_PREFIX (image names, default
localhost/mailguard-debian), BENCH_KEEP=1 (leave the containers running after
the benchmark, to look at them), BENCH_SCALE (a factor for every message count,
default 1; 0.2 for a quick try).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB_CONNECTION_PLUGINS = os.path.join(ROOT, "molecule", "shared", "plugins", "connection")
RESULTS = os.path.join(HERE, "results")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
IMAGE_PREFIX = os.environ.get("MAILGUARD_IMAGE_PREFIX", "localhost/mailguard-debian")
PREFIX = "mgbench"
DOMAIN = "lab.test"
SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def log(message):
    """Progress on stderr, so that stdout stays the benchmark's JSON."""
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def scaled(count, floor=10):
    """A message count times BENCH_SCALE, never below floor."""
    return max(floor, int(count * SCALE))


def run(argv, check=True, stdin=None, timeout=900):
    """Run a command on the controller; its stdout, or raise with its stderr."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (shlex.join(argv), proc.returncode, proc.stderr[-2000:], proc.stdout[-2000:]))
    return proc


class Lab:
    """A podman network and its containers, removed again on exit.

    ``subnet`` is the third octet of 10.98.<subnet>.0/24: each benchmark
    takes its own, so that two of them never share addresses.
    """

    def __init__(self, name, subnet):
        self.name = name
        self.network = "%s-%s" % (PREFIX, name)
        self.base = "10.98.%d" % subnet
        self.hosts = {}
        self.dns_ip = None

    # -- life cycle -------------------------------------------------------

    def __enter__(self):
        self.remove()
        run(["podman", "network", "create", "--subnet", self.base + ".0/24", self.network])
        return self

    def __exit__(self, *exc):
        if os.environ.get("BENCH_KEEP") == "1":
            log("BENCH_KEEP=1: containers of %s left running" % self.network)
            return False
        self.remove()
        return False

    def remove(self):
        names = run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "name=^%s-%s-" % (PREFIX, self.name)],
                    check=False).stdout.split()
        if names:
            run(["podman", "rm", "-f", "-t", "2"] + names, check=False)
        run(["podman", "network", "rm", "-f", self.network], check=False)

    def add(self, label, release="12", octet=None, caps=(), memory=None):
        """Start a container for host ``label`` (<label>.lab.test) and wait for systemd."""
        octet = octet or 10 + len(self.hosts)
        container = "%s-%s-%s" % (PREFIX, self.name, label)
        ip = "%s.%d" % (self.base, octet)
        argv = ["podman", "run", "-d", "--systemd=always", "--network", self.network, "--ip", ip,
                "--hostname", "%s.%s" % (label, DOMAIN), "--name", container]
        for cap in caps:
            argv += ["--cap-add", cap]
        if memory:
            argv += ["--memory", memory]
        argv += ["%s:%s" % (IMAGE_PREFIX, release), "/lib/systemd/systemd"]
        cid = run(argv).stdout.strip()
        self.hosts[label] = {"container": container, "ip": ip, "release": release, "id": cid}
        deadline = time.time() + 60
        while time.time() < deadline:
            state = self.sh(label, "systemctl is-system-running || true", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("%s: systemd did not come up (%s)" % (container, state))
        # Every line of the mail log is kept, however fast it comes: the
        # benchmarks count outcomes in it.
        self.put(label, "/etc/systemd/journald.conf.d/bench.conf", "[Journal]\nRateLimitBurst=0\n")
        self.sh(label, "systemctl restart systemd-journald")
        return ip

    def ip(self, label):
        return self.hosts[label]["ip"]

    # -- commands ---------------------------------------------------------

    def sh(self, label, script, check=True, stdin=None, timeout=900):
        """Run a bash script in host ``label``."""
        return run(["podman", "exec", "-i", self.hosts[label]["container"], "bash", "-c", script],
                   check=check, stdin=stdin, timeout=timeout)

    def put(self, label, path, text, mode="0644"):
        self.sh(label, "mkdir -p %s && cat > %s && chmod %s %s" % (
            shlex.quote(os.path.dirname(path)), shlex.quote(path), mode, shlex.quote(path)), stdin=text)

    def cpu_seconds(self, label):
        """CPU time the container's cgroup has used so far (user + system)."""
        cid = self.hosts[label]["id"]
        for path in ("/sys/fs/cgroup/cpuacct/libpod_parent/libpod-%s/cpuacct.usage" % cid,
                     "/sys/fs/cgroup/cpuacct/machine.slice/libpod-%s.scope/cpuacct.usage" % cid):
            if os.path.exists(path):
                with open(path, encoding="ascii") as handle:
                    return int(handle.read()) / 1e9
        for path in ("/sys/fs/cgroup/libpod_parent/libpod-%s/cpu.stat" % cid,
                     "/sys/fs/cgroup/machine.slice/libpod-%s.scope/cpu.stat" % cid):
            if os.path.exists(path):
                with open(path, encoding="ascii") as handle:
                    return int(re.search(r"usage_usec (\d+)", handle.read()).group(1)) / 1e6
        raise RuntimeError("no cgroup CPU counter found for %s" % self.hosts[label]["container"])

    # -- Postfix and DNS -----------------------------------------------------

    def install_postfix(self, label, mailname=None, extra=()):
        """Install Debian's postfix (and ``extra`` packages) as an operator would."""
        mailname = mailname or "%s.%s" % (label, DOMAIN)
        packages = " ".join(["postfix"] + list(extra))
        self.sh(label, """
set -e
echo 'postfix postfix/main_mailer_type select Internet Site' | debconf-set-selections
echo 'postfix postfix/mailname string %s' | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends %s >/tmp/bench-apt.log 2>&1 || { tail -20 /tmp/bench-apt.log; exit 1; }
systemctl is-active postfix >/dev/null
""" % (mailname, packages))

    def install_postfix_on(self, labels, mailname=None):
        """install_postfix on each of ``labels``, two at a time (apt runs in each container)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda label: self.install_postfix(label, mailname), labels))

    def postfix_version(self, label):
        return self.sh(label, "postconf -h mail_version").stdout.strip()

    def add_addresses(self, label, count, first=100):
        """Give host ``label`` (started with the NET_ADMIN capability) ``count`` more addresses.

        Each is published in the lab DNS as c<octet>.lab.test (A and PTR) when
        start_dns runs afterwards; returns the addresses.
        """
        extra = ["%s.%d" % (self.base, octet) for octet in range(first, first + count)]
        self.sh(label, "; ".join("ip addr add %s/24 dev eth0" % address for address in extra))
        self.hosts[label]["extra"] = extra
        return extra

    def start_dns(self, label, records=(), blocklists=(), delay_ms=0, wildcards=()):
        """Serve the lab DNS from host ``label`` with unbound.

        ``records``: (name, type, data) for local data under lab.test or other
        lab zones; every host gets an A and a PTR record. ``blocklists``:
        (zone, [addresses]) served as RFC 5782 IP lists, or (zone, [domains],
        "domain") as domain lists, each with its RFC 5782 test point listed. With ``delay_ms``,
        unbound listens on 127.0.0.1:5353 and bench/dns_delay.py answers on
        port 53 after that delay, as a distant DNS server would.
        ``wildcards``: (zone, [(type, data)]) answered for every name below
        the zone (a new sender domain per message, say).
        """
        lines = ["server:",
                 "  interface: %s@%d" % (("127.0.0.1", 5353) if delay_ms else ("0.0.0.0", 53)),
                 "  access-control: 0.0.0.0/0 allow", "  do-ip6: no", '  module-config: "iterator"',
                 '  chroot: ""', '  username: "unbound"', "  use-syslog: yes", "  num-threads: 1",
                 "  extended-statistics: yes", "  local-zone: \".\" static",
                 '  local-zone: "%s." static' % DOMAIN,
                 '  local-data: "%s. SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60"' % (DOMAIN, DOMAIN, DOMAIN)]
        for host, info in self.hosts.items():
            lines.append('  local-data: "%s.%s. A %s"' % (host, DOMAIN, info["ip"]))
            lines.append('  local-data-ptr: "%s %s.%s."' % (info["ip"], host, DOMAIN))
            for address in info.get("extra", []):
                name = "c%s.%s." % (address.rsplit(".", 1)[1], DOMAIN)
                lines.append('  local-data: "%s A %s"' % (name, address))
                lines.append('  local-data-ptr: "%s %s"' % (address, name))
        # A wildcard zone answers its apex records for every name below it.
        for zone, wild_records in wildcards:
            lines.append('  local-zone: "%s." redirect' % zone)
            for rtype, data in wild_records:
                lines.append("  local-data: '%s. %s %s'" % (zone, rtype, data))
        zones = sorted({name.split(".", 1)[1] for name, _type, _data in records if name.count(".") > 1} |
                       {name for name, _type, _data in records if name.count(".") == 1} - {DOMAIN})
        for zone in zones:
            lines.append('  local-zone: "%s." static' % zone)
        for name, rtype, data in records:
            lines.append("  local-data: '%s. %s %s'" % (name, rtype, data))
        for entry in blocklists:
            zone, listed, kind = (tuple(entry) + ("ip",))[:3]
            lines.append('  local-zone: "%s." static' % zone)
            for address in (["127.0.0.2"] if kind == "ip" else ["test"]) + list(listed):
                key = ".".join(reversed(address.split("."))) if kind == "ip" else address
                lines.append('  local-data: "%s.%s. A 127.0.0.2"' % (key, zone))
                lines.append("  local-data: '%s.%s. TXT \"Listed in %s (bench)\"'" % (key, zone, zone))
        lines += ["remote-control:", "  control-enable: yes", "  control-interface: 127.0.0.1",
                  "  control-use-cert: no"]
        self.put(label, "/etc/unbound/unbound.conf", "\n".join(lines) + "\n")
        self.sh(label, "unbound-checkconf >/dev/null && systemctl restart unbound && systemctl is-active unbound >/dev/null")
        if delay_ms:
            with open(os.path.join(HERE, "dns_delay.py"), encoding="utf-8") as handle:
                self.put(label, "/usr/local/lib/dns_delay.py", handle.read())
            self.sh(label, "systemctl stop bench-dns-delay 2>/dev/null; systemctl reset-failed bench-dns-delay 2>/dev/null; "
                           "systemd-run --unit bench-dns-delay python3 /usr/local/lib/dns_delay.py "
                           "--listen 0.0.0.0:53 --upstream 127.0.0.1:5353 --delay-ms %d >/dev/null" % delay_ms)
        self.dns_ip = self.ip(label)
        self.dns_host = label
        probe = ("import dns.resolver; r = dns.resolver.Resolver(configure=False); r.nameservers = ['%s']; "
                 "r.lifetime = 3; r.resolve('%s.%s', 'A')" % (self.dns_ip, label, DOMAIN))
        deadline = time.time() + 20
        while self.sh(label, "python3 -c %s" % shlex.quote(probe), check=False).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("the lab DNS on %s does not answer" % label)
            time.sleep(0.5)

    def dns_queries(self):
        """Queries the lab DNS has answered so far (unbound's own counter)."""
        out = self.sh(self.dns_host, "unbound-control stats_noreset").stdout
        return int(re.search(r"^total\.num\.queries=(\d+)", out, re.M).group(1))

    def use_dns(self, label):
        """Resolve through the lab DNS only; Postfix restarts to copy it into its chroot."""
        self.put(label, "/etc/resolv.conf", "nameserver %s\noptions timeout:2 attempts:1\n" % self.dns_ip)
        self.sh(label, "if systemctl is-active postfix >/dev/null 2>&1; then systemctl restart postfix; fi")

    def wait_queue_empty(self, label, timeout=300):
        """Wait until Postfix's queue on ``label`` is empty; seconds waited."""
        start = time.time()
        if not self.sh(label, "postqueue -j", check=False).stdout.strip():
            return 0.0
        while time.time() - start < timeout:
            time.sleep(0.2)
            if not self.sh(label, "postqueue -j", check=False).stdout.strip():
                return time.time() - start
        raise RuntimeError("%s: queue not empty after %d s" % (label, timeout))

    # -- Ansible --------------------------------------------------------------

    def ansible(self, playbook, labels, extra_vars=None, env=None, args=(), host_vars=None):
        """Run a playbook of bench/playbooks against ``labels`` over podman exec; (seconds, output).

        ``host_vars``: label -> variables of that host only (extra_vars win over them).
        """
        # "podman" is the lab's connection (molecule/shared/plugins/connection, as in the
        # Molecule scenarios): one podman exec per module, modules piped to the container's
        # Python, as ssh with pipelining does it on a real fleet.
        inventory = {"all": {"hosts": {}, "vars": {"ansible_connection": "podman",
                                                   "ansible_python_interpreter": "/usr/bin/python3"}}}
        for label in labels:
            inventory["all"]["hosts"][label] = dict((host_vars or {}).get(label) or {},
                                                    ansible_host=self.hosts[label]["container"],
                                                    harden_verify_address=self.hosts[label]["ip"])
        work = tempfile.mkdtemp(prefix="mgbench-")
        try:
            inv = os.path.join(work, "inventory.json")
            with open(inv, "w", encoding="utf-8") as handle:
                json.dump(inventory, handle)
            purelib = run([os.path.join(VENV_BIN, "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
            full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH="%s:%s" % (os.path.join(ROOT, ".build", "collections"), purelib),
                            ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
                            ANSIBLE_LOCAL_TEMP=os.path.join(work, "tmp"),
                            ANSIBLE_CONNECTION_PLUGINS=LAB_CONNECTION_PLUGINS)
            full_env.update(env or {})
            argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inv, os.path.join(HERE, "playbooks", playbook)]
            if extra_vars:
                argv += ["-e", json.dumps(extra_vars)]
            argv += list(args)
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=1800, check=False)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError("ansible-playbook %s failed:\n%s\n%s" % (playbook, proc.stdout[-6000:], proc.stderr[-3000:]))
            return elapsed, proc.stdout
        finally:
            shutil.rmtree(work, ignore_errors=True)


# -- SMTP -------------------------------------------------------------------

def smtp_reply(host, port, sender, rcpt, helo="client.lab.test", timeout=30):
    """The reply a server gives up to RCPT, as (stage, code): nothing is delivered."""
    client = smtplib.SMTP(timeout=timeout)
    try:
        code, _msg = client.connect(host, port)
        if code != 220:
            return "connect", code
        code, _msg = client.ehlo(helo)
        if code != 250:
            return "ehlo", code
        code, _msg = client.mail(sender)
        if code != 250:
            return "mail", code
        code, _msg = client.rcpt(rcpt)
        return "rcpt", code
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def smtp_source(lab, client, target, port, sessions, count, sender, rcpt, extra=()):
    """Postfix's smtp-source from host ``client``: one message per connection.

    Returns the wall seconds the load took, measured inside the client.
    """
    script = ("start=$(date +%%s.%%N); smtp-source -s %d -m %d -f %s -t %s %s %s:%d >/tmp/smtp-source.log 2>&1; "
              "rc=$?; end=$(date +%%s.%%N); echo \"$rc $start $end\"; tail -5 /tmp/smtp-source.log >&2") % (
        sessions, count, shlex.quote(sender), shlex.quote(rcpt), " ".join(shlex.quote(x) for x in extra), target, port)
    proc = lab.sh(client, script, timeout=900)
    rc, start, end = proc.stdout.split()
    if int(rc) != 0:
        raise RuntimeError("smtp-source failed (%s): %s" % (rc, proc.stderr))
    return float(end) - float(start)


def smtp_load(lab, client, target, port, sessions, count, sender, rcpt, **options):
    """bench/smtp_load.py from host ``client``: its JSON report (outcomes, rate, latencies).

    ``options`` are its other flags (user, users, password, starttls=True, size, helo,
    max_seconds, stop_after, sources).
    """
    if not lab.hosts[client].get("smtp_load"):
        with open(os.path.join(HERE, "smtp_load.py"), encoding="utf-8") as handle:
            lab.put(client, "/usr/local/lib/smtp_load.py", handle.read())
        lab.hosts[client]["smtp_load"] = True
    argv = ["python3", "/usr/local/lib/smtp_load.py", "--host", target, "--port", str(port), "--sessions", str(sessions),
            "--count", str(count), "--sender", sender, "--rcpt", rcpt]
    for key, value in options.items():
        argv += ["--" + key.replace("_", "-")] if value is True else ["--" + key.replace("_", "-"), str(value)]
    return json.loads(lab.sh(client, shlex.join(argv), timeout=900).stdout)


def measured_load(lab, client, server, port, sessions, count, sender, rcpt, drain=False, **options):
    """smtp_load from ``client`` at ``server``, with what it cost the server.

    The load's report plus ``server``, ``server_cpu_per_1000`` (the server
    container's CPU seconds per 1,000 messages) and ``dns_queries_per_session``
    (queries the lab DNS answered per message). With ``drain``, both are
    counted until the server's queue is empty again (delivery and bounces
    included), ``queue_drain_seconds`` says how long that took and
    ``per_second`` counts it too.
    """
    queries = lab.dns_queries()
    cpu = lab.cpu_seconds(server)
    report = smtp_load(lab, client, lab.ip(server), port, sessions, count, sender, rcpt, **options)
    drained = lab.wait_queue_empty(server) if drain else 0.0
    tried = report["tried"]
    report.update(server=server, smtp_per_second=report["per_second"], queue_drain_seconds=round(drained, 2),
                  per_second=round(tried / (report["seconds"] + drained), 2),
                  server_cpu_per_1000=round((lab.cpu_seconds(server) - cpu) / tried * 1000, 3),
                  dns_queries_per_session=round((lab.dns_queries() - queries) / tried, 3))
    return report


def keep_best(results, key, row, round_number):
    """Keep in ``results[key]`` the round with the highest messages/s."""
    best = results.get(key)
    if best is None or row["per_second"] > best["per_second"]:
        results[key] = dict(row, round=round_number)


def count_log(lab, label, pattern, since):
    """Lines of the host's mail log (journal) since ``since`` that match a regular expression."""
    out = lab.sh(label, "journalctl -q --no-pager -o cat --since @%d -t postfix/smtpd -t postfix/postscreen "
                        "-t postfix/cleanup -t postfix/local -t postfix/smtp -t postfix/bounce -t postfix/qmgr" % int(since),
                 check=False).stdout
    return len(re.findall(pattern, out, re.M))


# -- results -----------------------------------------------------------------

def conditions(lab, labels):
    """What a figure depends on: the machine, and the hosts' releases and Postfix versions."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "scale": SCALE,
        "hosts": {label: {"debian": lab.hosts[label]["release"],
                          "postfix": lab.postfix_version(label) if lab.sh(label, "command -v postconf", check=False).returncode == 0 else None}
                  for label in labels},
    }


def ratio(name, value, goal=None, higher_is_better=True, note=""):
    """One reported ratio, judged against its goal when it has one."""
    row = {"name": name, "value": round(value, 3) if value is not None else None, "goal": goal,
           "higher_is_better": higher_is_better, "note": note}
    if goal is not None and value is not None:
        row["met"] = value >= goal if higher_is_better else value <= goal
    return row


def write_result(name, title, data, ratios, conditions_text):
    """Write bench/results/<name>.json and print it."""
    os.makedirs(RESULTS, exist_ok=True)
    payload = {"benchmark": name, "title": title, "conditions_text": conditions_text,
               "ratios": ratios, "data": data}
    with open(os.path.join(RESULTS, name + ".json"), "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
    print(json.dumps(payload, indent=2, sort_keys=True))
    return payload
