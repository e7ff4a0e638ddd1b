"""Fault matrix: fifty applications per fault, submitted and followed concurrently through one
`sparkube.Client`, against a kubesim (simulated runtime) that misbehaves in one way per case.

Every case checks what someone waiting on those applications relies on:

- each submission made exactly one driver pod (counted by its `sparkube.io/submission-id`
  label, and by kubesim's count of created pods);
- each application's final state is the right one (a mix of drivers exiting 0 and 3 through
  kubesim's `kubesim.io/exit-code` annotation, plus the drivers a case evicts or deletes), and
  its `updates` stream delivers it exactly once, last;
- deleting the applications leaves no pod, service, config map or network policy behind;
- the case ends within `CASE_LIMIT` seconds (no hang).

tests/reliability/README.md has the table of faults and the outcome each case observes.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

import sparkube
from sparkube import AppState, AppStatus, Client, Driver, SparkApp, SparkAppHandle
from tests.conftest import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from tests.conftest import Kubesim

IMAGE = "apache/spark:4.0.1"
NAMESPACE = "fault-matrix"
APPS = 50
CASE_LIMIT = 60.0
"""Seconds one case may take from the first submission to the last final state."""
CLEANUP_LIMIT = 30.0
"""Seconds deleting a case's applications may take."""
NODE_FLAGS = ("--node-cpu", "64", "--node-memory", "128Gi")
"""Room for fifty default drivers (1 CPU, 1433Mi each) on kubesim's one node."""

pytestmark = pytest.mark.timeout(CASE_LIMIT + CLEANUP_LIMIT + 30)


@dataclass(frozen=True)
class Expect:
    """The final status an application must end with."""

    state: AppState
    reason: str
    exit_code: int | None = None


SUCCEEDS = Expect(AppState.SUCCEEDED, "Completed", 0)
FAILS = Expect(AppState.FAILED, "Error", 3)
EVICTED = Expect(AppState.FAILED, "Evicted")
DELETED = Expect(AppState.DELETED, "Deleted")


@dataclass
class Outcome:
    """One application of a case: what was planned and what sparkube reported."""

    index: int
    spec: SparkApp
    expect: Expect
    victim: bool = False
    """Whether the case's chaos acts on this application's driver itself."""
    handle: SparkAppHandle | None = None
    submit_error: sparkube.SparkubeError | None = None
    final: AppStatus | None = None
    """The status `wait_async` returned (or the one its `AppFailed` carried)."""
    wait_error: sparkube.SparkubeError | None = None
    updates: list[AppStatus] = field(default_factory=list)

    @property
    def submission_id(self) -> str:
        return str(self.spec.submission_id)


def spark_app(i: int, *, run_seconds: str, exit_code: int, namespace: str = NAMESPACE) -> SparkApp:
    """A Python app whose simulated driver runs `run_seconds` and exits with `exit_code`."""
    return SparkApp(
        name=f"fm-{i}",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        image=IMAGE,
        namespace=namespace,
        submission_id=str(uuid.uuid4()),
        driver=Driver(
            annotations={
                "kubesim.io/run-seconds": run_seconds,
                "kubesim.io/exit-code": str(exit_code),
            }
        ),
    )


def plan(
    *,
    run_seconds: Callable[[int], float] = lambda i: 1 + i % 3,
    victims: Expect | None = None,
) -> list[Outcome]:
    """Fifty apps: every fifth exits 3, the rest 0; with `victims`, every tenth runs until the
    case's chaos ends it and must then end as `victims` says."""
    out = []
    for i in range(APPS):
        victim = victims is not None and i % 10 == 0
        expect = victims if victims and victim else FAILS if i % 5 == 1 else SUCCEEDS
        seconds = "inf" if victim else f"{run_seconds(i):g}"
        code = 3 if expect is FAILS else 0
        out.append(
            Outcome(i, spark_app(i, run_seconds=seconds, exit_code=code), expect, victim=victim)
        )
    return out


@dataclass
class Run:
    """A case in progress, as the chaos coroutine sees it."""

    ks: Kubesim
    outcomes: list[Outcome]
    tracked: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every wait has returned."""

    def handles(self, *, victims: bool | None = None) -> list[SparkAppHandle]:
        return [
            o.handle
            for o in self.outcomes
            if o.handle is not None and (victims is None or o.victim == victims)
        ]

    async def tracked_within(self, seconds: float) -> bool:
        """Sleeps up to `seconds`; True when every wait has returned meanwhile."""
        try:
            await asyncio.wait_for(self.tracked.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A request to kubesim from a worker thread (the helper blocks)."""
        return await asyncio.to_thread(self.ks.request, method, path, body)


