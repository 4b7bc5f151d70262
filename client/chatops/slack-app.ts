import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  App,
  HTTPReceiver,
  LogLevel,
  type BlockAction,
  type ButtonAction,
  type Logger,
  type RespondFn,
} from '@slack/bolt';
import { APPROVAL_BLOCK_ID, APPROVE_ACTION_ID, REJECT_ACTION_ID } from '../../domain/chat';
import { toPgferryError } from '../errors';
import { CHAT_HELP, parseChatCommand } from './commands';
import { approveDdlFromChat, decideFromChat, fallbackFromChat, type ChatActor } from './decide';
import { MAX_BODY_BYTES, precheck, ReplayGuard, SLACK_EVENTS_PATH } from './guard';
import { ephemeral, errorReply, listReply, statusReply, type ChatClient, type ChatReply } from './replies';
import type { ChatUsers } from './users';

/** What the Slack endpoint needs: the app's secrets, where to listen, the client, who may decide. */
export interface ChatopsOptions {
  /** The app's Signing Secret: Bolt checks every request's signature with it. */
  readonly signingSecret: string;
  /** The bot token; optional, the endpoint answers through response_urls only. */
  readonly botToken?: string | undefined;
  /** The Web API base URL (Slack's when absent; tests point it at a stand-in). */
  readonly slackApiUrl?: string | undefined;
  readonly client: ChatClient;
  /** Slack user id → pgferry approver name; without it decisions from chat are refused. */
  readonly users?: ChatUsers | undefined;
  readonly host: string;
  readonly port: number;
  /** Where warnings go (a line each); stderr when absent. */
  readonly log?: (line: string) => void;
}

/** A running Slack endpoint. */
export interface ChatopsServer {
  /** The URL Slack posts to: `http://HOST:PORT/slack/events`. */
  readonly url: string;
  /** Stops listening and waits for the decisions under way to be answered. */
  close(): Promise<void>;
}

/** Bolt's logger on our stderr, warnings and errors only (its info lines would go to stdout). */
function boltLogger(log: (line: string) => void): Logger {
  let level = LogLevel.WARN;
  const line =
    (at: LogLevel) =>
    (...msg: unknown[]) => {
      const order = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR];
      if (order.indexOf(at) >= order.indexOf(level)) log(`chatops: ${at}: ${msg.map(String).join(' ')}`);
    };
  return {
    debug: line(LogLevel.DEBUG),
    info: line(LogLevel.INFO),
    warn: line(LogLevel.WARN),
    error: line(LogLevel.ERROR),
    setLevel: (l) => (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** Posts a reply to the response_url; a click's reply never replaces the message with the buttons. */
async function reply(respond: RespondFn, message: ChatReply): Promise<void> {
  await respond({ ...message, replace_original: false });
}

/**
 * Starts the Slack endpoint: Bolt's HTTPReceiver (signatures, timestamps, body limit) behind a
 * small pre-check (health, paths, content type, replays), a `/pgferry` slash command and the
 * Approve / Reject buttons of the worker's approval message.
 */
export async function startChatops(options: ChatopsOptions): Promise<ChatopsServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const replays = new ReplayGuard();
  const receiver = new HTTPReceiver({
    signingSecret: options.signingSecret,
    endpoints: SLACK_EVENTS_PATH,
    bodyLimit: MAX_BODY_BYTES,
    logger: boltLogger(log),
    // Called only once Bolt has verified the request: the moment to remember its signature.
    customPropertiesExtractor: (req) => ({ pgferryReplay: !replays.remember(req) }),
  });
  const app = new App({
    receiver,
    logger: boltLogger(log),
    clientOptions: options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {},
    // No auth.test, at start-up or per request: the endpoint starts without Slack and answers through response_urls.
    authorize: async () => (options.botToken ? { botToken: options.botToken } : {}),
    ignoreSelf: false,
    convoStore: false,
  });
  // Work still under way after ack(): close() waits for it, so that a stop never drops a decision's answer.
  const inFlight = new Set<Promise<unknown>>();
  const track = async (work: Promise<unknown>) => {
    inFlight.add(work);
    try {
      await work;
    } finally {
      inFlight.delete(work);
    }
  };

  app.use(async (args) => {
    const { context, next } = args;
    // A retry (X-Slack-Retry-Num) or a copy that raced past the pre-check: acknowledged, never processed twice.
    if (context.pgferryReplay === true || context.retryNum !== undefined) {
      if ('ack' in args && typeof args.ack === 'function') await args.ack();
      return;
    }
    await next();
  });

  app.command('/pgferry', async ({ command, ack, respond }) => {
    await ack();
    const actor: ChatActor = {
      team: command.team_id,
      userId: command.user_id,
      userName: command.user_name,
      channel: command.channel_id,
    };
    const parsed = parseChatCommand(command.text);
    const answer = async (): Promise<ChatReply> => {
      switch (parsed.kind) {
        case 'help':
          return ephemeral(CHAT_HELP);
        case 'invalid':
          return ephemeral(`${parsed.problem}.\n\n${CHAT_HELP}`);
        case 'list':
          return listReply(options.client);
        case 'status':
          return statusReply(options.client, parsed.name);
        case 'approve':
        case 'reject':
          return decideFromChat(options.client, options.users, {
            outcome: parsed.kind,
            name: parsed.name,
            reason: parsed.reason,
            actor,
          });
        case 'ddl-approve':
          return approveDdlFromChat(options.client, options.users, { ...parsed, actor });
        case 'fallback':
          return fallbackFromChat(options.client, options.users, { ...parsed, actor });
      }
    };
    // A read that fails (Temporal away, say) is answered too, rather than left to the log.
    const answered = answer().catch((err: unknown) => errorReply(undefined, toPgferryError(err)));
    await track(answered.then((message) => reply(respond, message)));
  });

  const onClick = (outcome: 'approve' | 'reject') =>
    app.action<BlockAction<ButtonAction>>(
      {
        block_id: APPROVAL_BLOCK_ID,
        action_id: outcome === 'approve' ? APPROVE_ACTION_ID : REJECT_ACTION_ID,
      },
      async ({ body, action, ack, respond }) => {
        await ack();
        const actor: ChatActor = {
          team: body.team?.id ?? body.user.team_id,
          userId: body.user.id,
          userName: body.user.username ?? body.user.name,
          channel: body.channel?.id,
        };
        const decided = decideFromChat(options.client, options.users, {
          outcome,
          name: action.value ?? '',
          ...(outcome === 'reject' ? { reason: (by: string) => `rejected in Slack by ${by}` } : {}),
          actor,
        });
        await track(decided.then((message) => reply(respond, message)));
      },
    );
  onClick('approve');
  onClick('reject');

  app.error(async (error) => {
    log(`chatops: error: ${error.message}`);
  });

  const server: Server = createServer((req, res) => {
    if (precheck(req, res, replays)) receiver.requestListener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}${SLACK_EVENTS_PATH}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.allSettled([...inFlight]);
      // Every answer is out: keep-alive connections from Slack or a proxy need not linger.
      server.closeAllConnections();
      await closed;
    },
  };
}
