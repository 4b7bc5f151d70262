#!/bin/sh
# Creates Temporal's two databases on PostgreSQL and brings their schemas to the version of the
# SQL tool (the server's release): what temporalio/auto-setup did before the server starts, as a
# one-shot step. Safe to run again: an existing database is kept, and an up-to-date schema is left
# as it is. docker-compose.yml runs it in temporalio/admin-tools; test/temporal-cluster.test.ts
# runs the same script with the `sql` tool built by `pgferry setup-temporal --server`.
#
#   POSTGRES_SEEDS host, DB_PORT port (5432), POSTGRES_USER user, SQL_PASSWORD its password,
#   SQL_TOOL the tool (temporal-sql-tool), DBNAME (temporal), VISIBILITY_DBNAME (temporal_visibility)
set -eu

SQL_TOOL="${SQL_TOOL:-temporal-sql-tool}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the PostgreSQL host}"
: "${POSTGRES_USER:?set POSTGRES_USER to a user that may create databases}"
export SQL_PASSWORD="${SQL_PASSWORD:-}"

sql() {
  "$SQL_TOOL" --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "$DB_PORT" --user "$POSTGRES_USER" "$@"
}

# One database and its schema: postgresql/v12/temporal or postgresql/v12/visibility, embedded in the tool.
setup() {
  database="$1"
  schema="$2"
  # Fails when the database exists (a second run): setup-schema below then says whether it is reachable.
  sql --database "$database" create-database || echo "database $database not created (it may exist); going on"
  # Version 0.0 creates only the tables that track the schema version (a no-op when they exist);
  # update-schema then applies the versioned steps the database has not had yet.
  sql --database "$database" setup-schema --version 0.0
  sql --database "$database" update-schema --schema-name "$schema"
}

setup "$DBNAME" postgresql/v12/temporal
setup "$VISIBILITY_DBNAME" postgresql/v12/visibility
echo "Temporal schema ready in $DBNAME and $VISIBILITY_DBNAME"