def setup(ks: Kubesim, *namespaces: str) -> Client:
    for ns in (NAMESPACE, *namespaces):
        status, body = ks.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        assert status == 201, body
    return Client(kubeconfig=ks.kubeconfig, namespace=NAMESPACE)


async def follow(o: Outcome) -> None:
    """Waits for the app and collects its status stream, side by side."""
    assert o.handle is not None
    handle = o.handle

    async def wait() -> None:
        try:
            o.final = await handle.wait_async(timeout=CASE_LIMIT)
        except sparkube.AppFailed as failed:
            o.final = failed.status
        except sparkube.SparkubeError as err:
            o.wait_error = err

    async def collect() -> None:
        async for status in handle.updates_async():
            o.updates.append(status)

    await asyncio.gather(wait(), collect())


def run_case(
    ks: Kubesim,
    client: Client,
    outcomes: list[Outcome],
    chaos: Callable[[Run], Coroutine[Any, Any, None]] | None = None,
) -> Run:
    """Submits every app at once, follows them all while `chaos` runs, within `CASE_LIMIT`."""

    async def submit(o: Outcome) -> None:
        try:
            o.handle = await client.submit_async(o.spec)
        except sparkube.SparkubeError as err:
            o.submit_error = err

    async def main() -> Run:
        run = Run(ks, outcomes)
        await asyncio.gather(*(submit(o) for o in outcomes))
        chaos_task = asyncio.create_task(chaos(run)) if chaos else None
        try:
            await asyncio.gather(*(follow(o) for o in outcomes if o.handle is not None))
        finally:
            run.tracked.set()
            if chaos_task is not None:
                await chaos_task
        return run

    started = time.monotonic()
    run = asyncio.run(asyncio.wait_for(main(), CASE_LIMIT))
    elapsed = time.monotonic() - started
    assert elapsed < CASE_LIMIT, f"the case took {elapsed:.1f} s"
    return run


def applied(ks: Kubesim, fault: int) -> int:
    """How many requests fault rule `fault` has hit so far."""
    status, rules = ks.request("GET", "/kubesim/faults")
    assert status == 200, rules
    return sum(int(r["applied"]) for r in rules if r["id"] == fault)


def unfinished(run: Run) -> int:
    """Applications whose final status has not been delivered yet."""
    return sum(1 for o in run.outcomes if not any(s.is_final for s in o.updates))


def driver_pods(ks: Kubesim, namespace: str = NAMESPACE) -> Counter[str]:
    """Driver pods in `namespace` by submission id."""
    status, pods = ks.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=spark-role%3Ddriver"
    )
    assert status == 200, pods
    return Counter(
        p["metadata"].get("labels", {}).get("sparkube.io/submission-id", "") for p in pods["items"]
    )


def leftovers(ks: Kubesim, namespace: str = NAMESPACE) -> dict[str, list[str]]:
    """What is still in `namespace` besides kube-root-ca.crt."""
    paths = {
        "pods": f"/api/v1/namespaces/{namespace}/pods",
        "services": f"/api/v1/namespaces/{namespace}/services",
        "configmaps": f"/api/v1/namespaces/{namespace}/configmaps",
        "networkpolicies": f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
    }
    out: dict[str, list[str]] = {}
    for kind, path in paths.items():
        status, listing = ks.request("GET", path)
        assert status == 200, listing
        names = [i["metadata"]["name"] for i in listing["items"]]
        names = [n for n in names if n != "kube-root-ca.crt"]
        if names:
            out[kind] = names
    return out


def delete_all(run: Run) -> None:
    """Deletes every submitted app and waits until what it owns is gone."""

    async def main() -> None:
        await asyncio.gather(*(h.kill_async(grace_period=0, wait=True) for h in run.handles()))

    asyncio.run(asyncio.wait_for(main(), CLEANUP_LIMIT))


def inject(ks: Kubesim, *faults: dict[str, Any]) -> list[int]:
    """Adds fault rules; returns their ids."""
    return [ks.fault(**spec) for spec in faults]


