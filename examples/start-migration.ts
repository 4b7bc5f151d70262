// Start a migration from a program and wait for it: what a control plane does when a customer asks.
//   TEMPORAL_ADDRESS=localhost:7233 npx tsx examples/start-migration.ts NAME SOURCE_URL TARGET_URL
import { PgferryClient, PgferryError } from 'pgferry';

async function main(): Promise<void> {
  const [name, source, target] = process.argv.slice(2);
  if (!name || !source || !target) throw new Error('usage: start-migration.ts NAME SOURCE_URL TARGET_URL');
  // TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the codec key come from the environment, as for the CLI.
  const client = await PgferryClient.connect();
  try {
    const run = await client.migrate({
      name,
      source,
      target,
      mode: 'offline',
      autoApprove: true,
      validate: 'checksums',
    });
    console.error(`started ${run.workflowId}`);
    const result = await run.result();
    console.log(
      JSON.stringify({
        workflowId: run.workflowId,
        outcome: result.outcome,
        rows: result.rows,
        equal: result.validation?.ok,
      }),
    );
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  // Failures carry the same stable codes the CLI prints.
  console.error(err instanceof PgferryError ? `${err.code}: ${err.message}` : err);
  process.exit(1);
});
