// Runs the example workflow in examples/child-of-your-workflow.workflows.ts on your own task queue.
//   TEMPORAL_ADDRESS=localhost:7233 npx tsx examples/child-of-your-workflow.ts CUSTOMER SOURCE_URL TARGET_URL
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { pgferryDataConverter } from 'pgferry';

const TASK_QUEUE = 'my-app';

async function main(): Promise<void> {
  const [customer, source, target] = process.argv.slice(2);
  if (!customer || !source || !target)
    throw new Error('usage: child-of-your-workflow.ts CUSTOMER SOURCE_URL TARGET_URL');
  const address = process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  // pgferry's workers encrypt their results: the parent reads them with the same codec and key.
  const dataConverter = await pgferryDataConverter();
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address }),
    namespace,
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('./child-of-your-workflow.workflows'),
    dataConverter,
  });
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace, dataConverter });
    const result = await worker.runUntil(
      client.workflow.execute('moveCustomer', {
        taskQueue: TASK_QUEUE,
        workflowId: `my-app-move-${customer}`,
        args: [{ customer, source, target }],
      }),
    );
    console.log(JSON.stringify(result));
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
