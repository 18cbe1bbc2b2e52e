/* generated, do not edit: derived from crds/*.yaml by scripts/gen-types.ts (npx tsx scripts/gen-types.ts). */
/* Fields with a CRD default are required here: the loader fills them in before any kind sees a spec. */
/**
 * What the application exports and where.
 */
export interface AppInstrumentationSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * OTEL_SERVICE_NAME.
   */
  serviceName: string;
  /**
   * Which variable names the application reads. otel: the standard OTEL_* (opentelemetry-instrument for Python, the PHP and Node SDKs). litellm: the LiteLLM proxy otel callback (OTEL_EXPORTER, OTEL_ENDPOINT, OTEL_HEADERS, OTEL_ENVIRONMENT_NAME), which LiteLLM runs only when its config lists it: hostop adds "otel" to litellm_settings.callbacks of the proxy's own config (spec.litellm.config) and leaves the rest of that file as it is.
   */
  sdk: 'otel' | 'litellm';
  /**
   * The LiteLLM proxy (sdk litellm).
   */
  litellm?: {
    /**
     * The proxy's own config file (its --config). hostop adds "otel" to its litellm_settings.callbacks (keeping every other key, comment and callback) and restarts the proxy; the file must exist. It is not hostop's: when the resource goes, the file is left as it is.
     */
    config: string;
  };
  /**
   * Deployment environment: deployment.environment resource attribute (otel) or OTEL_ENVIRONMENT_NAME (litellm).
   */
  environment?: string;
  /**
   * Where the application sends OTLP: the collector's Host and the protocol. The address is taken from that Host resource, so the same desired state works for every environment.
   */
  collector: {
    /**
     * Name of the Host that runs the OpenTelemetry Collector.
     */
    host: string;
    /**
     * OTLP protocol. grpc uses port 4317 by default, http/protobuf and http/json port 4318.
     */
    protocol: 'grpc' | 'http/protobuf' | 'http/json';
    /**
     * Collector OTLP port; default 4317 for grpc, 4318 for http/protobuf and http/json.
     */
    port?: number;
  };
  /**
   * Which signals to export. Every exporter variable is set explicitly, since the Python distro defaults all three to otlp. litellm exports traces only.
   */
  signals: {
    /**
     * Export traces.
     */
    traces: boolean;
    /**
     * Export metrics.
     */
    metrics: boolean;
    /**
     * Export logs (the collector needs a logs pipeline).
     */
    logs: boolean;
  };
  /**
   * Extra OpenTelemetry resource attributes (OTEL_RESOURCE_ATTRIBUTES); values are percent-encoded as the variable requires. Keys: letters, digits, ".", "_" and "-".
   */
  resourceAttributes?: {
    [k: string]: string;
  };
  /**
   * OTLP request headers (OTEL_EXPORTER_OTLP_HEADERS), e.g. Authorization: Bearer <token>. Values are secrets: masked in every diff, plan and log. Names: letters, digits and "-"; values must not contain a comma.
   */
  headers?: {
    [k: string]: string;
  };
  /**
   * Further environment variables, verbatim (e.g. OTEL_METRIC_EXPORT_INTERVAL). Must not repeat a variable that hostop derives from the typed fields.
   */
  env?: {
    [k: string]: string;
  };
  /**
   * Variant for a systemd service: Environment= lines in a drop-in; daemon-reload, then the unit is restarted.
   */
  systemd?: {
    /**
     * The application unit; without a suffix it means .service.
     */
    unit: string;
    /**
     * Drop-in file name.
     */
    dropInName: string;
    /**
     * The unit's real command, one argument per item, as its ExecStart= runs it (e.g. [/opt/orders-api/venv/bin/uvicorn, orders_api.main:app, --port, "8001"]). With it, the drop-in resets ExecStart= and runs this command under the instrument launcher, so a Python service is auto-instrumented; the unit file itself stays the package's. Without it, only the environment is set.
     *
     * @minItems 1
     * @maxItems 64
     */
    execStart?: [string, ...string[]];
    /**
     * The launcher that wraps execStart: opentelemetry-distro's opentelemetry-instrument, which puts the SDK's sitecustomize on PYTHONPATH and execs the command (same PID). Default: opentelemetry-instrument in the directory of execStart[0], i.e. the same virtualenv.
     */
    instrument?: string;
  };
  /**
   * Variant for the application's existing php-fpm pool: hostop adds a file of its own (pool.d/00-hostop-<pool>.conf, a [<pool>] section that php-fpm merges into the application's pool of that name) with the env[...] lines, the opentelemetry extension for this pool only and, with bootstrap, a fail-safe auto_prepend_file; the application's own pool file stays the application's. php<version>-fpm is reloaded gracefully. Works with the default clear_env = yes.
   */
  phpFpm?: {
    /**
     * PHP version of the FPM package, e.g. 8.2.
     */
    version: string;
    /**
     * The name of the application's existing pool, as in its [name] section header. php-fpm refuses the configuration ('[pool NAME] user has not been defined'), and hostop with it before anything is activated, when no pool file of the application defines it.
     */
    pool: string;
    /**
     * Load the opentelemetry extension for this pool (php_admin_value[extension]). A missing extension only logs a warning at worker start; requests are served as before.
     */
    extension: boolean;
    /**
     * A fail-safe bootstrap run before every request of the pool (php_admin_value[auto_prepend_file]): it loads the OpenTelemetry SDK through the given Composer autoloader when the extension is loaded and the file exists, catches anything it throws, and otherwise does nothing, so a request never fails because of it. For applications that do not load an autoloader with the SDK themselves.
     */
    bootstrap?: {
      /**
       * Absolute path of the Composer autoloader that carries open-telemetry/sdk, open-telemetry/exporter-otlp and the auto-instrumentation packages, e.g. /srv/legacy-shop/otel/vendor/autoload.php.
       */
      autoload: string;
    };
  };
  /**
   * How hostop checks the service is healthy after a reload or restart, as seen from the host itself (hostop tunnels to it over SSH). Set exactly one of http and tcp. When the check does not pass in time, hostop restores the previous files.
   */
  health?: {
    /**
     * An HTTP GET that must answer with expectStatus.
     */
    http?: {
      /**
       * URL as seen from the host, e.g. http://127.0.0.1:3200/ready.
       */
      url: string;
      /**
       * The status code that means healthy.
       */
      expectStatus: number;
    };
    /**
     * A TCP connect that must succeed.
     */
    tcp?: {
      /**
       * Address to connect to, as seen from the host.
       */
      host: string;
      /**
       * Port to connect to.
       */
      port: number;
    };
    /**
     * How long hostop waits for the check to pass after the service was reloaded or restarted.
     */
    timeoutSeconds: number;
  };
}

