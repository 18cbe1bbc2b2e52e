#!/usr/bin/python3
"""Stand-ins for the lab's services that have no Debian package.

One program, dispatched by the name it is called as (symlinks in /usr/bin, /usr/sbin) or by
`standin.py app NAME --port N`. Each keeps the real unit name, port, health endpoint and config
path, so hostop cannot tell it from the real thing. Test knobs are files, checked on every request:
  /etc/hostop-standin/UNIT.unhealthy       health endpoint of UNIT answers 503
  /etc/hostop-standin/otelcol-validate.hang `otelcol-contrib validate` sleeps forever
"""
import glob
import hashlib
import json
import os
import signal
import sys
import threading
import time
import socketserver
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

KNOBS = '/etc/hostop-standin'


def knob(name):
    return os.path.exists(os.path.join(KNOBS, name))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def installed_version(package):
    """The version of the stand-in package that shipped this program (scripts/lab/template/debs)."""
    with open(f'/usr/lib/hostop-standin/version/{package}', encoding='utf-8') as f:
        return f.read().strip()


def version_tuple(text):
    return tuple(int(p) for p in text.split('-')[0].split('.')[:3])


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind resolves its own name (getfqdn), which waits on DNS; the hosts have none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = 'localhost', self.server_address[1]


def serve(port, route):
    """Serve HTTP on 0.0.0.0:port in a thread; route(method, path) -> (code, body, content type)."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self, method):
            length = int(self.headers.get('Content-Length') or 0)
            if length:
                self.rfile.read(length)
            code, body, ctype = route(method, self.path.split('?')[0])
            data = body.encode()
            self.send_response(code)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer('GET')

        def do_POST(self):
            self.answer('POST')

        def log_message(self, *args):
            pass

    server = Server(('0.0.0.0', port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def json_reply(code, obj):
    return code, json.dumps(obj), 'application/json'


def not_found():
    return 404, '404 page not found\n', 'text/plain'


def run(servers, handlers=None):
    """Serve [(port, route)] and run handlers {signal: fn} on the main thread until killed.

    The handled signals are blocked before any server thread starts (threads inherit the mask), so the
    kernel keeps them pending for sigwait() instead of delivering them to a thread that is not waiting.
    Signals without a handler keep their default action (SIGHUP ends tempo, as it ends a Go program)."""
    handlers = handlers or {}
    signal.pthread_sigmask(signal.SIG_BLOCK, set(handlers))
    for port, route in servers:
        serve(port, route)
    while True:
        if handlers:
            handlers[signal.sigwait(set(handlers))]()
        else:
            signal.pause()


def load_yaml(path):
    """(document, None) or (None, one-line reason)."""
    try:
        with open(path, encoding='utf-8') as f:
            return yaml.safe_load(f), None
    except (OSError, yaml.YAMLError) as e:
        return None, f'{path}: {" ".join(str(e).split())}'


def flag_value(argv, *names):
    """Value of `--name=V` or `--name V` (any of names), or None."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg.startswith(name + '='):
                return arg[len(name) + 1:]
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
    return None


# --- otelcol-contrib -------------------------------------------------------------------------------

def otelcol_problem(path):
    """None when the collector config is usable, else a one-line reason (as `validate` prints it)."""
    doc, err = load_yaml(path)
    if err:
        return err
    if not isinstance(doc, dict):
        return f'{path}: config is not a mapping'
    service = doc.get('service')
    pipelines = service.get('pipelines') if isinstance(service, dict) else None
    if not isinstance(pipelines, dict):
        return "service::pipelines: must be a mapping (the config has no pipelines)"
    for pname, pipeline in pipelines.items():
        if not isinstance(pipeline, dict):
            return f'service::pipelines::{pname}: must be a mapping'
        for section in ('receivers', 'processors', 'exporters'):
            declared = doc.get(section) or {}
            # A connector is an exporter of one pipeline and a receiver of another.
            connectors = doc.get('connectors') or {} if section != 'processors' else {}
            for ref in pipeline.get(section) or []:
                if not (isinstance(declared, dict) and ref in declared) and not (isinstance(connectors, dict) and ref in connectors):
                    return f'service::pipelines::{pname}: references {section[:-1]} "{ref}" which is not configured'
    return None


def otelcol(argv):
    if argv[:1] == ['--version'] or argv[:1] == ['-v']:
        # The real output: `otelcol-contrib version 0.123.0` (cobra's version template in otelcol/command.go).
        print(f'otelcol-contrib version {installed_version("otelcol-contrib")}')
        return 0
    validating = argv[:1] == ['validate']
    path = flag_value(argv[1:] if validating else argv, '--config')
    if path is None:
        log('Error: at least one config flag must be provided')
        return 2
    if validating:
        while knob('otelcol-validate.hang'):
            time.sleep(1)
        problem = otelcol_problem(path)
        if problem:
            log(f'Error: invalid configuration: {problem}')
            return 1
        return 0

    # The real collector refuses to start on a bad config; the stand-in stays up and reports 503 so the
    # health check can see it. A bad config on SIGHUP makes it exit, as the real one does.
    def now():
        return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime()) + f'.{time.time_ns() % 1_000_000_000:09d}Z'

    def loaded():
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()

    state = {'problem': otelcol_problem(path), 'since': now(), 'config': loaded()}
    if state['problem']:
        log(f'invalid configuration: {state["problem"]}')

    def on_hup():
        problem = otelcol_problem(path)
        if problem:
            log(f'Error: failed to reload config: {problem}')
            os._exit(1)
        # A reload shuts the whole service down, extensions included, and builds a new one from the new
        # config (otelcol/collector.go reloadConfiguration): the new health_check reports a new upSince.
        state.update(problem=None, since=now(), config=loaded())
        log('Config updated, restart service')

    def health(_method, route):
        if route == '/hostop-standin/config':
            # Lab-only: the sha256 of the config the running process loaded, so tests can see it is live.
            return json_reply(200, {'sha256': state['config']})
        if route != '/':
            return not_found()
        if knob('otelcol-contrib.unhealthy') or state['problem']:
            return json_reply(503, {'status': 'Server not available', 'upSince': state['since']})
        return json_reply(200, {'status': 'Server available', 'upSince': state['since']})

    def otlp(_method, _route):
        return json_reply(200, {})

    run([(13133, health), (4317, otlp), (4318, otlp)], {signal.SIGHUP: on_hup})


