# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's connection to its podman containers: one ``podman exec`` per module.

Molecule's podman driver names the connection ``podman`` in the inventory it
writes; the shared Molecule config puts this directory on Ansible's connection
plugin path, so that name resolves here for every playbook and test of the lab.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: podman
short_description: Run lab tasks in a local podman container, modules piped to its Python
description:
  - Runs each command with C(podman exec) in a running container of this machine.
  - Modules are piped to the container's Python on standard input (Ansible's pipelining), so a task costs one
    C(podman exec) instead of the four or five that a temporary directory on the container needs.
  - Files are copied through the same exec, with no mount of the container's file system.
author: mailguard.postfix
options:
  remote_addr:
    description: Name or ID of the container.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
  remote_user:
    description: User to run the commands as inside the container; the container's default user when not given.
    vars:
      - name: ansible_user
  podman_executable:
    description: The podman command.
    default: podman
    vars:
      - name: ansible_podman_executable
"""

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()


class Connection(ConnectionBase):
    """podman exec, with modules and files on standard input and output."""

    transport = "podman"
    has_pipelining = True
    # The container is a local process: there is no remote temporary
    # directory worth the extra round trips, whatever the pipelining setting.
    always_pipeline_modules = True

    def _container(self):
        return self.get_option("remote_addr")

    def _run(self, argv, in_data=None):
        command = [self.get_option("podman_executable"), "exec"]
        if in_data is not None:
            command.append("--interactive")
        user = self.get_option("remote_user")
        if user:
            command.extend(["--user", user])
        command.append(self._container())
        command.extend(argv)
        display.vvv("EXEC %s" % " ".join(shlex.quote(to_text(part)) for part in command), host=self._container())
        try:
            process = subprocess.run(
                [to_bytes(part, errors="surrogate_or_strict") for part in command],
                input=in_data, stdin=None if in_data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        except OSError as error:
            raise AnsibleConnectionFailure("cannot run %s: %s" % (command[0], error)) from error
        return process.returncode, process.stdout, process.stderr

    def _connect(self):
        super()._connect()
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        return self._run(shlex.split(to_text(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._container())
        try:
            with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as source:
                data = source.read()
        except OSError as error:
            raise AnsibleFileNotFound("cannot read %s: %s" % (in_path, error)) from error
        rc, _stdout, stderr = self._run(["/bin/sh", "-c", "cat > %s" % shlex.quote(out_path)], data)
        if rc != 0:
            raise AnsibleError("cannot write %s in container %s: %s"
                               % (out_path, self._container(), to_text(stderr).strip()))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._container())
        rc, stdout, stderr = self._run(["/bin/cat", in_path])
        if rc != 0:
            raise AnsibleError("cannot read %s in container %s: %s"
                               % (in_path, self._container(), to_text(stderr).strip()))
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as target:
            target.write(stdout)

    def close(self):
        super().close()
        self._connected = False
