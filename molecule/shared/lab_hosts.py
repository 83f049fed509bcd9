"""The lab's containers as testinfra hosts, for every scenario's tests.

Each lab host is a podman container of the same name as its inventory
entry. testinfra's podman backend runs a command with one `podman exec`;
the `ansible://` backend would run a whole Ansible ad-hoc command for each,
because it has no native path for Molecule's podman connection.
"""

import functools
import json
import os
import subprocess

import testinfra


@functools.lru_cache(maxsize=None)
def host(name):
    """The testinfra host of the lab container `name`."""
    return testinfra.get_host("podman://%s" % name)


@functools.lru_cache(maxsize=None)
def address(name):
    """The container's IPv4 address on podman's network, where the probes reach it."""
    return host(name).interface("eth0").addresses[0]


def postfix_facts(name):
    """ansible_facts.postfix of lab host `name`, read with the collection's postfix_facts (the audit)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    done = subprocess.run(["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], name,
                           "-m", "mailguard.postfix.postfix_facts",
                           "-a", "gather_queue=false gather_forwarding=false"],
                          env=env, capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(done.stdout)
    return report["plays"][0]["tasks"][0]["hosts"][name]["ansible_facts"]["postfix"]
