import type { ReverseReplicationInput } from '../domain/activity-inputs';
import type { ActivityDeps } from './deps';
import { dropSlot, dropSubscriptionOn } from './cutover';
import { withHeartbeat } from './heartbeat';
import { listTables, serverVersion } from './pg/catalog';
import { inStep, resolvePassword, withClient } from './pg/connect';
import { ignoreCode, replicationStep } from './pg/replication-checks';
import {
  dropPublicationSql,
  enableSubscriptionSql,
  PUBLICATION_EXISTS,
  QUIET_STATEMENT_LOG,
  READ_WRITE_SESSION,
  sourceConninfo,
  SUBSCRIPTION_STATE,
} from './pg/replication-sql';
import {
  CREATE_REVERSE_SLOT,
  ORIGIN_NONE_MAJOR,
  REVERSE_SLOT_EXISTS,
  reversePublicationSql,
  reverseSubscriptionSql,
} from './pg/reverse-sql';
import { SqlState } from './pg/sqlstate';

/** What openReverse made on the target (false: it was there already, from an earlier attempt). */
export interface ReverseOpened {
  readonly publication: boolean;
  readonly slot: boolean;
  /** The tables the reverse replication carries. */
  readonly tables: number;
}

/** What closeReverse found and dropped; all false on a second run. */
export interface ReverseClosed {
  readonly subscription: boolean;
  readonly slot: boolean;
  readonly publication: boolean;
}

/**
 * The target's half of a fallback window, made at the cutover while the source is frozen and the
 * forward subscription gone (so nothing writes to the target, and the slot starts past everything
 * the forward replication applied): the publication of the user's tables, then the slot. Every
 * change on the target from then on reaches the old source once subscribeReverse has started.
 * Idempotent: what exists is kept.
 */
export async function openReverse(
  deps: ActivityDeps,
  input: ReverseReplicationInput,
): Promise<ReverseOpened> {
  // Making a slot waits for the transactions running on the target's server.
  return withHeartbeat('opening the fallback window', () =>
    withClient(
      input.target,
      deps.env,
      replicationStep('target', `creating publication ${input.publication}`),
      async (client) => {
        const tables = await listTables(client);
        const { rows: pub } = await client.query<{ present: boolean }>(PUBLICATION_EXISTS, [
          input.publication,
        ]);
        const publication = !pub[0]?.present;
        if (publication) await client.query(reversePublicationSql(input.publication, tables));
        const slot = await inStep(
          client,
          replicationStep('target', `creating slot ${input.slot}`),
          async () => {
            const { rows } = await client.query<{ present: boolean }>(REVERSE_SLOT_EXISTS, [input.slot]);
            if (rows[0]?.present) return false;
            await client.query(CREATE_REVERSE_SLOT, [input.slot]);
            return true;
          },
        );
        return { publication, slot, tables: tables.length };
      },
    ),
  );
}

/**
 * The source's half: the old source subscribes to the target's publication from the slot
 * openReverse made. The old source is frozen (read-only by default): this session writes its
 * catalog on purpose, and the subscription's apply worker writes whatever the default says (it
 * does not run the executor's read-only check), while applications stay refused. The old server
 * connects to the target with the password the worker resolved for the target; it goes into the
 * statement only. Idempotent: an existing subscription is enabled.
 */
export async function subscribeReverse(
  deps: ActivityDeps,
  input: ReverseReplicationInput,
): Promise<{ created: boolean; originNone: boolean }> {
  // The old source's server connects to the target from inside the statement.
  return withHeartbeat('subscribing the source to the target', () =>
    withClient(
      input.source,
      deps.env,
      replicationStep('source', `creating subscription ${input.subscription}`),
      async (client) => {
        await client.query(READ_WRITE_SESSION);
        const originNone = (await serverVersion(client)).major >= ORIGIN_NONE_MAJOR;
        const { rows } = await client.query<{ enabled: boolean }>(SUBSCRIPTION_STATE, [input.subscription]);
        if (rows[0] !== undefined) {
          if (!rows[0].enabled) await client.query(enableSubscriptionSql(input.subscription));
          return { created: false, originNone };
        }
        for (const setting of QUIET_STATEMENT_LOG) {
          await client.query(setting).catch(ignoreCode(SqlState.InsufficientPrivilege));
        }
        const conninfo = sourceConninfo(input.target, resolvePassword(input.target, deps.env, 'target'));
        const { subscription, publication, slot } = input;
        await client
          .query(reverseSubscriptionSql({ subscription, conninfo, publication, slot, originNone }))
          .catch(ignoreCode(SqlState.DuplicateObject));
        return { created: true, originNone };
      },
    ),
  );
}

/**
 * Ends the fallback window's replication: the old source's subscription first (detached from its
 * slot, so it never reaches over the network), then the target's slot (its walsender ended) and
 * publication. Either side may be frozen: both sessions write on purpose. Idempotent.
 */
export async function closeReverse(
  deps: ActivityDeps,
  input: ReverseReplicationInput,
): Promise<ReverseClosed> {
  // DROP SUBSCRIPTION waits for its apply worker; a slot's walsender is waited for.
  return withHeartbeat('closing the fallback window', async () => {
    const subscription = await withClient(
      input.source,
      deps.env,
      replicationStep('source', `dropping subscription ${input.subscription}`),
      async (client) => {
        await client.query(READ_WRITE_SESSION);
        return dropSubscriptionOn(client, input);
      },
    );
    const target = await withClient(
      input.target,
      deps.env,
      replicationStep('target', `dropping slot ${input.slot}`),
      async (client) => {
        await client.query(READ_WRITE_SESSION);
        const slot = await dropSlot(client, input.slot);
        const { rows } = await client.query<{ present: boolean }>(PUBLICATION_EXISTS, [input.publication]);
        await client.query(dropPublicationSql(input.publication));
        return { slot, publication: rows[0]?.present ?? false };
      },
    );
    return { subscription, ...target };
  });
}
