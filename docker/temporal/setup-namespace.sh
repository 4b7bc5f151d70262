#!/bin/sh
# Registers the namespace pgferry's workers and clients use, and pgferry's search attributes in it,
# once the Temporal server answers: what temporalio/auto-setup did after the server started, as a
# one-shot step before the workers start (two workers starting at once must not both add them).
# Safe to run again. docker-compose.yml runs it in temporalio/admin-tools;
# test/temporal-cluster.test.ts runs the same script with the Temporal CLI.
#
#   TEMPORAL_ADDRESS host:port, NAMESPACE (default), RETENTION (7d), TEMPORAL_CLI the CLI (temporal)
set -eu

TEMPORAL_CLI="${TEMPORAL_CLI:-temporal}"
NAMESPACE="${NAMESPACE:-default}"
RETENTION="${RETENTION:-7d}"
: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS to the Temporal frontend, host:port}"

t() {
  "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" "$@"
}

# Runs "$@" until it succeeds, every 2 s, at most 90 times (3 minutes): the server starts slowly.
retry() {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 90 ]; then
      echo "gave up after $tries attempts: $*" >&2
      exit 1
    fi
    sleep 2
  done
}

retry t operator cluster health
if ! t operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  retry t operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
fi
# pgferry's search attributes, all Keyword: SEARCH_ATTRIBUTES in domain/constants.ts (a test checks
# that this list matches it). The worker adds missing ones itself too, but two workers that start at
# once would race for the same columns of the SQL visibility store.
retry t operator search-attribute create --namespace "$NAMESPACE" --type Keyword \
  --name PgferryStage --name PgferryState --name PgferryMode --name PgferrySource \
  --name PgferryTarget --name PgferryApprovedBy --name PgferryReady --name PgferryFleet
echo "namespace $NAMESPACE ready with pgferry's search attributes"
