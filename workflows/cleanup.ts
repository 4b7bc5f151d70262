import { isCancellation } from '@temporalio/workflow';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { CleanupInput, type CleanupOptions, type CleanupResult, type Leftover } from '../domain/contracts';
import { failureInfo } from '../domain/failure-info';
import { control } from './activities';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';

/**
 * Finds and removes what a migration that has ended (completed, failed, rolled back, terminated)
 * left: on the target its subscription, the column storage its copy changed and its ledger; on the
 * source its freeze (not past the point of no return: a retired source stays frozen), its fence
 * slot, its replication slot and its publication. The target goes first (the subscription stops
 * before its slot goes), and the source is cleaned whatever the target did. With `dryRun`, only
 * reports. Never drops a database. Running it again finds nothing.
 */
export async function cleanup(raw: CleanupOptions): Promise<CleanupResult> {
  const input = parseWorkflowInput(CleanupInput, raw, 'cleanup');
  const progress = new Progress(['target', 'source', 'done'], {
    source: connectionLabel(parseConnectionUrl(input.source, 'source')),
    target: connectionLabel(parseConnectionUrl(input.target, 'target')),
  });
  return progress.run(async () => {
    const { migration, dryRun } = input;
    const target = await side('target', () =>
      control.cleanTarget({ target: input.target, migration, storage: input.storage, dryRun }),
    );
    progress.enter('source');
    const source = await side('source', () =>
      control.cleanSource({ source: input.source, migration, unfreeze: !input.retired, dryRun }),
    );
    const errors = [...target.errors, ...source.errors];
    const result = {
      migration,
      dryRun,
      retired: input.retired,
      ok: errors.length === 0,
      objects: [...target.objects, ...source.objects],
      errors,
    };
    progress.detail('cleanup', result);
    return result;
  });
}

/** One side's clean-up: its rows, or the error that kept it from being looked at. */
async function side(
  where: 'source' | 'target',
  clean: () => Promise<Leftover[]>,
): Promise<Pick<CleanupResult, 'objects' | 'errors'>> {
  try {
    return { objects: await clean(), errors: [] };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const info = failureInfo(err);
    return {
      objects: [],
      errors: [
        {
          where,
          code: String(info.code),
          message: info.message,
          ...(info.fix === undefined ? {} : { fix: info.fix }),
        },
      ],
    };
  }
}
