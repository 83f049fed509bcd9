#!/usr/bin/env bash
# Copy this checkout into DEST/ansible_collections/NAMESPACE/NAME and print
# that path.
#
#   tools/collection-tree.sh DEST NAMESPACE NAME
#
# ansible-test only runs from inside such a path, and its `symlinks` test
# refuses links that leave the tree, so this is a copy, not a link. It holds
# what git would commit (tracked and untracked files that .gitignore does not
# exclude), so local venvs, build output and caches stay out. Without git
# (an unpacked tarball) the tree is copied minus the same local-only folders.
set -euo pipefail
dest=$1
namespace=$2
name=$3
root=$(cd "$(dirname "$0")/.." && pwd)
target="$dest/ansible_collections/$namespace/$name"

rm -rf "$target"
mkdir -p "$target"
cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # --cached still lists files deleted from the work tree; skip those.
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' path; do
        if [ -e "$path" ] || [ -L "$path" ]; then printf '%s\0' "$path"; fi
      done \
    | tar --null --no-recursion -T - -cf - \
    | tar -xf - -C "$target"
else
  tar --exclude=./.git --exclude=./.venv --exclude=./.build --exclude=./tests/output \
    --exclude='*/__pycache__' -cf - . | tar -xf - -C "$target"
fi
echo "$target"
