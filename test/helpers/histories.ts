import { readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { EncryptionCodec } from '../../worker/codec';

/** Where recorded histories live; the suite replays every one of them. */
export const HISTORIES_DIR = path.join(__dirname, '..', 'histories');

/**
 * The codec key the recorded histories were made with. It only ever encrypts these fixtures (test
 * databases on loopback), so it is committed; never use it for anything else.
 */
export const HISTORY_CODEC_KEY = {
  id: 'history-fixtures',
  key: Buffer.from('cGdmZXJyeS1oaXN0b3J5LWZpeHR1cmVzLW9ubHkhISE=', 'base64'),
};

/** The codec that reads the recorded histories. */
export function historyCodec(): EncryptionCodec {
  return new EncryptionCodec(HISTORY_CODEC_KEY);
}

const { History } = temporal.api.history.v1;

const INDEX = path.join(HISTORIES_DIR, 'index.json');

async function readIndex(): Promise<Record<string, string>> {
  return JSON.parse(await readFile(INDEX, 'utf8').catch(() => '{}')) as Record<string, string>;
}

/**
 * Saves a fetched history as `test/histories/<name>.binpb` (the protobuf encoding Temporal itself
 * uses) and its workflow id in index.json: replay must run under the id it was recorded with.
 */
export async function saveHistory(
  name: string,
  workflowId: string,
  history: temporal.api.history.v1.IHistory,
): Promise<void> {
  await writeFile(path.join(HISTORIES_DIR, `${name}.binpb`), History.encode(history).finish());
  const index = await readIndex();
  index[name] = workflowId;
  await writeFile(INDEX, `${JSON.stringify(index, null, 2)}\n`);
}

/** Every recorded history, by name. */
export async function loadHistories(): Promise<
  { name: string; workflowId: string; history: temporal.api.history.v1.History }[]
> {
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.binpb')).sort();
  const index = await readIndex();
  return Promise.all(
    files.map(async (file) => {
      const name = file.replace(/\.binpb$/, '');
      return {
        name,
        workflowId: index[name] ?? name,
        history: History.decode(await readFile(path.join(HISTORIES_DIR, file))),
      };
    }),
  );
}
