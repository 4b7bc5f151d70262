import type { CreatePublicationInput } from '../domain/activity-inputs';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { withClient } from './pg/connect';
import { replicationStep } from './pg/replication-checks';
import { createPublicationSql, PUBLICATION_EXISTS } from './pg/replication-sql';
import { SqlState } from './pg/sqlstate';

/** Creates a publication of all tables on the source unless it exists. */
export async function createPublication(
  deps: ActivityDeps,
  input: CreatePublicationInput,
): Promise<{ created: boolean }> {
  return withHeartbeat('creating the publication', () =>
    withClient(
      input.source,
      deps.env,
      replicationStep('source', `creating publication ${input.publication}`),
      async (client) => {
        const { rows } = await client.query<{ present: boolean }>(PUBLICATION_EXISTS, [input.publication]);
        if (rows[0]?.present) return { created: false };
        try {
          await client.query(createPublicationSql(input.publication));
          return { created: true };
        } catch (err) {
          // Another attempt created it between the check and here.
          if ((err as { code?: unknown }).code === SqlState.DuplicateObject) return { created: false };
          throw err;
        }
      },
    ),
  );
}
