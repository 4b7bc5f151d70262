import { describe, expect, it } from 'vitest';
import { refusedAttribute } from '../activities/roles';
import {
  attributeClauses,
  createRoleSql,
  databasePrivilegeSql,
  DEFAULT_ATTRIBUTES,
  grantMembershipSql,
  setSettingSql,
} from '../activities/pg/roles-sql';
import { FleetInput, rolesPairs, planMembers } from '../domain/fleet';
import { MigrationInput } from '../domain/migration';

const SRC = 'postgres://app@127.0.0.1:5432/shop';
const DST = 'postgres://app@10.0.0.7:5433/shop';
const powers = {
  name: 'migrator',
  superuser: false,
  createrole: true,
  createdb: true,
  replication: false,
  bypassrls: false,
  major: 15,
};

describe('the statements that copy roles', () => {
  it('name only the attributes that differ, so that ALTER ROLE asks for no right it does not need', () => {
    const ops = { ...DEFAULT_ATTRIBUTES, name: 'ops', login: true, replication: true, connlimit: 5 };
    expect(attributeClauses(DEFAULT_ATTRIBUTES, ops)).toEqual(['LOGIN', 'REPLICATION', 'CONNECTION LIMIT 5']);
    expect(attributeClauses(ops, ops)).toEqual([]);
    const until = { ...ops, valid_until: '2031-01-01 00:00:00+00' };
    expect(attributeClauses(ops, until)).toEqual(["VALID UNTIL '2031-01-01 00:00:00+00'"]);
    expect(createRoleSql('a"b', ['LOGIN'])).toBe('CREATE ROLE "a""b" WITH LOGIN');
    expect(grantMembershipSql('readers', 'app', true)).toBe('GRANT "readers" TO "app" WITH ADMIN OPTION');
  });

  it('set a list setting (search_path) as a list of literals, and other settings as one literal', () => {
    expect(setSettingSql({ role: 'analyst', database: '' }, 'search_path', 'reports, "$user", public')).toBe(
      `ALTER ROLE "analyst" SET "search_path" = 'reports', '$user', 'public'`,
    );
    expect(setSettingSql({ role: 'w', database: 'shop' }, 'statement_timeout', '30s')).toBe(
      `ALTER ROLE "w" IN DATABASE "shop" SET "statement_timeout" = '30s'`,
    );
    expect(setSettingSql({ role: '', database: 'shop' }, 'app.tenant', "o'k")).toBe(
      `ALTER DATABASE "shop" SET "app"."tenant" = 'o''k'`,
    );
  });

  it('grant, revoke, or revoke only the grant option of a database privilege; PUBLIC stays a keyword', () => {
    const p = { grantee: 'PUBLIC', privilege: 'CONNECT', grantable: false };
    expect(databasePrivilegeSql('shop', p, 'revoke')).toBe(
      'REVOKE CONNECT ON DATABASE "shop" FROM PUBLIC CASCADE',
    );
    expect(databasePrivilegeSql('shop', { ...p, grantee: 'analyst', grantable: true }, 'grant')).toBe(
      'GRANT CONNECT ON DATABASE "shop" TO "analyst" WITH GRANT OPTION',
    );
    expect(databasePrivilegeSql('shop', { ...p, grantee: 'a' }, 'revoke-option')).toBe(
      'REVOKE GRANT OPTION FOR CONNECT ON DATABASE "shop" FROM "a" CASCADE',
    );
    expect(() => databasePrivilegeSql('shop', { ...p, privilege: 'ALL; DROP' }, 'grant')).toThrow();
  });

  it('know what a non-superuser may not grant: SUPERUSER always, REPLICATION and BYPASSRLS before 16, and from 16 what it lacks', () => {
    expect(refusedAttribute('superuser', powers)).toContain('superuser');
    expect(refusedAttribute('replication', powers)).toContain('before PostgreSQL 16');
    expect(refusedAttribute('bypassrls', powers)).toBeDefined();
    expect(refusedAttribute('createdb', powers)).toBeUndefined();
    expect(refusedAttribute('login', powers)).toBeUndefined();
    const on16 = { ...powers, major: 16, createdb: false, replication: true };
    expect(refusedAttribute('replication', on16)).toBeUndefined();
    expect(refusedAttribute('createdb', on16)).toContain('PostgreSQL 16');
    expect(refusedAttribute('superuser', { ...powers, superuser: true })).toBeUndefined();
  });
});

describe('the roles options', () => {
  const fleet = (over: Record<string, unknown>) =>
    FleetInput.safeParse({
      name: 'f',
      sourceServer: `${SRC.replace('/shop', '/postgres')}`,
      targetServer: DST.replace('/shop', '/postgres'),
      ...over,
    });

  it('refuse passwords without roles copied and roles only for one migration, naming the field', () => {
    const base = { name: 'm', source: SRC, target: DST };
    const passwords = MigrationInput.safeParse({ ...base, rolePasswords: true });
    expect(passwords.success).toBe(false);
    expect(passwords.error?.issues.map((i) => i.path.join('.'))).toEqual(['rolePasswords']);
    const only = MigrationInput.safeParse({ ...base, roles: 'only' });
    expect(only.error?.issues.map((i) => i.path.join('.'))).toEqual(['roles']);
    expect(MigrationInput.parse(base).roles).toBe('skip');
    expect(MigrationInput.parse({ ...base, roles: 'copy', rolePasswords: true }).rolePasswords).toBe(true);
    expect(fleet({ all: true, roles: 'skip', rolePasswords: true }).error?.issues[0]?.path).toEqual([
      'rolePasswords',
    ]);
  });

  it('let a fleet copy roles only without choosing databases, and copy them by default, once per server pair', () => {
    expect(fleet({ roles: 'only' }).success).toBe(true);
    expect(fleet({}).success).toBe(false);
    const all = fleet({ all: true });
    expect(all.data?.roles).toBe('copy');
    const plan = FleetInput.parse({
      name: 'p',
      plan: [
        { source: SRC, target: DST },
        { source: SRC.replace('shop', 'crm'), target: DST.replace('shop', 'crm') },
        { source: 'postgres://app@other:5432/x', target: DST.replace('shop', 'x') },
      ],
    });
    expect(rolesPairs(plan, planMembers(plan, []))).toEqual([
      { source: SRC, target: DST },
      { source: 'postgres://app@other:5432/x', target: DST.replace('shop', 'x') },
    ]);
  });
});
