#!/usr/bin/env bash
# The audit, shown on one lab host: boot a Debian 12 container, install stock
# Postfix, seed it with risky settings (an open relay through a master.cf
# override, relay domains without recipient tables, a catch-all, queued
# bounces to forged senders, ...), run `ansible-playbook mailguard.postfix.audit`
# against it and print the fleet summary.
#
# Run through `make demo`, which provides the venv, the images, the collection
# path and the podman settings this machine needs. DEMO_KEEP=1 leaves the
# container running for a closer look (remove it with `podman rm -f NAME`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.venv/bin"
image="${MAILGUARD_IMAGE_PREFIX:-localhost/mailguard-debian}:12"
name=mailguard-demo-mx
report="$root/.build/demo/audit-report"
work=$(mktemp -d)

cleanup() {
  rm -rf "$work"
  if [ "${DEMO_KEEP:-0}" != 1 ]; then
    podman rm -f "$name" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

podman rm -f "$name" >/dev/null 2>&1 || true
echo "==> booting $name from $image"
podman run -d --name "$name" --hostname mx.example.test --systemd=always "$image" /lib/systemd/systemd >/dev/null

cat >"$work/inventory.ini" <<EOF
[mail]
$name ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3
EOF

echo "==> installing stock Postfix and seeding risky settings (about a minute)"
ANSIBLE_STDOUT_CALLBACK=ansible.builtin.null \
  "$bin/ansible-playbook" -i "$work/inventory.ini" "$root/molecule/shared/seed.yml" \
  -e lab_postfix_mailname=mx.example.test >/dev/null

echo "==> ansible-playbook mailguard.postfix.audit"
rm -rf "$report"
"$bin/ansible-playbook" -i "$work/inventory.ini" mailguard.postfix.audit \
  -e audit_report_dir="$report"

echo
echo "==> $report/summary.md"
cat "$report/summary.md"
echo
echo "The same report as a page: $report/summary.html"
