#!/usr/bin/env bash
# Build a Debian image with systemd from Debian packages (mmdebstrap) and import
# it into podman. The image is labelled with a hash of its recipe; an image with
# the same hash is kept, so `make images` costs nothing once built.
#
#   tools/build-image.sh SUITE RELEASE    e.g. tools/build-image.sh bookworm 12
#
# IMAGE_PREFIX overrides the image name (default localhost/mailguard-debian).
set -euo pipefail
suite=$1
release=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/image/recipe.sh
. "$here/image/recipe.sh"
image="${IMAGE_PREFIX:-localhost/mailguard-debian}:${release}"
recipe_hash=$( { cat "$here/image/recipe.sh" "$0"; echo "$suite"; } | sha256sum | cut -c1-16)

current=$(podman image inspect --format '{{ index .Labels "org.mailguard.recipe" }}' "$image" 2>/dev/null || true)
previous_id=$(podman image inspect --format '{{ .Id }}' "$image" 2>/dev/null || true)
if [ "$current" = "$recipe_hash" ]; then
  echo "$image is up to date (recipe $recipe_hash)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "building $image from Debian $suite (recipe $recipe_hash)"
# mmdebstrap takes the mirror from the host's apt sources; none is named here.
hooks=()
for hook in "${IMAGE_HOOKS[@]}"; do
  hooks+=(--customize-hook="$hook")
done
mmdebstrap --quiet --variant="$IMAGE_VARIANT" --include="$IMAGE_PACKAGES" \
  --skip="$IMAGE_SKIP" "${hooks[@]}" \
  "$suite" "$work/rootfs.tar"
podman import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL org.mailguard.recipe=$recipe_hash" \
  --change "LABEL org.mailguard.suite=$suite" \
  "$work/rootfs.tar" "$image" >/dev/null
# The image the tag pointed at is now nameless; drop it unless a container
# still uses it, so each recipe change does not leave a stale root file system.
if [ -n "$previous_id" ]; then
  podman image rm "$previous_id" >/dev/null 2>&1 || true
fi
echo "built $image"
