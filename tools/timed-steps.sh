#!/usr/bin/env bash
# Run make targets one after another, like `make A B C`, and print at the end
# how long each took, and each Molecule scenario within `molecule` (the
# molecule target appends its scenario times to $MAILGUARD_STEP_TIMES).
# Stops at the first step that fails, and still prints the times so far.
#
# A step written "bg:name" starts in the background, its output kept in
# $MAILGUARD_STEP_LOGS/name.log (default .build/step-logs), while the next
# steps run; the step "wait" waits for every background step, prints its log
# in one piece and fails when one of them failed; "wait:name" waits for that
# one only. Steps in the background must not need what the foreground steps
# make, nor run apt at the same time.
#
#   tools/timed-steps.sh host bg:images venv lint unit wait:images bg:sanity molecule wait
set -uo pipefail

times=$(mktemp)
trap 'rm -f "$times"' EXIT
export MAILGUARD_STEP_TIMES=$times
log_dir=${MAILGUARD_STEP_LOGS:-.build/step-logs}
started=$SECONDS
status=0
declare -A bg_pid=()

run_step() {
  local step=$1 note=${2:-} start=$SECONDS rc=0
  ${MAKE:-make} --no-print-directory "$step" || rc=$?
  printf 'step %s %d %s%s\n' "$step" "$((SECONDS - start))" "$([ "$rc" -eq 0 ] && echo passed || echo FAILED)" "$note" >>"$times"
  return "$rc"
}

# Wait for the background steps named (all of them when none is named),
# print their logs and fail when one of them failed.
join_background() {
  local step rc=0 joined=0 steps=("$@")
  [ "${#steps[@]}" -gt 0 ] || steps=("${!bg_pid[@]}")
  for step in "${steps[@]}"; do
    if [ -z "${bg_pid[$step]:-}" ]; then
      echo "timed-steps: wait:$step names no step running in the background" >&2
      joined=2
      continue
    fi
    wait "${bg_pid[$step]}" || { rc=$?; joined=$rc; }
    echo "=== $step (ran in the background; log: $log_dir/$step.log)"
    cat "$log_dir/$step.log"
    [ "$rc" -eq 0 ] || echo "=== $step FAILED"
    rc=0
    unset "bg_pid[$step]"
  done
  return "$joined"
}

for step in "$@"; do
  case $step in
    bg:*)
      step=${step#bg:}
      mkdir -p "$log_dir"
      run_step "$step" " (in the background)" >"$log_dir/$step.log" 2>&1 &
      bg_pid[$step]=$!
      echo "=== $step started in the background"
      ;;
    wait)
      join_background || status=$?
      ;;
    wait:*)
      join_background "${step#wait:}" || status=$?
      ;;
    *)
      run_step "$step" || status=$?
      ;;
  esac
  [ "$status" -eq 0 ] || break
done
# A foreground step failed: still wait for the background, so that its time
# and output are not lost and nothing keeps running after make returns.
if [ "${#bg_pid[@]}" -gt 0 ]; then
  join_background || true
fi

echo
echo "=== time per step"
while read -r kind name seconds result; do
  if [ "$kind" = step ]; then
    printf '  %-22s %4d s  %s\n' "$name" "$seconds" "$result"
  else
    printf '    scenario %-13s %4d s  %s\n' "$name" "$seconds" "$result"
  fi
done < <(awk '$1 == "scenario" { s[++n] = $0; next } { print; for (i = 1; i <= n; i++) print s[i]; n = 0 }' "$times")
total=$((SECONDS - started))
printf '  %-22s %4d s  (%dm%02ds)\n' total "$total" $((total / 60)) $((total % 60))
exit "$status"
