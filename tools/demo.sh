#!/usr/bin/env bash
# Backscatter before and after: boot the backscatter lab with stock Debian
# Postfix on mx1 (Debian 12) and mx2 (Debian 13) (the `backscatter`
# scenario's lab as its prepare leaves it: DNS, the two hosts, a remote
# provider ext, victim, a spammer and a clean client), send forged and
# clean mail and show the bounces that reach
# victim; harden both with `ansible-playbook mailguard.postfix.harden`; send
# the same traffic again and print, per case, what happened before, what
# happens now, and the host's reply.
#
# Run through `make demo`, which provides the venv, the images, the collection
# path and the podman settings this machine needs. It uses the container
# names of the `backscatter` scenario, so it does not run beside `make test`.
# DEMO_KEEP=1 leaves the lab running for a closer look; remove it with
# `MOLECULE_EPHEMERAL_DIRECTORY=.build/demo/molecule molecule destroy -s backscatter`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.venv/bin"
out="$root/.build/demo"
export MOLECULE_EPHEMERAL_DIRECTORY="$out/molecule"
inventory="$MOLECULE_EPHEMERAL_DIRECTORY/inventory"
# The playbooks below reach the containers as Molecule's do: through the
# lab's podman connection, one podman exec per task.
export ANSIBLE_CONNECTION_PLUGINS="$root/molecule/shared/plugins/connection"
report="$root/molecule/shared/backscatter_report.py"
traffic="$root/molecule/shared/backscatter-traffic.yml"

cd "$root"
mkdir -p "$out"

cleanup() {
  if [ "${DEMO_KEEP:-0}" != 1 ]; then
    echo "==> removing the lab"
    "$bin/molecule" destroy -s backscatter >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

send() {
  "$bin/ansible-playbook" -i "$inventory" "$traffic" -e lab_prefix=bs- \
    -e lab_run_id="$1" -e lab_traffic_record="$out/$1.json" >"$out/$1.log" \
    || { echo "the lab traffic failed; see $out/$1.log" >&2; exit 1; }
}

echo "==> booting the backscatter lab with stock Postfix on mx1 and mx2 (a few minutes)"
"$bin/molecule" destroy -s backscatter >/dev/null 2>&1 || true
# The scenario's prepare would also run the stock twin's tests; the demo
# shows the stock traffic itself instead.
MAILGUARD_LAB_STOCK_TESTS=0 "$bin/molecule" create -s backscatter >"$out/create.log" 2>&1 \
  || { echo "the lab did not come up; see $out/create.log" >&2; exit 1; }

echo "==> sending forged and clean mail to stock Postfix"
send before
"$bin/python" "$report" "$out/before.json"
echo

echo "==> ansible-playbook mailguard.postfix.harden -e harden_hosts=mx"
"$bin/ansible-playbook" -i "$inventory" mailguard.postfix.harden -e harden_hosts=mx \
  -e "harden_summary_dir=$out/harden-summary" >"$out/harden.log" \
  || { echo "hardening failed; see $out/harden.log and $out/harden-summary/summary.md" >&2; exit 1; }
# The rollout's own summary: one row per host, what changed and why.
sed -n '/^| host /,$p' "$out/harden-summary/summary.md"

echo "==> sending the same mail to the hardened hosts"
send after
echo
"$bin/python" "$report" "$out/before.json" "$out/after.json"
echo
echo "Records: $out/before.json, $out/after.json"
