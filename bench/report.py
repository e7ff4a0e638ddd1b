"""Turns results.json into the headline ratios and results.md."""

from __future__ import annotations

from typing import Any

from bench.common import ratio


def _f(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        if abs(value) >= 1000:
            return f"{value:,.0f}{unit}"
        return f"{value:.{digits}f}{unit}"
    return str(value)


def _ms(seconds: Any) -> str:
    return "-" if seconds is None else _f(seconds * 1e3, 1, " ms")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}x"


def _tracking_row(rows: list[dict[str, Any]], waiter: str, n: int) -> dict[str, Any] | None:
    for r in rows:
        if r.get("waiter") == waiter and r.get("n") == n and "failed" not in r:
            return r
    return None


def headlines(results: dict[str, Any]) -> list[str]:
    """One line per headline ratio, each saying what it compares."""
    s = results["scenarios"]
    lines = [f"sparkube benchmarks ({results['mode']} mode, `{results['command']}`)"]
    if cold := s.get("cold_submit"):
        t = cold["tools"]
        sk = t.get("sparkube submit --no-wait", {}).get("wall_s", {}).get("median")
        ss = t.get("spark-submit", {}).get("wall_s", {}).get("median")
        so = t.get("spark-on-k8s app submit", {}).get("wall_s", {}).get("median")
        rd = t.get("sparkube render", {}).get("wall_s", {}).get("median")
        lines.append(
            f"cold submit (median of {cold['runs']}): sparkube {_ms(sk)}, spark-submit {_ms(ss)} "
            f"({_x(ratio(ss, sk))} slower), spark-on-k8s {_ms(so)} ({_x(ratio(so, sk))} slower); "
            "target >= 30x and >= 5x"
        )
        lines.append(
            f"sparkube render as a fresh process: {_ms(rd)}, {_x(ratio(ss, rd))} faster than spark-submit"
        )
    if cn := s.get("connect"):
        share = cn["phases_ms"].get("sparkube_share", {}).get("median")
        total = cn["phases_ms"].get("total", {}).get("median")
        ratio_fw = cn["throughput"].get("forward_vs_direct")
        lines.append(
            f"Spark Connect: connect() to the first result {_f(total, 0, ' ms')}, sparkube's "
            f"share {_f(share, 0, ' ms')} (target <= 300 ms); port-forward throughput "
            f"{_f((ratio_fw or 0) * 100, 0, ' %')} of a direct connection (target >= 50 %)"
        )
    if warm := s.get("warm_submit"):
        c = warm["clients"]
        a = c.get("sparkube Client.submit", {})
        b = c.get("spark-on-k8s SparkOnK8S.submit_app", {})
        am = a.get("latency_s", {}).get("median")
        bm = b.get("latency_s", {}).get("median")
        lines.append(
            f"warm submit (median of {warm['n']}): sparkube {_ms(am)}, spark-on-k8s {_ms(bm)} "
            f"({_x(ratio(bm, am))}); {warm['concurrency']} callers: sparkube "
            f"{_f(a.get('per_s_threads'), 0)}/s threads, {_f(a.get('per_s_asyncio'), 0)}/s asyncio, "
            f"spark-on-k8s {_f(b.get('per_s_threads'), 0)}/s; target <= 5 ms and >= 500/s"
        )
    if rows := s.get("tracking"):
        n = max(r["n"] for r in rows)
        sk, po, so = (_tracking_row(rows, w, n) for w in ("sparkube", "poll", "spark-on-k8s"))
        parts = []
        for label, r in (("sparkube", sk), ("2 s polling", po), ("spark-on-k8s", so)):
            if r:
                parts.append(
                    f"{label} {_f(r.get('requests_per_s_steady'))} req/s, p99 {_ms(r.get('delay_p99_s'))}, "
                    f"{_f(r.get('max_rss_mb'), 0)} MB"
                )
        target = "; target at 10,000: < 1 req/s, p99 < 100 ms, < 300 MB" if n == 10_000 else ""
        lines.append(f"tracking {n:,} apps: " + "; ".join(parts) + target)
    if rows := s.get("triggerer"):
        tr = next((r for r in rows if r.get("waiter") == "triggerer" and "failed" not in r), None)
        po = next((r for r in rows if r.get("waiter") == "poll" and "failed" not in r), None)
        if tr:
            lines.append(
                f"Airflow triggerer, {tr['n']:,} SparkAppTriggers: {_f(tr.get('requests_per_s_steady'))} req/s, "
                f"p99 {_ms(tr.get('delay_p99_s'))}, {_f(tr.get('max_rss_mb'), 0)} MB RSS"
                + (
                    f" (per-task 2 s polling: {_f(po.get('requests_per_s_steady'))} req/s, p99 {_ms(po.get('delay_p99_s'))})"
                    if po
                    else ""
                )
                + "; target < 1 req/s, < 200 MB: "
                + _verdict(
                    (tr.get("requests_per_s_steady") or 0) < 1, (tr.get("max_rss_mb") or 0) < 200
                )
            )
    if lg := s.get("logs"):
        one = lg.get("1-char", {}).get("readers", {})
        a = one.get("sparkube logs()", {}).get("lines_per_s")
        b = one.get("kubernetes Watch().stream (spark-on-k8s)", {}).get("lines_per_s")
        c = one.get("sparkube logs_async()", {}).get("lines_per_s")
        lines.append(
            f"log streaming ({_f(lg.get('1-char', {}).get('lines'), 0)} lines): sparkube logs() {_f(a, 0)} lines/s, "
            f"logs_async() {_f(c, 0)} lines/s, kubernetes client as spark-on-k8s reads {_f(b, 0)} lines/s"
        )
    if imp := s.get("imports"):
        i = imp["imports"]

        def ms(label: str) -> str:
            return _f(i.get(label, {}).get("import_ms_median"), 0, " ms")

        lines.append(
            f"import: sparkube {ms('sparkube')}, spark_on_k8s {ms('spark_on_k8s.client.SparkOnK8S')}; "
            f"wheel ≈ {_f(imp['wheel'].get('built_wheel_mb') or imp['wheel'].get('wheel_estimate_mb'))} MB"
        )
    if ks := s.get("kubesim"):
        c, f = ks["creates"], ks["fanout"]
        others = ", ".join(
            f"{r['client'].split(',')[0]} {_f(r['creates_per_s'], 0)}/s"
            for r in ks.get("creates_by_client", [])
            if (r["client"], r["requests"]) != (c["client"], c["requests"])
        )
        py = ks.get("fanout_python_client")
        py_note = (
            f" (one Python reader: {_f(py['latency_p99_ms'])} ms)"
            if py and py["client"] != f["client"]
            else ""
        )
        verdict = ", ".join(
            f"{what} {'met' if ok else 'missed'}"
            for what, ok in (
                (">= 5,000/s", c["creates_per_s"] >= 5000),
                ("p99 < 50 ms", (f["latency_p99_ms"] or float("inf")) < 50),
                ("< 500 MB", ks["kubesim_rss_mb_with_pods"] < 500),
            )
        )
        lines.append(
            f"kubesim: {_f(c['creates_per_s'], 0)} pod creates/s ({c['client']}; {others}), "
            f"fan-out to {f['watches']} watches p99 {_f(f['latency_p99_ms'])} ms{py_note}, "
            f"RSS {_f(ks['kubesim_rss_mb_with_pods'], 0)} MB at {ks['pods']:,} pods; "
            f"targets: {verdict}"
        )
    if m := s.get("metrics"):
        cost = m["throughput"]["cost"]
        st = m["steady"]
        worst = max(cost.values(), default=0.0)
        lines.append(
            "metrics cost, recording vs off (median of "
            f"{m['throughput']['rounds']} rounds each): "
            + ", ".join(f"{k} {v * 100:+.2f} %" for k, v in cost.items())
            + f"; target <= 2 % {'met' if worst <= 0.02 else 'missed'}. Steady state, "
            f"{st.get('tracked')} tracked apps held {_f(st.get('hold_s'))} s: "
            f"{st.get('metrics_changed') or 'no metric moved'}, "
            f"{_f(st.get('cpu_s_hold'), 3)} CPU s"
        )
    if pf := s.get("preflight"):
        per_run = pf["preflight"]["requests_per_run"]
        lines.append(
            f"preflight of {pf['objects']} objects: {pf['preflight']['round_trips_reported']} "
            f"round trips ({', '.join(f'{k} {v:g}' for k, v in per_run.items())}), "
            f"median {_f(pf['preflight']['ms'].get('median'))} ms; a submit of the same app "
            f"median {_f(pf['submit']['ms'].get('median'))} ms; target <= 1 per object + 1 "
            "quota read (the LimitRange read is one more)"
        )
    return lines


