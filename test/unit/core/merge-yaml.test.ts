import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mergeListItems } from '../../../src/core/merge-yaml.js';

const otel = [{ path: ['litellm_settings', 'callbacks'], items: ['otel'] }];

describe('mergeListItems (hostop owns items of a list in a file that is not its own)', () => {
  it('adds the item and keeps every other key, callback and comment', () => {
    const current = [
      '# the proxy config, owned by the LLM team',
      'model_list:',
      '  - model_name: gpt-4o # primary',
      '    litellm_params: { model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY }',
      'litellm_settings:',
      '  callbacks: ["langfuse"]',
      '  drop_params: true',
      '',
    ].join('\n');
    const r = mergeListItems(current, otel);
    if (!('content' in r)) throw new Error(r.problem);
    expect(r.content).toContain('# the proxy config, owned by the LLM team');
    expect(r.content).toContain('# primary');
    expect(r.content).toContain('callbacks: [ "langfuse", otel ]');
    expect(parse(r.content)).toEqual({
      ...parse(current),
      litellm_settings: { callbacks: ['langfuse', 'otel'], drop_params: true },
    });
  });

  it('is byte-identical when the item is there already (no drift, no write)', () => {
    const current = 'litellm_settings:\n  callbacks:\n    - otel   # tracing\n';
    expect(mergeListItems(current, otel)).toEqual({ content: current });
  });

  it.each([
    ['an empty file', '', { litellm_settings: { callbacks: ['otel'] } }],
    [
      'no litellm_settings',
      'model_list: []\n',
      { model_list: [], litellm_settings: { callbacks: ['otel'] } },
    ],
    [
      'an empty callbacks key',
      'litellm_settings:\n  callbacks:\n',
      { litellm_settings: { callbacks: ['otel'] } },
    ],
  ])('creates the list in %s', (_name, current, value) => {
    const r = mergeListItems(current, otel);
    expect('content' in r && parse(r.content)).toEqual(value);
  });

  it.each([
    ['not YAML', 'a: [\n', /^not valid YAML: /],
    ['a list at the top', '- a\n', /^its top level is not a mapping$/],
    [
      'callbacks that are not a list',
      'litellm_settings: { callbacks: otel }\n',
      /^litellm_settings\.callbacks is not a list$/,
    ],
    ['a duplicate key', 'a: 1\na: 2\n', /^not valid YAML: /],
  ])('refuses %s, as a value', (_name, current, problem) => {
    const r = mergeListItems(current, otel);
    expect('problem' in r && r.problem).toMatch(problem);
  });

  it('refuses a file larger than it parses on the event loop, before parsing it', () => {
    const huge = `model_list:\n${'  - model_name: m\n'.repeat(10_000)}`;
    const t = performance.now();
    expect(mergeListItems(huge, otel)).toEqual({
      problem: 'larger than 128 KiB, more than hostop parses to add to a file',
    });
    expect(performance.now() - t).toBeLessThan(100);
  });
});
