"""Bad input, table-driven: every invalid input given to the command line, the Python API and the
Airflow operator gives one clear error naming the offending option or problem, the documented
exit code (2 bad input, 1 failure) or exception class with its structured fields, and leaves
no object behind (checked through kubesim's API and its request counters).

tests/reliability/README.md ("Bad input") has the table; tests/python/test_cli.py and
test_client.py cover a few of these rows for one surface each.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import sparkube
from sparkube import Client, Deps, Driver, Executor, SparkApp, Volume
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, Kubesim, S3Server, start_kubesim

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
IMAGE = "apache/spark:4.0.1"
PI = "local:///opt/spark/examples/src/main/python/pi.py"
NAMESPACE = "bad-input"
LOCKED = "locked"
"""A namespace the `powerless` service account of `LOCKED` may do nothing in (403)."""
MISSING = "no-such-namespace"
"""A namespace that does not exist (404)."""
EXIT_USAGE, EXIT_FAILED = 2, 1
WRITES = ("POST", "PUT", "PATCH", "APPLY", "DELETE")
KINDS = (
    "api/v1/namespaces/{ns}/pods",
    "api/v1/namespaces/{ns}/services",
    "api/v1/namespaces/{ns}/configmaps",
    "api/v1/namespaces/{ns}/secrets",
    "api/v1/namespaces/{ns}/persistentvolumeclaims",
    "apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
)
AIRFLOW_TESTS = Path(__file__).resolve().parents[1] / "airflow"

MALFORMED_TEMPLATE = "apiVersion: v1\nkind: Pod\nspec: [\n"
UNREADABLE = "/proc/sys/vm/drop_caches"
"""A file no one may read (mode 0200, and proc checks the mode for root too)."""


@dataclass
class Cluster:
    """kubesim with RBAC, the namespaces of the table, and kubeconfigs for each case."""

    sim: Kubesim
    dir: Path
    template: Path

    def kubeconfig(self, name: str, *, server: str | None = None, token: str | None = None) -> Path:
        config = yaml.safe_load(self.sim.kubeconfig.read_text())
        if server is not None:
            config["clusters"][0]["cluster"]["server"] = server
        if token is not None:
            config["users"][0]["user"]["token"] = token
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def objects(self, namespace: str) -> list[str]:
        """Every object of the kinds a submission creates (but the API's own CA ConfigMap)."""
        found: list[str] = []
        for kind in KINDS:
            status, body = self.sim.request("GET", "/" + kind.format(ns=namespace))
            assert status in (200, 404), body
            items = body.get("items", []) if status == 200 else []
            found += [
                f"{kind.rsplit('/', 1)[1]}/{item['metadata']['name']}"
                for item in items
                if item["metadata"]["name"] != "kube-root-ca.crt"
            ]
        return found

    def writes(self) -> float:
        """How many write requests kubesim has served (any answer)."""
        return sum(self.sim.metric("apiserver_request_total", verb=verb) for verb in WRITES)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("bad-input")
    sim = start_kubesim(directory / "sim", "--rbac")
    try:
        for namespace in (NAMESPACE, LOCKED):
            status, body = sim.request(
                "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}}
            )
            assert status == 201, body
        status, body = sim.request(
            "POST",
            f"/api/v1/namespaces/{LOCKED}/serviceaccounts",
            {"metadata": {"name": "powerless"}},
        )
        assert status == 201, body
        template = directory / "malformed-pod.yaml"
        template.write_text(MALFORMED_TEMPLATE)
        # Local files over what one submission carries in a ConfigMap.
        (directory / "big.zip").write_bytes(b"\0" * (1024 * 1024 + 1))
        yield Cluster(sim=sim, dir=directory, template=template)
    finally:
        sim.stop()


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One invalid input, as each surface takes it (None: the surface has no such input).

    `option` is what the error must name (and `ConfigError.option` for the Python API, or
    `py_option` where the typed spec names its field instead of a Spark conf key).
    """

    id: str
    option: str
    problem: str
    cli: list[str] | None
    python: dict[str, Any] | None
    operator: dict[str, Any] | None
    py_option: str | None = None
    py_problem: str | None = None
    names: str | None = None
    """What every message must name, when not `option` (or `py_option` for the typed forms)."""


def conf(key: str, value: str) -> list[str]:
    return ["--conf", f"{key}={value}"]


def CASES(template: Path) -> list[Case]:
    volume = "spark.kubernetes.driver.volumes.emptyDir.data"
    return [
        Case(
            "memory '2 GB'",
            "spark.driver.memory",
            "Driver memory must be a positive number",
            conf("spark.driver.memory", "2 GB"),
            {"driver": Driver(memory="2 GB")},
            {"driver_memory": "2 GB"},
        ),
        Case(
            "cores -1",
            "spark.driver.cores",
            "must be a positive number",
            conf("spark.driver.cores", "-1"),
            {"driver": Driver(cores=-1)},
            {"driver_cores": -1},
            py_option="driver.cores",
        ),
        Case(
            "instances 'x'",
            "spark.executor.instances",
            'Number of executors must be a positive number (spark.executor.instances = "x")',
            conf("spark.executor.instances", "x"),
            {"executor": Executor(instances="x")},
            {"executor_instances": "x"},
            py_option="executor.instances",
            py_problem="executor.instances must be an integer, not 'x'",
        ),
        Case(
            "app name that sanitises to nothing",
            "spark.app.name",
            "has no letter or digit",
            ["--name", "!!!"],
            {"name": "!!!"},
            {"name": "!!!"},
        ),
        Case(
            "driver pod name not DNS-1123",
            "spark.kubernetes.driver.pod.name",
            "is not a valid pod name",
            conf("spark.kubernetes.driver.pod.name", "Bad_Name"),
            {"conf": {"spark.kubernetes.driver.pod.name": "Bad_Name"}},
            {"conf": {"spark.kubernetes.driver.pod.name": "Bad_Name"}},
        ),
        Case(
            "CPU limit not a quantity",
            "spark.kubernetes.driver.limit.cores",
            "is not a Kubernetes quantity",
            conf("spark.kubernetes.driver.limit.cores", "two"),
            {"conf": {"spark.kubernetes.driver.limit.cores": "two"}},
            {"conf": {"spark.kubernetes.driver.limit.cores": "two"}},
        ),
        Case(
            "GPU without a vendor",
            "spark.driver.resource.gpu.vendor",
            "vendor was not specified",
            conf("spark.driver.resource.gpu.amount", "1"),
            {"conf": {"spark.driver.resource.gpu.amount": "1"}},
            {"conf": {"spark.driver.resource.gpu.amount": "1"}},
        ),
        Case(
            "volume without mount.path",
            f"{volume}.mount.path",
            "must be set for the emptyDir volume data",
            conf(f"{volume}.options.medium", "Memory"),
            {"driver": Driver(volumes=[Volume.empty_dir("data", "")])},
            {"volumes": [Volume.empty_dir("data", "")]},
            names="volumes.emptyDir.data.mount.path",  # the operator's volumes are both roles'
        ),
        Case(
            "volume of an unknown type",
            "spark.kubernetes.driver.volumes.tmpfs.data.mount.path",
            "Kubernetes Volume type `tmpfs` is not supported",
            conf("spark.kubernetes.driver.volumes.tmpfs.data.mount.path", "/data"),
            {"conf": {"spark.kubernetes.driver.volumes.tmpfs.data.mount.path": "/data"}},
            {"conf": {"spark.kubernetes.driver.volumes.tmpfs.data.mount.path": "/data"}},
            names="spark.kubernetes.driver.volumes.tmpfs.data.*",
        ),
        Case(
            "pod template file missing",
            "spark.kubernetes.driver.podTemplateFile",
            "could not read pod template /nonexistent/pod.yaml",
            conf("spark.kubernetes.driver.podTemplateFile", "/nonexistent/pod.yaml"),
            {"conf": {"spark.kubernetes.driver.podTemplateFile": "/nonexistent/pod.yaml"}},
            {"conf": {"spark.kubernetes.driver.podTemplateFile": "/nonexistent/pod.yaml"}},
        ),
        Case(
            "pod template file malformed",
            "spark.kubernetes.driver.podTemplateFile",
            f"Could not load pod from template file {template}",
            conf("spark.kubernetes.driver.podTemplateFile", str(template)),
            {"conf": {"spark.kubernetes.driver.podTemplateFile": str(template)}},
            {"conf": {"spark.kubernetes.driver.podTemplateFile": str(template)}},
        ),
        Case(
            "inline pod template malformed",
            "driver.pod_template",
            "Could not load pod from template driver.pod_template",
            None,
            {"driver": Driver(pod_template={"spec": {"containers": 3}})},
            {"driver_pod_template": {"spec": {"containers": 3}}},
        ),
        Case(
            "local py-file missing",
            "--py-files",
            "could not read local file /nonexistent/lib.zip given by --py-files",
            ["--py-files", "/nonexistent/lib.zip"],
            {"deps": Deps(py_files=["/nonexistent/lib.zip"])},
            {"dependencies": Deps(py_files=["/nonexistent/lib.zip"])},
            py_option="deps.py_files",
            py_problem="could not read local file /nonexistent/lib.zip given by deps.py_files",
        ),
        Case(
            "local file that is a directory",
            "--files",
            f"--files: {template.parent} is a directory",
            ["--files", str(template.parent)],
            {"deps": Deps(files=[str(template.parent)])},
            {"dependencies": Deps(files=[str(template.parent)])},
            py_option="deps.files",
            py_problem=f"deps.files: {template.parent} is a directory",
        ),
        Case(
            # Write-only for every user, root included (the suite often runs as root, for
            # whom a chmod 000 file is still readable).
            "local file unreadable",
            "--files",
            f"could not read local file {UNREADABLE} given by --files: Permission denied",
            ["--files", UNREADABLE],
            {"deps": Deps(files=[UNREADABLE])},
            {"dependencies": Deps(files=[UNREADABLE])},
            py_option="deps.files",
            py_problem=f"could not read local file {UNREADABLE} given by deps.files",
        ),
        Case(
            "local files over the ConfigMap limit",
            "--py-files",
            "the local files of this submission take 1025 KiB, more than the 1024 KiB",
            ["--py-files", str(template.parent / "big.zip")],
            {"deps": Deps(py_files=[str(template.parent / "big.zip")])},
            {"dependencies": Deps(py_files=[str(template.parent / "big.zip")])},
            py_option="deps.py_files",
        ),
        Case(
            "driver feature step (a JVM class)",
            "spark.kubernetes.driver.pod.featureSteps",
            "sparkube cannot run a JVM class",
            conf("spark.kubernetes.driver.pod.featureSteps", "org.example.Step"),
            {"conf": {"spark.kubernetes.driver.pod.featureSteps": "org.example.Step"}},
            {"conf": {"spark.kubernetes.driver.pod.featureSteps": "org.example.Step"}},
        ),
        Case(
            "Kerberos keytab login",
            "spark.kerberos.keytab",
            "spark-submit would log in with a keytab on this machine",
            conf("spark.kerberos.keytab", "/etc/user.keytab"),
            {"conf": {"spark.kerberos.keytab": "/etc/user.keytab"}},
            {"conf": {"spark.kerberos.keytab": "/etc/user.keytab"}},
        ),
        Case(
            "Kerberos token Secret without its item key",
            "spark.kubernetes.kerberos.tokenSecret.name",
            "you must also specify the item-key where the data is stored",
            conf("spark.kubernetes.kerberos.tokenSecret.name", "tokens"),
            {"conf": {"spark.kubernetes.kerberos.tokenSecret.name": "tokens"}},
            {"conf": {"spark.kubernetes.kerberos.tokenSecret.name": "tokens"}},
        ),
        Case(
            "upload path of an unknown scheme",
            "spark.kubernetes.file.upload.path",
            "sparkube cannot upload to hdfs://nn/up (scheme hdfs://)",
            [
                *conf("spark.kubernetes.file.upload.path", "hdfs://nn/up"),
                "--py-files",
                str(template),
            ],
            {
                "deps": Deps(py_files=[str(template)]),
                "conf": {"spark.kubernetes.file.upload.path": "hdfs://nn/up"},
            },
            {
                "dependencies": Deps(py_files=[str(template)]),
                "conf": {"spark.kubernetes.file.upload.path": "hdfs://nn/up"},
            },
        ),
        Case(
            "namespace not DNS-1123",
            "spark.kubernetes.namespace",
            "is not a valid namespace name",
            conf("spark.kubernetes.namespace", "Bad_NS"),
            {"namespace": "Bad_NS"},
            {"namespace": "Bad_NS"},
        ),
    ]


CASE_IDS = [c.id for c in CASES(Path("/t"))]
CLI_CASE_IDS = [c.id for c in CASES(Path("/t")) if c.cli is not None]


def case_named(cluster: Cluster, name: str) -> Case:
    return next(c for c in CASES(cluster.template) if c.id == name)


def app(**overrides: Any) -> SparkApp:
    spec: dict[str, Any] = {
        "name": "bad-input",
        "application": PI,
        "image": IMAGE,
        "namespace": NAMESPACE,
        **overrides,
    }
    return SparkApp(**spec)


def submit_args(*extra: str, namespace: str = NAMESPACE) -> list[str]:
    return [
        "--name",
        "bad-input",
        *conf("spark.kubernetes.container.image", IMAGE),
        *conf("spark.kubernetes.namespace", namespace),
        *extra,
        PI,
    ]


def run(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [SPARKUBE, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def one_line(message: str, problem: str) -> None:
    """One line, saying `problem` once."""
    assert len(message.strip().splitlines()) == 1, message
    assert message.count(problem) == 1, message


@pytest.fixture
def nothing_created(cluster: Cluster) -> Iterator[None]:
    """The test leaves no object in the namespaces of the table, and sends no write request
    (the API-error cases check their own writes)."""
    before = {ns: cluster.objects(ns) for ns in (NAMESPACE, LOCKED, MISSING)}
    yield
    assert {ns: cluster.objects(ns) for ns in (NAMESPACE, LOCKED, MISSING)} == before


# -- bad application input: CLI, Python API, operator --------------------------------------


@pytest.mark.parametrize("name", CLI_CASE_IDS)
@pytest.mark.usefixtures("nothing_created")
def test_cli_refuses_bad_input_with_exit_2(cluster: Cluster, name: str) -> None:
    case = case_named(cluster, name)
    assert case.cli is not None
    writes = cluster.writes()
    for command in (["submit"], ["render"], ["submit", "--no-wait"]):
        result = run(*command, *submit_args(*case.cli), kubeconfig=cluster.sim.kubeconfig)
        assert result.returncode == EXIT_USAGE, (command, result.stderr)
        assert result.stderr.startswith("sparkube: error: "), result.stderr
        assert (case.names or case.option) in result.stderr, result.stderr
        one_line(result.stderr, case.problem)
        assert result.stdout == ""
    assert cluster.writes() == writes


@pytest.mark.parametrize("name", CASE_IDS)
@pytest.mark.usefixtures("nothing_created")
def test_python_api_raises_config_error_naming_the_option(cluster: Cluster, name: str) -> None:
    case = case_named(cluster, name)
    assert case.python is not None
    writes = cluster.writes()
    client = Client(kubeconfig=cluster.sim.kubeconfig)
    for attempt in (
        lambda: client.submit(app(**case.python)),
        lambda: sparkube.render(app(**case.python)),
    ):
        with pytest.raises(sparkube.ConfigError) as raised:
            attempt()
        assert raised.value.option == (case.py_option or case.option), raised.value
        one_line(str(raised.value), case.py_problem or case.problem)
    if case.cli is not None:
        with pytest.raises(sparkube.ConfigError) as raised:
            client.submit(submit_args(*case.cli))
        assert raised.value.option == case.option, raised.value
    assert cluster.writes() == writes


# -- the upload store (a real S3 server) ----------------------------------------------------


@dataclass(frozen=True)
class StoreCase:
    id: str
    bucket: str
    problem: str
    enforce_auth: bool = False


STORE_CASES = [
    StoreCase(
        "bucket missing",
        "no-such-bucket",
        "bucket no-such-bucket of s3a://no-such-bucket/up does not exist",
    ),
    StoreCase(
        "credentials refused",
        "bad-input-uploads",
        "the credentials for bucket bad-input-uploads were refused",
        enforce_auth=True,
    ),
]


@pytest.mark.parametrize("case", STORE_CASES, ids=[c.id for c in STORE_CASES])
@pytest.mark.usefixtures("nothing_created")
def test_upload_store_refusals_create_nothing(
    cluster: Cluster, s3_server: S3Server, case: StoreCase
) -> None:
    s3_server.create_bucket("bad-input-uploads")
    store = s3_server.conf(f"s3a://{case.bucket}/up")
    local = [str(cluster.template)]
    writes = cluster.writes()
    s3_server.enforce_auth(case.enforce_auth)
    try:
        cli = [a for k, v in store.items() for a in ("--conf", f"{k}={v}")]
        result = run(
            "submit", *submit_args(*cli, "--py-files", *local), kubeconfig=cluster.sim.kubeconfig
        )
        client = Client(kubeconfig=cluster.sim.kubeconfig)
        with pytest.raises(sparkube.ConfigError) as raised:
            client.submit(app(deps=Deps(py_files=local), conf=store))
    finally:
        s3_server.enforce_auth(False)
    assert result.returncode == EXIT_USAGE, result.stderr
    # The credentials in plain conf also get spark-submit's warning, a line of its own.
    (error,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert error.startswith("sparkube: error: "), result.stderr
    one_line(error, case.problem)
    assert raised.value.option == "spark.kubernetes.file.upload.path"
    one_line(str(raised.value), case.problem)
    for message in (result.stderr, str(raised.value)):
        assert S3_SECRET_KEY not in message
        assert S3_ACCESS_KEY not in message
    assert s3_server.keys("bad-input-uploads") == []
    assert cluster.writes() == writes


# -- connections and the API server -----------------------------------------------------------


@dataclass(frozen=True)
class ConnectionCase:
    """A connection problem: the kubeconfig to use, the namespace, and the expected error."""

    id: str
    kubeconfig: Callable[[Cluster], Path]
    problem: str
    exit_code: int
    error: type[sparkube.SparkubeError]
    option: str | None = None
    status: int | None = None
    reason: str | None = None
    namespace: str = NAMESPACE
    writes: bool = False
    """Whether the submission reaches the API server (and is refused there)."""
    slow: bool = False
    """Retried for seconds before giving up: tried on the command line only."""


def _powerless_token(cluster: Cluster) -> str:
    return cluster.sim.service_account_token(LOCKED, "powerless")


def _expired(cluster: Cluster) -> Path:
    status, body = cluster.sim.request("POST", f"/kubesim/token/{LOCKED}/powerless?seconds=1")
    assert status in (200, 201), body
    token = body["token"]
    time.sleep(2)
    return cluster.kubeconfig("expired", token=token)


def _malformed(cluster: Cluster) -> Path:
    path = cluster.dir / "malformed-kubeconfig.yaml"
    path.write_text("apiVersion: v1\nclusters: [\n")
    return path


CONNECTION_CASES = [
    ConnectionCase(
        "kubeconfig missing",
        lambda c: c.dir / "no-such-kubeconfig",
        "failed to read kubeconfig",
        EXIT_USAGE,
        sparkube.ConfigError,
        option="kubeconfig",
    ),
    ConnectionCase(
        "kubeconfig malformed",
        _malformed,
        "is not a valid kubeconfig: YAML parse error at line",
        EXIT_USAGE,
        sparkube.ConfigError,
        option="kubeconfig",
    ),
    ConnectionCase(
        "invalid token (401)",
        lambda c: c.kubeconfig("invalid-token", token="not-a-token"),
        "401 Unauthorized",
        EXIT_FAILED,
        sparkube.KubernetesApiError,
        status=401,
        reason="Unauthorized",
        writes=True,
    ),
    ConnectionCase(
        "expired token (401)",
        _expired,
        "the token or client certificate is invalid or expired",
        EXIT_FAILED,
        sparkube.KubernetesApiError,
        status=401,
        reason="Unauthorized",
        namespace=LOCKED,
        writes=True,
    ),
    ConnectionCase(
        "unreachable API server (no such host)",
        lambda c: c.kubeconfig("no-such-host", server="https://api.unreachable.invalid:6443"),
        "could not reach the API server",
        EXIT_FAILED,
        sparkube.KubernetesApiError,
    ),
    ConnectionCase(
        "unreachable API server (connection refused)",
        lambda c: c.kubeconfig("refused", server="https://127.0.0.1:9"),
        "could not reach the API server",
        EXIT_FAILED,
        sparkube.KubernetesApiError,
        slow=True,
    ),
    ConnectionCase(
        "forbidden namespace (403)",
        lambda c: c.kubeconfig("forbidden", token=_powerless_token(c)),
        'cannot create resource "pods" in API group "" in the namespace "locked"',
        EXIT_FAILED,
        sparkube.KubernetesApiError,
        status=403,
        reason="Forbidden",
        namespace=LOCKED,
        writes=True,
    ),
    ConnectionCase(
        "missing namespace (404)",
        lambda c: c.sim.kubeconfig,
        f'namespaces "{MISSING}" not found',
        EXIT_FAILED,
        sparkube.KubernetesApiError,
        status=404,
        reason="NotFound",
        namespace=MISSING,
        writes=True,
    ),
]


@pytest.mark.parametrize("case", CONNECTION_CASES, ids=[c.id for c in CONNECTION_CASES])
@pytest.mark.usefixtures("nothing_created")
def test_cli_connection_problems(cluster: Cluster, case: ConnectionCase) -> None:
    kubeconfig = case.kubeconfig(cluster)
    writes = cluster.writes()
    result = run("submit", *submit_args(namespace=case.namespace), kubeconfig=kubeconfig)
    assert result.returncode == case.exit_code, result.stderr
    prefix = "sparkube: error: " if case.exit_code == EXIT_USAGE else "sparkube: "
    assert result.stderr.startswith(prefix), result.stderr
    one_line(result.stderr, case.problem)
    if not case.writes:
        assert cluster.writes() == writes


def test_cli_unknown_context_exits_2(cluster: Cluster) -> None:
    for args in (
        ["submit", *submit_args(*conf("spark.kubernetes.context", "nope"))],
        ["list", "--context", "nope"],
        ["status", "--context", "nope", "some-driver"],
    ):
        result = run(*args, kubeconfig=cluster.sim.kubeconfig)
        assert result.returncode == EXIT_USAGE, result.stderr
        one_line(result.stderr, 'kubeconfig context "nope" not found')
        assert "(its contexts: kubesim)" in result.stderr


FAST_CONNECTION_CASES = [c for c in CONNECTION_CASES if not c.slow]


@pytest.mark.parametrize("case", FAST_CONNECTION_CASES, ids=[c.id for c in FAST_CONNECTION_CASES])
@pytest.mark.usefixtures("nothing_created")
def test_python_connection_problems(cluster: Cluster, case: ConnectionCase) -> None:
    kubeconfig = case.kubeconfig(cluster)
    with pytest.raises(case.error) as raised:
        Client(kubeconfig=kubeconfig).submit(app(namespace=case.namespace))
    error = raised.value
    one_line(str(error), case.problem)
    if isinstance(error, sparkube.ConfigError):
        assert error.option == case.option
    else:
        assert isinstance(error, sparkube.KubernetesApiError)
        assert (error.status, error.reason) == (case.status, case.reason)
    with pytest.raises(sparkube.ConfigError) as unknown:
        Client(kubeconfig=cluster.sim.kubeconfig, context="nope")
    assert unknown.value.option == "context"


# -- the Airflow operator ---------------------------------------------------------------------


@dataclass
class TaskInstance:
    """The task-instance fields the operator reads, and its XComs."""

    dag_id: str = "bad_input"
    task_id: str = "submit"
    run_id: str = "manual__bad_input"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture
def operator_env(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], str]:
    """Airflow in this process (tests/airflow's harness), and a connection per kubeconfig."""
    if str(AIRFLOW_TESTS) not in sys.path:
        sys.path.insert(0, str(AIRFLOW_TESTS))
    importlib.import_module("airflow_harness")

    def connection(kubeconfig: Path) -> str:
        conn_id = f"bad_input_{abs(hash(str(kubeconfig)))}"
        extra = {"kube_config_path": str(kubeconfig)}
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            json.dumps({"conn_type": "kubernetes", "extra": extra}),
        )
        return conn_id

    return connection


def _operator(conn_id: str, **params: Any) -> Any:
    from sparkube.airflow.operators import SparkAppOperator

    base: dict[str, Any] = {
        "task_id": "submit",
        "application": PI,
        "image": IMAGE,
        "namespace": NAMESPACE,
        "kubernetes_conn_id": conn_id,
        "deferrable": False,
        **params,
    }
    return SparkAppOperator(**base)


@pytest.mark.parametrize("name", CASE_IDS)
@pytest.mark.usefixtures("nothing_created")
def test_operator_fails_bad_input_without_retry(
    cluster: Cluster, operator_env: Callable[[Path], str], name: str
) -> None:
    from sparkube.airflow._compat import AirflowFailException

    case = case_named(cluster, name)
    assert case.operator is not None
    writes = cluster.writes()
    task = _operator(operator_env(cluster.sim.kubeconfig), **case.operator)
    ti = TaskInstance()
    with pytest.raises(AirflowFailException) as raised:
        task.execute({"ti": ti})
    message = str(raised.value)
    assert message.startswith("Invalid Spark application: "), message
    assert (case.names or case.py_option or case.option) in message, message
    one_line(message, case.py_problem or case.problem)
    assert isinstance(raised.value.__cause__, sparkube.ConfigError)
    assert ti.xcoms == {}
    assert cluster.writes() == writes


@pytest.mark.parametrize("case", FAST_CONNECTION_CASES, ids=[c.id for c in FAST_CONNECTION_CASES])
@pytest.mark.usefixtures("nothing_created")
def test_operator_connection_problems(
    cluster: Cluster, operator_env: Callable[[Path], str], case: ConnectionCase
) -> None:
    from sparkube.airflow._compat import AirflowException, AirflowFailException

    task = _operator(operator_env(case.kubeconfig(cluster)), namespace=case.namespace)
    ti = TaskInstance()
    with pytest.raises(AirflowException) as raised:
        task.execute({"ti": ti})
    error = raised.value
    # Bad settings fail at once; an API error may pass on a retry.
    assert isinstance(error, AirflowFailException) == (case.error is sparkube.ConfigError), error
    assert isinstance(error.__cause__, case.error), repr(error.__cause__)
    assert len(str(error).strip().splitlines()) == 1, error
    assert ti.xcoms == {}
