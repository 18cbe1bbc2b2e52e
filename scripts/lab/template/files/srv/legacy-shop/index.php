<?php
// The legacy shop (lab): answers with what an OpenTelemetry SDK in this request would see.
header('Content-Type: application/json');
$otel = [];
foreach (getenv() as $k => $v) {
    if (str_starts_with($k, 'OTEL_')) {
        $otel[$k] = $v;
    }
}
ksort($otel);
echo json_encode([
    'otel' => $otel,
    'bootstrap' => defined('HOSTOP_OTEL_BOOTSTRAP') ? HOSTOP_OTEL_BOOTSTRAP : null,
    'extension' => extension_loaded('opentelemetry'),
]), "\n";
