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
