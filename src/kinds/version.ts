/** A declared component version, `MAJOR.MINOR.PATCH` (the CRD patterns guarantee the shape). */
export type Version = readonly [number, number, number];

export function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.split('.').map((n) => Number.parseInt(n, 10));
  return [major, minor, patch];
}

/** True when `text` is the same as or newer than `min`. */
export function atLeast(text: string, min: Version): boolean {
  const v = parseVersion(text);
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  }
  return true;
}
