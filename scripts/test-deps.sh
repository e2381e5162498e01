#!/bin/sh
# Real clients the end-to-end tests drive. Installed from Debian when missing (as root).
# Where they cannot be installed the tests that need them skip with the reason, except
# under CI=true, where this script fails instead.
set -u
NEEDED="curl fetchmail swaks"
missing=""
for tool in $NEEDED; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test clients:$missing" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) >/dev/null 2>&1
fi
still=""
for tool in $NEEDED; do
  command -v "$tool" >/dev/null 2>&1 || still="$still $tool"
done
if [ -n "$still" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "error: could not install test clients:$still (CI requires them)" >&2
    exit 1
  fi
  echo "warning: test clients not available:$still; their tests will skip" >&2
fi
exit 0
