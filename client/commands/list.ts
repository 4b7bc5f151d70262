import type { Command } from 'commander';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';
import { intOption } from './flags';

/** `pgferry list`. */
export function registerList(program: Command): void {
  withJson(
    program
      .command('list')
      .description("list pgferry's workflows, newest first")
      .option('--limit <n>', 'at most this many', intOption('limit', 1, 10_000), 50),
  ).action(async (flags: CommonOptions & { limit: number }) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      const workflows = await client.list({ limit: flags.limit });
      out.result({ ok: true, workflows }, () =>
        workflows.length === 0
          ? 'no pgferry workflows yet'
          : workflows
              .map(
                (w) =>
                  `${w.startedAt}  ${w.state.padEnd(11)} ${w.stage.padEnd(10)} ${w.id}${w.target ? `  → ${w.target}` : ''}`,
              )
              .join('\n'),
      );
    });
  });
}