def check(
    run: Run,
    *,
    faults: tuple[dict[str, Any], ...] = (),
    created_pods: int | None = None,
    namespaces: tuple[str, ...] = (),
) -> None:
    """The checks every case shares. The API is inspected with the case's `faults` cleared;
    they are back while the apps are deleted."""
    submitted = [o for o in run.outcomes if o.handle is not None]
    for o in run.outcomes:
        assert o.submit_error is None, f"app {o.index}: submit failed: {o.submit_error!r}"
    run.ks.clear_faults()
    # Exactly one driver pod per submission (victims' drivers are gone by now).
    pods = driver_pods(run.ks)
    expected = {o.submission_id: 0 if o.victim else 1 for o in submitted}
    assert {sid: pods.get(sid, 0) for sid in expected} == expected
    assert sum(pods.values()) == sum(expected.values()), f"unexpected driver pods: {pods}"
    if created_pods is not None:
        created = run.ks.metric(
            "apiserver_request_total",
            verb="POST",
            resource="pods",
            subresource="",
            code="201",
            dry_run="",
        )
        assert created == created_pods, "driver pods created"
    for o in submitted:
        assert o.handle is not None
        assert o.handle.submission_id == o.submission_id
        assert o.wait_error is None, f"app {o.index}: wait failed: {o.wait_error!r}"
        final = o.final
        assert final is not None, f"app {o.index}: no final status"
        exit_code = final.exit_code if o.expect.exit_code is not None else None
        got = (final.state, final.reason, exit_code)
        want = (o.expect.state, o.expect.reason, o.expect.exit_code)
        assert got == want, f"app {o.index} ({o.handle.driver_pod}): {final}"
        # Delivered once: one final status in the stream, the last one, the same as wait's.
        finals = [s for s in o.updates if s.is_final]
        assert len(finals) == 1, f"app {o.index}: {[str(s) for s in o.updates]}"
        assert o.updates[-1] is finals[0]
        assert finals[0].state is final.state, f"app {o.index}: {finals[0]} vs {final}"
    inject(run.ks, *faults)
    delete_all(run)
    run.ks.clear_faults()
    for ns in (NAMESPACE, *namespaces):
        assert leftovers(run.ks, ns) == {}, f"left behind in {ns}"


def started(factory: Callable[..., Kubesim], *args: str) -> Kubesim:
    return factory(*NODE_FLAGS, *args)


# --- faults on submission ------------------------------------------------------------------


def test_500_on_pod_create(kubesim_factory: Callable[..., Kubesim]) -> None:
    """The first 100 pod creates answer 500: every app's create fails about twice."""
    ks = started(kubesim_factory)
    client = setup(ks)
    fault = {"verb": "create", "resource": "pods", "status": 500, "count": 2 * APPS}
    inject(ks, fault)
    run = run_case(ks, client, plan())
    failed = ks.metric("apiserver_request_total", verb="POST", resource="pods", code="500")
    assert failed == 2 * APPS
    check(run, faults=(fault,), created_pods=APPS)


def test_429_with_retry_after_on_every_third_request(
    kubesim_factory: Callable[..., Kubesim],
) -> None:
    ks = started(kubesim_factory)
    client = setup(ks)
    fault = {"status": 429, "retry_after": 1, "every": 3}
    (rule,) = inject(ks, fault)
    run = run_case(ks, client, plan())
    assert applied(ks, rule) > APPS
    check(run, faults=(fault,), created_pods=APPS)


