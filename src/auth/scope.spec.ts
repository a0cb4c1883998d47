import { formatScope, parseResourceScope, parseScopes } from './scope';

describe(parseResourceScope.name, () => {
  it('parses type, name and actions', () => {
    expect(parseResourceScope('repository:foo/bar:pull,push')).toEqual({ type: 'repository', name: 'foo/bar', actions: ['pull', 'push'] });
  });

  it('parses a single action', () => {
    expect(parseResourceScope('repository:samalba/my-app:pull')).toEqual({ type: 'repository', name: 'samalba/my-app', actions: ['pull'] });
  });

  it('keeps a host:port/ prefix in the name: the type ends at the first colon, the actions start after the last', () => {
    expect(parseResourceScope('repository:localhost:5000/foo/bar:pull,push')).toEqual({
      type: 'repository',
      name: 'localhost:5000/foo/bar',
      actions: ['pull', 'push'],
    });
  });

  it('parses the catalog scope with its * action', () => {
    expect(parseResourceScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('drops a resource class from the type', () => {
    expect(parseResourceScope('repository(plugin):x:pull')).toEqual({ type: 'repository', name: 'x', actions: ['pull'] });
  });

  it('answers no actions for an empty action list', () => {
    expect(parseResourceScope('repository:foo:')).toEqual({ type: 'repository', name: 'foo', actions: [] });
  });

  it('drops empty and repeated actions, keeping first-seen order', () => {
    expect(parseResourceScope('repository:foo:push,,pull,push,')).toEqual({ type: 'repository', name: 'foo', actions: ['push', 'pull'] });
  });

  it('keeps an unknown action (the caller decides what it grants)', () => {
    expect(parseResourceScope('repository:foo:pull,delete,unknown')).toEqual({ type: 'repository', name: 'foo', actions: ['pull', 'delete', 'unknown'] });
  });

  it.each([
    ['an empty string', ''],
    ['no colon', 'repository'],
    ['a single colon', 'repository:foo'],
    ['an empty type', ':foo:pull'],
    ['an empty name', 'repository::pull'],
    ['an upper-case type', 'Repository:foo:pull'],
    ['a type with a dash', 'repo-sitory:foo:pull'],
    ['an unclosed resource class', 'repository(plugin:x:pull'],
    ['an upper-case resource class', 'repository(Plugin):x:pull'],
    ['an empty resource class', 'repository():x:pull'],
    ['an upper-case action', 'repository:foo:PULL'],
    ['an action with a dash', 'repository:foo:pu-ll'],
    ['an action with a digit', 'repository:foo:pull2'],
    ['actions separated by a semicolon', 'repository:foo:pull;push'],
  ])('ignores a malformed scope: %s', (_, scope) => {
    expect(parseResourceScope(scope)).toBeUndefined();
  });
});

describe(parseScopes.name, () => {
  it('answers no scopes for no values', () => {
    expect(parseScopes([])).toEqual([]);
    expect(parseScopes([''])).toEqual([]);
  });

  it('parses several scopes from one space-separated value', () => {
    expect(parseScopes(['repository:a:pull repository:b:pull,push registry:catalog:*'])).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('tolerates repeated, leading and trailing spaces', () => {
    expect(parseScopes(['  repository:a:pull   repository:b:push '])).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: ['push'] },
    ]);
  });

  it('parses scopes spread over several values (repeated scope parameters)', () => {
    expect(parseScopes(['repository:a:pull', 'repository:b:push'])).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: ['push'] },
    ]);
  });

  it('merges the actions of scopes naming the same resource, in first-seen order', () => {
    expect(parseScopes(['repository:a:pull', 'repository:b:pull repository:a:push,pull', 'repository:a:delete'])).toEqual([
      { type: 'repository', name: 'a', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'b', actions: ['pull'] },
    ]);
  });

  it('merges a resource class into its plain type', () => {
    expect(parseScopes(['repository(plugin):x:pull repository:x:push'])).toEqual([{ type: 'repository', name: 'x', actions: ['pull', 'push'] }]);
  });

  it('keeps resources of different types apart even with the same name', () => {
    expect(parseScopes(['repository:catalog:pull registry:catalog:*'])).toEqual([
      { type: 'repository', name: 'catalog', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('keeps names differing only by a host prefix apart', () => {
    expect(parseScopes(['repository:foo:pull repository:localhost:5000/foo:push'])).toEqual([
      { type: 'repository', name: 'foo', actions: ['pull'] },
      { type: 'repository', name: 'localhost:5000/foo', actions: ['push'] },
    ]);
  });

  it('ignores malformed scopes and keeps the rest', () => {
    expect(parseScopes(['bogus repository:a:pull :x:pull', 'repository::pull Repository:b:pull repository:c:push'])).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'c', actions: ['push'] },
    ]);
  });
});

describe(formatScope.name, () => {
  it('writes type:name:actions with comma-separated actions', () => {
    expect(formatScope({ type: 'repository', name: 'localhost:5000/foo/bar', actions: ['pull', 'push'] })).toBe('repository:localhost:5000/foo/bar:pull,push');
    expect(formatScope({ type: 'registry', name: 'catalog', actions: ['*'] })).toBe('registry:catalog:*');
  });

  it('writes an empty action list as a trailing colon', () => {
    expect(formatScope({ type: 'repository', name: 'foo', actions: [] })).toBe('repository:foo:');
  });

  it.each(['repository:foo/bar:pull,push', 'repository:localhost:5000/foo:pull', 'registry:catalog:*', 'repository:foo:'])('round-trips %s through parseResourceScope', (scope) => {
    expect(formatScope(parseResourceScope(scope)!)).toBe(scope);
  });
});
