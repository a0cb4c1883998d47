import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeTempDir, removeDir } from '../../test/utils/temp-dir';
import { readPolicySeed } from './access-bootstrap.service';

const DEFAULT = [{ repository: '*', user: '*', permissions: ['pull', 'push', 'delete'] }];

describe(readPolicySeed.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('policy-seed-');
  });
  afterEach(() => {
    removeDir(dir);
  });

  /** Writes `content` (JSON-encoded unless a string) to a seed file and returns its path. */
  function seedFile(content: unknown): string {
    const file = join(dir, 'policies.json');
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  it('answers the built-in default (every logged-in user may pull, push and delete everything) when the file is missing', () => {
    expect(readPolicySeed(join(dir, 'missing.json'))).toEqual(DEFAULT);
  });

  it('reads the policies of a {"policies": [...]} file', () => {
    const policies = [
      { repository: 'public/*', user: 'anonymous', permissions: ['pull'] },
      { repository: 'team/*', user: 'group:team', permissions: ['pull', 'push'] },
      { repository: 'alice/app', user: 'alice', permissions: ['delete'] },
    ];
    expect(readPolicySeed(seedFile({ policies }))).toEqual(policies);
  });

  it('reads a bare array', () => {
    expect(readPolicySeed(seedFile([{ repository: '*', user: '*', permissions: ['pull'] }]))).toEqual([{ repository: '*', user: '*', permissions: ['pull'] }]);
  });

  it('reads an empty list as no policies (not the default)', () => {
    expect(readPolicySeed(seedFile({ policies: [] }))).toEqual([]);
    expect(readPolicySeed(seedFile([]))).toEqual([]);
  });

  it('keeps only repository, user and permissions of each entry', () => {
    expect(readPolicySeed(seedFile([{ repository: 'a', user: 'bob', permissions: ['pull'], comment: 'x', id: 7 }]))).toEqual([
      { repository: 'a', user: 'bob', permissions: ['pull'] },
    ]);
  });

  it('reads the shipped config/policies.json as the default policy', () => {
    expect(readPolicySeed(resolve(__dirname, '../../config/policies.json'))).toEqual(DEFAULT);
  });

  it('refuses a file that is not JSON, naming it', () => {
    const file = seedFile('{"policies": [');
    expect(() => readPolicySeed(file)).toThrow(`${file}: not valid JSON (`);
  });

  it.each([
    ['an object without policies', {}],
    ['policies that are not a list', { policies: { repository: '*' } }],
    ['null', null],
    ['a string', 'x'],
    ['a number', 42],
  ])('refuses %s, naming the file', (_, content) => {
    const file = seedFile(JSON.stringify(content));
    expect(() => readPolicySeed(file)).toThrow(`${file}: expected {"policies": [...]} or an array`);
  });

  const good = { repository: '*', user: '*', permissions: ['pull'] };

  it.each([
    ['a missing repository', { user: '*', permissions: ['pull'] }],
    ['a repository that is not a string', { ...good, repository: 5 }],
    ['an empty repository', { ...good, repository: '' }],
    ['an upper-case repository', { ...good, repository: 'MyOrg/*' }],
    ['a repository with a leading slash', { ...good, repository: '/a' }],
    ['a repository with a space', { ...good, repository: 'a b' }],
  ])('refuses %s, naming the file and the entry', (_, entry) => {
    const file = seedFile({ policies: [good, entry] });
    expect(() => readPolicySeed(file)).toThrow(`${file}: policies[1].repository must be a repository glob`);
  });

  it.each([
    ['a missing user', { repository: '*', permissions: ['pull'] }],
    ['an upper-case user', { ...good, user: 'Alice' }],
    ['an empty user', { ...good, user: '' }],
    ['an empty group name', { ...good, user: 'group:' }],
    ['a group with an upper-case name', { ...good, user: 'group:Dev' }],
    ['a glob as user', { ...good, user: 'a*' }],
    ['a user that is not a string', { ...good, user: ['alice'] }],
  ])('refuses %s, naming the file and the entry', (_, entry) => {
    const file = seedFile([entry]);
    expect(() => readPolicySeed(file)).toThrow(`${file}: policies[0].user must be a user name, group:<name>, * or anonymous`);
  });

  it.each([
    ['missing permissions', { repository: '*', user: '*' }],
    ['empty permissions', { ...good, permissions: [] }],
    ['an unknown permission', { ...good, permissions: ['pull', 'admin'] }],
    ['an upper-case permission', { ...good, permissions: ['PULL'] }],
    ['permissions as a string', { ...good, permissions: 'pull' }],
  ])('refuses %s, naming the file and the entry', (_, entry) => {
    const file = seedFile({ policies: [good, good, entry] });
    expect(() => readPolicySeed(file)).toThrow(`${file}: policies[2].permissions must be a non-empty subset of pull, push, delete`);
  });

  it.each([
    ['null', null],
    ['a string', '*'],
    ['a number', 1],
  ])('refuses an entry that is %s, naming the file and the entry', (_, entry) => {
    const file = seedFile({ policies: [good, entry] });
    expect(() => readPolicySeed(file)).toThrow(`${file}: policies[1].repository must be a repository glob`);
  });
});