# --- tempo (restart only: SIGHUP keeps its default action, which ends the process) -------------------

def tempo(argv):
    if argv[:1] in (['--version'], ['-version']):
        print(f'tempo, version {installed_version("tempo")} (branch: HEAD, revision: standin)')
        return 0
    path = flag_value(argv, '-config.file', '--config.file')
    if path is None:
        log('error: -config.file is required')
        return 1
    doc, problem = load_yaml(path)
    if problem is None and not (isinstance(doc, dict) and 'server' in doc):
        problem = f'{path}: no server block'
    if problem is None and version_tuple(installed_version('tempo')) >= (3, 0, 0):
        # Tempo 3 removed these blocks and parses its config strictly: a 2.x config stops it at start
        # (grafana.com/docs/tempo/latest/set-up-for-tracing/setup-tempo/migrate-to-3/: "remove the ingester,
        # ingester_client, compactor and metrics_generator_client blocks").
        removed = [k for k in ('ingester', 'ingester_client', 'compactor', 'metrics_generator_client') if k in doc]
        if removed:
            log(f'failed parsing config: {path}: yaml: unmarshal errors: field {removed[0]} not found in type app.Config')
            return 1
    if problem:
        log(f'config problem: {problem}')

    def route(_method, path_):
        if path_ != '/ready':
            return not_found()
        if knob('tempo.unhealthy') or problem:
            return 503, f'not ready: {problem or "unhealthy knob"}\n', 'text/plain'
        return 200, 'ready\n', 'text/plain'

    run([(3200, route)])


# --- grafana-server (reads provisioned data sources at start only) ----------------------------------

def grafana(_argv):
    files = sorted(glob.glob('/etc/grafana/provisioning/datasources/*.yaml')
                   + glob.glob('/etc/grafana/provisioning/datasources/*.yml'))
    problem, datasources = None, []
    for path in files:
        doc, err = load_yaml(path)
        if err is None and not (isinstance(doc, dict) and 'apiVersion' in doc):
            err = f'{path}: no apiVersion'
        if err:
            problem = problem or err
            continue
        for ds in doc.get('datasources') or []:
            if isinstance(ds, dict):
                datasources.append({k: ds.get(k) for k in ('name', 'type', 'uid', 'url')})
    if problem:
        log(f'failed to provision data sources: {problem}')

    def route(_method, path):
        if path == '/api/health':
            if knob('grafana-server.unhealthy') or problem:
                return json_reply(503, {'database': 'failing', 'version': '10.4.0'})
            return json_reply(200, {'commit': 'standin', 'database': 'ok', 'version': '10.4.0'})
        if path == '/api/datasources':
            return json_reply(200, datasources)
        return not_found()

    # Grafana re-opens its logs on SIGHUP and otherwise ignores it.
    run([(3000, route)], {signal.SIGHUP: lambda: None})


# --- generic apps (orders-api, billing-api, litellm) ------------------------------------

def app(name, port, read_config=lambda: ({}, None), health_paths=('/health',)):
    config, problem = read_config()
    if problem:
        log(f'ERROR: {problem}')
        return 78
    state = {'config': config}

    def on_reload():
        new, err = read_config()
        if err:
            log(f'ERROR: reload failed: {err}')
            os._exit(78)
        state['config'] = new
        log('reloaded configuration')

    def route(_method, path):
        if path in health_paths:
            if knob(f'{name}.unhealthy'):
                return 503, 'unhealthy\n', 'text/plain'
            return 200, "I'm alive!\n" if name == 'litellm' else 'pong\n', 'text/plain'
        if path == '/env':
            otel = {k: v for k, v in os.environ.items() if k.startswith('OTEL_') or k == 'PYTHONPATH'}
            return json_reply(200, {'environ': otel, 'config': state['config']})
        return not_found()

    run([(port, route)], {signal.SIGHUP: on_reload, signal.SIGUSR2: on_reload})


def litellm(argv):
    path = flag_value(argv, '--config') or '/etc/litellm/config.yaml'
    port = int(flag_value(argv, '--port') or 4000)

    def read_config():
        doc, err = load_yaml(path)
        return (doc if isinstance(doc, dict) else {}), err

    return app('litellm', port, read_config, health_paths=('/health/liveliness', '/health'))


def main():
    called = os.path.basename(sys.argv[0])
    argv = sys.argv[1:]
    if called == 'otelcol-contrib':
        return otelcol(argv)
    if called == 'tempo':
        return tempo(argv)
    if called == 'grafana-server':
        return grafana(argv)
    if called == 'litellm':
        return litellm(argv)
    if argv[:1] == ['app'] and len(argv) >= 2:
        return app(argv[1], int(flag_value(argv, '--port') or 8000))
    log(f'usage: called as {called!r}; expected otelcol-contrib, tempo, grafana-server, litellm, '
        'or `standin.py app NAME --port N`')
    return 2


if __name__ == '__main__':
    sys.exit(main())
