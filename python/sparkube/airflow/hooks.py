"""`SparkKubernetesHook`: a `sparkube.Client` from Airflow's standard Kubernetes connection.

The connection is the one `apache-airflow-providers-cncf-kubernetes` defines (type
`kubernetes`, default id `kubernetes_default`), read without depending on that provider. Its
extras, each also accepted with the legacy `extra__kubernetes__` prefix:

- `in_cluster`: use the pod's service account;
- `kube_config_path`: a kubeconfig file;
- `kube_config`: the kubeconfig itself, as a JSON or YAML string (or an object);
- `cluster_context`: the kubeconfig context (default: its current context);
- `namespace`: the default namespace of the applications;
- `disable_verify_ssl`: do not verify the API server's certificate (logged as a warning).

At most one of `in_cluster`, `kube_config_path` and `kube_config` may be set; with none, the
client finds its configuration as kubectl does (`KUBECONFIG`, `~/.kube/config`, in-cluster).
When the default connection does not exist, the same defaults apply.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from sparkube.airflow._compat import BaseHook
from sparkube.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import sparkube

LEGACY_PREFIX = "extra__kubernetes__"

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}

# One client per configuration and process, so that every task and trigger of a process shares
# the core's watches (one per cluster and namespace) instead of opening its own.
_clients: dict[str, sparkube.Client] = {}
_clients_lock = threading.Lock()


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    """The extra `name`, or its legacy prefixed form; empty values count as unset."""
    value = extras.get(name)
    if value is None or value == "":
        value = extras.get(LEGACY_PREFIX + name)
    return None if value == "" else value


def _flag(extras: Mapping[str, Any], name: str) -> bool:
    value = _extra(extras, name)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"connection extra {name!r} must be true or false, not {value!r}", name)


def _inline_kubeconfig(value: Any) -> dict[str, Any]:
    """The `kube_config` extra as a kubeconfig mapping (it may be JSON, YAML or an object)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise ConfigError(
            "connection extra 'kube_config' must be a JSON or YAML string", "kube_config"
        )
    try:
        parsed = json.loads(value)
    except ValueError:
        import yaml

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as e:
            # The message names the position, never the content (it holds credentials).
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(
                f"connection extra 'kube_config' is neither JSON nor YAML (parse error{where})",
                "kube_config",
            ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(
            "connection extra 'kube_config' must hold a kubeconfig object", "kube_config"
        )
    return parsed


def client_kwargs_from_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """`sparkube.Client` keyword arguments from the extras of a Kubernetes connection.

    Raises `sparkube.ConfigError` naming the extra when the extras are contradictory or invalid.
    """
    kwargs: dict[str, Any] = {}
    in_cluster = _flag(extras, "in_cluster")
    path = _extra(extras, "kube_config_path")
    inline = _extra(extras, "kube_config")
    given = [
        n
        for n, v in (
            ("in_cluster", in_cluster),
            ("kube_config_path", path),
            ("kube_config", inline),
        )
        if v
    ]
    if len(given) > 1:
        raise ConfigError(
            f"connection extras {' and '.join(given)} exclude each other: set only one",
            given[1],
        )
    if in_cluster:
        kwargs["in_cluster"] = True
    elif path is not None:
        kwargs["kubeconfig"] = str(path)
    elif inline is not None:
        kwargs["kubeconfig"] = _inline_kubeconfig(inline)
    context = _extra(extras, "cluster_context")
    if context is not None:
        kwargs["context"] = str(context)
    namespace = _extra(extras, "namespace")
    if namespace is not None:
        kwargs["namespace"] = str(namespace)
    if _flag(extras, "disable_verify_ssl"):
        kwargs["verify_ssl"] = False
    return kwargs


def cached_client(kwargs: Mapping[str, Any]) -> sparkube.Client:
    """The process's `sparkube.Client` for these settings, created on first use."""
    key = json.dumps(kwargs, sort_keys=True, default=str)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from sparkube import Client

            client = Client(**kwargs)
            _clients[key] = client
        return client


class SparkKubernetesHook(BaseHook):
    """Connects to Kubernetes with a standard Kubernetes connection and hands out a sparkube client.

    :param kubernetes_conn_id: the connection (type `kubernetes`); None uses the client's
        defaults (`KUBECONFIG`, `~/.kube/config`, in-cluster) without any connection.
    :param namespace: the namespace to use, over the connection's `namespace` extra.
    """

    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = "kubernetes_default"
    conn_type = "kubernetes"
    hook_name = "Kubernetes Cluster Connection"

    _form_extras: ClassVar[tuple[str, ...]] = (
        "in_cluster",
        "kube_config_path",
        "kube_config",
        "cluster_context",
        "namespace",
        "disable_verify_ssl",
    )

    def __init__(
        self,
        kubernetes_conn_id: str | None = default_conn_name,
        *,
        namespace: str | None = None,
    ) -> None:
        super().__init__()
        self.kubernetes_conn_id = kubernetes_conn_id
        self._namespace = namespace

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extras' form fields, for Airflow 2 (Airflow 3 reads them from the provider info)."""
        from flask_appbuilder.fieldwidgets import (  # type: ignore[import-not-found,unused-ignore]
            BS3PasswordFieldWidget,
            BS3TextFieldWidget,
        )
        from flask_babel import lazy_gettext  # type: ignore[import-not-found,unused-ignore]
        from wtforms import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            BooleanField,
            PasswordField,
            StringField,
        )

        from sparkube.airflow import CONNECTION_FIELDS

        widgets: dict[str, Any] = {}
        for name, spec in CONNECTION_FIELDS.items():
            label = lazy_gettext(spec["label"])
            kinds = spec["schema"]["type"]
            if "boolean" in kinds:
                widgets[name] = BooleanField(label)
            elif spec["schema"].get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget())
            else:
                widgets[name] = StringField(label, widget=BS3TextFieldWidget())
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Fields of the generic connection form that a Kubernetes connection does not use."""
        return {
            "hidden_fields": ["host", "schema", "login", "password", "port", "extra"],
            "relabeling": {},
        }

    def _extras(self, connection: Any) -> dict[str, Any]:
        extras = connection.extra_dejson
        return dict(extras) if isinstance(extras, Mapping) else {}

    def _kwargs_from(self, connection: Any | None) -> dict[str, Any]:
        kwargs = client_kwargs_from_extras(self._extras(connection)) if connection else {}
        inline = kwargs.get("kubeconfig")
        if isinstance(inline, Mapping):
            # The `kube_config` extra is no field Airflow masks by name: mask its credentials.
            from sparkube.airflow import _secrets

            _secrets.mask(_secrets.kubeconfig_secrets(inline))
        if kwargs.get("verify_ssl") is False:
            self.log.warning(
                "TLS verification of the Kubernetes API server is disabled by connection %s",
                self.kubernetes_conn_id,
            )
        if self._namespace:
            kwargs["namespace"] = self._namespace
        return kwargs

    def _missing_default(self, error: Exception) -> bool:
        """Whether `error` says the default connection does not exist (then defaults apply)."""
        if self.kubernetes_conn_id != self.default_conn_name:
            return False
        return type(error).__name__ in {"AirflowNotFoundException", "ConnectionNotFound"}

    @cached_property
    def client_kwargs(self) -> dict[str, Any]:
        """The `sparkube.Client` keyword arguments this hook's connection gives."""
        connection = None
        if self.kubernetes_conn_id is not None:
            try:
                connection = self.get_connection(self.kubernetes_conn_id)
            except Exception as e:
                if not self._missing_default(e):
                    raise
                self.log.info(
                    "Connection %s not found: using the default Kubernetes configuration",
                    self.kubernetes_conn_id,
                )
        return self._kwargs_from(connection)

    async def client_kwargs_async(self) -> dict[str, Any]:
        """`client_kwargs`, reading the connection without blocking the event loop."""
        if "client_kwargs" in self.__dict__:
            return dict(self.__dict__["client_kwargs"])
        connection = None
        if self.kubernetes_conn_id is not None:
            aget = getattr(self, "aget_connection", None)
            try:
                if aget is not None:
                    connection = await aget(self.kubernetes_conn_id)
                else:  # Airflow 2.10: the triggerer reads connections from the database
                    connection = self.get_connection(self.kubernetes_conn_id)
            except Exception as e:
                if not self._missing_default(e):
                    raise
        kwargs = self._kwargs_from(connection)
        self.__dict__["client_kwargs"] = kwargs
        return dict(kwargs)

    def get_client(self) -> sparkube.Client:
        """The `sparkube.Client` of this connection (shared within the process)."""
        return cached_client(self.client_kwargs)

    async def get_client_async(self) -> sparkube.Client:
        """`get_client` for async code (triggers)."""
        return cached_client(await self.client_kwargs_async())

    def get_conn(self) -> sparkube.Client:
        """Airflow's generic accessor: the same as `get_client`."""
        return self.get_client()

    @property
    def namespace(self) -> str:
        """The namespace: the hook's, else the connection's, else the kubeconfig context's."""
        namespace = self.client_kwargs.get("namespace")
        if namespace:
            return str(namespace)
        return str(self.get_client().namespace)

    @contextlib.contextmanager
    def session(
        self,
        name: str | None = None,
        *,
        image: str | None = None,
        app: sparkube.SparkApp | None = None,
        executor_instances: int | None = None,
        driver_memory: str | None = None,
        executor_memory: str | None = None,
        dynamic_allocation: bool = False,
        conf: Mapping[str, str] | None = None,
        timeout: float | None = None,
        idle_timeout: float = 1800,
        progress: bool = False,
    ) -> Iterator[Any]:
        """A Spark Connect `SparkSession` on the cluster for the duration of a block, as for
        `@task` code:

            with SparkKubernetesHook().session(image="apache/spark:4.0.1") as spark:
                spark.read.parquet(path).groupBy("day").count().collect()

        Starts a Spark Connect server as the driver (`sparkube.Client.connect`) in the hook's
        namespace, yields a session on it, and deletes the server with its executors when the
        block ends, whether it succeeded or raised. `app` (a `SparkApp.session(...)`) gives
        every setting; otherwise the keywords build one: `name` (default: `airflow-` and a
        random suffix, so that two tasks never share a server), `image`, static
        `executor_instances` or `dynamic_allocation` (with shuffle tracking, down to 0
        executors while idle), memory, `conf`. `timeout` bounds the server's start (default
        300 s); `idle_timeout` ends the server from inside the cluster should the worker die
        before closing it. A server that fails to start raises what a batch app's wait raises
        (`AppFailed` with its cause, `StartupTimeout`).
        """
        from sparkube.app import Driver, DynamicAllocation, Executor, SparkApp

        if app is None:
            if image is None:
                raise ConfigError("session needs an image (or an app)", "image")
            fields: dict[str, Any] = {
                "image": image,
                "namespace": self.namespace,
                "conf": dict(conf or {}),
                "driver": Driver(memory=driver_memory),
                "executor": Executor(instances=executor_instances, memory=executor_memory),
            }
            if dynamic_allocation:
                fields["dynamic_allocation"] = DynamicAllocation()
            app = SparkApp.session(
                name or f"airflow-{uuid.uuid4().hex[:8]}", idle_timeout=idle_timeout, **fields
            )
        connection = self.get_client().connect(app, timeout=timeout)
        self.log.info(
            "Spark Connect session %s: driver pod %s/%s, %s",
            connection.name,
            connection.handle.namespace,
            connection.handle.driver_pod,
            connection.url,
        )
        try:
            yield connection.session(progress=progress)
        finally:
            connection.close()
            self.log.info("Spark Connect session %s closed", connection.name)

    def test_connection(self) -> tuple[bool, str]:
        """Lists the Spark drivers of the namespace, as the connection form's Test button."""
        try:
            apps = self.get_client().list(self.namespace)
        except Exception as e:
            return False, str(e)
        return True, f"Connected: {len(apps)} Spark driver(s) in namespace {self.namespace}"
