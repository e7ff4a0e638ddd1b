"""The spark-submit invocations the parity suite compares, one per behaviour group.

Each case is the argument list after spark-submit's fixed cluster-mode prefix (``--master``,
``--deploy-mode cluster`` and ``waitAppCompletion=false``, added by the runner). ``{dir}`` in an
argument stands for the case's own directory, where ``files`` are written first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMAGE = "apache/spark:4.3.0"
EXAMPLES_JAR = "local:///opt/spark/examples/jars/spark-examples.jar"
PI_PY = "local:///opt/spark/examples/src/main/python/pi.py"
SPARK_PI = ["--class", "org.apache.spark.examples.SparkPi", EXAMPLES_JAR]


def conf(*pairs: str) -> list[str]:
    """``conf("a=1", "b=2")`` → ``["--conf", "a=1", "--conf", "b=2"]``."""
    out: list[str] = []
    for pair in pairs:
        out += ["--conf", pair]
    return out


def image(value: str = IMAGE) -> list[str]:
    return conf(f"spark.kubernetes.container.image={value}")


@dataclass(frozen=True)
class Case:
    """One spark-submit invocation and the files it refers to."""

    id: str
    args: list[str]
    files: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    """Which items of the builder's rule list the case exercises (for the reader)."""

    def resolved_args(self, case_dir: str, http: str = "") -> list[str]:
        """The arguments with ``{dir}`` and ``{http}`` (the URL that serves the case's
        directory over HTTP, for cases that read remote files) filled in."""
        return [a.replace("{dir}", case_dir).replace("{http}", http) for a in self.args]

    @property
    def serves_http(self) -> bool:
        """Whether an argument names a file of the case's directory by an ``{http}`` URL."""
        return any("{http}" in a for a in self.args)

    def resolved_files(self, case_dir: str) -> dict[str, str]:
        return {name: text.replace("{dir}", case_dir) for name, text in self.files.items()}


VOLCANO_STEP = "org.apache.spark.deploy.k8s.features.VolcanoFeatureStep"

POD_GROUP_TEMPLATE = """\
apiVersion: scheduling.volcano.sh/v1beta1
kind: PodGroup
metadata:
  name: replaced-by-spark
spec:
  minMember: 1
  queue: analytics
  priorityClassName: high
  minResources:
    cpu: "2"
    memory: 4Gi
"""

DRIVER_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: ignored-template-name
  labels:
    team: data
    tier: batch
  annotations:
    owner: data-platform
spec:
  priorityClassName: high
  terminationGracePeriodSeconds: 45
  tolerations:
    - key: dedicated
      operator: Equal
      value: spark
      effect: NoSchedule
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - key: pool
                operator: In
                values: [spark]
  securityContext:
    runAsUser: 185
    fsGroup: 185
  initContainers:
    - name: init-wait
      image: busybox:1.36
      command: [sh, -c, "true"]
  containers:
    - name: log-shipper
      image: fluent/fluent-bit:3.0
      args: ["-c", "/fluent-bit/etc/fluent-bit.conf"]
      resources:
        requests:
          cpu: 100m
          memory: 64Mi
    - name: main
      image: template/image:1
      env:
        - name: FROM_TEMPLATE
          value: "yes"
      volumeMounts:
        - name: shared
          mountPath: /shared
  volumes:
    - name: shared
      emptyDir: {}
"""

EXECUTOR_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  labels:
    role: worker
spec:
  containers:
    - name: executor
      image: apache/spark:4.3.0
  tolerations:
    - key: spot
      operator: Exists
"""

PROPERTIES_FILE = """\
# a comment line
! another comment
spark.kubernetes.container.image = apache/spark:4.3.0
spark.kubernetes.namespace:props-ns
spark.app.name=from-props
spark.kubernetes.driver.label.source=props
spark.driver.memory 3g
spark.kubernetes.driverEnv.GREETING=hello \\
    world
spark.executor.instances=4
"""

IVY_SETTINGS = """\
<ivysettings>
  <settings defaultResolver="local-repo"/>
  <resolvers>
    <ibiblio name="local-repo" m2compatible="true" root="file://{dir}/m2"/>
  </resolvers>
</ivysettings>
"""

PACKAGE_POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example</groupId>
  <artifactId>hello</artifactId>
  <version>1.0</version>
  <packaging>jar</packaging>
