import { createHmac } from 'node:crypto';

/** The headers of a request signed as Slack signs them. */
export type SlackSignedHeaders = {
  'content-type': string;
  'x-slack-request-timestamp': string;
  'x-slack-signature': string;
};

/**
 * Signs a body exactly as Slack does: `v0=` + hex HMAC-SHA256 of `v0:TIMESTAMP:BODY` with the
 * app's signing secret. `timestamp` is in seconds (now when absent).
 */
export function signSlackRequest(
  secret: string,
  body: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): SlackSignedHeaders {
  const signature = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': `v0=${signature}`,
  };
}

/** Who sends a slash command or clicks a button, and where. */
export interface SlackSender {
  readonly userId: string;
  readonly userName: string;
  readonly team?: string;
  readonly channel?: string;
}

const TEAM = 'T0TEST';
const CHANNEL = 'C0PGFERRY';

/** The form body Slack posts for `/pgferry TEXT`. */
export function slashCommandBody(text: string, sender: SlackSender, responseUrl: string): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: sender.team ?? TEAM,
    team_domain: 'pgferry-test',
    channel_id: sender.channel ?? CHANNEL,
    channel_name: 'migrations',
    user_id: sender.userId,
    user_name: sender.userName,
    command: '/pgferry',
    text,
    api_app_id: 'A0PGFERRY',
    is_enterprise_install: 'false',
    response_url: responseUrl,
    trigger_id: '1234.5678.abcdef',
  }).toString();
}

/** The `payload=` form body Slack posts when a button of a message's actions block is clicked. */
export function blockActionsBody(
  action: { blockId: string; actionId: string; value: string },
  sender: SlackSender,
  responseUrl: string,
  /** The message that holds the button, when the test clicks one the worker posted. */
  message: { ts: string; text?: unknown; blocks?: unknown } = {
    ts: '1700000000.000001',
    text: 'approval requested',
  },
): string {
  const team = sender.team ?? TEAM;
  const payload = {
    type: 'block_actions',
    user: { id: sender.userId, username: sender.userName, name: sender.userName, team_id: team },
    api_app_id: 'A0PGFERRY',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: sender.channel ?? CHANNEL },
    trigger_id: '1234.5678.abcdef',
    team: { id: team, domain: 'pgferry-test' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: sender.channel ?? CHANNEL, name: 'migrations' },
    message: { type: 'message', ...message },
    response_url: responseUrl,
    actions: [
      {
        type: 'button',
        action_id: action.actionId,
        block_id: action.blockId,
        value: action.value,
        text: { type: 'plain_text', text: action.actionId.endsWith('reject') ? 'Reject' : 'Approve' },
        action_ts: '1700000001.000001',
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}
