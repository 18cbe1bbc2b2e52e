import { describe, expect, it } from 'vitest';
import { maskSecrets } from '../../../src/core/mask.js';

describe('maskSecrets', () => {
  it.each([
    ['literal secret anywhere', 'url=http://u:s3cr3t@h', ['s3cr3t'], 'url=http://u:***@h'],
    ['yaml password key', '  basicAuthPassword: hunter2', [], '  basicAuthPassword: ***'],
    ['json token key', '"token": "abc.def"', [], '"token": "***"'],
    [
      'OTLP headers env',
      '"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer tok123"',
      [],
      '"OTEL_EXPORTER_OTLP_HEADERS": "***"',
    ],
    ['bearer in free text', 'sent Authorization: Bearer abc.def-ghi', [], 'sent Authorization: ***'],
    ['nothing secret stays', 'endpoint: http://collector:4317', [], 'endpoint: http://collector:4317'],
    ['longest secret first', 'abcdef', ['abc', 'abcdef'], '***'],
  ])('%s', (_name, input, secrets, want) => {
    expect(maskSecrets(input, secrets)).toBe(want);
  });
});
