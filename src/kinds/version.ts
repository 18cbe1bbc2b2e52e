import { coerce, gte } from 'semver';

/** A declared component version, `MAJOR.MINOR.PATCH` (the CRD patterns guarantee the shape). */
export type Version = readonly [number, number, number];

// Loose: the CRD patterns allow leading zeros (`0.086.0`), which strict semver rejects. `1.2` reads as 1.2.0.
const read = (text: string) => coerce(text, { loose: true });

export function parseVersion(text: string): Version {
  const v = read(text);
  return v ? [v.major, v.minor, v.patch] : [0, 0, 0];
}

/** True when `text` is the same as or newer than `min` (a pre-release counts as its release). */
export function atLeast(text: string, min: Version): boolean {
  const v = read(text);
  return v !== null && gte(v, min.join('.'));
}
