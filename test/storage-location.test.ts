import { describe, expect, it } from 'vitest';
import { cronProblem } from '../domain/cron';
import { drillDatabaseName, isScheduledBackupOf, scheduledBackupName } from '../domain/schedule';
import {
  blockSizeFor,
  formatStorageLocation,
  hasScheme,
  splitBackupAddress,
  tryParseStorageLocation,
} from '../domain/storage-location';

const MIB = 1024 * 1024;
const problemOf = (value: string) => {
  const parsed = tryParseStorageLocation(value);
  return 'problem' in parsed ? parsed.problem.message : undefined;
};

describe('storage locations', () => {
  it('take an absolute directory or azblob://CONTAINER/PREFIX', () => {
    expect(tryParseStorageLocation('/var/backups/pg')).toEqual({
      location: { kind: 'filesystem', path: '/var/backups/pg' },
    });
    expect(tryParseStorageLocation('azblob://pg-backups/prod/eu/')).toEqual({
      location: { kind: 'azblob', container: 'pg-backups', prefix: 'prod/eu' },
    });
    expect(tryParseStorageLocation('azblob://pg-backups')).toEqual({
      location: { kind: 'azblob', container: 'pg-backups', prefix: '' },
    });
    expect(formatStorageLocation({ kind: 'azblob', container: 'pg-backups', prefix: 'prod' })).toBe(
      'azblob://pg-backups/prod',
    );
  });

  it('refuse other schemes, relative paths, bad container names, and credentials in the URL', () => {
    expect(problemOf('s3://bucket/prefix')).toMatch(/storage "s3:" is not supported/);
    expect(problemOf('file:///var/backups')).toMatch(/storage "file:" is not supported/);
    expect(problemOf('azblob:/box/x')).toMatch(/expected azblob:\/\/CONTAINER\/PREFIX/);
    expect(problemOf('AZBLOB://box/x')).toMatch(/capitals/);
    expect(problemOf('backups/today')).toMatch(/absolute path/);
    expect(problemOf('/var/backups/../etc')).toMatch(/absolute path/);
    expect(problemOf('azblob://Backups/x')).toMatch(/not a container name/);
    expect(problemOf('azblob://ab/x')).toMatch(/not a container name/);
    expect(problemOf('azblob://a--b/x')).toMatch(/not a container name/);
    expect(problemOf('azblob://box/a//b')).toMatch(/empty, "\." or "\.\." segment/);
    expect(problemOf('azblob://box/a/../b')).toMatch(/empty, "\." or "\.\." segment/);
    expect(problemOf('azblob://box/x?sv=2024&sig=abc')).toMatch(/query, a fragment or credentials/);
    expect(problemOf('azblob://key@box/x')).toMatch(/query, a fragment or credentials/);
    expect(hasScheme('azblob://box/x')).toBe(true);
    expect(hasScheme('relative/dir')).toBe(false);
  });

  it('split a backup address into its location and name', () => {
    expect(splitBackupAddress('azblob://box/prod/shop-1')).toEqual({
      location: 'azblob://box/prod',
      name: 'shop-1',
    });
    expect(splitBackupAddress('/var/backups/shop-1/')).toEqual({ location: '/var/backups', name: 'shop-1' });
  });

  it('choose a block size that keeps every file within 50,000 blocks of at most 4000 MiB', () => {
    expect(blockSizeFor(0)).toBe(8 * MIB);
    expect(blockSizeFor(100 * 1024 * MIB)).toBe(8 * MIB);
    for (const size of [400 * 1024 * MIB, 1024 ** 4, 10 * 1024 ** 4, 190 * 1024 ** 4]) {
      const block = blockSizeFor(size)!;
      expect(Math.ceil(size / block), String(size)).toBeLessThanOrEqual(50_000);
      expect(block % MIB).toBe(0);
      expect(block).toBeLessThanOrEqual(4000 * MIB);
    }
    expect(blockSizeFor(50_000 * 4000 * MIB + 1)).toBeUndefined();
  });
});

describe('backup schedules', () => {
  it('take five cron fields or a macro, and name what is wrong otherwise', () => {
    for (const ok of [
      '0 3 * * *',
      '*/15 * * * *',
      '0 0 1 jan-jun mon-fri',
      '5,35 8-18/2 * * 1-5',
      '@daily',
    ]) {
      expect(cronProblem(ok), ok).toBeUndefined();
    }
    expect(cronProblem('61 * * * *')).toBe('minute "61" is out of range (0-59)');
    expect(cronProblem('0 3 * *')).toBe('"0 3 * *" has 4 fields, not 5');
    expect(cronProblem('0 0 * * 7')).toBe('day-of-week "7" is out of range (0-6 or sun-sat)');
    expect(cronProblem('5-1 * * * *')).toMatch(/backwards/);
    expect(cronProblem('*/0 * * * *')).toMatch(/bad step/);
    expect(cronProblem('@every 1h')).toMatch(/not a cron macro/);
  });

  it("name backups NAME-TIMESTAMP and count only the schedule's own in retention", () => {
    const at = new Date('2025-03-04T05:06:07.089Z');
    expect(scheduledBackupName('shop', at)).toBe('shop-20250304T050607089Z');
    expect(isScheduledBackupOf('shop', 'shop-20250304T050607089Z')).toBe(true);
    // Another schedule whose name starts with this one's, and a hand-made backup: never pruned.
    expect(isScheduledBackupOf('shop', 'shop-eu-20250304T050607089Z')).toBe(false);
    expect(isScheduledBackupOf('shop', 'shop-20250304T050607089Z-copy')).toBe(false);
    expect(drillDatabaseName('Shop', at)).toBe('pgferry_drill_shop_20250304t050607');
    expect(drillDatabaseName('x'.repeat(40), at).length).toBeLessThanOrEqual(63);
  });
});
