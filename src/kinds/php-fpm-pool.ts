import type { AppInstrumentationSpec } from '../generated/crd-types.js';

/**
 * The `phpFpm` block of AppInstrumentation (defaults applied).
 *
 * How php-fpm reads what hostop adds (php/php-src sapi/fpm/fpm, verified against Debian's php8.2-fpm in the lab):
 * - `include=/etc/php/X.Y/fpm/pool.d/*.conf` is a sorted glob (fpm_conf.c, no GLOB_NOSORT), so files load in
 *   name order.
 * - A section whose name is already a pool reopens that pool (fpm_conf_ini_parser_section: "Found a wp with the
 *   same name. Bring it back"): hostop's `[pool]` section adds to the application's pool instead of making one.
 *   A name that no file of the application defines makes a pool without a user, which `php-fpm -t` refuses.
 * - env[] and php_admin_value[] entries are prepended to a list (fpm_conf_set_array) that the worker applies in
 *   order with overwrite (fpm_env_init_child, fpm_php_apply_defines), so the file parsed FIRST wins a key both
 *   set: hostop's file is named 00-hostop-<pool>.conf to sort before the application's.
 * - `php_admin_value[extension] = opentelemetry` loads the extension for this pool's workers only
 *   (fpm_php_apply_defines_ex calls php_dl for "extension"); when it is missing php_load_extension only warns
 *   (ext/standard/dl.c, E_CORE_WARNING) and requests are served as before.
 * - clear_env = yes (the default) still sets the explicit env[] entries (fpm_env_init_child).
 */
export type PhpFpmSpec = NonNullable<AppInstrumentationSpec['phpFpm']>;

/** Characters a pool `env[...]` value cannot carry inside INI double quotes (`$` would be expanded). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be refused.
export const UNSAFE_POOL_VALUE = /["\\$\x00-\x1f\x7f]/;

function fpmDir(spec: PhpFpmSpec): string {
  return `/etc/php/${spec.version}/fpm`;
}

/** hostop's addition to the pool: sorts before the application's files (see above). */
export function poolAdditionPath(spec: PhpFpmSpec): string {
  return `${fpmDir(spec)}/pool.d/00-hostop-${spec.pool}.conf`;
}

export function bootstrapPath(spec: PhpFpmSpec): string {
  return `${fpmDir(spec)}/hostop/${spec.pool}-otel-bootstrap.php`;
}

export function fpmUnit(spec: PhpFpmSpec): string {
  return `php${spec.version}-fpm.service`;
}

/**
 * The `[pool]` section hostop adds: one `env[NAME] = "value"` per variable, the extension, and the bootstrap.
 * Values are always double-quoted: unquoted, the INI parser turns `true` into "1" and `none` into "" (so
 * OTEL_PHP_AUTOLOAD_ENABLED=true would not be seen as true).
 */
export function poolAddition(header: string, spec: PhpFpmSpec, env: [string, string][]): string {
  const lines = [
    `; Adds to the pool [${spec.pool}] that the application's own pool file defines; php-fpm merges sections of`,
    '; one name, and this file sorts first so its values win.',
    `[${spec.pool}]`,
    ...env.map(([k, v]) => `env[${k}] = "${v}"`),
    ...(spec.extension ? ['php_admin_value[extension] = opentelemetry'] : []),
    ...(spec.bootstrap ? [`php_admin_value[auto_prepend_file] = ${bootstrapPath(spec)}`] : []),
  ];
  return `${header}${lines.join('\n')}\n`;
}

/**
 * The bootstrap run before every request of the pool. It never fails the request: it does nothing without
 * the extension or the autoloader, and catches whatever loading the SDK throws (logged to the pool's error
 * log). With OTEL_PHP_AUTOLOAD_ENABLED=true, requiring the autoloader is what starts the SDK
 * (open-telemetry/sdk's _autoload.php, registered in Composer's "files"). HOSTOP_OTEL_BOOTSTRAP says what it did.
 */
export function bootstrapFile(header: string, spec: PhpFpmSpec): string {
  const autoload = spec.bootstrap!.autoload.replace(/[\\']/g, (c) => `\\${c}`);
  return `<?php
${header}if (!defined('HOSTOP_OTEL_BOOTSTRAP')) {
    define('HOSTOP_OTEL_BOOTSTRAP', (static function (): string {
        if (!extension_loaded('opentelemetry')) {
            return 'no-extension';
        }
        $autoload = '${autoload}';
        if (!is_file($autoload)) {
            return 'no-sdk';
        }
        try {
            require_once $autoload;
            return 'loaded';
        } catch (\\Throwable $e) {
            error_log('hostop OpenTelemetry bootstrap: ' . $e->getMessage());
            return 'failed';
        }
    })());
}
`;
}

/**
 * Validator of the pool addition: `php-fpm -t` on the whole configuration as it will be, built in a temporary
 * directory from the live pool files plus the candidate under its target name (the candidate's own temp name
 * does not match the include glob). The script is constant text; every variable part is a positional argument.
 */
export function poolValidator(spec: PhpFpmSpec): string[] {
  const dir = fpmDir(spec);
  const target = poolAdditionPath(spec);
  return [
    '/bin/sh',
    '-c',
    'set -eu; d=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; ' +
      'for f in "$3"/*.conf; do [ -f "$f" ] && cp -- "$f" "$d/"; done; cp -- "$1" "$d/$2"; ' +
      'sed "s|^include *=.*|include=$d/*.conf|" -- "$4" >"$d/fpm.main"; "$5" -t -y "$d/fpm.main"',
    'hostop-validate',
    '{}',
    target.slice(target.lastIndexOf('/') + 1),
    `${dir}/pool.d`,
    `${dir}/php-fpm.conf`,
    `/usr/sbin/php-fpm${spec.version}`,
  ];
}
