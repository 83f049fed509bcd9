#!/usr/bin/env bash
# Run make targets one after another, like `make A B C`, and print at the end
# how long each took, and each Molecule scenario within `molecule` (the
# molecule target appends its scenario times to $MAILGUARD_STEP_TIMES).
# Stops at the first step that fails, and still prints the times so far.
#
#   tools/timed-steps.sh venv lint sanity unit images molecule
set -uo pipefail

times=$(mktemp)
trap 'rm -f "$times"' EXIT
export MAILGUARD_STEP_TIMES=$times
started=$SECONDS
status=0
for step in "$@"; do
  start=$SECONDS
  ${MAKE:-make} --no-print-directory "$step" || status=$?
  printf 'step %s %d %s\n' "$step" "$((SECONDS - start))" "$([ "$status" -eq 0 ] && echo passed || echo FAILED)" >>"$times"
  [ "$status" -eq 0 ] || break
done

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
