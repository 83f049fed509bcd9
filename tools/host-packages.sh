#!/usr/bin/env bash
# Make sure the host has the Debian packages a make target needs.
#
#   tools/host-packages.sh COMMAND:PACKAGE ...   install PACKAGE when COMMAND is missing
#   tools/host-packages.sh --force PACKAGE ...   install PACKAGE unless dpkg has it
#
# A fresh Debian machine has Python, pip, git and make, and nothing of the
# container lab. As root with apt-get, the missing packages are installed
# (after `apt-get update`, since a new machine's package lists may be empty or
# old); anyone else is told what to install. apt finds its mirror in the
# host's own sources, none is named here.
set -euo pipefail

missing=()
if [ "${1:-}" = "--force" ]; then
  shift
  for package in "$@"; do
    if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$package")
    fi
  done
else
  for pair in "$@"; do
    command_name=${pair%%:*}
    package=${pair#*:}
    # runc and friends live in /usr/sbin, which a non-login PATH may lack.
    if ! command -v "$command_name" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command_name" ]; then
      missing+=("$package")
    fi
  done
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing host packages: ${missing[*]}" >&2
  echo "install them (Debian: apt-get install ${missing[*]}) and run make again" >&2
  exit 1
fi

echo "installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Recommends stay on: through them podman gets its network stack (netavark,
# aardvark-dns), an init for containers (catatonit) and uidmap.
apt-get install -y -qq "${missing[@]}"