/**
 * Telemetry settings.
 */
export interface ClaudeCodeSettingsSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * File name in managed-settings.d/ (merged in alphabetical order; names starting with "." are ignored).
   */
  dropInName: string;
  /**
   * The claude executable hostop asks for its version (`claude --version`, read again only when the file changes). Claude Code reads managed-settings.d/ from 2.1.83 on; on an older or missing Claude Code the resource is held (Stalled, VersionMismatch or NotInstalled) instead of writing a drop-in nobody reads. npm's global install on Debian puts it in /usr/local/bin; the native installer in ~/.local/bin of the user who ran it.
   */
  claudeBinary: string;
  /**
   * Where Claude Code sends OTLP: the collector's Host and the protocol. The address is taken from that Host resource, so the same desired state works for every environment.
   */
  collector: {
    /**
     * Name of the Host that runs the OpenTelemetry Collector.
     */
    host: string;
    /**
     * OTLP protocol. grpc uses port 4317 by default, http/protobuf and http/json port 4318.
     */
    protocol: 'grpc' | 'http/protobuf' | 'http/json';
    /**
     * Collector OTLP port; default 4317 for grpc, 4318 for http/protobuf and http/json.
     */
    port?: number;
  };
  /**
   * Which signals to export. Off means the exporter variable is not set (Claude Code exports nothing by default).
   */
  signals: {
    /**
     * OTEL_METRICS_EXPORTER=otlp, with OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative: Claude Code's default delta totals would be kept by the collector's prometheus exporter, which misreads them after any gap and loses them on every collector reload.
     */
    metrics: boolean;
    /**
     * OTEL_LOGS_EXPORTER=otlp (events: prompts, tool results, API requests). The collector needs a logs pipeline.
     */
    logs: boolean;
    /**
     * OTEL_TRACES_EXPORTER=otlp plus CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1 (traces are beta).
     */
    traces: boolean;
  };
  /**
   * OTEL_METRIC_EXPORT_INTERVAL; Claude Code defaults to 60000.
   */
  metricExportIntervalMs?: number;
  /**
   * Extra OpenTelemetry resource attributes (OTEL_RESOURCE_ATTRIBUTES); values are percent-encoded as the variable requires. Keys: letters, digits, ".", "_" and "-".
   */
  resourceAttributes?: {
    [k: string]: string;
  };
  /**
   * OTLP request headers (OTEL_EXPORTER_OTLP_HEADERS), e.g. Authorization: Bearer <token>. Values are secrets: masked in every diff, plan and log. Names: letters, digits and "-"; values must not contain a comma.
   */
  headers?: {
    [k: string]: string;
  };
  /**
   * Further environment variables, verbatim (e.g. OTEL_METRICS_INCLUDE_VERSION). Must not repeat a variable that hostop derives from the typed fields, nor set the metrics temporality (always cumulative). While metrics are on, OTEL_METRICS_INCLUDE_SESSION_ID may not be turned off: cumulative totals need one series per session.
   */
  env?: {
    [k: string]: string;
  };
}

