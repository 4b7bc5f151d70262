import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inputJsonSchemas } from '../client/json-schemas';

describe('the JSON Schemas in docs/', () => {
  it('match the zod contracts of the workflow inputs (run `npm run docs:schemas` after changing one)', async () => {
    for (const [name, schema] of Object.entries(inputJsonSchemas())) {
      const file = path.join(__dirname, '..', 'docs', `${name}.schema.json`);
      expect(JSON.parse(await readFile(file, 'utf8')), file).toEqual(schema);
    }
  });

  it('describe the connection URL without a password and refuse unknown fields', () => {
    const backup = inputJsonSchemas()['backup-input'] as {
      properties: { source: { description: string } };
      additionalProperties: boolean;
      required: string[];
    };
    expect(backup.properties.source.description).toContain('without a password');
    expect(backup.additionalProperties).toBe(false);
    expect(backup.required).toEqual(['source', 'to']);
  });
});
