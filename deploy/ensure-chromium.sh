#!/usr/bin/env bash
# Make sure Debian's Chromium and its driver are installed for the browser tests
# (tests/browser: Playwright drives /usr/bin/chromium headless). Idempotent: does
# nothing when both are there; else installs the `chromium` and `chromium-driver`
# packages with apt-get. The tests never skip a missing browser; this script is
# how they get one.
set -euo pipefail

BROWSER=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver
PACKAGES=(chromium chromium-driver)

fail() {
  echo "ensure-chromium: $*" >&2
  echo "ensure-chromium: install them by hand: apt-get install ${PACKAGES[*]}" >&2
  exit 1
}

if [ -x "$BROWSER" ] && [ -x "$DRIVER" ]; then
  echo "Chromium is installed: $BROWSER, $DRIVER"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || fail "$BROWSER or $DRIVER is missing and there is no apt-get"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "$BROWSER or $DRIVER is missing; root or sudo is needed"
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

updated=no
update() {
  echo "$1: apt-get update"
  $SUDO apt-get update -qq || fail "apt-get update failed (no network to the Debian mirror?)"
  updated=yes
}

# Refresh the package lists only when needed: apt does not know a package yet, or
# its lists are stale (the install fetches a version the mirror no longer has).
for package in "${PACKAGES[@]}"; do
  if ! apt-cache show "$package" >/dev/null 2>&1; then
    update "apt does not know '$package' yet"
    break
  fi
done

install() {
  echo "installing ${PACKAGES[*]} from Debian's packages"
  $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}
if ! install; then
  [ "$updated" = no ] || fail "apt-get install ${PACKAGES[*]} failed"
  update "the install failed; the package lists may be stale"
  install || fail "apt-get install ${PACKAGES[*]} failed"
fi

[ -x "$BROWSER" ] || fail "$BROWSER is still missing after installing ${PACKAGES[*]}"
[ -x "$DRIVER" ] || fail "$DRIVER is still missing after installing ${PACKAGES[*]}"
echo "Chromium is installed: $("$BROWSER" --version 2>/dev/null || echo "$BROWSER")"
