#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 for the store tests: start the
# local cluster if it is stopped, install it from Debian's packages if missing.
# The tests never skip PostgreSQL; this script is how they get one.
set -euo pipefail

HOST=127.0.0.1
PORT=5432

answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT"
  else
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  fi
}

wait_until_up() {
  for _ in $(seq 1 60); do
    answers && return 0
    sleep 0.5
  done
  return 1
}

if answers; then
  echo "PostgreSQL answers on $HOST:$PORT"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed: installing it from Debian's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql | sort -n | tail -n 1)
conf_dir=/etc/postgresql/$version/main
if ! grep -q "qrt-tests" "$conf_dir/pg_hba.conf"; then
  # Trust on loopback, as on the development machines; never do this on a server.
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust # qrt-tests' "$conf_dir/pg_hba.conf"
fi
echo "starting PostgreSQL $version"
$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
wait_until_up || { echo "PostgreSQL did not come up on $HOST:$PORT" >&2; exit 1; }

if ! psql -h "$HOST" -U postgres -Atc "select 1 from pg_database where datname='test'" | grep -q 1; then
  psql -h "$HOST" -U postgres -c "create database test" >/dev/null
fi
echo "PostgreSQL answers on $HOST:$PORT"
