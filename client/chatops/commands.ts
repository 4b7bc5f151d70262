/** What a person asked for with `/pgferry TEXT`, parsed from the slash command's text. */
export type ChatCommand =
  | { readonly kind: 'list' }
  | { readonly kind: 'status'; readonly name: string }
  | { readonly kind: 'approve'; readonly name: string; readonly reason?: string }
  | { readonly kind: 'reject'; readonly name: string; readonly reason?: string }
  /** `ddl approve NAME N REASON`: one schema change held by a migration started with --ddl hold. */
  | { readonly kind: 'ddl-approve'; readonly name: string; readonly change: number; readonly reason: string }
  /** `fallback NAME REASON`: move a migration in its fallback window back to its source. */
  | { readonly kind: 'fallback'; readonly name: string; readonly reason: string }
  | { readonly kind: 'help' }
  /** Text that is no command: `problem` says what was wrong, the help follows it. */
  | { readonly kind: 'invalid'; readonly problem: string };

/** The help a person gets with `/pgferry help`, and after any text that is no command. */
export const CHAT_HELP = [
  '*pgferry* — migrations waiting for a decision, from Slack:',
  '• `/pgferry list` — the migrations, newest first',
  '• `/pgferry status NAME` — where a migration stands',
  '• `/pgferry approve NAME [reason]` — approve a migration waiting at its approval gate',
  '• `/pgferry reject NAME reason` — reject it (it rolls back); a reason is required',
  '• `/pgferry ddl approve NAME N reason` — let held schema change #N of a `--ddl hold` migration go to the target',
  '• `/pgferry fallback NAME reason` — move a migration in its fallback window back to its source (no write lost)',
  '• `/pgferry help` — this help',
].join('\n');

/** Parses the text after `/pgferry`; never throws: text that is no command becomes `invalid`. */
export function parseChatCommand(text: string): ChatCommand {
  const trimmed = text.trim();
  const [verb = '', name, ...rest] = trimmed.split(/\s+/);
  const reason = rest.join(' ').trim();
  const withReason = reason ? { reason } : {};
  switch (verb.toLowerCase()) {
    case '':
    case 'help':
      return { kind: 'help' };
    case 'list':
      return { kind: 'list' };
    case 'status':
      return name ? { kind: 'status', name } : { kind: 'invalid', problem: 'status needs a migration name' };
    case 'approve':
      return name
        ? { kind: 'approve', name, ...withReason }
        : { kind: 'invalid', problem: 'approve needs a migration name' };
    case 'reject':
      return name
        ? { kind: 'reject', name, ...withReason }
        : { kind: 'invalid', problem: 'reject needs a migration name and a reason' };
    case 'ddl':
      return parseDdlCommand(name, rest);
    case 'fallback':
      return name && reason
        ? { kind: 'fallback', name, reason }
        : {
            kind: 'invalid',
            problem: 'fallback needs a migration name and a reason: `fallback NAME REASON`',
          };
    default:
      return { kind: 'invalid', problem: `"${verb}" is not a pgferry command` };
  }
}

const DDL_USAGE =
  'ddl approve needs a migration name, a change number and a reason: `ddl approve NAME N REASON`';

/** `ddl approve NAME N REASON`, the words after `ddl`. */
function parseDdlCommand(sub: string | undefined, words: readonly string[]): ChatCommand {
  if (sub?.toLowerCase() !== 'approve') return { kind: 'invalid', problem: DDL_USAGE };
  const [name, number = '', ...why] = words;
  const change = /^[1-9]\d{0,15}$/.test(number) ? Number(number) : undefined;
  const reason = why.join(' ').trim();
  if (!name || change === undefined || !Number.isSafeInteger(change) || !reason)
    return { kind: 'invalid', problem: DDL_USAGE };
  return { kind: 'ddl-approve', name, change, reason };
}
