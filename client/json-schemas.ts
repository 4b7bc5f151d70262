import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { BackupInput, ProvisionInput, RestoreInput } from '../domain/contracts';
import { FleetInput } from '../domain/fleet';
import { DdlApprovalInput, DecisionInput, MigrationInput, PreflightInput } from '../domain/migration';
import { BackupScheduleInput, ScheduledBackupInput } from '../domain/schedule';

/** The workflow inputs callers in other languages write, by the file name of their JSON Schema. */
const INPUTS: Record<string, z.ZodType> = {
  'provision-input': ProvisionInput,
  'backup-input': BackupInput,
  'restore-input': RestoreInput,
  'migration-input': MigrationInput,
  'preflight-input': PreflightInput,
  'decision-input': DecisionInput,
  'ddl-approval-input': DdlApprovalInput,
  'scheduled-backup-input': ScheduledBackupInput,
  'backup-schedule-input': BackupScheduleInput,
  'fleet-input': FleetInput,
};

/** Each workflow input as a JSON Schema (draft 2020-12), keyed by file name without extension. */
export function inputJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(INPUTS).map(([name, schema]) => [name, z.toJSONSchema(schema, { io: 'input' })]),
  );
}

/** Writes `docs/<name>.schema.json` for every workflow input. */
export async function writeInputJsonSchemas(dir: string): Promise<string[]> {
  const written: string[] = [];
  for (const [name, schema] of Object.entries(inputJsonSchemas())) {
    const file = path.join(dir, `${name}.schema.json`);
    await writeFile(file, `${JSON.stringify(schema, null, 2)}\n`);
    written.push(file);
  }
  return written;
}
