import { temporal } from '@temporalio/proto';
import type { ConnectionLike } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/constants';

/** Anything that reaches Temporal's operator service (a client Connection or a worker's NativeConnection). */
type OperatorConnection = Pick<ConnectionLike, never> & {
  operatorService: {
    listSearchAttributes(req: {
      namespace: string;
    }): Promise<{ customAttributes?: Record<string, unknown> | null }>;
    addSearchAttributes(req: {
      namespace: string;
      searchAttributes: Record<string, number>;
    }): Promise<unknown>;
  };
};

/**
 * Registers pgferry's search attributes (Keyword) in the namespace when missing, so that a worker
 * pointed at any Temporal cluster can upsert them. Returns the names it added.
 */
export async function ensureSearchAttributes(
  connection: OperatorConnection,
  namespace: string,
): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((name) => !have.has(name));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((name) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  return missing;
}
