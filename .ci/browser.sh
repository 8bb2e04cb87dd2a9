# shellcheck shell=bash
# Source this file, then `browser_install` installs Debian's Chromium and ChromeDriver if either is
# missing (the console's browser tests drive /usr/bin/chromium through chromedriver); it needs
# root for apt.

browser_install() {
  command -v chromedriver >/dev/null && [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "chromium or chromedriver is missing and installing them needs root: apt-get install chromium chromium-driver" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}