def _verdict(*met: bool) -> str:
    """`met` / `missed` per target, or one word when all agree."""
    if all(met):
        return "met"
    if not any(met):
        return "missed"
    return ", ".join("met" if m else "missed" for m in met)


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def markdown(results: dict[str, Any], images: list[str]) -> str:
    """results.md: how it was run, the headlines, one section per scenario."""
    s = results["scenarios"]
    m = results["machine"]
    md = [
        "# sparkube benchmarks\n",
        f"Produced by `{results['command']}` ({results['mode']} mode) on {results['started']}, "
        f"on a shared {m['cpus']}-core machine (load average at start "
        f"{', '.join(str(x) for x in m['load_average_at_start'])}; other jobs were running), "
        f"in {results['duration_s']:.0f} s. All tools ran in the same run against the same kubesim "
        "(scenario 7 has its own); absolute times are noisy here, the ratios are the point. "
        "Raw numbers: `results.json`. How each scenario measures: `bench/*.py`.\n",
        "## Headlines\n",
        "\n".join(f"- {line}" for line in results["headlines"][1:]) + "\n",
    ]
    if cold := s.get("cold_submit"):
        md.append(
            "## 1. Cold submit\n\nA fresh process until the driver pod and its objects exist (no "
            f"waiting), SparkPi, {cold['runs']} runs per tool interleaved, after one unmeasured run "
            "each. Wall time; CPU and peak RSS of the process and its children "
            f"({cold.get('rss_method') or 'GNU time'}). "
            "spark-submit runs with its default JVM options, a fresh HOME and SPARK_CONF_DIR, "
            "and `spark.kubernetes.submission.waitAppCompletion=false`.\n"
        )
        rows = []
        for name, t in cold["tools"].items():
            w = t["wall_s"]
            rows.append(
                [
                    f"`{name}`",
                    str(w.get("n", 0)),
                    _ms(w.get("median")),
                    _ms(w.get("p99")),
                    _f(t["cpu_s"].get("median"), 2, " s"),
                    _f(t["max_rss_mb"].get("median"), 0, " MB"),
                    str(t["failures"]),
                ]
            )
        md.append(_table(["command", "N", "median", "p99", "CPU", "peak RSS", "failures"], rows))
        md.append(
            "Command lines (run i uses the name `pi-…-i`; KUBECONFIG points at kubesim):\n\n```\n"
            + "\n".join(t["command"] for t in cold["tools"].values())
            + "\n```\n"
        )
    if warm := s.get("warm_submit"):
        md.append(
            f"## 2. Warm submit\n\nOne Python process per client; after 5 warm-up submissions, "
            f"{warm['n']} sequential submissions (latency), then {warm['n']} more by "
            f"{warm['concurrency']} threads (and, for sparkube, {warm['concurrency']} asyncio tasks "
            "on `submit_async`). spark-on-k8s gets a unique `app_id_suffix` per submission (its "
            "default, the time to the second, collides).\n"
        )
        rows = []
        for name, c in warm["clients"].items():
            if "failed" in c:
                rows.append([f"`{name}`", "failed", "", "", "", ""])
                continue
            lat = c["latency_s"]
            rows.append(
                [
                    f"`{name}`",
                    str(lat["n"]),
                    _ms(lat["median"]),
                    _ms(lat["p99"]),
                    _f(c.get("per_s_threads"), 0, "/s"),
                    _f(c.get("per_s_asyncio"), 0, "/s"),
                ]
            )
        md.append(_table(["call", "N", "median", "p99", "8 threads", "8 asyncio tasks"], rows))
        r = warm["clients"].get("sparkube Client.submit", {}).get("render_in_process_us")
        if r:
            md.append(
                f"`sparkube.render(args)` in process (argument parsing, building, conversion to "
                f"Python dicts): median {_f(r['median'])} µs, p99 {_f(r['p99'])} µs over {r['n']} calls.\n"
            )
    if rows := s.get("tracking"):
        md.append(
            "## 3. Tracking N applications\n\n"
            "N driver pods POSTed straight to kubesim (labels `spark-role=driver`, "
            "`spark-app-selector`), with `kubesim.io/run-seconds` set so that none ends during a "
            f"hold window of {results['params']['hold_s']:.0f} s after the waiter is ready, then one "
            f"after another over {results['params']['spread_s']:.0f} s in random order. Each waiter "
            "is a fresh process:\n\n"
            "- **sparkube**: one `Client`, `attach_async` then `wait_async` per app, all in one "
            "asyncio loop (the core's shared watch);\n"
            "- **2 s polling**: `KubernetesPodTrigger`'s way re-implemented with kubernetes_asyncio "
            "(the client it uses): per app, one GET every 2 s until the driver container has "
            "terminated, one asyncio loop, one shared keep-alive client (kinder than the trigger, "
            "whose hook opens a client per poll); each poller starts at a random point of its "
            "first interval;\n"
            "- **spark-on-k8s**: its own async waiter `AsyncSparkAppManager.wait_for_app` (what its "
            "Airflow trigger runs) with its default 10 s interval, one per app in one loop.\n\n"
            "req/s: finished API requests on pods per second (kubesim's `apiserver_request_total`, "
            "the benchmark's own pod creation excluded) over the second half of the hold window "
            "(steady) and over the whole wait; watches: most open at once. Delay: from the moment "
            "an independent reference watch saw the driver container terminated (Kubernetes' "
            "`finishedAt` has one-second precision) to the waiter's wait returning. CPU: the "
            "waiter process while waiting; RSS: its peak.\n"
        )
        md.append(_tracking_table(rows))
    if rows := s.get("triggerer"):
        md.append(
            "## 4. Airflow triggerer\n\n"
            "N `sparkube.airflow.triggers.SparkAppTrigger`s created and `run()` in one asyncio "
            "loop of one process, as Airflow's triggerer runs them, on the `kubernetes_default` "
            "connection (kubesim's kubeconfig), same pods and figures as scenario 3. The "
            "triggerer process imports Airflow; the polling row comes from the same run.\n"
        )
        md.append(_tracking_table(rows))
        tr = next(
            (r for r in rows if r.get("waiter") == "triggerer" and "rss_after_import_mb" in r), None
        )
        if tr:
            md.append(
                f"The triggerer process's RSS right after importing Airflow and sparkube: {_f(tr['rss_after_import_mb'], 0)} MB.\n"
            )
        if steps := s.get("triggerer_memory"):
            md.append(_memory_section(steps))
    if lg := s.get("logs"):
        md.append(
            "## 5. Log streaming into Python\n\n"
            "Finished drivers' whole logs read into Python code line by line, in a fresh process "
            "per reader. kubesim writes a log from the `kubesim.io/log` annotation and has no "
            "generator for large logs; annotations are limited to 256 KiB, so 1,000,000 lines "
            "are 8 logs of 125,000 one-character lines read one after the other (and 20,000 "
            "lines of 100 characters as 8 logs of 2,500).\n"
        )
        rows = []
        for key, data in lg.items():
            for reader, f in data["readers"].items():
                if "failed" in f:
                    rows.append([key, f"`{reader}`", "failed", "", "", ""])
                    continue
                note = []
                if f.get("stopped_at") and f["lines"] == f["stopped_at"] < data["lines"]:
                    note.append(f"stopped after {f['stopped_at']:,} lines")
                if f.get("process_exit_code"):
                    note.append(f"process then aborted (exit code {f['process_exit_code']})")
                rows.append(
                    [
                        f"{data['lines']:,} x {data['line_chars']} chars",
                        f"`{reader}`",
                        f"{f['lines']:,}",
                        _f(f["seconds"], 2, " s"),
                        _f(f["lines_per_s"], 0),
                        "; ".join(note),
                    ]
                )
        md.append(_table(["log", "reader", "lines read", "time", "lines/s", "note"], rows))
    if imp := s.get("imports"):
        md.append(
            "## 6. Import and install cost\n\nEach import in a fresh interpreter; time of the "
            "import statement and the process's peak RSS after it (medians).\n"
        )
        rows = [
            [
                label,
                f"`{v.get('statement', '')}`",
                _f(v.get("import_ms_median"), 0, " ms"),
                _f(v.get("rss_mb_median"), 0, " MB"),
            ]
            for label, v in imp["imports"].items()
        ]
        md.append(_table(["module", "statement", "import time", "peak RSS"], rows))
        w = imp["wheel"]
        md.append(
            "Install size: sparkube's native library is "
            f"{_f(w.get('native_library_installed_mb'))} MB as `cargo build --release` leaves it "
            f"({_f(w.get('native_library_stripped_mb'))} MB stripped); a wheel "
            + (
                f"built in `target/wheels` is {_f(w.get('built_wheel_mb'))} MB"
                if w.get("built_wheel_mb")
                else f"(the package zipped as a wheel is, with the stripped library) is about {_f(w.get('wheel_estimate_mb'))} MB"
            )
            + ". The peers, installed: "
            + ", ".join(
                f"{k} {_f(v)} MB"
                for k, v in imp["installed_mb"].items()
                if isinstance(v, (int, float))
            )
            + ".\n"
        )
    if ks := s.get("kubesim"):
        md.append(_kubesim_section(ks))
    if up := s.get("upload"):
        md.append(upload_section(up))
    if cn := s.get("connect"):
        md.append(connect_section(cn))
    if images:
        md.append("## Plots\n")
        md += [f"![{img}]({img})\n" for img in images]
    return "\n".join(md)


