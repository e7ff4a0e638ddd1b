"""The `sparkube` command line.

`sparkube submit` and `sparkube render` take spark-submit's own arguments, so an existing
spark-submit command line works with `spark-submit` replaced by `sparkube submit`. sparkube's
own options (such as `-o yaml`) may stand anywhere before the primary resource. Every grammar
(spark-submit's arguments, `[ns:]pod`) is read by the core (`sparkube._core`), never here.

Exit codes: 0 success, 1 the application failed, 2 usage or configuration error, 3 timeout
(or a stall with `--on-stall fail`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sparkube import _core
    from sparkube.client import AppStatus, Client, SparkAppHandle

EXIT_OK = 0
EXIT_APP_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3

USAGE = """\
usage: sparkube <command> [options] [spark-submit arguments]

commands:
  submit    submit an application and wait for it, as spark-submit does
            (--no-wait, --logs, --timeout S, --startup-timeout S, --kubeconfig P, -o json|yaml,
            --metrics-file P: sparkube's metrics in OpenMetrics text when it ends,
            --stall-timeout S --on-stall warn|fail: no task done and no new executor for S;
            --delete-uploads: remove the files it uploaded once the app has ended;
            --history-server URL (or conf spark.sparkube.historyServer.url): the History
            Server whose REST API gives the right-sizing report printed at the end, else
            the driver's UI read while the app runs;
            spark-submit's --status and --kill [ns:]pod work too; --dry-run=server sends every
            object as a dry run and checks the whole app against the namespace's quota,
            creating nothing: exit 0 when it would fit, 1 when not)
  render    print the Kubernetes objects a submission would create (-o json|yaml;
            secret-looking conf values are shown redacted unless --show-secrets)
  status    print the state of a driver:      sparkube status [ns:]pod
  list      list drivers:                     sparkube list [-n ns | -A] [-l selector] [--sessions]
  connect   start or attach to a Spark Connect session and forward it, printing its sc:// URL:
            sparkube connect NAME [--image I] [--executors N] [--conf K=V] [--port P] [--rm]
                             [--idle-timeout SECONDS]
  logs      print or follow a driver's log:   sparkube logs [-f] [--tail N] [ns:]pod
  kill      delete a driver and what it owns: sparkube kill [--wait] [ns:]pod[*]
  wait      wait for an application to end:   sparkube wait [--timeout S] [ns:]pod
  version   print the sparkube version

