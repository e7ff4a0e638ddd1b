"""Secrets never show: one known secret is planted in every input path, and everything sparkube
prints, logs, raises or stores is scanned for it.

The inputs: a Spark conf value under a secret-looking key, a `spark.kubernetes.driverEnv.X`
value where `X` looks secret, a kubeconfig bearer token (kubesim runs with it as its admin
token, so the success paths use it too), a client key in a kubeconfig, a refused token (401), a
service-account token without rights (403), and the Airflow connection's `kube_config` extra.
The outputs: `sparkube render|submit|status|logs|kill|list|wait` stdout and stderr, success and
error paths (unreachable API server, 401, 403, malformed kubeconfig, bad input); Python
exceptions' `str` and `repr` and Python logging at DEBUG (the Rust core's logs included); and
for Airflow a real `airflow dags test` run: its output and task logs, its XComs, its rendered
template fields and every other row it left in the database.

What is submitted is not redacted (the driver needs the values): the tests check that kubesim
holds them. TLS verification, on unless turned off explicitly with a warning, is checked here
too.
"""

from __future__ import annotations

import atexit
import base64
import importlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import sparkube
from sparkube import Client, Driver, SparkApp, _core
from tests.conftest import Kubesim, start_kubesim

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
IMAGE = "apache/spark:4.0.1"
PI = "local:///opt/spark/examples/src/main/python/pi.py"
REDACTED = "*********(redacted)"
UNRESOLVABLE = "https://api.unreachable.invalid:6443"
AIRFLOW_TESTS = Path(__file__).resolve().parents[1] / "airflow"


def _secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


CONF_SECRET = _secret("confsecret")
"""A Spark conf value under secret-looking keys."""
ENV_SECRET = _secret("envsecret")
"""The value of `spark.kubernetes.driverEnv.DB_PASSWORD` (and of env vars named like it)."""
TOKEN = _secret("token")
"""kubesim's admin bearer token, in the kubeconfigs (and the Airflow connection)."""
BAD_TOKEN = _secret("badtoken")
"""A bearer token the API server refuses (401)."""


@dataclass(frozen=True)
class ClientKey:
    """A client certificate and key for kubeconfigs; the key is the secret."""

    cert_data: str
    key_data: str
    key_pem_line: str

    @property
    def secrets(self) -> dict[str, str]:
        return {"client-key-data": self.key_data, "client key (PEM)": self.key_pem_line}


@dataclass
class Planted:
    """The secrets of one test session and where to find kubeconfigs holding them."""

    sim: Kubesim
    rbac: Kubesim
    key: ClientKey
    sa_token: str
    dir: Path

    @property
    def secrets(self) -> dict[str, str]:
        return {
            "conf value": CONF_SECRET,
            "driverEnv value": ENV_SECRET,
            "kubeconfig token": TOKEN,
            "refused token": BAD_TOKEN,
            "service account token": self.sa_token,
            **self.key.secrets,
        }

    def kubeconfig(self, name: str, *, server: str | None = None, token: str = TOKEN) -> Path:
        """A kubeconfig for kubesim with `token` and the client key (and another server)."""
        config = yaml.safe_load(self.sim.kubeconfig.read_text())
        if server is not None:
            config["clusters"][0]["cluster"]["server"] = server
        config["users"][0]["user"] = {
            "token": token,
            "client-certificate-data": self.key.cert_data,
            "client-key-data": self.key.key_data,
        }
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def assert_clean(self, text: str, where: str) -> None:
        leaked = [name for name, value in self.secrets.items() if value in text]
        assert not leaked, f"{where} shows the {', '.join(leaked)}:\n{text}"