def _tracking_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        if "failed" in r:
            out.append(
                [
                    r["waiter"],
                    f"{r['n']:,}",
                    "failed: " + r["failed"].splitlines()[-1][:120],
                    *[""] * 8,
                ]
            )
            continue
        out.append(
            [
                r["waiter"],
                f"{r['n']:,}",
                f"{r['known']:,}/{r['n']:,}",
                _f(r.get("requests_per_s_steady"), 2),
                _f(r.get("requests_per_s_waiting"), 2),
                _f(r.get("open_watches"), 0),
                _ms(r.get("delay_p50_s")),
                _ms(r.get("delay_p99_s")),
                _f(r.get("cpu_s_waiting"), 2, " s"),
                _f(r.get("max_rss_mb"), 0, " MB"),
                _f(r.get("kubesim_cpu_s"), 2, " s"),
            ]
        )
    header = [
        "waiter",
        "N",
        "known",
        "req/s steady",
        "req/s waiting",
        "watches",
        "delay p50",
        "delay p99",
        "CPU",
        "peak RSS",
        "kubesim CPU",
    ]
    return _table(header, out)


def _kubesim_section(ks: dict[str, Any]) -> str:
    by_client = ks.get("creates_by_client") or [ks["creates"]]
    fans = [ks["fanout"]]
    if (py := ks.get("fanout_python_client")) and py["client"] != ks["fanout"]["client"]:
        fans.append(py)
    f = ks["fanout"]
    creates = _table(
        ["client", "connections", "pods", "created", "creates/s", "p99 per request"],
        [
            [
                r["client"],
                str(r.get("connections", 1)),
                f"{r['requests']:,}",
                f"{r['created']:,}",
                _f(r["creates_per_s"], 0),
                _f((r.get("latency_ms") or {}).get("p99"), 2, " ms"),
            ]
            for r in by_client
        ],
    )
    fanout = _table(
        ["reader", "watches", "deliveries", "p50", "p99", "max", "kubesim CPU delivering"],
        [
            [
                r["client"],
                f"{r['watches']:,}",
                f"{r['deliveries']:,}/{r['expected_deliveries']:,}",
                _f(r["latency_p50_ms"], 1, " ms"),
                _f(r["latency_p99_ms"], 1, " ms"),
                _f(r["latency_max_ms"], 1, " ms"),
                _f(r.get("kubesim_cpu_s_delivering"), 2, " s"),
            ]
            for r in fans
        ],
    )
    return (
        "## 7. kubesim capacity\n\nOn a kubesim of its own. Pod creates, the pods split between "
        "the clients, one client after the other (the load generator is "
        "`rust/kubesim/examples/load.rs`; one-connection clients send one request after the "
        "other, the load generator's connections each do so at the same time):\n\n"
        + creates
        + f"\nRSS {_f(ks['kubesim_rss_mb_empty'], 0)} MB empty, {_f(ks['kubesim_rss_mb_with_pods'], 0)} MB "
        f"with {ks['pods']:,} running pods, {_f(f['kubesim_rss_mb_with_watches'], 0)} MB with "
        f"{f['watches']:,} watches open as well.\n\n"
        f"Watch fan-out: {f['probes']} pods created one at a time (each also brings four MODIFIED "
        "events to every watch), each ADDED event delivered to every watch; latency from sending "
        "the create request to a watch reading the event (an upper bound: the create and the "
        "reader's own delay are in it, and kubesim and the readers share the machine's cores):\n\n"
        + fanout
    )