`submit` and `render` take the arguments of `spark-submit --deploy-mode cluster`;
--master may be omitted (the current kubeconfig context's server is used).
"""


class UsageError(Exception):
    """A command line that cannot be understood."""


@dataclass(frozen=True)
class ToolOptions:
    """sparkube's own options, taken out of a spark-submit argument list by the core."""

    values: Mapping[str, str]
    flags: frozenset[str]
    spark_args: list[str]

    @classmethod
    def split(
        cls, args: Sequence[str], with_value: Iterable[str], flags: Iterable[str]
    ) -> ToolOptions:
        """Separate sparkube's options from spark-submit's, up to the primary resource, with
        spark-submit's own grammar; options after the primary resource are the application's."""
        from sparkube import _core

        values, given, rest = _core.split_tool_args(list(args), list(with_value), list(flags))
        return cls(values, frozenset(given), rest)


def _render(args: Sequence[str]) -> int:
    from sparkube import _core

    tool = ToolOptions.split(args, ("-o", "--output"), ("--show-secrets",))
    output = _output_format(tool, default="json")
    items = _core.render_args(tool.spark_args, None, "--show-secrets" in tool.flags)
    listing = {"apiVersion": "v1", "kind": "List", "items": items}
    _print_data(listing, output)
    return EXIT_OK


def _output_format(tool: ToolOptions, default: str | None) -> str | None:
    output = tool.values.get("-o", tool.values.get("--output", default))
    if output not in (None, "json", "yaml"):
        raise UsageError(f"--output must be json or yaml, not {output!r}")
    return output


def _print_data(data: object, output: str | None) -> None:
    from sparkube import _core

    if output == "yaml":
        sys.stdout.write(_core.to_yaml(data))
    else:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _seconds(tool: ToolOptions, name: str) -> float | None:
    value = tool.values.get(name)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"{name} takes a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise UsageError(f"{name} must be positive, not {value!r}")
    return seconds


def _one_pod(target: str) -> _core.PodRef:
    """spark-submit's `[namespace:]pod` form, naming one pod (no trailing `*`)."""
    from sparkube import _core

    ref = _core.PodRef.parse(target)
    if ref.glob:
        raise UsageError(f"expected one driver pod, not the pattern {target!r}")
    return ref


def _report_interval(conf: Mapping[str, str]) -> float:
    """`spark.kubernetes.report.interval` in seconds (1 by default), read by the core as Spark
    reads it; like spark-submit, a non-positive interval is refused."""
    from sparkube import _core

    key = "spark.kubernetes.report.interval"
    value = conf.get(key)
    if value is None:
        return 1.0
    ms = _core.time_conf(key, value, "ms")
    if ms <= 0:
        raise UsageError(f"{key}: Logging interval must be a positive time value, not {value!r}")
    return ms / 1000


SUBMIT_VALUES = frozenset(
    {
        "-o",
        "--output",
        "--timeout",
        "--startup-timeout",
        "--kubeconfig",
        "--dry-run",
        "--metrics-file",
        "--stall-timeout",
        "--on-stall",
        "--history-server",
    }
)

SNAPSHOT_INTERVAL = 5.0
"""Seconds between two reads of the driver's UI while the app runs, for the right-sizing
report (the last one is what the report has without a History Server)."""

_metrics_files: list[str] = []
"""Where `main` writes the process's metrics when the command ends (`--metrics-file`)."""


def _write_metrics(path: str) -> None:
    """The metrics in the OpenMetrics text format, replacing `path` whole (a Prometheus
    textfile collector never reads half a file)."""
    from sparkube import _core

    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(_core.metrics_text())
    os.replace(tmp, path)


SUBMIT_FLAGS = frozenset({"--no-wait", "--logs", "--delete-uploads"})


def _submit(args: Sequence[str]) -> int:
    from sparkube import _core

    tool = ToolOptions.split(args, SUBMIT_VALUES, SUBMIT_FLAGS)
    if "--metrics-file" in tool.values:
        _metrics_files.append(tool.values["--metrics-file"])
    kubeconfig = tool.values.get("--kubeconfig")
    if kubeconfig is not None:
        # The same as KUBECONFIG=PATH: the default master is read from it too.
        os.environ["KUBECONFIG"] = kubeconfig
    action, target, conf = _core.parse_command(tool.spark_args)
    if action == "version":
        return _version([])
    if action == "help":
        return _usage(EXIT_OK)
    client = _client(kubeconfig, conf)
    if action == "kill" and target is not None:
        return _kill_targets(client, target, _grace_period(conf), wait=False)
    if action == "status" and target is not None:
        return _print_statuses(client, target, None)
    output = _output_format(tool, default=None)
    if "--dry-run" in tool.values:
        return _preflight(client, tool, output)
    interval = _report_interval(conf)
    from sparkube import stall

    stall_timeout = _seconds(tool, "--stall-timeout")
    on_stall = tool.values.get("--on-stall", "warn")
    stall.check(stall_timeout, on_stall)
    wait = conf.get("spark.kubernetes.submission.waitAppCompletion", "true").lower() != "false"
    delete_uploads = "--delete-uploads" in tool.flags
    if delete_uploads and ("--no-wait" in tool.flags or not wait):
        raise UsageError(
            "--delete-uploads removes the uploads once the app has ended: it needs waiting"
        )
    # Local paths on the command line are relative to the working directory.
    handle = client.submit(tool.spark_args, base_dir=os.getcwd(), delete_uploads=delete_uploads)
    verb = "Adopted running" if handle.adopted else "Submitted"
    print(
        f"{verb} application {handle.app_id} as driver pod {handle.namespace}/{handle.driver_pod}",
        file=sys.stderr,
    )
    if "--no-wait" in tool.flags or not wait:
        if output:
            _print_data(
                {
                    "app_id": handle.app_id,
                    "namespace": handle.namespace,
                    "driver_pod": handle.driver_pod,
                    "submission_id": handle.submission_id,
                },
                output,
            )
        return EXIT_OK
    return _follow(
        handle,
        interval=interval,
        logs="--logs" in tool.flags,
        timeout=_seconds(tool, "--timeout"),
        startup_timeout=_seconds(tool, "--startup-timeout"),
        output=output,
        stall_timeout=stall_timeout,
        on_stall=on_stall,
        history_server=tool.values.get("--history-server")
        or conf.get(_core.HISTORY_SERVER_URL_KEY),
    )


def _preflight(client: Client, tool: ToolOptions, output: str | None) -> int:
    """`submit --dry-run=server`: the preflight's findings; exit 1 when one failed."""
    mode = tool.values["--dry-run"]
    if mode == "client":
        raise UsageError("--dry-run=client: use `sparkube render` to see the objects offline")
    if mode != "server":
        raise UsageError(f"--dry-run takes server, not {mode!r}")
    report = client.preflight(tool.spark_args, base_dir=os.getcwd())
    if output:
        _print_data(report.to_dict(), output)
    else:
        print(report)
    return EXIT_OK if report.passed else EXIT_APP_FAILED


def _client(kubeconfig: str | None, conf: Mapping[str, str]) -> Client:
    from sparkube.client import Client

    return Client(kubeconfig=kubeconfig, conf=conf)


def _follow(
    handle: SparkAppHandle,
    *,
    interval: float,
    logs: bool,
    timeout: float | None,
    startup_timeout: float | None,
    output: str | None,
    stall_timeout: float | None = None,
    on_stall: str = "warn",
    history_server: str | None = None,
) -> int:
    """Wait like spark-submit: a status line every `interval`, the driver log with `logs`;
    at the end, the right-sizing report (`SparkAppHandle.report`)."""
    import threading
    import time

    from sparkube.client import AppState
    from sparkube.errors import AppFailed, AppStalled, SparkubeError, StartupTimeout, WaitTimeout

    latest: list[AppStatus] = []
    done = threading.Event()

    def watch() -> None:
        for status in handle.updates():
            latest.append(status)

    def reporter() -> None:
        sampled = 0.0
        while not done.wait(interval):
            if latest:
                status = latest[-1]
                print(
                    f"Application status for {handle.app_id} (phase: {status.phase or status.state})",
                    file=sys.stderr,
                )
                now = time.monotonic()
                if status.state == AppState.RUNNING and now - sampled >= SNAPSHOT_INTERVAL:
                    # Keeps the executors' figures for the report (`SparkAppHandle.report`).
                    sampled = now
                    try:
                        handle.progress()
                    except SparkubeError:
                        sampled = float("inf")  # refused: asking again will not help

    def stream_logs() -> None:
        for line in handle.logs(follow=True):
            print(line, flush=True)

    threads = [threading.Thread(target=watch, daemon=True)]
    threads.append(threading.Thread(target=reporter, daemon=True))
    if logs:
        threads.append(threading.Thread(target=stream_logs, daemon=True))
    for thread in threads:
        thread.start()
    final: AppStatus | None
    try:
        final = handle.wait(
            timeout=timeout,
            startup_timeout=startup_timeout,
            stall_timeout=stall_timeout,
            on_stall=on_stall,
        )
        code = EXIT_OK
    except AppFailed as err:
        final, code = err.status, EXIT_APP_FAILED
    except (StartupTimeout, WaitTimeout, AppStalled) as err:
        print(f"sparkube: {err}", file=sys.stderr)
        final, code = err.status, EXIT_TIMEOUT
    finally:
        done.set()
    if logs and len(threads) == 3:
        threads[2].join(timeout=5)
    if final is not None:
        print(f"Application {handle.app_id} finished: {final.summary()}", file=sys.stderr)
        if final.cause:
            print(f"Cause: {final.cause}", file=sys.stderr)
        if code == EXIT_APP_FAILED and final.last_log_lines:
            print("Last lines of the driver log:", file=sys.stderr)
            for line in final.last_log_lines:
                print(f"  {line}", file=sys.stderr)
        report = handle.report(history_server) if final.state.is_final else None
        if report is not None and report.summary:
            print(f"Right-sizing: {report.summary}", file=sys.stderr)
            if report.note and report.source == "live_snapshot" and history_server:
                print(f"  ({report.note})", file=sys.stderr)
        if output:
            _print_data(final.to_dict(), output)
    return code


def _grace_period(conf: Mapping[str, str]) -> float | None:
    """`spark.kubernetes.appKillPodDeletionGracePeriod` in seconds, read by the core as Spark
    reads it (a bare number is seconds); None when unset."""
    from sparkube import _core

    key = "spark.kubernetes.appKillPodDeletionGracePeriod"
    value = conf.get(key)
    return None if value is None else float(_core.time_conf(key, value, "s"))


def _kill_targets(client: Client, target: str, grace: float | None, *, wait: bool) -> int:
    killed = client._core.kill_matching(target, grace, wait)
    if not killed:
        print(f"sparkube: no Spark driver pod matches {target!r}", file=sys.stderr)
        return EXIT_APP_FAILED
    for namespace, driver_pod, _app_id in killed:
        print(f"Deleted driver pod {namespace}/{driver_pod}", file=sys.stderr)
    return EXIT_OK


def _print_statuses(client: Client, target: str, output: str | None) -> int:
    from sparkube import _core

    ref = _core.PodRef.parse(target)
    if ref.glob:
        statuses = [s for s in client.list(ref.namespace) if ref.matches(s.driver_pod)]
    else:
        statuses = [client.attach(ref.name, ref.namespace).status()]
    if not statuses:
        print(f"sparkube: no Spark driver pod matches {target!r}", file=sys.stderr)
        return EXIT_APP_FAILED
    if output:
        _print_data([s.to_dict() for s in statuses], output)
    else:
        for status in statuses:
            print(f"{status.namespace}/{status.driver_pod}\t{status.app_id}\t{status.summary()}")
    return EXIT_OK


def _connection_parser(prog: str, description: str) -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(prog=f"sparkube {prog}", description=description)
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--master", help="k8s://https://host:port, as spark-submit's --master")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    return parser


def _connect(ns: argparse.Namespace) -> Client:
    from sparkube.client import Client

    return Client(
        kubeconfig=ns.kubeconfig, context=ns.context, master=ns.master, namespace=ns.namespace
    )


def _status(args: Sequence[str]) -> int:
    parser = _connection_parser("status", "Print the state of Spark drivers.")
    parser.add_argument("target", help="[namespace:]driver-pod, a trailing * matches a prefix")
    parser.add_argument("-o", "--output", choices=("json", "yaml"))
    ns = parser.parse_args(args)
    return _print_statuses(_connect(ns), ns.target, ns.output)


def _list(args: Sequence[str]) -> int:
    parser = _connection_parser("list", "List Spark drivers and their states.")
    parser.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("-l", "--selector", help="label selector, e.g. team=data")
    parser.add_argument(
        "--sessions", action="store_true", help="only Spark Connect sessions (sparkube connect)"
    )
    parser.add_argument("-o", "--output", choices=("json", "yaml"))
    ns = parser.parse_args(args)
    selector = ns.selector
    if ns.sessions:
        from sparkube import _core

        selector = ",".join(s for s in (selector, _core.SESSION_LABEL) if s)
    statuses = _connect(ns).list(ns.namespace, selector=selector, all_namespaces=ns.all_namespaces)
    if ns.output:
        _print_data([s.to_dict() for s in statuses], ns.output)
    else:
        for status in statuses:
            print(f"{status.namespace}/{status.driver_pod}\t{status.app_id}\t{status.summary()}")
    return EXIT_OK


def _connect_session(args: Sequence[str]) -> int:
    import time

    from sparkube.app import SparkApp

    parser = _connection_parser(
        "connect",
        "Start the Spark Connect session NAME, or attach to it when it runs, and forward a local "
        "port to it until interrupted; prints the sc:// URL for any Spark Connect client.",
    )
    parser.add_argument("name", help="the session's name (a DNS label)")
    parser.add_argument("--image", help="the Spark image (to start it; checked when attaching)")
    parser.add_argument("--executors", type=int, help="executor instances (static allocation)")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark conf setting"
    )
    parser.add_argument("--port", type=int, default=0, help="local port (default: any free one)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the server (300)")
    parser.add_argument(
        "--rm", action="store_true", help="delete the server on exit instead of leaving it running"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=1800,
        metavar="SECONDS",
        help="the server ends itself after this long without a client request (1800)",
    )
    ns = parser.parse_args(args)
    if not ns.idle_timeout > 0:
        raise UsageError(f"--idle-timeout must be positive, not {ns.idle_timeout:g}")
    conf = {}
    for item in ns.conf:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--conf takes KEY=VALUE, not {item!r}")
        conf[key] = value
    app = SparkApp.session(ns.name, idle_timeout=ns.idle_timeout, image=ns.image, conf=conf)
    if ns.executors is not None:
        from dataclasses import replace

        app = replace(app, executor=replace(app.executor, instances=ns.executors))
    connection = _connect(ns).connect(app, timeout=ns.timeout, local_port=ns.port)
    verb = "attached to" if connection.attached else "started"
    handle = connection.handle
    print(
        f"sparkube: {verb} session {connection.name} (driver pod {handle.namespace}/"
        f"{handle.driver_pod}); Ctrl-C to {'delete it' if ns.rm else 'detach'}",
        file=sys.stderr,
    )
    print(connection.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        if ns.rm:
            connection.close()
        else:
            connection.detach()


def _logs(args: Sequence[str]) -> int:
    from sparkube import _core

    parser = _connection_parser("logs", "Print (or follow) a Spark driver's log.")
    parser.add_argument("target", help="[namespace:]driver-pod")
    parser.add_argument("-f", "--follow", action="store_true")
    parser.add_argument("--tail", type=int, help="only the last N lines")
    parser.add_argument("--since", type=float, help="only lines newer than N seconds")
    parser.add_argument(
        "--executor", help=f"an executor's log instead (its {_core.EXECUTOR_ID_LABEL} label)"
    )
    parser.add_argument("--timestamps", action="store_true")
    ns = parser.parse_args(args)
    ref = _one_pod(ns.target)
    handle = _connect(ns).attach(ref.name, ref.namespace)
    for line in handle.logs(
        follow=ns.follow,
        since=ns.since,
        tail=ns.tail,
        executor=ns.executor,
        timestamps=ns.timestamps,
    ):
        print(line, flush=ns.follow)
    return EXIT_OK


def _kill(args: Sequence[str]) -> int:
    parser = _connection_parser(
        "kill", "Delete Spark drivers; their executors and objects go with them."
    )
    parser.add_argument("target", help="[namespace:]driver-pod, a trailing * matches a prefix")
    parser.add_argument("--grace-period", type=float, help="seconds before the driver is killed")
    parser.add_argument("--wait", action="store_true", help="return once everything is gone")
    ns = parser.parse_args(args)
    return _kill_targets(_connect(ns), ns.target, ns.grace_period, wait=ns.wait)


def _wait(args: Sequence[str]) -> int:
    parser = _connection_parser("wait", "Wait for a Spark application to end.")
    parser.add_argument("target", help="[namespace:]driver-pod")
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--startup-timeout", type=float)
    parser.add_argument("--logs", action="store_true", help="follow the driver log meanwhile")
    parser.add_argument("-o", "--output", choices=("json", "yaml"))
    parser.add_argument("--metrics-file", help="write sparkube's metrics there (OpenMetrics)")
    parser.add_argument("--stall-timeout", type=float, help="seconds without progress: stalled")
    parser.add_argument("--on-stall", choices=("warn", "fail"), default="warn")
    parser.add_argument(
        "--history-server", help="History Server URL for the right-sizing report at the end"
    )
    ns = parser.parse_args(args)
    if ns.metrics_file:
        _metrics_files.append(ns.metrics_file)
    ref = _one_pod(ns.target)
    handle = _connect(ns).attach(ref.name, ref.namespace)
    return _follow(
        handle,
        interval=1.0,
        logs=ns.logs,
        timeout=ns.timeout,
        startup_timeout=ns.startup_timeout,
        output=ns.output,
        stall_timeout=ns.stall_timeout,
        on_stall=ns.on_stall,
        history_server=ns.history_server,
    )


def _version(args: Sequence[str]) -> int:
    from sparkube import __version__

    print(f"sparkube {__version__}")
    return EXIT_OK


def _usage(code: int) -> int:
    (sys.stdout if code == EXIT_OK else sys.stderr).write(USAGE)
    return code


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "submit": _submit,
    "render": _render,
    "status": _status,
    "list": _list,
    "connect": _connect_session,
    "logs": _logs,
    "kill": _kill,
    "wait": _wait,
    "version": _version,
    "--version": _version,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sparkube command line and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        return _usage(EXIT_OK if args else EXIT_USAGE)
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"sparkube: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr, end="")
        return EXIT_USAGE
    import logging

    from sparkube.errors import ConfigError, SparkubeError

    # kube-rs logs each failed connection attempt; the command reports the outcome once itself.
    logging.getLogger("kube_client").setLevel(logging.CRITICAL)
    try:
        return command(args[1:])
    except (UsageError, ConfigError) as err:
        print(f"sparkube: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SparkubeError as err:
        print(f"sparkube: {err}", file=sys.stderr)
        return EXIT_APP_FAILED
    except KeyboardInterrupt:
        return 130
    finally:
        while _metrics_files:
            _write_metrics(_metrics_files.pop())


if __name__ == "__main__":
    sys.exit(main())
