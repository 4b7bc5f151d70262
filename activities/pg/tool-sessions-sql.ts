/**
 * Ends the sessions in database $1 whose application_name is $2 (a tool's, tagged with its step's
 * trace) and lists them: an ended backend stays listed until it has exited, so an empty result
 * means they are all gone. A killed pg_restore's backend runs its statement on (a CREATE INDEX
 * reads nothing from the client until it ends, and then commits); only this ends it.
 */
export const END_TOOL_SESSIONS = `
  SELECT pid, pg_terminate_backend(pid) AS signalled
    FROM pg_stat_activity
   WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()`;