def _memory_section(steps: list[dict[str, Any]]) -> str:
    """Scenario 4's memory steps: the process's RSS and heaps as waiters are added."""
    done = [m for m in steps if "rows" in m]
    if not done:
        return "Memory steps failed: " + "; ".join(m.get("failed", "")[-300:] for m in steps) + "\n"
    label = {"trigger": "SparkAppTriggers (Airflow imported)", "client": "one Client, wait_async"}
    header = ["waiters"]
    for m in done:
        header += [f"{label.get(m['mode'], m['mode'])}: RSS", "native heap in use"]
    by_n: dict[int, list[str]] = {}
    for col, m in enumerate(done):
        for r in m["rows"]:
            if r["at"] == "start":
                continue
            cells = by_n.setdefault(r["n"], ["-", "-"] * len(done))
            cells[2 * col] = _f(r["rss_mb"], 1, " MB")
            cells[2 * col + 1] = _f(r.get("c_heap_in_use_mb"), 1, " MB")
    rows = [
        [f"{n:,}" + (" (imported)" if n == 0 else ""), *cells] for n, cells in sorted(by_n.items())
    ]
    notes = []
    for m in done:
        waiting = [r for r in m["rows"] if r["at"] == "waiting"]
        if len(waiting) >= 2:
            first, last = waiting[0], waiting[-1]
            per = (last["rss_mb"] - first["rss_mb"]) / (last["n"] - first["n"]) * 1000
            imported = next(r for r in m["rows"] if r["at"] == "imported")
            notes.append(
                f"{label.get(m['mode'], m['mode'])}: the first {first['n']:,} cost "
                f"{_f(first['rss_mb'] - imported['rss_mb'], 0)} MB (runtime threads, the connection "
                f"pool, the shared watch's list of the namespace's {m['n']:,} drivers), every "
                f"further waiter {_f(per, 1)} KB"
            )
    return (
        f"Where the memory goes (`bench/children/memory_steps.py`: waiters added {done[0]['step']:,} "
        "at a time on drivers that do not end; RSS, and the C heap in use from glibc's mallinfo2, "
        "after each step):\n\n" + _table(header, rows) + "\n" + "; ".join(notes) + ".\n"
    )


