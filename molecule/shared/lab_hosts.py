"""The lab's containers as testinfra hosts, for every scenario's tests.

Each lab host is a podman container of the same name as its inventory
entry. testinfra's podman backend runs a command with one `podman exec`;
the `ansible://` backend would run a whole Ansible ad-hoc command for each,
because it has no native path for Molecule's podman connection.
"""

import functools

import testinfra


@functools.lru_cache(maxsize=None)
def host(name):
    """The testinfra host of the lab container `name`."""
    return testinfra.get_host("podman://%s" % name)


@functools.lru_cache(maxsize=None)
def address(name):
    """The container's IPv4 address on podman's network, where the probes reach it."""
    return host(name).interface("eth0").addresses[0]
