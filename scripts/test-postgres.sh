#!/bin/sh
# The PostgreSQL server the storage contract suite and the multi-node tests use: 127.0.0.1:5432
# with trust authentication for local connections (POSTROOM_TEST_PG names another server, and
# then this script only checks it). A server that is installed but stopped is started; where
# none is installed and we are root, Debian's is installed and set up. The tests never skip
# for a missing server: they fail, so CI runs them for real.
set -u
PYTHON="${1:-.venv/bin/python}"

reachable() {
  "$PYTHON" - <<'PY' >/dev/null 2>&1
import asyncio, os, asyncpg
async def main():
    conn = await asyncpg.connect(os.environ.get("POSTROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"), timeout=5)
    await conn.close()
asyncio.run(main())
PY
}

reachable && exit 0
if [ -n "${POSTROOM_TEST_PG:-}" ]; then
  echo "error: PostgreSQL at POSTROOM_TEST_PG is not reachable" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ] && ! command -v pg_ctlcluster >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL for the tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql) >/dev/null 2>&1
fi
if command -v pg_lsclusters >/dev/null 2>&1; then
  cluster=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 {print $1 " " $2; exit}')
  if [ -n "$cluster" ]; then
    # Local test server: trust loopback connections (what the test URL expects).
    hba=$(ls /etc/postgresql/*/"${cluster#* }"/pg_hba.conf 2>/dev/null | head -1)
    if [ -n "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster $cluster start >/dev/null 2>&1 || pg_ctlcluster $cluster reload >/dev/null 2>&1
  fi
fi
for _ in 1 2 3 4 5 6 7 8 9 10; do
  reachable && exit 0
  sleep 1
done
echo "error: no PostgreSQL server at 127.0.0.1:5432 (trust auth); the PostgreSQL tests need one" >&2
exit 1