def upload_section(up: dict[str, Any]) -> str:
    """Scenario 9: uploading local files, first and second submit, peak RSS for a large file."""
    tools = up["tools"]

    def med(key: str, field: str) -> float | None:
        value = tools.get(key, {}).get(field, {}).get("median")
        return float(value) if isinstance(value, (int, float)) else None

    bare = "sparkube, no local files"
    payload = float(up["payload_mb"])
    bare_wall = med(bare, "wall_s")
    bare_rss = med(bare, "max_rss_mb") or 0

    def speed(first: str) -> float | None:
        """The upload's speed: the payload over the first submit's time beyond a bare one."""
        extra = (med(first, "wall_s") or 0) - (bare_wall or 0)
        return payload / extra if extra > 0 else None

    def ratio(a: float | None, b: float | None) -> float:
        return a / b if a and b else 0.0

    rows = [
        [
            f"`{name}`",
            str(t["wall_s"].get("n", 0)),
            _ms(t["wall_s"].get("median")),
            _f(t["cpu_s"].get("median"), 2, " s"),
            _f(t["max_rss_mb"].get("median"), 0, " MB"),
            _f(t["sent_mb"].get("median"), 1, " MiB"),
        ]
        for name, t in tools.items()
    ]
    synced = up["copy_mb_per_s"].get("median")
    cached = up.get("copy_unsynced_mb_per_s", {}).get("median")
    put = up.get("s3_put_mb_per_s", {}).get("median")
    to_file, to_s3 = speed("sparkube, first submit"), speed("sparkube to S3, first submit")
    text = [
        "## 9. Uploading local files\n\n"
        f"An application with a {payload:.1f} MiB payload (a 50 MiB archive, 20 py-files, the "
        "script), each run a fresh process (`submit --no-wait`, spark-submit with "
        "`waitAppCompletion=false` and fast-start JVM flags), to a `file://` upload path (the "
        "only kind the PyPI spark-submit can write: no hadoop-aws) and, for sparkube, to an S3 "
        "server on the loopback (moto in server mode, the tests' server). *sent* is what the "
        "store grew by. The upload's speed is the payload over the first submit's time beyond "
        "a submit without files.\n",
        _table(["command", "N", "median wall", "CPU", "peak RSS", "sent"], rows),
        f"To `file://`: {_f(to_file, 0, ' MiB/s')}; copying the same files on the same disk "
        f"runs at {_f(synced, 0, ' MiB/s')} fsynced (the disk's write speed) and "
        f"{_f(cached, 0, ' MiB/s')} without fsync (the page cache's; sparkube does not fsync, "
        f"nor does Hadoop's `file://`): {_f(ratio(to_file, synced) * 100, 0, ' %')} and "
        f"{_f(ratio(to_file, cached) * 100, 0, ' %')} of them (goal ≥ 80 % of the disk's: "
        f"{_verdict(ratio(to_file, synced) >= 0.8)}). To S3: {_f(to_s3, 0, ' MiB/s')}, where "
        f"the server absorbs {_f(put, 0, ' MiB/s')} from a client that only PUTs: "
        f"{_f(ratio(to_s3, put) * 100, 0, ' %')} of it "
        f"(goal ≥ 80 %: {_verdict(ratio(to_s3, put) >= 0.8)}).",
    ]
    for second in (
        "sparkube, second submit (unchanged)",
        "sparkube to S3, second submit (unchanged)",
    ):
        if second in tools:
            again = ratio(med(second, "wall_s"), bare_wall) or None
            text.append(
                f" `{second}` sends {_f(med(second, 'sent_mb'), 1, ' MiB')} and takes "
                f"{_x(again)} a submit without files (goal 0 bytes and at most twice: "
                f"{_verdict(med(second, 'sent_mb') == 0, (again or 9) <= 2)})."
            )
    for big in (k for k in tools if "GiB" in k):
        rss = med(big, "max_rss_mb") or 0
        text.append(
            f" `{big}`: peak RSS {_f(rss, 0, ' MB')} against {_f(bare_rss, 0, ' MB')} without "
            f"files, the uploader adds {_f(rss - bare_rss, 0, ' MB')} "
            f"(goal ≤ 64 MiB: {_verdict(rss - bare_rss <= 64)})."
        )
    if up.get("failures"):
        text.append("\n\nFailures:\n\n```\n" + "\n".join(up["failures"]) + "\n```")
    return "".join(text[:1]) + "\n" + text[1] + "\n" + "".join(text[2:]) + "\n"


