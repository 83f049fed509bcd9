#!/usr/bin/env bash
# Print `export CONTAINERS_CONF=...` when this machine needs the project's
# podman settings (tools/containers.conf), nothing otherwise. Used by the
# Makefile as: eval "$(tools/podman-env.sh IMAGE)".
#
# A normal laptop or CI runner must keep its own podman settings, so the file
# is applied only when a plain container start would fail here.
set -u
here=$(cd "$(dirname "$0")" && pwd)
conf="$here/containers.conf"

# Whoever set CONTAINERS_CONF already chose.
if [ -n "${CONTAINERS_CONF:-}" ]; then
  exit 0
fi

probe_image=${1:-}
if [ -n "$probe_image" ] && podman image exists "$probe_image" 2>/dev/null; then
  # The real test: start a container the way Molecule will.
  if ! podman run --rm "$probe_image" /bin/true >/dev/null 2>&1; then
    echo "export CONTAINERS_CONF=$conf"
  fi
  exit 0
fi

# No image to try yet: judge by the two faults the settings cure.
# 1. podman asks for nofile=1048576 by default; a sandbox that forbids
#    raising rlimits then fails with "setrlimit ... Operation not permitted".
if ! (ulimit -Hn 1048576) 2>/dev/null; then
  echo "export CONTAINERS_CONF=$conf"
  exit 0
fi
# 2. crun cannot run on a cgroup v1/hybrid host ("cgroups in hybrid mode not
#    supported"); runc can.
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || true)
if [ "$runtime" != "runc" ] && [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != "cgroup2fs" ]; then
  echo "export CONTAINERS_CONF=$conf"
fi
