"""`SparkApp`: a typed description of a Spark application that compiles to Spark conf.

The spec is plain data. It is handed to the Rust core, which turns it into the same Spark conf
keys spark-submit would receive and builds the Kubernetes objects through the same path as the
command line, so a `SparkApp` and the equivalent `spark-submit` flags produce identical objects.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import os

VolumeType = Literal["hostPath", "emptyDir", "nfs", "persistentVolumeClaim"]


@dataclass(frozen=True, kw_only=True)
class Volume:
    """A volume mounted into the driver or the executors (`spark.kubernetes.*.volumes.*`).

    Prefer the constructors `host_path`, `empty_dir`, `nfs` and `pvc`, which name each kind's
    options; `options` holds the raw `options.*` keys Spark accepts.
    """

    type: VolumeType
    name: str
    mount_path: str
    sub_path: str | None = None
    read_only: bool = False
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def host_path(
        cls,
        name: str,
        mount_path: str,
        path: str,
        *,
        host_path_type: str | None = None,
        read_only: bool = False,
        sub_path: str | None = None,
    ) -> Volume:
        """A `hostPath` volume: a directory of the node."""
        options = {"path": path}
        if host_path_type is not None:
            options["type"] = host_path_type
        return cls(
            type="hostPath",
            name=name,
            mount_path=mount_path,
            sub_path=sub_path,
            read_only=read_only,
            options=options,
        )

    @classmethod
    def empty_dir(
        cls,
        name: str,
        mount_path: str,
        *,
        medium: str | None = None,
        size_limit: str | None = None,
        sub_path: str | None = None,
    ) -> Volume:
        """An `emptyDir` volume: scratch space that lives as long as the pod."""
        options: dict[str, str] = {}
        if medium is not None:
            options["medium"] = medium
        if size_limit is not None:
            options["sizeLimit"] = size_limit
        return cls(
            type="emptyDir", name=name, mount_path=mount_path, sub_path=sub_path, options=options
        )

    @classmethod
    def nfs(
        cls,
        name: str,
        mount_path: str,
        server: str,
        path: str,
        *,
        read_only: bool = False,
        sub_path: str | None = None,
    ) -> Volume:
        """An NFS export."""
        return cls(
            type="nfs",
            name=name,
            mount_path=mount_path,
            sub_path=sub_path,
            read_only=read_only,
            options={"server": server, "path": path},
        )

    @classmethod
    def pvc(
        cls,
        name: str,
        mount_path: str,
        claim_name: str,
        *,
        storage_class: str | None = None,
        size_limit: str | None = None,
        read_only: bool = False,
        sub_path: str | None = None,
    ) -> Volume:
        """A persistent volume claim; `claim_name="OnDemand"` lets Spark create one per pod."""
        options = {"claimName": claim_name}
        if storage_class is not None:
            options["storageClass"] = storage_class
        if size_limit is not None:
            options["sizeLimit"] = size_limit
        return cls(
            type="persistentVolumeClaim",
            name=name,
            mount_path=mount_path,
            sub_path=sub_path,
            read_only=read_only,
            options=options,
        )


@dataclass(kw_only=True)
class RoleSpec:
    """Settings shared by the driver and the executors.

    `memory` and `memory_overhead` take Spark's size strings (`"512m"`, `"4g"`); `secret_env`
    maps an environment variable to `"secret-name:key"`; `secret_mounts` maps a secret name to
    the directory it is mounted at; `pod_template` is an inline Pod (a dict) used as the
    starting point of the pod, as `spark.kubernetes.*.podTemplateFile` would be. In the
    Airflow operator's `app`, `pod_template` may also be the path of a YAML file beside the
    DAG, which the operator renders with Jinja and reads into the Pod.
    """

    cores: float | None = None
    memory: str | None = None
    memory_overhead: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    secret_mounts: Mapping[str, str] = field(default_factory=dict)
    volumes: Sequence[Volume] = ()
    pod_template: Mapping[str, Any] | str | None = None


@dataclass(kw_only=True)
class Driver(RoleSpec):
    """The driver pod's settings."""


@dataclass(kw_only=True)
class Executor(RoleSpec):
    """The executor pods' settings; `instances` is `spark.executor.instances`."""

    instances: int | None = None


