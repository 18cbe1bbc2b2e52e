import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactText } from '../../../src/core/redact.js';

describe('redactText', () => {
  it.each([
    ['Authorization: Bearer abc.def-123', 'Authorization: Bearer ***'],
    [
      'OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer tok123',
      'OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer ***',
    ],
    ['Authorization=Bearer%20tok123', 'Authorization=***'],
    ['authorization: Basic dXNlcjpwYXNz==', 'authorization: Basic ***'],
    ['login failed password=hunter2 for root', 'login failed password=*** for root'],
    ['db_password: s3cr3t', 'db_password: ***'],
    ['{"password":"two words","user":"u"}', '{"password":"***","user":"u"}'],
    ["token='abc def'", "token='***'"],
    ['access_token=xyz&next=1', 'access_token=***&next=1'],
    ['aws_secret_access_key = AKIA/xyz', 'aws_secret_access_key = ***'],
    ['api-key: k-1', 'api-key: ***'],
    ['fetch https://admin:pa55@grafana:3000/api failed', 'fetch https://admin:***@grafana:3000/api failed'],
  ])('masks %j', (input, expected) => {
    expect(redactText(input, [])).toBe(expected);
  });

  it.each([
    'max_tokens=100 tokens used',
    'password file /etc/shadow is missing',
    'connection refused at 10.77.0.11:22',
    'password=""',
  ])('leaves %j alone', (input) => {
    expect(redactText(input, [])).toBe(input);
  });

  it('is idempotent', () => {
    const once = redactText('Authorization: Bearer x password=y token: "z" https://u:p@h', ['q']);
    expect(redactText(once, ['q'])).toBe(once);
  });

  it('masks known secret values anywhere, longest overlap first', () => {
    expect(redactText('pw is Pr0d-pass, again Pr0d-pass.', ['Pr0d-pass'])).toBe('pw is ***, again ***.');
    expect(redactText('xabcdex', ['abc', 'cde'])).toBe('x***x');
    expect(redactText('aaaa', ['aa'])).toBe('***');
    expect(redactText('nothing here', [''])).toBe('nothing here');
  });

  it('never leaves a known secret in the output (property)', () => {
    const secretArb = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('*'));
    fc.assert(
      fc.property(
        fc.array(secretArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }),
        (secrets, filler) => {
          // Interleave filler text with the secrets, and let secrets touch each other.
          const text =
            filler.map((f, i) => f + (secrets[i % secrets.length] ?? '')).join('') + secrets.join('');
          const out = redactText(text, secrets);
          for (const s of secrets) expect(out).not.toContain(s);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('masks a known secret cut short or quoted in part, as validators print it', () => {
    const secret = 'sk-live-4f9a2c7e1b8d';
    // Go's strconv and YAML errors quote the value; a validator may cut it at a width or an escape.
    const out = redactText(
      `strconv.ParseInt: parsing "${secret.slice(0, 12)}": invalid syntax; near ...${secret.slice(9)}`,
      [secret],
    );
    expect(out).toBe('strconv.ParseInt: parsing "***": invalid syntax; near ...***');
    // Pieces shorter than SECRET_FRAGMENT stay: they would mask ordinary words.
    expect(redactText(`token prefix ${secret.slice(0, 7)}`, [secret])).toBe(
      `token prefix ${secret.slice(0, 7)}`,
    );
  });
});
