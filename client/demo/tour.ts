import type { Config } from '../../worker/config';
import type { Output } from '../output';
import type { PgferryClient } from '../pgferry-client';

/** What a demo tour works with: the running stack's client and addresses, the worker's config, the output. */
export interface Tour {
  readonly client: PgferryClient;
  readonly config: Config;
  readonly out: Output;
  /** The Temporal frontend address and the UI's base address (http://127.0.0.1:8233). */
  readonly address: string;
  readonly uiUrl: string;
  /** The frontend port the demo was asked for (the printed commands name it when it is not the default). */
  readonly port: number;
  /** Whether the stack stops at the end (--exit): the closing line says how to stop it otherwise. */
  readonly exit: boolean;
}

/** A line for people on stderr (silent with --json). */
export function say(tour: Tour, line: string): void {
  tour.out.note(line);
}

/** The address of a workflow in the Temporal UI. */
export function uiLink(tour: Tour, workflowId: string): string {
  return `${tour.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;
}
