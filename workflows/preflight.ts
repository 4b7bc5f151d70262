import { PreflightInput, type PreflightOptions, type PreflightReport } from '../domain/migration';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { control } from './activities';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';

/** Runs the preflight checks alone on both servers and returns the report; nothing is changed. */
export async function preflight(raw: PreflightOptions): Promise<PreflightReport> {
  const input = parseWorkflowInput(PreflightInput, raw, 'preflight');
  const progress = new Progress(['preflight', 'done'], {
    mode: input.mode,
    source: connectionLabel(parseConnectionUrl(input.source, 'source')),
    target: connectionLabel(parseConnectionUrl(input.target, 'target')),
  });
  return progress.run(async () => {
    const report = await control.runPreflight({
      source: input.source,
      target: input.target,
      mode: input.mode,
      roles: input.roles,
      freeze: input.freezeSource,
    });
    progress.detail('preflight', report);
    return report;
  });
}
