import { z } from 'zod';

/** A table by schema and name: the one shape every layer names a table with. */
export const TableRef = z.object({
  schema: z.string().min(1),
  table: z.string().min(1),
}) satisfies z.ZodType<TableRef>;
/** A table by schema and name. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

/** A table and some of its columns (those a copy moves, or whose storage was changed). */
export const TableColumns = TableRef.extend({
  columns: z.array(z.string()),
}) satisfies z.ZodType<TableColumns>;
/** A table and some of its columns. */
export interface TableColumns extends TableRef {
  readonly columns: string[];
}