CONNECT_PHASES = {
    "submit": "submit (until the driver pod exists)",
    "pod_start": "pod start (until it runs)",
    "jvm_and_server_start": "JVM and server start (until the Connect port accepts)",
    "port_forward": "port-forward (until `connect()` returns)",
    "first_rpc": "first RPC (a session, `SELECT 1`: mostly Spark's first query)",
    "rpc_new_connection_forward": "later: a new client and `SELECT 1`, through the forward",
    "rpc_new_connection_direct": "later: a new client and `SELECT 1`, direct to the pod",
    "total": "total",
    "sparkube_share": "sparkube's share (submit, pod start, port-forward, forward's RPC overhead)",
}


def connect_section(cn: dict[str, Any]) -> str:
    """Scenario 11: `connect()` to the first result by phase, and the forward's throughput."""
    phases = cn["phases_ms"]
    rows = [
        [label, _f(phases[key].get("median"), 0, " ms"), _f(phases[key].get("min"), 0, " ms")]
        for key, label in CONNECT_PHASES.items()
        if key in phases
    ]
    share = phases.get("sparkube_share", {}).get("median")
    tp = cn["throughput"]
    ratio = tp.get("forward_vs_direct")
    return (
        "## 11. Spark Connect sessions\n\n"
        f"`connect()` to the first query result on kubesim's process runtime (a real Spark "
        f"Connect server, one executor), {cn['runs']} sessions opened one after another; phases "
        "as seen from outside (the driver pod polled every 10 ms, its Connect port probed on "
        "the pod's IP).\n\n"
        + _table(["phase", "median", "min"], rows)
        + f"\nsparkube's share: {_f(share, 0, ' ms')} (goal ≤ 300 ms: {_verdict((share or 1e9) <= 300)}). "
        f"`toPandas()` of {tp['mb']} MB ({tp['rows']} rows, cached on the executor): "
        f"{_f(tp['forward']['mb_per_s'], 1, ' MB/s')} through the port-forward, "
        f"{_f(tp['direct']['mb_per_s'], 1, ' MB/s')} directly to the pod's Connect port: "
        f"{_f((ratio or 0) * 100, 0, ' %')} (goal ≥ 50 %: {_verdict((ratio or 0) >= 0.5)}).\n"
    )
