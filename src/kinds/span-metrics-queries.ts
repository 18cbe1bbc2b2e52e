import type { GrafanaDatasourceSpec } from '../generated/crd-types.js';

type TempoLinks = NonNullable<GrafanaDatasourceSpec['datasources'][number]['tempo']>;
export type SpanMetricsSource = TempoLinks['spanMetrics'];
export type TagMapping = NonNullable<TempoLinks['tags']>[number];

interface SpanMetricsNames {
  /** The per-span counter. */
  calls: string;
  /** The duration histogram's buckets, in `unit`. */
  durationBuckets: string;
  unit: 'ms' | 's';
  /** The label that holds the span's service.name. */
  serviceLabel: string;
}

/**
 * Prometheus names of span metrics. The collector's prometheus exporter joins the name's dot-separated tokens with
 * `_`, appends the unit (`ms` -> `milliseconds`) and `_total` on a monotonic sum, and turns attribute `service.name`
 * into label `service_name` (opentelemetry-collector-contrib pkg/translator/prometheus/normalize_name.go).
 */
const NAMES: Record<SpanMetricsSource, SpanMetricsNames> = {
  // contrib connector/spanmetricsconnector: metrics `calls` and `duration` (unit ms by default) under the default
  // namespace `traces.span.metrics` since v0.109.0 (PR #34485; factory.go DefaultNamespace), with the default
  // dimension service.name on every point.
  collector: {
    calls: 'traces_span_metrics_calls_total',
    durationBuckets: 'traces_span_metrics_duration_milliseconds_bucket',
    unit: 'ms',
    serviceLabel: 'service_name',
  },
  // The same connector before v0.109.0, or with the connector.spanmetrics.legacyMetricNames gate: no namespace.
  collectorLegacy: {
    calls: 'calls_total',
    durationBuckets: 'duration_milliseconds_bucket',
    unit: 'ms',
    serviceLabel: 'service_name',
  },
  // grafana/tempo modules/generator/processor/spanmetrics: traces_spanmetrics_calls_total, the latency histogram
  // in seconds, the service in label `service` (config.go dimService). Grafana's own fallback query names these.
  tempo: {
    calls: 'traces_spanmetrics_calls_total',
    durationBuckets: 'traces_spanmetrics_latency_bucket',
    unit: 's',
    serviceLabel: 'service',
  },
};

/** The label span metrics of this source keep the service name in. */
export function serviceLabel(source: SpanMetricsSource): string {
  return NAMES[source].serviceLabel;
}

/** The tag mapping when the spec gives none: the span's service.name matched against the service label. */
export function defaultTags(source: SpanMetricsSource): TagMapping[] {
  return [{ key: 'service.name', value: serviceLabel(source) }];
}

/**
 * The span's metric links (`tracesToMetrics.queries`). Grafana creates a span's metric links only from this list,
 * one per entry, and with no entry none at all; it replaces `$__tags` with `label="value"` pairs of the span's
 * mapped attributes, resource attributes included (grafana/grafana
 * public/app/features/explore/TraceView/createSpanLink.tsx, buildMetricsQuery). The `$` stays single here: the
 * provisioning file doubles every `$` as Grafana's provisioning requires for a literal one.
 * Status codes are spelled as both the connector and Tempo write them (`STATUS_CODE_ERROR`).
 */
export function metricQueries(source: SpanMetricsSource): { name: string; query: string }[] {
  const n = NAMES[source];
  return [
    { name: 'Request rate', query: `sum by (span_name) (rate(${n.calls}{$__tags}[5m]))` },
    {
      name: 'Error rate',
      query: `sum by (span_name) (rate(${n.calls}{$__tags, status_code="STATUS_CODE_ERROR"}[5m]))`,
    },
    {
      name: `p95 latency (${n.unit})`,
      query: `histogram_quantile(0.95, sum by (le, span_name) (rate(${n.durationBuckets}{$__tags}[5m])))`,
    },
  ];
}
