/** The `phpFpm` block of AppInstrumentation (defaults applied). */
export interface PhpFpmPoolSpec {
  version: string;
  pool: string;
  user: string;
  group: string;
  listen?: string;
  maxChildren: number;
}

/** Characters a pool `env[...]` value cannot carry inside INI double quotes (`$` would be expanded). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be refused.
export const UNSAFE_POOL_VALUE = /["\\$\x00-\x1f\x7f]/;

export function poolPath(spec: PhpFpmPoolSpec): string {
  return `/etc/php/${spec.version}/fpm/pool.d/${spec.pool}.conf`;
}

export function fpmUnit(spec: PhpFpmPoolSpec): string {
  return `php${spec.version}-fpm.service`;
}

/**
 * A complete pool: the basics (user, socket, pm = dynamic) and one `env[NAME] = "value"` line per variable.
 * Values are always double-quoted: unquoted, the INI parser turns `true` into "1" and `none` into "" (so
 * OTEL_PHP_AUTOLOAD_ENABLED=true would not be seen as true). The default clear_env = yes is kept: explicit
 * env[] entries reach the workers anyway.
 */
export function poolFile(header: string, spec: PhpFpmPoolSpec, env: [string, string][]): string {
  const listen = spec.listen ?? `/run/php/php${spec.version}-fpm-${spec.pool}.sock`;
  // php-fpm refuses to start unless min_spare <= start <= max_spare <= max_children.
  const maxSpare = Math.min(3, spec.maxChildren);
  const start = Math.min(2, maxSpare);
  const lines = [
    `[${spec.pool}]`,
    `user = ${spec.user}`,
    `group = ${spec.group}`,
    `listen = ${listen}`,
    `listen.owner = ${spec.user}`,
    `listen.group = ${spec.group}`,
    'pm = dynamic',
    `pm.max_children = ${spec.maxChildren}`,
    `pm.start_servers = ${start}`,
    'pm.min_spare_servers = 1',
    `pm.max_spare_servers = ${maxSpare}`,
    ...env.map(([k, v]) => `env[${k}] = "${v}"`),
  ];
  return `${header}${lines.join('\n')}\n`;
}
