# Image recipe, sourced by tools/build-image.sh. Any change here changes the
# recipe hash and so rebuilds the cached images.
# Postfix is not baked in: scenarios install it the way an operator would, so
# the stock configuration written by Debian's postinst is the real one.
IMAGE_PACKAGES="python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,ca-certificates,procps,apt-utils"
IMAGE_VARIANT="minbase"