/**
 * The file and what to do when it changes.
 */
export interface FileSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * Absolute path of the file; no "." or ".." segments.
   */
  path: string;
  /**
   * Exact content of the file (UTF-8).
   */
  content: string;
  /**
   * Permission bits as four octal digits.
   */
  mode: string;
  /**
   * Owning user.
   */
  owner: string;
  /**
   * Owning group.
   */
  group: string;
  /**
   * How hostop compares the file before a byte diff (so key order is not drift). Default: from the extension (.json json, .yaml/.yml yaml, otherwise text).
   */
  format?: 'json' | 'yaml' | 'text';
  /**
   * The whole content is a secret: masked in every diff, plan and log.
   */
  secret: boolean;
  /**
   * A command run on the candidate file before it replaces the old one; a non-zero exit aborts the change. '{}' in an argument is replaced by the candidate's path.
   */
  validate?: {
    /**
     * Command and arguments (no shell). At least one argument must contain {}.
     *
     * @minItems 1
     */
    argv: [string, ...string[]];
    /**
     * How long the command may run.
     */
    timeoutSeconds: number;
  };
  /**
   * systemd units to reload or restart when the file changes (how, is decided by the Service or kind that manages the unit; restart when none does). A name without a suffix means .service.
   */
  notify?: string[];
}

/**
 * The dashboard and where it appears.
 */
export interface GrafanaDashboardSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * Grafana folder title the dashboard appears in.
   */
  folder: string;
  /**
   * Stable uid of that folder.
   */
  folderUid?: string;
  /**
   * Organisation id.
   */
  orgId: number;
  /**
   * How often Grafana re-reads the JSON.
   */
  updateIntervalSeconds: number;
  /**
   * The dashboard model as exported from Grafana ("Export for sharing externally" off). It must have a uid and a title; a numeric id is dropped, since ids belong to one Grafana database.
   */
  dashboard: {
    /**
     * Stable dashboard uid (pins the URL).
     */
    uid: string;
    /**
     * Dashboard title.
     */
    title: string;
    [k: string]: unknown;
  };
}

/**
 * The data sources of one provisioning file.
 */
