import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ErrorCode, PgferryError } from '../../domain/errors';

/** Who may decide from chat: Slack user ids mapped to the pgferry approver names their decisions carry. */
export type ChatUsers = ReadonlyMap<string, string>;

// Slack user ids are U… (or W… in Enterprise Grid); a name here is the usual mistake of writing the map backwards.
const SlackUserId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user id such as U024BE7LH');
const ApproverName = z
  .string('expected the approver name as a string, such as alice')
  .trim()
  .min(1, 'expected a non-empty approver name');
const UsersFile = z
  .record(SlackUserId, ApproverName, 'expected an object mapping Slack user ids to approver names')
  .refine((users) => Object.keys(users).length > 0, 'maps no Slack user: add at least one');

const FIX =
  'write a YAML or JSON object mapping Slack user ids to pgferry approver names, e.g. `U024BE7LH: alice`';

function problem(file: string, message: string, key?: string): PgferryError {
  const where = key === undefined ? file : `${file}: key "${key}"`;
  return new PgferryError(ErrorCode.InvalidInput, `users: ${where}: ${message}`, {
    field: 'users',
    fix: FIX,
  });
}

/** Reads and checks the --users file (YAML or JSON); every problem names the file, the key and the fix. */
export async function loadChatUsers(file: string): Promise<ChatUsers> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw problem(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseChatUsers(text, file);
}

/** Parses the text of a --users file (YAML, of which JSON is a subset). */
export function parseChatUsers(text: string, file: string): ChatUsers {
  const doc = parseDocument(text);
  const [yamlError] = doc.errors;
  if (yamlError) {
    const line = yamlError.linePos?.[0].line;
    // The parser's message repeats the position ("… at line 2, column 1:") before a code excerpt.
    const what = yamlError.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? '';
    throw problem(file, `not valid YAML${line ? ` at line ${line}` : ''}: ${what}`);
  }
  const parsed = UsersFile.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path[0];
    // A bad key is reported with the record's message; the key schema's own message says what is wrong.
    const message = (issue?.code === 'invalid_key' ? issue.issues[0]?.message : issue?.message) ?? 'invalid';
    throw problem(file, message, key === undefined ? undefined : String(key));
  }
  return new Map(Object.entries(parsed.data));
}
