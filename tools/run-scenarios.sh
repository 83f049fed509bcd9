#!/usr/bin/env bash
# Run Molecule scenarios, up to $MOLECULE_JOBS at a time (default 2), and
# report each one as it ends.
#
#   MOLECULE_JOBS=2 tools/run-scenarios.sh default backscatter ratelimit
#
# Scenarios start in the order given, so put the longest first: two lanes
# then end close together. Each scenario writes its whole output to
# $MOLECULE_LOG_DIR/<scenario>.log (default .build/molecule-logs); with more
# than one lane the log is printed in one piece when the scenario ends, so
# the output of two scenarios never interleaves. With MOLECULE_JOBS=1 the
# output goes straight to the terminal as well.
#
# Scenarios can share the machine: every container name carries its
# scenario's prefix, each scenario boots its own lab DNS, and nothing binds
# a port on the controller. When $MAILGUARD_STEP_TIMES is set, one line per
# scenario is appended to it: "scenario NAME SECONDS passed|FAILED".
set -uo pipefail

jobs=${MOLECULE_JOBS:-2}
if ! [[ "$jobs" =~ ^[1-9][0-9]*$ ]]; then
  echo "MOLECULE_JOBS must be a whole number of at least 1, not '$jobs'" >&2
  exit 2
fi
log_dir=${MOLECULE_LOG_DIR:-.build/molecule-logs}
mkdir -p "$log_dir"

if [ $# -eq 0 ]; then
  echo "run-scenarios: no scenario given" >&2
  exit 2
fi
for scenario in "$@"; do
  if [ ! -f "molecule/$scenario/molecule.yml" ]; then
    echo "no scenario molecule/$scenario" >&2
    exit 2
  fi
done

declare -A started=() pid_of=()
failed=()

# Print a scenario's result (and its log, when it was not streamed).
finish() {
  local scenario=$1 rc=$2 seconds status
  seconds=$((SECONDS - started[$scenario]))
  status=$([ "$rc" -eq 0 ] && echo passed || echo FAILED)
  if [ "$jobs" -gt 1 ]; then
    echo "=== molecule test -s $scenario (log: $log_dir/$scenario.log)"
    cat "$log_dir/$scenario.log"
  fi
  echo "=== $scenario: $status in $seconds s"
  [ "$rc" -eq 0 ] || failed+=("$scenario")
  if [ -n "${MAILGUARD_STEP_TIMES:-}" ]; then
    echo "scenario $scenario $seconds $status" >>"$MAILGUARD_STEP_TIMES"
  fi
}

# Wait for any running scenario to end and report it.
reap() {
  local done_pid rc scenario
  wait -n -p done_pid "${pid_of[@]}"
  rc=$?
  for scenario in "${!pid_of[@]}"; do
    if [ "${pid_of[$scenario]}" = "$done_pid" ]; then
      unset "pid_of[$scenario]"
      finish "$scenario" "$rc"
      return
    fi
  done
}

stop_all() {
  local pid
  for pid in "${pid_of[@]}"; do kill -- "$pid" 2>/dev/null; done
  exit 130
}
trap stop_all INT TERM

for scenario in "$@"; do
  while [ "${#pid_of[@]}" -ge "$jobs" ]; do reap; done
  started[$scenario]=$SECONDS
  if [ "$jobs" -eq 1 ]; then
    echo "=== molecule test -s $scenario"
    (molecule test -s "$scenario" 2>&1 | tee "$log_dir/$scenario.log") &
  else
    echo "=== started molecule test -s $scenario"
    molecule test -s "$scenario" >"$log_dir/$scenario.log" 2>&1 &
  fi
  pid_of[$scenario]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap; done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed scenarios: ${failed[*]}" >&2
  exit 1
fi
