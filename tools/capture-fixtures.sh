#!/usr/bin/env bash
# Record real Postfix command output from stock Debian Postfix, and from the
# same host after the risky settings of molecule/shared/vars/risky.yml, into
# tests/fixtures/postconf/debianNN/ and debianNN/risky/. Unit tests parse these
# files instead of guessing what Postfix prints.
#
#   tools/capture-fixtures.sh [RELEASE...]     default: 12 13
#
# Needs podman, the images from tools/build-image.sh and ansible-playbook with
# the containers.podman collection (ANSIBLE_PLAYBOOK overrides which one).
# MAILGUARD_IMAGE_PREFIX overrides the image name (default
# localhost/mailguard-debian). Each run boots fresh containers and replaces the
# fixtures of a release only once its capture has completed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fixtures="$root/tests/fixtures/postconf"
seed="$root/molecule/shared/seed.yml"
image_prefix=${MAILGUARD_IMAGE_PREFIX:-localhost/mailguard-debian}
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(12 13)

if [ -z "${ANSIBLE_PLAYBOOK:-}" ]; then
  if [ -x "$root/.venv/bin/ansible-playbook" ]; then
    ANSIBLE_PLAYBOOK="$root/.venv/bin/ansible-playbook"
  else
    ANSIBLE_PLAYBOOK=$(command -v ansible-playbook) || {
      echo "ansible-playbook not found; run 'make venv' or set ANSIBLE_PLAYBOOK" >&2
      exit 1
    }
  fi
fi

containers=()
cleanup() {
  for c in "${containers[@]}"; do
    podman rm -f "$c" >/dev/null 2>&1 || true
  done
  [ -z "${work:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
work=$(mktemp -d)

# run_in CONTAINER OUTFILE CMD...: run a command in the container with Postfix's
# messages in English; stderr is kept beside the output only when there is any
# (Postfix warns there, e.g. about deprecated settings).
run_in() {
  local container=$1 out=$2
  shift 2
  podman exec "$container" env LANG=C LC_ALL=C "$@" >"$out" 2>"$out.stderr"
  [ -s "$out.stderr" ] || rm -f "$out.stderr"
}

capture_config() {
  local c=$1 dir=$2
  mkdir -p "$dir"
  run_in "$c" "$dir/postconf.txt" postconf
  run_in "$c" "$dir/postconf-d.txt" postconf -d
  run_in "$c" "$dir/postconf-n.txt" postconf -n
  run_in "$c" "$dir/postconf-x.txt" postconf -x
  run_in "$c" "$dir/postconf-M.txt" postconf -M
  run_in "$c" "$dir/postconf-Mf.txt" postconf -Mf
  run_in "$c" "$dir/postconf-P.txt" postconf -P
  run_in "$c" "$dir/mail_version.txt" postconf -h mail_version
  run_in "$c" "$dir/postalias-s-aliases.txt" postalias -s hash:/etc/aliases
  run_in "$c" "$dir/ip-o-addr.txt" ip -o addr show
  run_in "$c" "$dir/main.cf" cat /etc/postfix/main.cf
  run_in "$c" "$dir/master.cf" cat /etc/postfix/master.cf
  run_in "$c" "$dir/aliases" cat /etc/aliases
}

capture_queue() {
  run_in "$1" "$2/postqueue-j.jsonl" postqueue -j
}

seed() {
  local c=$1 tags=$2
  "$ANSIBLE_PLAYBOOK" -i "$c," -c containers.podman.podman \
    -e ansible_python_interpreter=/usr/bin/python3 --tags "$tags" "$seed"
}

for release in "${releases[@]}"; do
  image="$image_prefix:$release"
  eval "$("$root/tools/podman-env.sh" "$image")"
  c="capture-deb$release"
  out="$work/debian$release"
  podman rm -f "$c" >/dev/null 2>&1 || true
  containers+=("$c")
  podman run -d --name "$c" --hostname "$c" --systemd=always "$image" /lib/systemd/systemd >/dev/null
  # degraded is fine: a minimal image has units that cannot start in a container.
  podman exec "$c" systemctl is-system-running --wait >/dev/null || true

  seed "$c" install
  capture_config "$c" "$out"
  seed "$c" queue
  capture_queue "$c" "$out"

  seed "$c" risky
  capture_config "$c" "$out/risky"
  capture_queue "$c" "$out/risky"
  run_in "$c" "$out/risky/postmap-s-virtual.txt" postmap -s hash:/etc/postfix/virtual
  run_in "$c" "$out/risky/postmap-s-client_access.txt" postmap -s hash:/etc/postfix/client_access
  run_in "$c" "$out/risky/forward-carol.txt" cat /home/carol/.forward

  podman rm -f "$c" >/dev/null
  rm -rf "$fixtures/debian$release"
  mkdir -p "$fixtures"
  mv "$out" "$fixtures/debian$release"
  echo "captured $(cat "$fixtures/debian$release/mail_version.txt") from $image into tests/fixtures/postconf/debian$release"
done