export interface GrafanaDatasourceSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * Grafana >= 11.1: delete provisioned data sources that are no longer in any file.
   */
  prune: boolean;
  /**
   * The data sources.
   *
   * @minItems 1
   */
  datasources: [
    {
      /**
       * Display name, unique in the organisation.
       */
      name: string;
      /**
       * Plugin id, e.g. prometheus, tempo, loki.
       */
      type: string;
      /**
       * Stable uid that dashboards and links refer to.
       */
      uid: string;
      /**
       * URL as seen from Grafana. Set exactly one of url and endpoint.
       */
      url?: string;
      /**
       * Where the data source lives, by Host name; hostop resolves the address (127.0.0.1 when it is the Grafana host itself).
       */
      endpoint?: {
        /**
         * Name of the Host that serves the data source.
         */
        host: string;
        /**
         * Port of the data source API.
         */
        port: number;
        /**
         * URL scheme.
         */
        scheme: 'http' | 'https';
        /**
         * Path prefix, e.g. /prometheus. Empty for none.
         */
        path: string;
      };
      /**
       * proxy: Grafana queries the source; direct: the browser does.
       */
      access: 'proxy' | 'direct';
      /**
       * Organisation id.
       */
      orgId: number;
      /**
       * The default data source of the organisation (at most one).
       */
      isDefault: boolean;
      /**
       * Whether users may edit it in the UI.
       */
      editable: boolean;
      /**
       * HTTP basic authentication towards the data source.
       */
      basicAuth?: {
        /**
         * User name.
         */
        user: string;
        /**
         * Password (a secret, written to secureJsonData).
         */
        password: string;
      };
      /**
       * Plugin settings, verbatim (e.g. httpMethod: POST, timeInterval: 15s).
       */
      jsonData?: {
        [k: string]: unknown;
      };
      /**
       * Encrypted plugin settings; every value is a secret.
       */
      secureJsonData?: {
        [k: string]: string;
      };
      /**
       * Trace to metrics links for a tempo data source: each span gets links to its service's request rate and p95 latency in the given Prometheus data source (tracesToMetrics queries); the service map queries the same data source; node graph and search are enabled.
       */
      tempo?: {
        /**
         * uid of the Prometheus data source.
         */
        metricsDatasourceUid: string;
        /**
         * Which span metrics the links query, as the collector's prometheus exporter names them (with no exporter namespace set). collector: the OpenTelemetry Collector's spanmetrics connector from otelcol-contrib 0.109.0 on, as an OtelCollector with traces.spanMetrics produces it (traces_span_metrics_calls_total and traces_span_metrics_duration_milliseconds_bucket, the service in label service_name). collectorLegacy: the same connector before 0.109.0, or with its connector.spanmetrics.legacyMetricNames feature gate (calls_total and duration_milliseconds_bucket). tempo: Tempo's metrics-generator (traces_spanmetrics_calls_total and traces_spanmetrics_latency_bucket in seconds, the service in label service).
         */
        spanMetrics: 'collector' | 'collectorLegacy' | 'tempo';
        /**
         * Span and resource attributes turned into the label matchers of the queries ($__tags): a span's value of key is matched against label value. Every mapped attribute a span carries becomes a matcher, so map only attributes that are also labels of the span metrics, with the same values: service.name is; span.kind is not (Grafana has server, the metrics SPAN_KIND_SERVER), and an attribute that is no dimension of the span metrics matches nothing. Omitted: service.name to the service label of spanMetrics (service_name, or service for tempo).
         */
        tags?: {
          /**
           * Span attribute, e.g. service.name.
           */
          key: string;
          /**
           * Label name in Prometheus, e.g. service_name. Empty: the key itself.
           */
          value?: string;
        }[];
      };
    },
    ...{
      /**
       * Display name, unique in the organisation.
       */
      name: string;
      /**
       * Plugin id, e.g. prometheus, tempo, loki.
       */
      type: string;
      /**
       * Stable uid that dashboards and links refer to.
       */
      uid: string;
      /**
       * URL as seen from Grafana. Set exactly one of url and endpoint.
       */
      url?: string;
      /**
       * Where the data source lives, by Host name; hostop resolves the address (127.0.0.1 when it is the Grafana host itself).
       */
      endpoint?: {
        /**
         * Name of the Host that serves the data source.
         */
        host: string;
        /**
         * Port of the data source API.
         */
        port: number;
        /**
         * URL scheme.
         */
        scheme: 'http' | 'https';
        /**
         * Path prefix, e.g. /prometheus. Empty for none.
         */
        path: string;
      };
      /**
       * proxy: Grafana queries the source; direct: the browser does.
       */
      access: 'proxy' | 'direct';
      /**
       * Organisation id.
       */
      orgId: number;
      /**
       * The default data source of the organisation (at most one).
       */
      isDefault: boolean;
      /**
       * Whether users may edit it in the UI.
       */
      editable: boolean;
      /**
       * HTTP basic authentication towards the data source.
       */
      basicAuth?: {
        /**
         * User name.
         */
        user: string;
        /**
         * Password (a secret, written to secureJsonData).
         */
        password: string;
      };
      /**
       * Plugin settings, verbatim (e.g. httpMethod: POST, timeInterval: 15s).
       */
      jsonData?: {
        [k: string]: unknown;
      };
      /**
       * Encrypted plugin settings; every value is a secret.
       */
      secureJsonData?: {
        [k: string]: string;
      };
      /**
       * Trace to metrics links for a tempo data source: each span gets links to its service's request rate and p95 latency in the given Prometheus data source (tracesToMetrics queries); the service map queries the same data source; node graph and search are enabled.
       */
      tempo?: {
        /**
         * uid of the Prometheus data source.
         */
        metricsDatasourceUid: string;
        /**
         * Which span metrics the links query, as the collector's prometheus exporter names them (with no exporter namespace set). collector: the OpenTelemetry Collector's spanmetrics connector from otelcol-contrib 0.109.0 on, as an OtelCollector with traces.spanMetrics produces it (traces_span_metrics_calls_total and traces_span_metrics_duration_milliseconds_bucket, the service in label service_name). collectorLegacy: the same connector before 0.109.0, or with its connector.spanmetrics.legacyMetricNames feature gate (calls_total and duration_milliseconds_bucket). tempo: Tempo's metrics-generator (traces_spanmetrics_calls_total and traces_spanmetrics_latency_bucket in seconds, the service in label service).
         */
        spanMetrics: 'collector' | 'collectorLegacy' | 'tempo';
        /**
         * Span and resource attributes turned into the label matchers of the queries ($__tags): a span's value of key is matched against label value. Every mapped attribute a span carries becomes a matcher, so map only attributes that are also labels of the span metrics, with the same values: service.name is; span.kind is not (Grafana has server, the metrics SPAN_KIND_SERVER), and an attribute that is no dimension of the span metrics matches nothing. Omitted: service.name to the service label of spanMetrics (service_name, or service for tempo).
         */
        tags?: {
          /**
           * Span attribute, e.g. service.name.
           */
          key: string;
          /**
           * Label name in Prometheus, e.g. service_name. Empty: the key itself.
           */
          value?: string;
        }[];
      };
    }[],
  ];
}

