#!/bin/sh
# Real clients the end-to-end tests drive. Installed from Debian when missing (as root).
# Where they cannot be installed the tests that need them skip with the reason, except
# under CI=true, where this script fails instead.
#
# The console's browser tests drive Debian's Chromium (/usr/bin/chromium) through the Python
# package playwright (the test extra); Playwright never downloads a browser of its own here.
# Chromium needs fonts to draw text in its screenshots: DejaVu and Liberation (metric-compatible
# with Arial/Helvetica, which console.css names).
set -u
NEEDED="curl fetchmail swaks chromium nmap mutt"  # commands, each from the Debian package of that name
# Commands whose Debian package has another name (command:package): the IMAP4 clients.
RENAMED="mbsync:isync offlineimap:offlineimap3"
# Packages without a command, checked with dpkg: the fonts, and the Perl TLS modules swaks
# needs for STARTTLS (only Recommends of swaks, which --no-install-recommends leaves out).
PACKAGES="fonts-dejavu-core fonts-liberation libnet-ssleay-perl libio-socket-ssl-perl"

missing_tools() {
  for tool in $NEEDED; do
    command -v "$tool" >/dev/null 2>&1 || printf ' %s' "$tool"
  done
  for pair in $RENAMED; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || printf ' %s' "${pair#*:}"
  done
}
missing_packages() {
  for package in $PACKAGES; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || printf ' %s' "$package"
  done
}

missing="$(missing_tools)$(command -v dpkg-query >/dev/null 2>&1 && missing_packages)"
# smtp-sink, the SMTP server the outbound client is tested against, comes with Postfix, which
# is preseeded as "No configuration" so that installing it starts no mail server.
command -v smtp-sink >/dev/null 2>&1 || missing="$missing postfix"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test clients:$missing" >&2
  case "$missing" in
    *postfix*) echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null ;;
  esac
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) >/dev/null 2>&1
fi
still="$(missing_tools)"
command -v smtp-sink >/dev/null 2>&1 || still="$still smtp-sink"
if [ -n "$still" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "error: could not install test clients:$still (CI requires them)" >&2
    exit 1
  fi
  echo "warning: test clients not available:$still; their tests will skip" >&2
fi
# Chromium installed but unable to start (a missing library, say) fails here, not in every test.
if command -v chromium >/dev/null 2>&1; then
  profile=$(mktemp -d)
  page=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
         --disable-component-update --disable-sync --user-data-dir="$profile" \
         --dump-dom 'data:text/html,<p>ok</p>' 2>/dev/null)
  rm -rf "$profile"
  case "$page" in
    *"<p>ok</p>"*) ;;
    *) echo "warning: chromium is installed but does not run headless; the console browser tests will fail" >&2
       [ "${CI:-}" = "true" ] && exit 1 ;;
  esac
fi
exit 0