def test_503_on_the_service_apply(kubesim_factory: Callable[..., Kubesim]) -> None:
    """Half the service applies of `fault-matrix` answer 503 once and are retried; in
    `fault-matrix-down` they always do: those submissions fail with the 503 and delete the
    driver pod they had created."""
    down = "fault-matrix-down"
    ks = started(kubesim_factory)
    client = setup(ks, down)
    service_apply = {"verb": "APPLY", "resource": "services", "status": 503}
    faults = (
        {**service_apply, "namespace": NAMESPACE, "count": APPS // 2},
        {**service_apply, "namespace": down},
    )
    _, always = inject(ks, *faults)
    refused = [
        Outcome(100 + i, spark_app(100 + i, run_seconds="1", exit_code=0, namespace=down), SUCCEEDS)
        for i in range(3)
    ]
    run = run_case(ks, client, [*plan(), *refused])
    assert applied(ks, always) > len(refused), "a 503 on the service apply was not retried"
    for o in refused:
        err = o.submit_error
        assert isinstance(err, sparkube.KubernetesApiError), repr(err)
        assert err.status == 503
        assert "failed to apply Service" in str(err), str(err)
        o.submit_error = None
    assert driver_pods(ks, down) == Counter()
    check(run, faults=faults, created_pods=APPS + len(refused), namespaces=(down,))


def test_quota_with_room_for_forty_drivers(kubesim_factory: Callable[..., Kubesim]) -> None:
    """A ResourceQuota of 40 CPU (each driver asks 1) while 50 apps are submitted at once: a
    preflight of one app passes, 40 drivers are admitted and run to their end, 10 submissions
    fail with the API's 403 "exceeded quota" (not retried, nothing left behind), and the quota's
    usage is back to 0 once the apps have ended."""
    ks = started(kubesim_factory)
    client = setup(ks)
    quota = {"metadata": {"name": "fault-quota"}, "spec": {"hard": {"requests.cpu": "40"}}}
    status, body = ks.request("POST", f"/api/v1/namespaces/{NAMESPACE}/resourcequotas", quota)
    assert status == 201, body
    # The drivers run 10-12 s, past the last submission: none frees its CPU before then.
    outcomes = plan(run_seconds=lambda i: 10 + i % 3)
    report = client.preflight(outcomes[0].spec)
    assert report.passed, str(report)
    run = run_case(ks, client, outcomes)
    refused = [o for o in run.outcomes if o.submit_error is not None]
    assert len(refused) == APPS - 40
    for o in refused:
        err = o.submit_error
        assert isinstance(err, sparkube.KubernetesApiError), repr(err)
        assert (err.status, err.reason) == (403, "Forbidden")
        assert (
            "is forbidden: exceeded quota: fault-quota, requested: requests.cpu=1, "
            "used: requests.cpu=40, limited: requests.cpu=40"
        ) in str(err), str(err)
        o.submit_error = None
    refusals = ks.metric("apiserver_request_total", verb="POST", resource="pods", code="403")
    assert refusals == len(refused), "a quota refusal was retried"

    def used() -> str:
        _, q = ks.request("GET", f"/api/v1/namespaces/{NAMESPACE}/resourcequotas/fault-quota")
        return str(q["status"]["used"]["requests.cpu"])

    # Ended drivers are not charged (their pods remain until deleted).
    wait_until("the quota's usage back to 0", lambda: used() == "0", timeout=10)
    check(run, created_pods=40)
    assert used() == "0"


def test_two_seconds_of_latency_on_every_request(
    kubesim_factory: Callable[..., Kubesim],
) -> None:
    ks = started(kubesim_factory)
    client = setup(ks)
    fault = {"delay_ms": 2000}
    (rule,) = inject(ks, fault)
    run = run_case(ks, client, plan())
    assert applied(ks, rule) > 4 * APPS
    check(run, faults=(fault,), created_pods=APPS)


def test_connection_resets(kubesim_factory: Callable[..., Kubesim]) -> None:
    """Every fourth request (watches and log reads too) loses its connection unanswered."""
    ks = started(kubesim_factory)
    client = setup(ks)
    fault = {"reset": True, "every": 4}
    (rule,) = inject(ks, fault)
    run = run_case(ks, client, plan())
    assert applied(ks, rule) > APPS
    check(run, faults=(fault,), created_pods=APPS)


# --- faults while following ----------------------------------------------------------------


def long_runs(i: int) -> float:
    """Run times that outlast the chaos's first strikes."""
    return 3 + i % 4


def test_watches_dropped_every_300_ms(kubesim_factory: Callable[..., Kubesim]) -> None:
    ks = started(kubesim_factory)
    client = setup(ks)

    drops = []

    async def chaos(run: Run) -> None:
        while not await run.tracked_within(0.3):
            await asyncio.to_thread(run.ks.drop_watches)
            drops.append(unfinished(run))

    run = run_case(ks, client, plan(run_seconds=long_runs), chaos)
    assert len([d for d in drops if d > 0]) >= 5, drops
    check(run, created_pods=APPS)


def test_compaction_mid_watch(kubesim_factory: Callable[..., Kubesim]) -> None:
    """The history is compacted and open watches end with 410 Gone, three times."""
    ks = started(kubesim_factory)
    client = setup(ks)
    relists_before = ks.metric("apiserver_request_total", verb="LIST", resource="pods")

    compactions = []

    async def chaos(run: Run) -> None:
        for _ in range(3):
            if await run.tracked_within(1.2):
                return
            await asyncio.to_thread(run.ks.compact)
            compactions.append(unfinished(run))

    run = run_case(ks, client, plan(run_seconds=long_runs), chaos)
    assert len([c for c in compactions if c > 0]) >= 2, compactions
    relists = ks.metric("apiserver_request_total", verb="LIST", resource="pods") - relists_before
    assert relists >= 2, "compaction forced no re-list"
    check(run, created_pods=APPS)


def test_api_server_killed_and_restarted(
    kubesim_factory: Callable[..., Kubesim], tmp_path: Any
) -> None:
    """kubesim is SIGKILLed while the apps run and comes back on the same address from its
    `--state-dir` a second later."""
    state = str(tmp_path / "state")
    ks = started(kubesim_factory, "--state-dir", state)
    client = setup(ks)
    address = ks.url.removeprefix("http://")
    running_at_crash = []

    async def chaos(run: Run) -> None:
        await asyncio.sleep(1.0)
        running_at_crash.append(unfinished(run))
        await asyncio.to_thread(run.ks.stop, signal.SIGKILL)
        await asyncio.sleep(1.0)
        run.ks = await asyncio.to_thread(
            started,
            lambda *a: kubesim_factory(*a, directory=ks.kubeconfig.parent),
            "--state-dir",
            state,
            "--listen",
            address,
        )
        assert run.ks.url == ks.url

    run = run_case(ks, client, plan(run_seconds=long_runs), chaos)
    assert run.ks is not ks, "kubesim was not restarted"
    assert running_at_crash[0] >= APPS // 2, "most apps had finished before the crash"
    check(run)


# --- faults on the drivers -----------------------------------------------------------------


async def victims_running(run: Run) -> list[SparkAppHandle]:
    """The victims' handles, once each of their drivers runs."""
    victims = run.handles(victims=True)
    for handle in victims:
        while (await handle.status_async()).state is not AppState.RUNNING:
            await asyncio.sleep(0.1)
    return victims


def test_drivers_evicted(kubesim_factory: Callable[..., Kubesim]) -> None:
    """Five running drivers are evicted through the Eviction API: those apps failed."""
    ks = started(kubesim_factory)
    client = setup(ks)

    async def chaos(run: Run) -> None:
        for handle in await victims_running(run):
            status, body = await run.api(
                "POST",
                f"/api/v1/namespaces/{NAMESPACE}/pods/{handle.driver_pod}/eviction",
                {
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": handle.driver_pod, "namespace": NAMESPACE},
                },
            )
            assert status == 201, body

    run = run_case(ks, client, plan(victims=EVICTED), chaos)
    check(run, created_pods=APPS)


def test_drivers_deleted_from_outside(kubesim_factory: Callable[..., Kubesim]) -> None:
    """Five running drivers are deleted (as `kubectl delete pod` does): those apps are Deleted,
    not Succeeded."""
    ks = started(kubesim_factory)
    client = setup(ks)

    async def chaos(run: Run) -> None:
        for handle in await victims_running(run):
            status, body = await run.api(
                "DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{handle.driver_pod}"
            )
            assert status == 200, body

    run = run_case(ks, client, plan(victims=DELETED), chaos)
    check(run, created_pods=APPS)


def test_node_lost_and_recovered(kubesim_factory: Callable[..., Kubesim]) -> None:
    """The node stops reporting while every driver runs: every app is Unknown, nothing is
    final, waits go on; once the node is back every app ends as its driver did."""
    ks = started(kubesim_factory)
    client = setup(ks)
    unknown: list[AppStatus] = []

    async def chaos(run: Run) -> None:
        handles = run.handles()
        for handle in handles:
            while (await handle.status_async()).state is not AppState.RUNNING:
                await asyncio.sleep(0.1)
        node = (await handles[0].status_async()).node
        assert node
        await asyncio.to_thread(run.ks.fail_node, node)
        try:
            for handle in handles:
                while (status := await handle.status_async()).state is not AppState.UNKNOWN:
                    await asyncio.sleep(0.1)
                unknown.append(status)
            assert not await run.tracked_within(2.0), "a wait ended while the node was lost"
            assert not any(s.is_final for o in run.outcomes for s in o.updates)
        finally:
            await asyncio.to_thread(run.ks.recover_node, node)

    run = run_case(ks, client, plan(run_seconds=lambda i: 4 + i % 3), chaos)
    assert len(unknown) == APPS
    assert {(s.state, s.reason) for s in unknown} == {(AppState.UNKNOWN, "NodeLost")}
    for o in run.outcomes:
        assert any(s.state is AppState.UNKNOWN for s in o.updates), f"app {o.index}"
    check(run, created_pods=APPS)