/**
 * How to reach the host and how to trust it.
 */
export interface HostSpec {
  /**
   * DNS name or IP address hostop connects to.
   */
  address: string;
  /**
   * SSH port.
   */
  port: number;
  /**
   * SSH user. A user other than root needs privilege: sudo.
   */
  user: string;
  /**
   * The pinned public host key, exactly as in the second and third fields of /etc/ssh/ssh_host_ed25519_key.pub (no comment). hostop refuses to talk to a host that presents another key.
   */
  hostKey: string;
  /**
   * Absolute path of the private key to log in with (on the machine hostop runs on).
   */
  identityFile?: string;
  /**
   * How hostop gains root on the host: root (log in as root) or sudo (sudo -n, passwordless).
   */
  privilege: 'root' | 'sudo';
}

/**
 * The collector pipelines.
 */
export interface OtelCollectorSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * The otelcol-contrib version installed on the hosts (e.g. 0.143.0). It decides component names: from 0.144.0 the OTLP exporters are otlp_grpc and otlp_http, before that otlp and otlphttp.
   */
  version: string;
  /**
   * The OTLP receiver, bound to 0.0.0.0 (since 0.104 it would default to localhost only).
   */
  otlp: {
    /**
     * OTLP gRPC port.
     */
    grpcPort: number;
    /**
     * OTLP HTTP port.
     */
    httpPort: number;
  };
  /**
   * The memory_limiter processor, always first in every pipeline, checked every second.
   */
  memoryLimiter: {
    /**
     * Hard limit as a percentage of available memory.
     */
    limitPercentage: number;
    /**
     * Headroom below the hard limit at which the soft limit starts refusing data.
     */
    spikeLimitPercentage: number;
  };
  /**
   * Resource attributes added by a resource processor to every signal that does not carry them yet (action insert: a sender's own value wins), e.g. deployment.environment: production.
   */
  resourceAttributes?: {
    [k: string]: string;
  };
  /**
   * The prometheus exporter that Prometheus scrapes; resource attributes become labels (resource_to_telemetry_conversion).
   */
  prometheus: {
    /**
     * Port of the exporter on 0.0.0.0.
     */
    port: number;
    /**
     * Optional prefix for every metric name.
     */
    namespace?: string;
  };
  /**
   * Traces pipeline to Grafana Tempo over OTLP gRPC (plaintext). Omit for no traces pipeline.
   */
  traces?: {
    /**
     * Name of the Host that runs Tempo.
     */
    tempoHost: string;
    /**
     * Tempo's OTLP gRPC receiver port (4417 by default so it does not clash with the collector's 4317).
     */
    tempoPort: number;
    /**
     * Derive RED metrics and the service graph from spans (spanmetrics and servicegraph connectors into the metrics pipeline), which Grafana uses for Tempo -> Prometheus links.
     */
    spanMetrics: boolean;
  };
  /**
   * Logs pipeline (Claude Code events, app logs). Omit when no sender exports logs.
   */
  logs?: {
    /**
     * debug: accept and drop (counts only, into the journal); otlpHttp: forward to endpoint.
     */
    exporter: 'debug' | 'otlpHttp';
    /**
     * OTLP/HTTP base URL for exporter otlpHttp, e.g. http://loki.example:3100/otlp.
     */
    endpoint?: string;
  };
}

