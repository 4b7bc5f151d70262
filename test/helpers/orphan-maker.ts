/**
 * A stand-in worker for the orphan tests, run as its own Node process:
 * `node --import tsx test/helpers/orphan-maker.ts '{"bin", "args", "pidFile", "env"}'` starts one
 * tool through the real runTool, with its pid file, and stays until killed. A test kills it with
 * SIGKILL, as a crash would, and the tool runs on in its own process group: an orphan.
 */
import { runTool } from '../../activities/tools';

interface Orders {
  readonly bin: string;
  readonly args: readonly string[];
  readonly pidFile: string;
  readonly env?: Record<string, string>;
}

const orders = JSON.parse(process.argv[2] ?? '{}') as Orders;
void runTool(orders.bin, orders.args, { pidFile: orders.pidFile, env: orders.env ?? {} });
