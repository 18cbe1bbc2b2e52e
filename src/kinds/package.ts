import type { IntentPart, PackageIntent, Resource } from '../core/model.js';
import type { PackageSpec } from '../generated/crd-types.js';
import type { KindModule } from './kind.js';

/**
 * A Debian package at a version, or absent, on every selected host. The same package on one host from two
 * resources, and a version that disagrees with the one an OtelCollector or Tempo there was rendered for, are
 * found across resources (core/render.ts).
 */
function render(res: Resource<PackageSpec>): IntentPart {
  const spec = res.spec;
  const deb = spec.source?.deb;
  const intent: PackageIntent = {
    name: spec.package,
    ...(spec.version !== undefined && { version: spec.version }),
    state: spec.state,
    ...(deb && {
      deb: {
        sha256: deb.sha256,
        ...(deb.path !== undefined && { path: deb.path }),
        ...(deb.url !== undefined && { url: deb.url }),
      },
    }),
    resource: { kind: res.kind, name: res.metadata.name },
  };
  return { packages: [intent] };
}

function validate(res: Resource<PackageSpec>): { path: string; message: string }[] {
  const spec = res.spec;
  const problems: { path: string; message: string }[] = [];
  if (spec.state === 'absent') {
    // `dpkg -r` removes whatever version is installed, from wherever it came: either field would be ignored,
    // and a field that is silently ignored reads as a promise.
    if (spec.version !== undefined)
      problems.push({
        path: '/spec/version',
        message: 'state absent removes the package whatever version is installed: remove version',
      });
    if (spec.source !== undefined)
      problems.push({
        path: '/spec/source',
        message: 'state absent installs nothing, so there is nothing to take from a source: remove source',
      });
  }
  const deb = spec.source?.deb;
  if (deb && (deb.path === undefined) === (deb.url === undefined))
    problems.push({
      path: '/spec/source/deb',
      message: 'set exactly one of path (a file below the desired-state directory) and url',
    });
  return problems;
}

export const packageKind: KindModule<PackageSpec> = { kind: 'Package', render, validate };