/**
 * The package, its version and where it comes from.
 */
export interface PackageSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (the package stays as it is on the hosts: neither installed, upgraded nor removed).
   */
  suspend: boolean;
  /**
   * The Debian package name (Debian Policy 5.6.7: lowercase letters, digits, + - and ., at least two characters, starting alphanumeric), e.g. otelcol-contrib.
   */
  package: string;
  /**
   * The version exactly as `dpkg-query -W` reports it, in deb-version(7) form [epoch:]upstream-version[-debian-revision] (e.g. 0.123.0, 1:2.8.2-1); from the host's apt sources `apt-get install package=version` installs it; with source.deb it must be the version that .deb carries. Omitted: any installed version satisfies. Not allowed with state absent.
   */
  version?: string;
  /**
   * present: installed (at version, when one is given); absent: removed (dpkg's remove: configuration files stay).
   */
  state: 'present' | 'absent';
  /**
   * Where the package comes from. Omitted: the host's own apt sources (`apt-get install package=version`). Not allowed with state absent.
   */
  source?: {
    /**
     * A .deb file that hostop uploads and installs with dpkg, from exactly one of path and url; hostop checks its sha256 before it uploads any byte of it.
     */
    deb: {
      /**
       * The .deb file relative to the desired-state directory (e.g. packages/otelcol-contrib_0.123.0_amd64.deb), no leading / and no ".." segments. Set exactly one of path and url.
       */
      path?: string;
      /**
       * An http(s) URL of the .deb, fetched once by hostop and cached by its hash (the host itself needs no network access). Set exactly one of path and url.
       */
      url?: string;
      /**
       * The SHA-256 of the .deb as 64 lowercase hex digits (sha256sum's output); a file with another hash is refused before anything of it reaches a host.
       */
      sha256: string;
    };
  };
}

/**
 * Prometheus configuration.
 */
export interface PrometheusScrapeSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * global.scrape_interval.
   */
  scrapeInterval: string;
  /**
   * global.evaluation_interval.
   */
  evaluationInterval: string;
  /**
   * global.external_labels.
   */
  externalLabels?: {
    [k: string]: string;
  };
  /**
   * rule_files: absolute paths or globs.
   */
  ruleFiles?: string[];
  /**
   * Alertmanager addresses (host:port) for static alerting configuration.
   */
  alertmanagers?: string[];
  /**
   * Readiness URL as seen from the host.
   */
  readyUrl: string;
  /**
   * Scrape jobs.
   *
   * @minItems 1
   */
  jobs: [
    {
      /**
       * job_name, unique.
       */
      name: string;
      /**
       * metrics_path.
       */
      metricsPath: string;
      /**
       * scheme.
       */
      scheme: 'http' | 'https';
      /**
       * scrape_interval for this job.
       */
      scrapeInterval?: string;
      /**
       * honor_labels: keep job/instance labels the target sends (e.g. a collector exporter).
       */
      honorLabels: boolean;
      /**
       * Literal targets, host:port.
       */
      targets?: string[];
      /**
       * Targets by Host name.
       */
      hostTargets?: {
        /**
         * Name of the Host.
         */
        host: string;
        /**
         * Port of the metrics endpoint.
         */
        port: number;
      }[];
      /**
       * Labels added to every target of the job.
       */
      labels?: {
        [k: string]: string;
      };
    },
    ...{
      /**
       * job_name, unique.
       */
      name: string;
      /**
       * metrics_path.
       */
      metricsPath: string;
      /**
       * scheme.
       */
      scheme: 'http' | 'https';
      /**
       * scrape_interval for this job.
       */
      scrapeInterval?: string;
      /**
       * honor_labels: keep job/instance labels the target sends (e.g. a collector exporter).
       */
      honorLabels: boolean;
      /**
       * Literal targets, host:port.
       */
      targets?: string[];
      /**
       * Targets by Host name.
       */
      hostTargets?: {
        /**
         * Name of the Host.
         */
        host: string;
        /**
         * Port of the metrics endpoint.
         */
        port: number;
      }[];
      /**
       * Labels added to every target of the job.
       */
      labels?: {
        [k: string]: string;
      };
    }[],
  ];
}

