import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';
import { strictFlags } from './flags';

interface ReportFlags extends CommonOptions {
  html?: string;
  md?: string;
}

/**
 * The file a report goes to, as an absolute path; InvalidInput naming the flag when its folder does
 * not exist or it names a folder (checked before anything is fetched).
 */
function outputFile(value: string | undefined, field: 'html' | 'md'): string | undefined {
  if (value === undefined) return undefined;
  const file = path.resolve(value);
  const fail = (problem: string, fix: string) =>
    new PgferryError(ErrorCode.InvalidInput, `${field}: ${problem}`, { field, fix });
  if (value.trim() === '')
    throw fail('expected a file name', `give --${field} a file, e.g. --${field} report.${field}`);
  const dir = statSync(path.dirname(file), { throwIfNoEntry: false });
  if (!dir?.isDirectory())
    throw fail(
      `the folder ${path.dirname(file)} does not exist`,
      `create it first, or give --${field} a file in an existing folder`,
    );
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory())
    throw fail(
      `${file} is a folder`,
      `give --${field} a file name, e.g. ${path.join(file, `report.${field}`)}`,
    );
  return file;
}

/** `pgferry report NAME [--html FILE] [--md FILE]`: the migration's report, from its Temporal history. */
export function registerReport(program: Command): void {
  withJson(
    strictFlags(program.command('report'))
      .description(
        'write a migration’s report from its Temporal history: stages on a timeline, copy throughput, lag, validation, checks, decisions, downtime',
      )
      .argument('<name>', 'a migration name or any workflow id')
      .option('--html <file>', 'write a self-contained HTML page (inline charts, nothing fetched)')
      .option('--md <file>', 'write Markdown (for a change review)'),
  ).action(async (id: string, flags: ReportFlags) => {
    const out = outputFor(flags);
    const html = outputFile(flags.html, 'html');
    const md = outputFile(flags.md, 'md');
    if (html !== undefined && html === md)
      throw new PgferryError(ErrorCode.InvalidInput, 'md: the same file as --html', {
        field: 'md',
        fix: 'give --html and --md different files',
      });
    const { writeReport } = await import('../report/write.js');
    await withPgferry(async (client) => {
      const written = await writeReport(client, id, { ...(html ? { html } : {}), ...(md ? { md } : {}) });
      const names = Object.values(written.files);
      out.result({ ok: true, files: written.files, report: written.report }, () =>
        names.length === 0 ? written.markdown : names.map((f) => `wrote ${f}`).join('\n'),
      );
    });
  });
}