def _client_key(directory: Path) -> ClientKey:
    key, cert = directory / "client.key", directory / "client.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=sparkube-secrets-test",
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    pem = key.read_text()
    body = next(line for line in pem.splitlines() if not line.startswith("-----"))
    return ClientKey(
        cert_data=base64.b64encode(cert.read_bytes()).decode(),
        key_data=base64.b64encode(pem.encode()).decode(),
        key_pem_line=body,
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    """A kubesim whose admin token is `TOKEN`, and one with RBAC and a powerless account."""
    directory = tmp_path_factory.mktemp("secrets")
    sim = start_kubesim(directory / "sim", "--token", TOKEN)
    rbac = start_kubesim(directory / "rbac", "--rbac", "--token", TOKEN)
    try:
        status, body = rbac.request(
            "POST",
            "/api/v1/namespaces/default/serviceaccounts",
            {"metadata": {"name": "powerless"}},
        )
        assert status == 201, body
        yield Planted(
            sim=sim,
            rbac=rbac,
            key=_client_key(directory),
            sa_token=rbac.service_account_token("default", "powerless"),
            dir=directory,
        )
    finally:
        sim.stop()
        rbac.stop()


def _annotations(**values: str) -> list[str]:
    out: list[str] = []
    for key, value in values.items():
        out += ["--conf", f"spark.kubernetes.driver.annotation.kubesim.io/{key}={value}"]
    return out


def secret_args(name: str, *extra: str, run_seconds: str = "1") -> list[str]:
    """spark-submit arguments with the conf and env secrets (and a secret reference)."""
    return [
        "--name",
        name,
        "--conf",
        f"spark.kubernetes.container.image={IMAGE}",
        "--conf",
        "spark.kubernetes.driver.request.cores=100m",
        "--conf",
        f"spark.hadoop.fs.s3a.secret.key={CONF_SECRET}",
        "--conf",
        f"spark.hadoop.fs.s3a.access.key={CONF_SECRET}",
        "--conf",
        f"spark.kubernetes.driverEnv.DB_PASSWORD={ENV_SECRET}",
        "--conf",
        "spark.kubernetes.driver.secretKeyRef.API_TOKEN=api-credentials:token",
        *_annotations(**{"run-seconds": run_seconds, "log": "Pi is roughly 3.14"}),
        *extra,
        PI,
    ]


@dataclass(frozen=True)
class Run:
    """One `sparkube` process: exit code, stdout, stderr, and both (`output`)."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}"


def conf_pair(key: str, value: str) -> list[str]:
    return ["--conf", f"{key}={value}"]


def run(*args: str, kubeconfig: Path | None = None) -> Run:
    """`sparkube ARGS` in a fresh process."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    proc = subprocess.run(
        [SPARKUBE, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def _driver_objects(sim: Kubesim, pod: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The driver pod and its ConfigMap, as stored by kubesim."""
    status, body = sim.request("GET", f"/api/v1/namespaces/default/pods/{pod}")
    assert status == 200, body
    conf_map = next(v["configMap"]["name"] for v in body["spec"]["volumes"] if "configMap" in v)
    status, config_map = sim.request("GET", f"/api/v1/namespaces/default/configmaps/{conf_map}")
    assert status == 200, config_map
    return body, config_map


# -- the command line -----------------------------------------------------------------------


def test_render_redacts_unless_show_secrets(planted: Planted) -> None:
    master = ["--master", "k8s://https://k8s.example:6443"]
    # The driver's own token goes into a Secret, whose data is redacted too.
    driver_token = conf_pair("spark.kubernetes.authenticate.driver.oauthToken", TOKEN)
    for output in ("json", "yaml"):
        shown = run("render", "-o", output, *master, *driver_token, *secret_args("render"))
        assert shown.code == 0, shown.output
        planted.assert_clean(shown.output, f"sparkube render -o {output}")
        assert REDACTED in shown.stdout
        assert "api-credentials" in shown.stdout  # a secretKeyRef names a Secret: shown
        # The warning says where credentials belong, naming keys, not values.
        assert "spark.hadoop.fs.s3a.secret.key" in shown.stderr
        assert "spark.kubernetes.driver.secretKeyRef." in shown.stderr
        listing = json.loads(shown.stdout) if output == "json" else yaml.safe_load(shown.stdout)
        (secret,) = [o for o in listing["items"] if o["kind"] == "Secret"]
        assert secret["data"] == {"oauth-token": REDACTED}
    full = run("render", "--show-secrets", *master, *secret_args("render"))
    assert full.code == 0, full.output
    listing = json.loads(full.stdout)
    (config_map,) = [o for o in listing["items"] if "spark.properties" in o.get("data", {})]
    assert f"spark.hadoop.fs.s3a.secret.key={CONF_SECRET}" in config_map["data"]["spark.properties"]
    env = {e["name"]: e for e in listing["items"][0]["spec"]["containers"][-1]["env"]}
    assert env["DB_PASSWORD"]["value"] == ENV_SECRET


def test_cli_success_paths_show_no_secret_and_submit_the_values(planted: Planted) -> None:
    kubeconfig = planted.kubeconfig("good")
    submitted = run(
        "submit",
        "--no-wait",
        "-o",
        "json",
        *secret_args("cli-bg", run_seconds="30"),
        kubeconfig=kubeconfig,
    )
    assert submitted.code == 0, submitted.output
    planted.assert_clean(submitted.output, "sparkube submit --no-wait")
    handle = json.loads(submitted.stdout)
    pod = handle["driver_pod"]

    # What was submitted is what Spark needs: the real values.
    driver, config_map = _driver_objects(planted.sim, pod)
    assert f"spark.hadoop.fs.s3a.secret.key={CONF_SECRET}" in config_map["data"]["spark.properties"]
    env = {e["name"]: e for e in driver["spec"]["containers"][-1]["env"]}
    assert env["DB_PASSWORD"]["value"] == ENV_SECRET

    for args in (
        ["status", f"default:{pod}"],
        ["status", "-o", "yaml", f"default:{pod}"],
        ["list", "-o", "json"],
        ["logs", f"default:{pod}"],
        ["submit", "--status", f"default:{pod}"],
        ["kill", "--wait", f"default:{pod}"],
    ):
        result = run(*args, kubeconfig=kubeconfig)
        assert result.code == 0, (args, result.output)
        planted.assert_clean(result.output, f"sparkube {' '.join(args)}")

    # spark-submit's own way: --master and the submission token in the conf, no kubeconfig.
    ca = planted.dir / "ca.crt"
    config = yaml.safe_load(planted.sim.kubeconfig.read_text())
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    by_master = run(
        "submit",
        "--no-wait",
        "--master",
        f"k8s://{planted.sim.https_url}",
        *conf_pair("spark.kubernetes.authenticate.submission.oauthToken", TOKEN),
        *conf_pair("spark.kubernetes.authenticate.submission.caCertFile", str(ca)),
        *secret_args("cli-master"),
    )
    assert by_master.code == 0, by_master.output
    planted.assert_clean(by_master.output, "sparkube submit --master with a submission token")

    waited = run("submit", "--logs", "-o", "json", *secret_args("cli-wait"), kubeconfig=kubeconfig)
    assert waited.code == 0, waited.output
    assert "Pi is roughly 3.14" in waited.stdout
    planted.assert_clean(waited.output, "sparkube submit --logs")


@pytest.mark.parametrize("case", ["unreachable", "refused token", "forbidden", "malformed"])
def test_cli_error_paths_show_no_secret(planted: Planted, case: str) -> None:
    if case == "unreachable":
        # A name that never resolves fails at once; a refused connection is retried for
        # seconds (the Python test has one, with the core's retry logs at DEBUG).
        kubeconfig = planted.kubeconfig("unreachable", server=UNRESOLVABLE)
    elif case == "refused token":
        kubeconfig = planted.kubeconfig("refused", token=BAD_TOKEN)
    elif case == "forbidden":
        kubeconfig = planted.kubeconfig(
            "forbidden", server=planted.rbac.https_url, token=planted.sa_token
        )
        # kubesim --rbac serves its own CA.
        config = yaml.safe_load(kubeconfig.read_text())
        rbac = yaml.safe_load(planted.rbac.kubeconfig.read_text())
        config["clusters"] = rbac["clusters"]
        kubeconfig.write_text(yaml.safe_dump(config))
    else:
        kubeconfig = planted.dir / "malformed.yaml"
        kubeconfig.write_text(
            f"apiVersion: v1\nusers:\n- name: u\n  user: {{token: {TOKEN}\n"
            f"    client-key-data: {planted.key.key_data}\nclusters: [\n"
        )
    commands = [
        ["submit", *secret_args(f"cli-{case.replace(' ', '-')}")],
        ["submit", "--no-wait", "--conf", "spark.driver.memory=2 GB", *secret_args("bad")],
        ["status", "default:some-driver"],
        ["logs", "default:some-driver"],
        ["kill", "default:some-driver"],
        ["list"],
        ["wait", "--timeout", "1", "default:some-driver"],
        ["submit", "--kill", "default:some-driver"],
    ]
    for args in commands:
        result = run(*args, kubeconfig=kubeconfig)
        assert result.code in (1, 2), (args, result.output)
        assert result.stderr.strip(), args
        planted.assert_clean(result.output, f"{case}: sparkube {' '.join(args[:2])}")


# -- the Python API -------------------------------------------------------------------------


def secret_app(name: str, **annotations: str) -> SparkApp:
    return SparkApp(
        name=name,
        application=PI,
        image=IMAGE,
        conf={
            "spark.hadoop.fs.s3a.secret.key": CONF_SECRET,
            "spark.kubernetes.driver.request.cores": "100m",
        },
        driver=Driver(
            env={"DB_PASSWORD": ENV_SECRET},
            secret_env={"API_TOKEN": "api-credentials:token"},
            annotations={f"kubesim.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
        ),
    )


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Python logging at DEBUG, the Rust core's forwarded logs included."""
    caplog.set_level(logging.DEBUG)
    _core.reset_log_cache()
    yield caplog
    _core.reset_log_cache()


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(r.getMessage() for r in caplog.records)


def test_python_success_paths_show_no_secret(
    planted: Planted, debug_logs: pytest.LogCaptureFixture
) -> None:
    shown: list[str] = []
    for kubeconfig in (
        planted.kubeconfig("py-good"),
        yaml.safe_load(planted.kubeconfig("py-inline").read_text()),
    ):
        client = Client(kubeconfig=kubeconfig)
        handle = client.submit(secret_app("py-secrets", run_seconds="1", log="Pi is roughly 3.14"))
        shown += [repr(client), repr(handle), handle.app_id]
        final = handle.wait(timeout=60)
        shown += [str(final), repr(final), json.dumps(final.to_dict())]
        shown += list(handle.logs())
        shown += [str(s) for s in client.list()]
        shown.append(str(handle.kill(wait=True)))
    rendered = json.dumps(sparkube.render(secret_app("py-render")))
    planted.assert_clean(rendered, "sparkube.render")
    assert REDACTED in rendered
    assert CONF_SECRET in json.dumps(sparkube.render(secret_app("x"), show_secrets=True))
    planted.assert_clean("\n".join(shown), "values returned by the Python API")
    logs = _log_text(debug_logs)
    planted.assert_clean(logs, "Python logging at DEBUG")
    # The capture does see the core's logs, at DEBUG too, and the plain-credentials warning.
    assert any(r.name.startswith("sparkube.") for r in debug_logs.records), logs
    assert any(r.levelno == logging.DEBUG for r in debug_logs.records), logs
    assert "spark.kubernetes.driver.secretKeyRef." in logs


def test_python_error_paths_show_no_secret(
    planted: Planted, debug_logs: pytest.LogCaptureFixture
) -> None:
    rbac = yaml.safe_load(planted.rbac.kubeconfig.read_text())
    forbidden = yaml.safe_load(
        planted.kubeconfig("py-forbidden", token=planted.sa_token).read_text()
    )
    forbidden["clusters"] = rbac["clusters"]
    attempts: dict[str, Callable[[], object]] = {
        "connection refused": lambda: Client(
            kubeconfig=planted.kubeconfig("py-refused-conn", server="https://127.0.0.1:9")
        ).submit(secret_app("py-unreachable")),
        "unknown host": lambda: (
            Client(kubeconfig=planted.kubeconfig("py-unresolvable", server=UNRESOLVABLE))
            .attach("some-driver")
            .logs()
        ),
        "refused token": lambda: Client(
            kubeconfig=planted.kubeconfig("py-refused", token=BAD_TOKEN)
        ).submit(secret_app("py-refused")),
        "refused token (status)": lambda: (
            Client(kubeconfig=planted.kubeconfig("py-refused", token=BAD_TOKEN))
            .attach("some-driver")
            .status()
        ),
        "forbidden": lambda: Client(kubeconfig=forbidden).submit(secret_app("py-forbidden")),
        "forbidden (list)": lambda: Client(kubeconfig=forbidden).list(),
        "malformed inline kubeconfig": lambda: Client(
            kubeconfig=f"apiVersion: v1\nusers:\n- name: u\n  user: {{token: {TOKEN}\nx: [\n"
        ),
        "kubeconfig of the wrong shape": lambda: Client(kubeconfig={"users": TOKEN}),
        "kubeconfig as one line of JSON": lambda: Client(
            kubeconfig=json.dumps({"users": [{"name": "u", "user": {"token": TOKEN}}]})
        ),
        "bad input": lambda: Client(kubeconfig=planted.kubeconfig("py-bad")).submit(
            SparkApp(
                name="bad",
                application=PI,
                image=IMAGE,
                conf={"spark.hadoop.fs.s3a.secret.key": CONF_SECRET},
                driver=Driver(memory="2 GB", env={"DB_PASSWORD": ENV_SECRET}),
            )
        ),
    }
    for case, attempt in attempts.items():
        with pytest.raises(sparkube.SparkubeError) as raised:
            attempt()
        error = raised.value
        text = f"{error}\n{error!r}\n{vars(error)}"
        planted.assert_clean(text, f"{case}: {type(error).__name__}")
    logs = _log_text(debug_logs)
    planted.assert_clean(logs, "Python logging at DEBUG")
    assert "attempt 1 failed" in logs, logs  # the core's retries were logged, and scanned


# -- TLS verification -------------------------------------------------------------------------


def _without_ca(planted: Planted) -> Path:
    path = planted.kubeconfig("no-ca")
    config = yaml.safe_load(path.read_text())
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    path.write_text(yaml.safe_dump(config))
    return path


def test_tls_is_verified_unless_turned_off_with_a_warning(
    planted: Planted, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = _without_ca(planted)
    with pytest.raises(sparkube.KubernetesApiError) as refused:
        Client(kubeconfig=kubeconfig).list()
    assert "certificate" in str(refused.value).lower(), refused.value

    caplog.set_level(logging.WARNING)
    _core.reset_log_cache()
    assert Client(kubeconfig=kubeconfig, verify_ssl=False).list() is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"TLS certificate verification is disabled for {planted.sim.https_url}/" in warnings

    listed = run("list", kubeconfig=kubeconfig)
    assert listed.code == 1
    assert "certificate" in listed.stderr.lower(), listed.output
    trusted = run(
        "submit",
        "--no-wait",
        "--conf",
        "spark.kubernetes.trust.certificates=true",
        *secret_args("trusted"),
        kubeconfig=kubeconfig,
    )
    assert trusted.code == 0, trusted.output
    assert "TLS certificate verification is disabled" in trusted.stderr


# -- Airflow --------------------------------------------------------------------------------


def _harness() -> Any:
    """tests/airflow/airflow_harness.py, imported as tests/airflow's conftest imports it."""
    if str(AIRFLOW_TESTS) not in sys.path:
        sys.path.insert(0, str(AIRFLOW_TESTS))
    return importlib.import_module("airflow_harness")


def _kube_config_extra(planted: Planted) -> str:
    config = yaml.safe_load(planted.kubeconfig("airflow").read_text())
    return yaml.safe_dump(config)


def test_airflow_hook_masks_the_kube_config_credentials_and_warns_without_tls(
    planted: Planted,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _harness()
    from sparkube.airflow.hooks import SparkKubernetesHook

    extra = {"kube_config": _kube_config_extra(planted), "disable_verify_ssl": True}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARKUBE_SECRETS", json.dumps({"conn_type": "kubernetes", "extra": extra})
    )
    caplog.set_level(logging.WARNING)
    _core.reset_log_cache()
    hook = SparkKubernetesHook("sparkube_secrets")
    assert hook.get_client().list() is not None
    # Airflow's logging goes to stdout once Airflow is imported, the records to caplog before.
    logged = capsys.readouterr().out + "\n".join(r.getMessage() for r in caplog.records)
    assert (
        "TLS verification of the Kubernetes API server is disabled by connection sparkube_secrets"
        in logged
    )
    assert f"TLS certificate verification is disabled for {planted.sim.https_url}/" in logged
    planted.assert_clean(logged, "the hook's logs")

    from airflow.sdk._shared.secrets_masker import redact

    masked = str(redact(f"token {TOKEN} key {planted.key.key_data}"))
    planted.assert_clean(masked, "Airflow's secrets masker after the hook read the connection")


def _database_rows(db: Path) -> list[tuple[str, str]]:
    """(table, text) for every row of every table of the Airflow database."""
    rows: list[tuple[str, str]] = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                rows.append((table, " ".join(repr(v) for v in row)))
    return rows


@pytest.mark.slow
def test_airflow_dags_test_shows_no_secret(planted: Planted) -> None:
    harness = _harness()
    env = {**os.environ, **harness.AIRFLOW_ENV}
    env.pop("AIRFLOW_CONN_KUBERNETES_DEFAULT", None)
    cli = harness.AirflowCli(env=env, home=harness.HOME)
    atexit.register(shutil.rmtree, harness.HOME, True)
    cli.run("db", "migrate", timeout=600)
    extra = {"kube_config": _kube_config_extra(planted), "namespace": "default"}
    cli.env.update(
        {
            "AIRFLOW_CONN_SPARKUBE_SECRETS": json.dumps(
                {"conn_type": "kubernetes", "extra": extra}
            ),
            "AIRFLOW_VAR_SPARKUBE_TEST_CONF": CONF_SECRET,
            "AIRFLOW_VAR_SPARKUBE_TEST_ENV": ENV_SECRET,
        }
    )
    run_ = cli.dags_test("sparkube_test_secrets", timeout=600)
    assert run_.state_of("typed") == "success", run_.output
    assert run_.state_of("args_deferred") == "success", run_.output
    assert run_.state_of("bad_input") == "failed", run_.output
    assert "Invalid Spark application: Driver memory must be a positive number" in run_.output

    # The output holds the task logs: the submissions, the driver log, the warning.
    assert "Submitted Spark application" in run_.output, run_.output
    assert "[driver] Pi is roughly 3.14" in run_.output, run_.output
    assert "spark.kubernetes.driver.secretKeyRef." in run_.output, run_.output
    planted.assert_clean(run_.output, "airflow dags test output")
    logs = sorted(p for p in (harness.HOME / "logs").rglob("*") if p.is_file())
    for path in logs:
        planted.assert_clean(path.read_text(errors="replace"), f"task log {path}")
    for task in ("typed", "args_deferred"):
        result = run_.xcom(task)
        assert result["state"] == "Succeeded", result
        planted.assert_clean(json.dumps(result), f"XCom of {task}")
        planted.assert_clean(json.dumps(run_.xcom(task, key="spark_app")), f"spark_app of {task}")
    with sqlite3.connect(run_.db) as conn:
        rendered = dict(
            conn.execute(
                "SELECT task_id, rendered_fields FROM rendered_task_instance_fields"
                " WHERE dag_id=? AND run_id=?",
                ("sparkube_test_secrets", run_.run_id),
            ).fetchall()
        )
    assert set(rendered) >= {"typed", "args_deferred"}, rendered
    assert "***" in rendered["typed"], rendered["typed"]
    for table, text in _database_rows(run_.db):
        planted.assert_clean(text, f"the Airflow database, table {table}")

    # What was submitted holds the real values.
    selector = "sparkube.io/dag-id%3Dsparkube_test_secrets,sparkube.io/task-id%3Dtyped"
    _, pods = planted.sim.request(
        "GET", f"/api/v1/namespaces/default/pods?labelSelector={selector}"
    )
    (driver,) = pods["items"]
    driver, config_map = _driver_objects(planted.sim, driver["metadata"]["name"])
    env_values = {e["name"]: e.get("value") for e in driver["spec"]["containers"][-1]["env"]}
    assert env_values["DB_PASSWORD"] == ENV_SECRET
    assert f"spark.hadoop.fs.s3a.secret.key={CONF_SECRET}" in config_map["data"]["spark.properties"]
