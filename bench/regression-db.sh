#!/usr/bin/env bash
# Makes PostgreSQL's regression database (what `make installcheck` leaves behind: ~960 relations of
# every kind, most of them tiny) as database DBNAME on a running server, for `npm run bench --
# --shape regression`. The regression suite ships only in PostgreSQL's sources: they come from
# Debian's source package of the server's major (apt-get source, with a deb-src list of its own
# beside the system's, which is left alone), configured without optional libraries, and only the
# test library regress.so is built. Sources and build are kept in $PGFERRY_BENCH_CACHE
# (/var/tmp/pgferry-bench) for the next time. Needs root (or apt's rights), gcc, make and perl.
#
# usage: bench/regression-db.sh MAJOR HOST PORT USER DBNAME
set -euo pipefail

major=$1 host=$2 port=$3 user=$4 dbname=$5
cache=${PGFERRY_BENCH_CACHE:-/var/tmp/pgferry-bench}
bindir=/usr/lib/postgresql/$major/bin
mkdir -p "$cache"

find_regress_dir() {
  find "$cache" -maxdepth 5 -path "*/postgresql-$major.*/src/test/regress" -type d 2>/dev/null | head -n 1
}

# Debian's source package, from the same mirrors as the system's binary packages.
download_sources() {
  local apt="$cache/apt"
  mkdir -p "$apt/sources" "$apt/lists/partial" "$apt/cache/archives/partial" "$cache/download"
  rm -f "$apt/sources/"*
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types: deb$/Types: deb-src/' "$f" >"$apt/sources/$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >"$apt/sources/system.list"
  fi
  local opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$apt/sources"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
  apt-get "${opts[@]}" update >"$cache/apt-update.log" 2>&1 || true
  # Newest first; a mirror may list a version whose files it does not serve (a security suite's).
  local versions
  versions=$(apt-cache "${opts[@]}" showsrc "postgresql-$major" | awk '/^Version:/ {print $2}' | sort -rV | uniq)
  [ -n "$versions" ] || { echo "no source package postgresql-$major on the configured mirrors" >&2; return 1; }
  for v in $versions; do
    if (cd "$cache/download" && apt-get "${opts[@]}" source --download-only "postgresql-$major=$v"); then
      tar -xf "$(ls "$cache/download/postgresql-${major}_${v%%-*}.orig.tar."*)" -C "$cache"
      return 0
    fi
  done
  echo "no version of postgresql-$major could be downloaded: $versions" >&2
  return 1
}

regress=$(find_regress_dir)
if [ -z "$regress" ] || [ ! -f "$regress/regress.so" ]; then
  if [ -z "$regress" ]; then
    echo "downloading the sources of postgresql-$major…" >&2
    download_sources
    regress=$(find_regress_dir)
  fi
  top=$(cd "$regress/../../.." && pwd)
  echo "configuring $top and building regress.so (a few minutes)…" >&2
  (cd "$top" && ./configure --without-readline --without-zlib --without-icu --without-llvm >"$cache/configure.log" 2>&1)
  make -C "$regress" regress.so >"$cache/make.log" 2>&1
fi

pg_regress=/usr/lib/postgresql/$major/lib/pgxs/src/test/regress/pg_regress
if [ ! -x "$pg_regress" ]; then
  make -C "$regress" pg_regress >>"$cache/make.log" 2>&1
  pg_regress=$regress/pg_regress
fi

echo "running the regression suite into $dbname (several minutes)…" >&2
cd "$regress"
# Some tests fail here (a root user, another locale, other sessions on the shared server): what
# they leave is still the regression database. pg_regress drops and creates DBNAME itself.
"$pg_regress" --inputdir=. --dlpath=. --bindir="$bindir" --schedule=parallel_schedule \
  --max-connections=8 --host="$host" --port="$port" --user="$user" --dbname="$dbname" \
  >"$cache/regress.log" 2>&1 || true
grep -E 'tests (passed|failed)|of [0-9]+ tests' "$cache/regress.log" | tail -n 1 >&2 || true