@dataclass(kw_only=True)
class DynamicAllocation:
    """`spark.dynamicAllocation.*`: executors scale with the work.

    On Kubernetes there is no external shuffle service, so shuffle tracking is on by default.
    """

    enabled: bool = True
    min_executors: int | None = None
    max_executors: int | None = None
    initial_executors: int | None = None
    shuffle_tracking: bool = True


@dataclass(kw_only=True)
class Deps:
    """Dependencies: `--jars`, `--py-files`, `--files`, `--archives` and Maven packages.

    Packages are resolved by the driver inside the cluster, never on the submitting machine.
    """

    jars: Sequence[str] = ()
    py_files: Sequence[str] = ()
    files: Sequence[str] = ()
    archives: Sequence[str] = ()
    packages: Sequence[str] = ()
    repositories: Sequence[str] = ()
    exclude_packages: Sequence[str] = ()


@dataclass(kw_only=True)
class SparkApp:
    """A Spark application to run on Kubernetes in cluster mode.

    `application` is the primary resource (`local:///opt/spark/app/job.py`, a jar, an
    `s3a://` URL); `main_class` is needed for JVM apps. `conf` takes any Spark conf key and
    wins over nothing: the typed fields are applied on top of it, as spark-submit's flags are
    applied on top of `--conf`. `labels`, `annotations` and `node_selector` apply to the driver
    and the executors; `tolerations` and `affinity` are merged into both pod templates.
    """

    name: str
    application: str
    main_class: str | None = None
    arguments: Sequence[str] = ()
    image: str | None = None
    namespace: str | None = None
    master: str | None = None
    service_account: str | None = None
    proxy_user: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    image_pull_secrets: Sequence[str] = ()
    image_pull_policy: str | None = None
    driver: Driver = field(default_factory=Driver)
    executor: Executor = field(default_factory=Executor)
    dynamic_allocation: DynamicAllocation | None = None
    deps: Deps = field(default_factory=Deps)
    tolerations: Sequence[Mapping[str, Any]] = ()
    affinity: Mapping[str, Any] | None = None
    submission_id: str | None = None

    @classmethod
    def session(cls, name: str, *, idle_timeout: float = 1800, **fields: Any) -> SparkApp:
        """A Spark Connect server for `Client.connect`: no program of its own (`application`
        stays empty; the core runs the server as the driver), `name` names the session.

        The server ends itself, from inside the cluster, once no client request reached it
        for `idle_timeout` seconds (default 30 minutes), so a kernel that dies or a laptop
        that sleeps leaves nothing running. It is the conf key `_core.IDLE_TIMEOUT_KEY`; one
        given in `conf` wins. Raises `ConfigError` when it is not a positive number.
        """
        from sparkube import _core

        if (
            isinstance(idle_timeout, bool)
            or not isinstance(idle_timeout, int | float)
            or not idle_timeout > 0
        ):
            from sparkube.errors import ConfigError

            raise ConfigError(
                f"idle_timeout must be a positive number of seconds, not {idle_timeout!r}",
                "idle_timeout",
            )
        conf = {
            _core.IDLE_TIMEOUT_KEY: f"{math.ceil(idle_timeout * 1000)}ms",
            **fields.pop("conf", {}),
        }
        return cls(name=name, application="", conf=conf, **fields)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> SparkApp:
        """An application whose driver calls `fn(spark, *args, **kwargs)`.

        `fn`'s source (with imports for the modules and importable objects it uses) becomes
        the driver's program and ships with the submission, so no image holds it; its return
        value, when JSON and at most 4 KiB, comes back as the final status's `result`. The
        other `SparkApp` fields are given as keywords (`image=`, `executor=`, ...); `name`
        defaults to the function's. A lambda, a closure, or arguments that are not JSON are
        refused with a `ConfigError` before anything is sent.
        """
        from sparkube.function import function_program, write_program

        program = write_program(fn, function_program(fn, args, kwargs))
        fields.setdefault("name", getattr(fn, "__name__", "function"))
        return cls(application=str(program), **fields)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, in the shape the Rust core reads.

        Raises `sparkube.ConfigError` naming the field (`executor.instances`) when a scalar
        field has the wrong type.
        """
        return _plain(self, "")  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SparkApp:
        """The spec from plain data, the inverse of `to_dict` (as a JSON or YAML file, or a
        rendered template, holds it).

        Nested objects may be mappings or already the typed objects (`Driver`, `Volume`,
        ...); values of string mappings (`conf`, `env`, ...) become Spark's strings
        (`True` is `"true"`). Raises `sparkube.ConfigError` naming the field on an unknown
        field (`driver.memroy`), a missing one, or a value of the wrong type.
        """
        app = _typed(cls, data, "")
        app.to_dict()  # checks the scalar fields' types
        return app  # type: ignore[no-any-return]


# The scalar field annotations whose values are checked, and what they accept.
_SCALARS: dict[str, tuple[tuple[type, ...], str]] = {
    "str": ((str,), "a string"),
    "str | None": ((str,), "a string"),
    "int | None": ((int,), "an integer"),
    "float | None": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
}


def _check(value: Any, annotation: Any, path: str) -> None:
    accepted = _SCALARS.get(str(annotation))
    if accepted is None or (value is None and str(annotation).endswith("| None")):
        return
    types, what = accepted
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        from sparkube.errors import ConfigError

        raise ConfigError(f"{path} must be {what}, not {value!r}", path)


def _plain(value: Any, path: str) -> Any:
    """Dataclasses, mappings and sequences turned into dicts and lists, recursively; the
    scalar fields of dataclasses are checked against their annotations."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            where = f"{path}.{f.name}" if path else f.name
            _check(item, f.type, where)
            out[f.name] = _plain(item, where)
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def spark_text(value: Any) -> str:
    """A conf, label, annotation or env value as the string Spark expects (`true`, not
    `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed(cls: type, data: Any, path: str) -> Any:
    """`cls` (a spec dataclass) built from a mapping, its nested fields typed by annotation."""
    from sparkube.errors import ConfigError

    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        what = path or cls.__name__
        raise ConfigError(f"{what} must be a mapping, not {type(data).__name__}", path or None)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        f = fields.get(str(key))
        if f is None:
            raise ConfigError(
                f"unknown field {where!r} (a {cls.__name__} has {', '.join(fields)})", where
            )
        kwargs[f.name] = _field_value(str(f.type), value, where)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        where = f"{path}.{missing[0]}" if path else missing[0]
        raise ConfigError(f"missing field {where!r}", where)
    return cls(**kwargs)


def _field_value(annotation: str, value: Any, path: str) -> Any:
    """A field's value from plain data, by the field's annotation (a string, as written)."""
    from sparkube.errors import ConfigError

    if value is None:
        return None
    nested = _NESTED.get(annotation.removesuffix(" | None"))
    if nested is not None:
        return _typed(nested, value, path)
    if annotation == "Sequence[Volume]":
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path} must be a list of volumes", path)
        return [_typed(Volume, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if annotation == "Mapping[str, str]":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path} must be a mapping, not {type(value).__name__}", path)
        return {str(k): spark_text(v) for k, v in value.items()}
    if annotation == "Sequence[str]":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path} must be a list of strings, not {value!r}", path)
        return [spark_text(v) for v in value]
    return value


# The spec's nested dataclasses, by the name their fields are annotated with.
_NESTED: dict[str, type] = {
    "Driver": Driver,
    "Executor": Executor,
    "DynamicAllocation": DynamicAllocation,
    "Deps": Deps,
}


def render(
    app: SparkApp | Sequence[str],
    *,
    ids: Mapping[str, Any] | None = None,
    show_secrets: bool = False,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """The Kubernetes objects a submission creates, in API call order, without sending them.

    `app` is a `SparkApp` or a spark-submit argument list (`["--master", "k8s://...", ...]`).
    Owner references to the driver pod carry an empty uid, filled in at submit time. `ids`
    fixes the random parts (app id, unique ids, submit time) for reproducible output.

    The values of conf keys that look secret (`*secret*`, `*password*`, `*token*`, `*.key`,
    ...) in the driver ConfigMap's `spark.properties`, of environment variables with such
    names and of Secrets are shown as `*********(redacted)`; `show_secrets=True` shows what
    is really submitted. Relative local paths resolve against `base_dir`, by default the
    folder of the calling module (the working directory in a notebook).
    """
    from sparkube import _core
    from sparkube.client import caller_dir

    base = base_dir if base_dir is not None else caller_dir()
    if isinstance(app, SparkApp):
        return _core.render_spec(app.to_dict(), ids, show_secrets, base)
    if isinstance(app, str):
        raise TypeError("render() takes a SparkApp or a list of spark-submit arguments, not a str")
    return _core.render_args(list(app), ids, show_secrets, base)
