# shellcheck shell=bash disable=SC2034,SC2016
# (Sourced by tools/build-image.sh, which reads these variables.)
#
# Image recipe. Any change here changes the recipe hash and so rebuilds the
# cached images.
#
# Postfix is not installed in the image: scenarios install it the way an
# operator would, so the stock configuration written by Debian's postinst is
# the real one. Its packages wait in apt's cache, with the package lists they
# came from, so that install needs no mirror (tasks/install-postfix.yml).
# What the lab needs and no test watches a role install is installed:
# unbound for the lab DNS, postfwd for the policy service, Cyrus SASL for
# submission logins, dnspython for the blocklist checks.
# sudo: playbooks run with become, as they do against real hosts.
IMAGE_PACKAGES="python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,ca-certificates,procps,apt-utils,sudo"
IMAGE_PACKAGES+=",unbound,dns-root-data,postfwd,sasl2-bin,libsasl2-modules,python3-dnspython"
IMAGE_VARIANT="minbase"
# Keep apt's package lists and cache: the hooks below leave only the Postfix
# packages in the cache.
IMAGE_SKIP="cleanup/apt"
# Hooks, each a shell snippet that mmdebstrap runs with the root file system
# as $1:
# - an empty machine-id, so that every container gets its own;
# - unbound and postfwd do not start at boot: the lab starts them where they
#   serve (an unbound in every container would be a resolver nobody asked for);
# - apt's cache holds only Postfix and what it depends on.
IMAGE_HOOKS=(
  'rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"'
  'rm -f "$1/etc/systemd/system/multi-user.target.wants/unbound.service" "$1/etc/systemd/system/multi-user.target.wants/postfwd.service"'
  'APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get clean && APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get --yes --download-only install postfix'
)
