/**
 * The contract between the messages the worker posts to chat and the chat endpoint that receives
 * the clicks: the ids of the approval buttons, what they carry, and how a chat identity is kept in
 * a decision. Both sides import these names; neither parses the other's text.
 */

/** The `block_id` of the actions block that holds the Approve and Reject buttons. */
export const APPROVAL_BLOCK_ID = 'pgferry.approval';

/** The `action_id` of the Approve button; its `value` is the migration's name. */
export const APPROVE_ACTION_ID = 'pgferry.approve';

/** The `action_id` of the Reject button; its `value` is the migration's name. */
export const REJECT_ACTION_ID = 'pgferry.reject';

/**
 * The keys of a decision's `via` when it came from chat: which chat system, the workspace (team),
 * the user's id and name there, and the channel the decision was taken in.
 */
export const CHAT_IDENTITY_KEYS = ['chat', 'team', 'userId', 'userName', 'channel'] as const;

/** A chat identity as kept in a decision's `via`. */
export type ChatIdentity = Partial<Record<(typeof CHAT_IDENTITY_KEYS)[number], string>>;

/**
 * A chat identity on one line: `slack: @alice U024BE7LH in C0123, team T0001`. Keys outside the
 * contract are kept as `key=value` so nothing recorded is hidden.
 */
export function describeChatIdentity(via: Readonly<Record<string, string>>): string {
  const who = [via.userName ? `@${via.userName}` : undefined, via.userId].filter(Boolean).join(' ');
  const parts = [
    [who, via.channel ? `in ${via.channel}` : undefined].filter(Boolean).join(' '),
    via.team ? `team ${via.team}` : undefined,
    ...Object.entries(via)
      .filter(([k]) => !(CHAT_IDENTITY_KEYS as readonly string[]).includes(k))
      .map(([k, v]) => `${k}=${v}`),
  ].filter((p): p is string => Boolean(p));
  return `${via.chat ?? 'chat'}: ${parts.join(', ')}`;
}
