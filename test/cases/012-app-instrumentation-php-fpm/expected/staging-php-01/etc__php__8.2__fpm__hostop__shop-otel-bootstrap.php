<?php
// Managed by hostop (AppInstrumentation/legacy-shop); local edits are reverted.
if (!defined('HOSTOP_OTEL_BOOTSTRAP')) {
    define('HOSTOP_OTEL_BOOTSTRAP', (static function (): string {
        if (!extension_loaded('opentelemetry')) {
            return 'no-extension';
        }
        $autoload = '/srv/shop/otel/vendor/autoload.php';
        if (!is_file($autoload)) {
            return 'no-sdk';
        }
        try {
            require_once $autoload;
            return 'loaded';
        } catch (\Throwable $e) {
            error_log('hostop OpenTelemetry bootstrap: ' . $e->getMessage());
            return 'failed';
        }
    })());
}
