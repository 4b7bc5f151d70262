/** What a person asked for with `/pgferry TEXT`, parsed from the slash command's text. */
export type ChatCommand =
  | { readonly kind: 'list' }
  | { readonly kind: 'status'; readonly name: string }
  | { readonly kind: 'approve'; readonly name: string; readonly reason?: string }
  | { readonly kind: 'reject'; readonly name: string; readonly reason?: string }
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
    default:
      return { kind: 'invalid', problem: `"${verb}" is not a pgferry command` };
  }
}
