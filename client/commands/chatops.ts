import type { Command } from 'commander';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';
import { intOption } from './flags';
import { onStopSignal } from './worker';

interface ServeFlags extends CommonOptions {
  port: number;
  host: string;
  users?: string;
}

/** The Slack settings of the endpoint, from the environment; the signing secret is required. */
function slackSettings(env: NodeJS.ProcessEnv): {
  signingSecret: string;
  botToken?: string;
  apiUrl?: string;
} {
  const signingSecret = env.SLACK_SIGNING_SECRET;
  if (!signingSecret) {
    throw new PgferryError(ErrorCode.InvalidInput, 'SLACK_SIGNING_SECRET: required', {
      field: 'SLACK_SIGNING_SECRET',
      fix: "set SLACK_SIGNING_SECRET to the Signing Secret on your Slack app's Basic Information page",
    });
  }
  return {
    signingSecret,
    ...(env.SLACK_BOT_TOKEN ? { botToken: env.SLACK_BOT_TOKEN } : {}),
    ...(env.SLACK_API_URL ? { apiUrl: env.SLACK_API_URL } : {}),
  };
}

/** `pgferry chatops serve`: the Slack endpoint for `/pgferry` and the Approve / Reject buttons. */
export function registerChatops(program: Command): void {
  const chatops = program.command('chatops').description('decide and follow migrations from chat (Slack)');
  withJson(
    chatops
      .command('serve')
      .description(
        'serve POST /slack/events for the /pgferry slash command and the approval buttons (needs SLACK_SIGNING_SECRET)',
      )
      .option('--port <n>', 'port to listen on', intOption('port', 0, 65535), 3000)
      .option('--host <ip>', 'address to listen on (put an HTTPS proxy in front for Slack)', '127.0.0.1')
      .option(
        '--users <file>',
        'YAML or JSON map of Slack user ids to pgferry approver names; without it decisions from Slack are refused',
      ),
  ).action(async (flags: ServeFlags) => {
    const out = outputFor(flags);
    // Bad settings fail before anything connects: exit 2 with the variable or the file at fault.
    const slack = slackSettings(process.env);
    const users = flags.users
      ? await (await import('../chatops/users.js')).loadChatUsers(flags.users)
      : undefined;
    await withPgferry(async (client) => {
      // Bolt loads here, not at the top: the other commands start without it.
      const { startChatops } = await import('../chatops/slack-app.js');
      const server = await startChatops({
        signingSecret: slack.signingSecret,
        botToken: slack.botToken,
        slackApiUrl: slack.apiUrl,
        client,
        users,
        host: flags.host,
        port: flags.port,
      });
      if (!users)
        out.note('chatops: no --users file: decisions from Slack are refused; list, status and help work');
      // One line even with --json: a supervisor reads it to know the endpoint is up.
      if (out.json)
        process.stdout.write(
          `${JSON.stringify({ ok: true, ready: true, url: server.url, users: users?.size ?? 0 })}\n`,
        );
      else out.result(null, () => `chatops: listening on ${server.url}`);
      await onStopSignal(async () => {
        out.note('chatops: stopping…');
        await server.close();
      });
    });
  });
}
