const UNIT_SUFFIX = /\.(service|socket|timer|target|path|mount|automount|swap|slice|scope|device)$/;

/**
 * The full systemd unit name: `nginx` becomes `nginx.service`, as systemctl itself reads it. Every kind
 * names units this way so that two resources naming one unit (a File's notify, a Service) meet on one key.
 */
export function unitName(unit: string): string {
  return UNIT_SUFFIX.test(unit) ? unit : `${unit}.service`;
}
