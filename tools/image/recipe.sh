# shellcheck shell=bash disable=SC2034
# (Sourced by tools/build-image.sh, which reads these variables.)
#
# Image recipe. Any change here changes the recipe hash and so rebuilds the
# cached images.
# Postfix is not baked in: scenarios install it the way an operator would, so
# the stock configuration written by Debian's postinst is the real one.
# sudo: playbooks run with become, as they do against real hosts.
IMAGE_PACKAGES="python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,ca-certificates,procps,apt-utils,sudo"
IMAGE_VARIANT="minbase"