</project>
"""

LONG_NAME = "a-very-long-application-name-that-does-not-fit-into-a-service-name"

SECRET_NAMES = ("db-creds", "tls", "api-keys", "ssh", "gcp-sa", "aws")
ENV_REFS = ("DB_PASSWORD", "API_TOKEN", "SSH_KEY", "GCP_JSON", "AWS_SECRET", "TLS_PASS")


def secrets_case(count: int) -> Case:
    """``count`` secret volumes, secret env refs and driver env vars: Spark lists up to four in
    the order of its conf's hash set, more in the order of an immutable hash map's trie."""
    return Case(
        f"secrets_{count}",
        [
            "--name",
            f"secrets-{count}",
            *image(),
            *conf(
                *(
                    f"spark.kubernetes.driver.secrets.{s}=/etc/secrets/{s}"
                    for s in SECRET_NAMES[:count]
                ),
                *(
                    f"spark.kubernetes.driver.secretKeyRef.{e}={SECRET_NAMES[i]}:key-{i}"
                    for i, e in enumerate(ENV_REFS[:count])
                ),
                *(f"spark.kubernetes.driverEnv.VAR_{i}=value-{i}" for i in range(count)),
            ),
            PI_PY,
        ],
        groups=("secrets", "env", "order"),
    )


VOL = "spark.kubernetes.driver.volumes"


CASES: list[Case] = [
    Case("jvm_pi", ["--name", "spark-pi", *image(), *SPARK_PI, "100"], groups=("jvm",)),
    Case("python_pi", ["--name", "py-pi", *image(), PI_PY, "10"], groups=("python",)),
    Case(
        "r_app",
        ["--name", "r-app", *image(), "local:///opt/spark/examples/src/main/r/dataframe.R"],
        groups=("r",),
    ),
    Case(
        "app_args",
        [
            "--name",
            "args",
            *image(),
            *SPARK_PI,
            "two words",
            "--input=s3a://bucket/key with space",
            "-x",
            "",
            "ünïcødé",
            "a=b:c#d!e\\f",
        ],
        groups=("arguments",),
    ),
    Case(
        "name_sanitised",
        ["--name", "ETL_job.v2 (daily)", *image(), *SPARK_PI],
        groups=("naming",),
    ),
    Case("name_leading_digit", ["--name", "42-answers", *image(), *SPARK_PI], groups=("naming",)),
    Case("name_long", ["--name", LONG_NAME, *image(), PI_PY], groups=("naming", "service")),
    Case(
        "driver_pod_name",
        [
            "--name",
            "named",
            *image(),
            *conf("spark.kubernetes.driver.pod.name=my-driver-pod"),
            *SPARK_PI,
        ],
        groups=("naming",),
    ),
    Case(
        "labels_annotations",
        [
            "--name",
            "labelled",
            *image(),
            *conf(
                "spark.kubernetes.namespace=spark-jobs",
                "spark.kubernetes.driver.label.team=data",
                "spark.kubernetes.driver.label.app-id={{APP_ID}}",
                "spark.kubernetes.driver.annotation.example.com/run={{APP_ID}}-run",
                "spark.kubernetes.driver.annotation.note=plain text",
                "spark.kubernetes.driver.service.label.svc-team=data",
                "spark.kubernetes.driver.service.annotation.prometheus.io/scrape=true",
                "spark.kubernetes.executor.label.exec-only=yes",
            ),
            *SPARK_PI,
        ],
        groups=("labels", "annotations", "namespace"),
    ),
    Case(
        "env_and_secrets",
        [
            "--name",
            "secrets",
            *image(),
            *conf(
                "spark.kubernetes.driverEnv.ZED=last",
                "spark.kubernetes.driverEnv.ALPHA=first",
                "spark.kubernetes.driverEnv.WITH_EQUALS=a=b",
                "spark.kubernetes.driver.secretKeyRef.DB_PASSWORD=db-secret:password",
                "spark.kubernetes.driver.secretKeyRef.API_TOKEN=api:token",
                "spark.kubernetes.driver.secrets.spark-keys=/etc/keys",
                "spark.kubernetes.driver.secrets.tls=/etc/tls",
                "spark.executorEnv.EXEC_ONLY=1",
            ),
            PI_PY,
        ],
        groups=("env", "secrets"),
    ),
    Case(
        "custom_ports",
        [
            "--name",
            "ports",
            *image(),
            *conf(
                "spark.driver.port=7100",
                "spark.driver.blockManager.port=7200",
                "spark.ui.port=4141",
            ),
            *SPARK_PI,
        ],
        groups=("ports",),
    ),
    Case(
        "memory_factor",
        [
            "--name",
            "mem-factor",
            *image(),
            "--driver-memory",
            "4g",
            *conf("spark.driver.memoryOverheadFactor=0.2"),
            *SPARK_PI,
        ],
        groups=("memory",),
    ),
    Case(
        "memory_absolute",
        [
            "--name",
            "mem-abs",
            *image(),
            "--driver-memory",
            "2048m",
            *conf("spark.driver.memoryOverhead=1g"),
            PI_PY,
        ],
        groups=("memory",),
    ),
    Case(
        "memory_small",
        ["--name", "mem-small", *image(), "--driver-memory", "512m", *SPARK_PI],
        groups=("memory",),
    ),
    Case(
        "memory_python_factor",
        ["--name", "mem-py", *image(), "--driver-memory", "2g", PI_PY],
        groups=("memory", "python"),
    ),
    Case(
        "memory_legacy_factor",
        [
            "--name",
            "mem-legacy",
            *image(),
            "--driver-memory",
            "3g",
            *conf("spark.kubernetes.memoryOverheadFactor=0.3"),
            PI_PY,
        ],
        groups=("memory",),
    ),
    Case(
        "cores",
        [
            "--name",
            "cores",
            *image(),
            "--driver-cores",
            "2",
            *conf(
                "spark.kubernetes.driver.request.cores=500m",
                "spark.kubernetes.driver.limit.cores=3",
            ),
            *SPARK_PI,
        ],
        groups=("cores",),
    ),
    Case(
        "driver_cores_only",
        ["--name", "cores-only", *image(), "--driver-cores", "3", *SPARK_PI],
        groups=("cores",),
    ),
    Case(
        "gpu",
        [
            "--name",
            "gpu",
            *image(),
            *conf(
                "spark.driver.resource.gpu.amount=1",
                "spark.driver.resource.gpu.vendor=nvidia.com",
                "spark.driver.resource.gpu.discoveryScript=/opt/spark/examples/src/main/scripts/getGpusResources.sh",
            ),
            *SPARK_PI,
        ],
        groups=("resources",),
    ),
    Case(
        "node_selectors",
        [
            "--name",
            "nodes",
            *image(),
            *conf(
                "spark.kubernetes.node.selector.disktype=ssd",
                "spark.kubernetes.node.selector.zone=a",
                "spark.kubernetes.driver.node.selector.zone=b",
                "spark.kubernetes.driver.node.selector.node.kubernetes.io/instance-type=m5.xlarge",
                "spark.kubernetes.executor.node.selector.pool=executors",
            ),
            *SPARK_PI,
        ],
        groups=("node selectors",),
    ),
    Case(
        "image_pull",
        [
            "--name",
            "pull",
            *image(),
            *conf(
                "spark.kubernetes.driver.container.image=registry.example.com/spark-driver:4.3.0",
                "spark.kubernetes.container.image.pullPolicy=Always",
                "spark.kubernetes.container.image.pullSecrets=regcred, other-cred",
            ),
            *SPARK_PI,
        ],
        groups=("image", "pull secrets", "pull policy"),
    ),
    Case(
        "scheduler_and_account",
        [
            "--name",
            "sched",
            *image(),
            *conf(
                "spark.kubernetes.scheduler.name=volcano",
                "spark.kubernetes.driver.scheduler.name=yunikorn",
                "spark.kubernetes.authenticate.driver.serviceAccountName=spark-sa",
            ),
            *SPARK_PI,
        ],
        groups=("scheduler", "service account"),
    ),
    Case(
        "global_scheduler",
        [
            "--name",
            "sched-global",
            *image(),
            *conf("spark.kubernetes.scheduler.name=volcano"),
            *SPARK_PI,
        ],
        groups=("scheduler",),
    ),
    Case(
        "volumes",
        [
            "--name",
            "volumes",
            *image(),
            *conf(
                "spark.kubernetes.driver.volumes.hostPath.host-data.mount.path=/host/data",
                "spark.kubernetes.driver.volumes.hostPath.host-data.mount.readOnly=true",
                "spark.kubernetes.driver.volumes.hostPath.host-data.options.path=/mnt/data",
                "spark.kubernetes.driver.volumes.hostPath.host-data.options.type=Directory",
                "spark.kubernetes.driver.volumes.emptyDir.scratch.mount.path=/scratch",
                "spark.kubernetes.driver.volumes.emptyDir.scratch.mount.subPath=part",
                "spark.kubernetes.driver.volumes.emptyDir.scratch.options.medium=Memory",
                "spark.kubernetes.driver.volumes.emptyDir.scratch.options.sizeLimit=2Gi",
                "spark.kubernetes.driver.volumes.nfs.shared.mount.path=/nfs",
                "spark.kubernetes.driver.volumes.nfs.shared.mount.readOnly=false",
                "spark.kubernetes.driver.volumes.nfs.shared.options.server=nfs.example.com",
                "spark.kubernetes.driver.volumes.nfs.shared.options.path=/exports/spark",
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.checkpoints.mount.path=/checkpoints",
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.checkpoints.mount.subPath=job1",
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.checkpoints.options.claimName=ckpt-pvc",
                "spark.kubernetes.executor.volumes.emptyDir.exec-only.mount.path=/exec",
            ),
            *SPARK_PI,
        ],
        groups=("volumes",),
    ),
    Case(
        "local_dirs",
        [
            "--name",
            "local-dirs",
            *image(),
            *conf(
                "spark.kubernetes.local.dirs.tmpfs=true",
                "spark.local.dir=/tmp/spark-a,/tmp/spark-b",
            ),
            *SPARK_PI,
        ],
        groups=("local dirs",),
    ),
    Case(
        "local_dirs_tmpfs_default",
        ["--name", "tmpfs", *image(), *conf("spark.kubernetes.local.dirs.tmpfs=true"), PI_PY],
        groups=("local dirs",),
    ),
    Case(
        "driver_template",
        [
            "--name",
            "templated",
            *image(),
            *conf(
                "spark.kubernetes.driver.podTemplateFile={dir}/driver.yaml",
                "spark.kubernetes.driver.podTemplateContainerName=main",
            ),
            *SPARK_PI,
        ],
        files={"driver.yaml": DRIVER_TEMPLATE},
        groups=("driver pod template",),
    ),
    Case(
        "templates_over_http",
        [
            "--name",
            "http-templates",
            *image(),
            *conf(
                "spark.kubernetes.driver.podTemplateFile={http}/driver.yaml",
                "spark.kubernetes.driver.podTemplateContainerName=main",
                "spark.kubernetes.executor.podTemplateFile={http}/executor.yaml",
            ),
            *SPARK_PI,
        ],
        files={"driver.yaml": DRIVER_TEMPLATE, "executor.yaml": EXECUTOR_TEMPLATE},
        groups=("driver pod template", "executor pod template", "remote template"),
    ),
    Case(
        "executor_template",
        [
            "--name",
            "exec-template",
            *image(),
            *conf("spark.kubernetes.executor.podTemplateFile={dir}/executor.yaml"),
            PI_PY,
        ],
        files={"executor.yaml": EXECUTOR_TEMPLATE},
        groups=("executor pod template",),
    ),
    Case(
        "dual_stack",
        [
            "--name",
            "dual",
            *image(),
            *conf(
                "spark.kubernetes.driver.service.ipFamilyPolicy=PreferDualStack",
                "spark.kubernetes.driver.service.ipFamilies=IPv6,IPv4",
            ),
            *SPARK_PI,
        ],
        groups=("service",),
    ),
    Case(
        "proxy_user",
        ["--name", "proxied", *image(), "--proxy-user", "alice", *SPARK_PI],
        groups=("proxy user",),
    ),
    Case(
        "local_deps",
        [
            "--name",
            "deps",
            *image(),
            "--py-files",
            "local:///opt/deps/lib.zip,local:///opt/deps/util.py",
            "--files",
            "local:///opt/deps/settings.json",
            "--jars",
            "local:///opt/deps/a.jar,local:///opt/deps/b.jar",
            "--archives",
            "local:///opt/deps/env.tar.gz#env",
            PI_PY,
        ],
        groups=("dependencies",),
    ),
    Case(
        "jvm_local_deps",
        [
            "--name",
            "jvm-deps",
            *image(),
            "--jars",
            "local:///opt/deps/a.jar",
            "--files",
            "local:///opt/deps/x.conf,local:///opt/deps/y.conf",
            *SPARK_PI,
        ],
        groups=("dependencies",),
    ),
    Case(
        "properties_file",
        [
            "--properties-file",
            "{dir}/job.properties",
            "--conf",
            "spark.executor.instances=2",
            "--name",
            "flag-wins",
            *SPARK_PI,
        ],
        files={"job.properties": PROPERTIES_FILE},
        groups=("properties file", "precedence"),
    ),
    Case(
        "packages",
        [
            "--name",
            "packages",
            *image(),
            "--packages",
            "org.example:hello:1.0",
            "--repositories",
            "file://{dir}/m2",
            *conf("spark.jars.ivySettings={dir}/ivysettings.xml", "spark.jars.ivy={dir}/ivy"),
            PI_PY,
        ],
        files={
            "ivysettings.xml": IVY_SETTINGS,
            "m2/org/example/hello/1.0/hello-1.0.pom": PACKAGE_POM,
            "m2/org/example/hello/1.0/hello-1.0.jar": "stand-in jar: never opened by spark-submit\n",
        },
        groups=("packages",),
    ),
    Case(
        "combined",
        [
            "--name",
            "combined",
            *image(),
            *conf(
                "spark.kubernetes.namespace=team-a",
                "spark.kubernetes.driver.podTemplateFile={dir}/driver.yaml",
                "spark.kubernetes.executor.podTemplateFile={dir}/executor.yaml",
                "spark.kubernetes.driverEnv.MODE=batch",
                "spark.kubernetes.driver.secretKeyRef.TOKEN=api:token",
                "spark.kubernetes.driver.secrets.creds=/etc/creds",
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.mount.path=/data",
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.options.claimName=data-pvc",
                "spark.kubernetes.local.dirs.tmpfs=true",
                "spark.kubernetes.driver.label.run={{APP_ID}}",
                "spark.kubernetes.authenticate.driver.serviceAccountName=spark",
            ),
            "--driver-memory",
            "1g",
            PI_PY,
            "--partitions",
            "4",
        ],
        files={"driver.yaml": DRIVER_TEMPLATE, "executor.yaml": EXECUTOR_TEMPLATE},
        groups=("feature step order",),
    ),
    Case(
        "resource_flags",
        [
            "--name",
            "flags",
            *image(),
            "--driver-memory",
            "2g",
            "--driver-cores",
            "2",
            "--executor-memory",
            "3g",
            "--executor-cores",
            "4",
            "--num-executors",
            "5",
            *SPARK_PI,
        ],
        groups=("resource flags",),
    ),
    Case(
        "volcano",
        [
            "--name",
            "gang",
            *image(),
            *conf(
                f"spark.kubernetes.driver.pod.featureSteps={VOLCANO_STEP}",
                f"spark.kubernetes.executor.pod.featureSteps={VOLCANO_STEP}",
                "spark.kubernetes.scheduler.name=volcano",
                "spark.kubernetes.scheduler.volcano.podGroupTemplateFile={dir}/podgroup.yaml",
                "spark.kubernetes.driver.label.queue=batch",
            ),
            *SPARK_PI,
        ],
        files={"podgroup.yaml": POD_GROUP_TEMPLATE},
        groups=("volcano feature step",),
    ),
    Case(
        "volcano_inline_template",
        [
            "--name",
            "gang-inline",
            *image(),
            *conf(
                f"spark.kubernetes.driver.pod.featureSteps={VOLCANO_STEP}",
                'spark.kubernetes.scheduler.volcano.podGroupTemplateJson={"spec": {"queue": "q2"}}',
            ),
            *SPARK_PI,
        ],
        groups=("volcano feature step",),
    ),
    Case(
        "kerberos_token_secret",
        [
            "--name",
            "kerberos",
            *image(),
            *conf(
                "spark.kubernetes.hadoop.configMapName=hadoop-conf",
                "spark.kubernetes.kerberos.krb5.configMapName=krb5",
                "spark.kubernetes.kerberos.tokenSecret.name=hadoop-tokens",
                "spark.kubernetes.kerberos.tokenSecret.itemKey=tokens.dt",
            ),
            *SPARK_PI,
        ],
        groups=("kerberos",),
    ),
    Case(
        "security_context_and_service",
        [
            "--name",
            "escalate",
            *image(),
            *conf(
                "spark.kubernetes.securityContext.allowPrivilegeEscalation=true",
                "spark.kubernetes.driver.service.publishNotReadyAddresses=TRUE",
            ),
            *SPARK_PI,
        ],
        groups=("basic driver step", "service"),
    ),
]

# spark-submit uploads local files only with spark.kubernetes.file.upload.path, and only to a
# Hadoop file system it has: pyspark has file:// (no hadoop-aws), so the cases upload there.
UPLOAD_PATH = "spark.kubernetes.file.upload.path=file://{dir}/store"
UPLOAD_FILES = {
    "job.py": "import lib\nprint(lib.X)\n",
    "lib.py": "X = 1\n",
    "pkg/helper.py": "Y = 2\n",
    "data.txt": "data\n",
    "env.tar.gz": "stand-in archive\n",
    "dep.jar": "stand-in jar\n",
    "app.jar": "stand-in application jar\n",
    "store/.keep": "",
}

CASES += [
    Case(
        "upload_python",
        [
            "--name",
            "upload-py",
            *image(),
            *conf(UPLOAD_PATH),
            "--py-files",
            "local:///opt/deps/x.zip,lib.py,{dir}/pkg/helper.py",
            "--files",
            "https://example.com/remote.txt,data.txt",
            "--archives",
            "env.tar.gz#environment",
            "--jars",
            "file://{dir}/dep.jar",
            "job.py",
            "arg",
        ],
        files=UPLOAD_FILES,
        groups=("dependencies", "upload"),
    ),
    Case(
        "upload_jar",
        [
            "--name",
            "upload-jar",
            *image(),
            *conf(UPLOAD_PATH),
            "--jars",
            "https://example.com/r.jar,dep.jar",
            "--class",
            "org.example.Main",
            "app.jar",
        ],
        files=UPLOAD_FILES,
        groups=("dependencies", "upload"),
    ),
    *(secrets_case(n) for n in (3, 4, 5, 6)),
    Case(
        "volumes_two",
        [
            "--name",
            "volumes-two",
            *image(),
            *conf(
                f"{VOL}.hostPath.data.mount.path=/data",
                f"{VOL}.hostPath.data.options.path=/mnt/data",
                f"{VOL}.emptyDir.tmp.mount.path=/tmp/work",
                f"{VOL}.emptyDir.tmp.options.medium=Memory",
            ),
            *SPARK_PI,
        ],
        groups=("volumes", "order"),
    ),
    Case(
        "volumes_six",
        [
            "--name",
            "volumes-six",
            *image(),
            *conf(
                f"{VOL}.hostPath.data.mount.path=/data",
                f"{VOL}.hostPath.data.options.path=/mnt/data",
                f"{VOL}.emptyDir.tmp.mount.path=/tmp/work",
                f"{VOL}.emptyDir.tmp.options.medium=Memory",
                f"{VOL}.nfs.share.mount.path=/nfs",
                f"{VOL}.nfs.share.options.server=nfs.example.com",
                f"{VOL}.nfs.share.options.path=/exports",
                f"{VOL}.persistentVolumeClaim.ckpt.mount.path=/ckpt",
                f"{VOL}.persistentVolumeClaim.ckpt.options.claimName=OnDemand",
                f"{VOL}.persistentVolumeClaim.ckpt.options.storageClass=gp3",
                f"{VOL}.persistentVolumeClaim.ckpt.options.sizeLimit=5Gi",
                f"{VOL}.persistentVolumeClaim.ckpt.label.team=data",
                f"{VOL}.persistentVolumeClaim.ckpt.annotation.note=x",
                f"{VOL}.persistentVolumeClaim.scratch.mount.path=/scratch",
                f"{VOL}.persistentVolumeClaim.scratch.options.claimName=OnDemand",
                f"{VOL}.persistentVolumeClaim.scratch.options.storageClass=standard",
                f"{VOL}.persistentVolumeClaim.scratch.options.sizeLimit=1Gi",
                f"{VOL}.emptyDir.cache.mount.path=/cache",
                f"{VOL}.emptyDir.cache.mount.readOnly=true",
                f"{VOL}.emptyDir.cache.options.sizeLimit=1Gi",
                f"{VOL}.hostPath.logs.mount.path=/logs",
                f"{VOL}.hostPath.logs.mount.subPath=app",
                f"{VOL}.hostPath.logs.options.path=/var/log",
                f"{VOL}.hostPath.logs.options.type=Directory",
                "spark.kubernetes.driver.secrets.tls=/etc/tls",
                "spark.kubernetes.driver.secretKeyRef.TOKEN=api:token",
            ),
            *SPARK_PI,
        ],
        groups=("volumes", "secrets", "order"),
    ),
]

CASES_BY_ID: dict[str, Case] = {c.id: c for c in CASES}