/**
 * The unit and its wanted state.
 */
export interface ServiceSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * systemd unit name; without a suffix it means .service.
   */
  unit: string;
  /**
   * Wanted run state.
   */
  state: 'running' | 'stopped';
  /**
   * Whether the unit starts at boot.
   */
  enabled: boolean;
  /**
   * What a change of a file that notifies this unit triggers: reload (the unit must support it) or restart.
   */
  onChange: 'reload' | 'restart';
  /**
   * How hostop checks the service is healthy after a reload or restart, as seen from the host itself (hostop tunnels to it over SSH). Set exactly one of http and tcp. When the check does not pass in time, hostop restores the previous files.
   */
  health?: {
    /**
     * An HTTP GET that must answer with expectStatus.
     */
    http?: {
      /**
       * URL as seen from the host, e.g. http://127.0.0.1:3200/ready.
       */
      url: string;
      /**
       * The status code that means healthy.
       */
      expectStatus: number;
    };
    /**
     * A TCP connect that must succeed.
     */
    tcp?: {
      /**
       * Address to connect to, as seen from the host.
       */
      host: string;
      /**
       * Port to connect to.
       */
      port: number;
    };
    /**
     * How long hostop waits for the check to pass after the service was reloaded or restarted.
     */
    timeoutSeconds: number;
  };
}

/**
 * Tempo settings.
 */
export interface TempoSpec {
  /**
   * Selects hosts by their labels with Kubernetes label-selector semantics: a host is selected when every matchLabels entry and every matchExpressions requirement holds. Set exactly one of hostSelector and hosts.
   */
  hostSelector?: {
    /**
     * Labels a host must carry, with exactly these values.
     */
    matchLabels?: {
      [k: string]: string;
    };
    /**
     * Set-based requirements on host labels; all of them must hold.
     */
    matchExpressions?: {
      /**
       * The label key the requirement applies to.
       */
      key: string;
      /**
       * In: the label value is one of values. NotIn: the label is absent or its value is not in values. Exists / DoesNotExist: the key is present / absent (values must be empty).
       */
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      /**
       * Label values for In and NotIn.
       */
      values?: string[];
    }[];
  };
  /**
   * Names of Host resources this resource applies to. Set exactly one of hostSelector and hosts.
   *
   * @minItems 1
   */
  hosts?: [string, ...string[]];
  /**
   * Pause this resource: hostop neither renders nor converges it while true (its files stay as they are on the hosts).
   */
  suspend: boolean;
  /**
   * The Tempo version installed on the hosts (e.g. 2.8.2). Major 2 and 3 have different config shapes.
   */
  version: string;
  /**
   * How long trace blocks are kept, as a Go duration (168h is 7 days).
   */
  retention: string;
  /**
   * server.http_listen_port (API, /ready).
   */
  httpPort: number;
  /**
   * Tempo's own OTLP receivers, bound to 0.0.0.0. The defaults avoid 4317/4318, which the collector owns on a shared host.
   */
  otlp: {
    /**
     * OTLP gRPC port.
     */
    grpcPort: number;
    /**
     * OTLP HTTP port.
     */
    httpPort: number;
  };
  /**
   * Directory for the WAL (<path>/wal) and blocks (<path>/blocks).
   */
  storagePath: string;
}
