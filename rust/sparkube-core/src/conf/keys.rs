//! Spark conf keys read or written by sparkube, named after Spark's own config entries.

/// `spark.master`.
pub const MASTER: &str = "spark.master";
/// `spark.submit.deployMode`.
pub const DEPLOY_MODE: &str = "spark.submit.deployMode";
/// `spark.app.name`.
pub const APP_NAME: &str = "spark.app.name";
/// `spark.app.id`.
pub const APP_ID: &str = "spark.app.id";
/// `spark.app.submitTime`.
pub const APP_SUBMIT_TIME: &str = "spark.app.submitTime";
/// `spark.jars`.
pub const JARS: &str = "spark.jars";
/// `spark.files`.
pub const FILES: &str = "spark.files";
/// `spark.archives`.
pub const ARCHIVES: &str = "spark.archives";
/// `spark.submit.pyFiles`.
pub const PY_FILES: &str = "spark.submit.pyFiles";
/// `spark.jars.packages`.
pub const PACKAGES: &str = "spark.jars.packages";
/// `spark.jars.repositories`.
pub const REPOSITORIES: &str = "spark.jars.repositories";
/// `spark.jars.excludes`.
pub const PACKAGES_EXCLUDES: &str = "spark.jars.excludes";
/// `spark.driver.memory`.
pub const DRIVER_MEMORY: &str = "spark.driver.memory";
/// `spark.driver.cores`.
pub const DRIVER_CORES: &str = "spark.driver.cores";
/// `spark.driver.memoryOverhead`.
pub const DRIVER_MEMORY_OVERHEAD: &str = "spark.driver.memoryOverhead";
/// `spark.driver.memoryOverheadFactor`.
pub const DRIVER_MEMORY_OVERHEAD_FACTOR: &str = "spark.driver.memoryOverheadFactor";
/// `spark.driver.minMemoryOverhead`.
pub const DRIVER_MIN_MEMORY_OVERHEAD: &str = "spark.driver.minMemoryOverhead";
/// `spark.driver.extraJavaOptions`.
pub const DRIVER_JAVA_OPTIONS: &str = "spark.driver.extraJavaOptions";
/// `spark.driver.extraLibraryPath`.
pub const DRIVER_LIBRARY_PATH: &str = "spark.driver.extraLibraryPath";
/// `spark.driver.extraClassPath`.
pub const DRIVER_CLASS_PATH: &str = "spark.driver.extraClassPath";
/// `spark.driver.host`.
pub const DRIVER_HOST: &str = "spark.driver.host";
/// `spark.driver.port`.
pub const DRIVER_PORT: &str = "spark.driver.port";
/// `spark.driver.blockManager.port`.
pub const DRIVER_BLOCK_MANAGER_PORT: &str = "spark.driver.blockManager.port";
/// `spark.driver.resource.` (prefix of `X.amount` / `X.vendor`).
pub const DRIVER_RESOURCE_PREFIX: &str = "spark.driver.resource.";
/// `spark.ui.port`.
pub const UI_PORT: &str = "spark.ui.port";
/// `spark.executor.memory`.
pub const EXECUTOR_MEMORY: &str = "spark.executor.memory";
/// `spark.executor.cores`.
pub const EXECUTOR_CORES: &str = "spark.executor.cores";
/// `spark.executor.instances`.
pub const EXECUTOR_INSTANCES: &str = "spark.executor.instances";
/// `spark.executor.memoryOverhead`.
pub const EXECUTOR_MEMORY_OVERHEAD: &str = "spark.executor.memoryOverhead";
/// `spark.cores.max`.
pub const CORES_MAX: &str = "spark.cores.max";
/// `spark.dynamicAllocation.enabled`.
pub const DYN_ALLOCATION_ENABLED: &str = "spark.dynamicAllocation.enabled";
/// `spark.dynamicAllocation.minExecutors`.
pub const DYN_ALLOCATION_MIN: &str = "spark.dynamicAllocation.minExecutors";
/// `spark.dynamicAllocation.maxExecutors`.
pub const DYN_ALLOCATION_MAX: &str = "spark.dynamicAllocation.maxExecutors";
/// `spark.dynamicAllocation.initialExecutors`.
pub const DYN_ALLOCATION_INITIAL: &str = "spark.dynamicAllocation.initialExecutors";
/// `spark.dynamicAllocation.shuffleTracking.enabled`.
pub const DYN_ALLOCATION_SHUFFLE_TRACKING: &str = "spark.dynamicAllocation.shuffleTracking.enabled";
/// `spark.local.dir`.
pub const LOCAL_DIR: &str = "spark.local.dir";
/// `spark.kerberos.principal`.
pub const PRINCIPAL: &str = "spark.kerberos.principal";
/// `spark.kerberos.keytab`.
pub const KEYTAB: &str = "spark.kerberos.keytab";
/// `spark.connect.grpc.binding.port`.
pub const CONNECT_PORT: &str = "spark.connect.grpc.binding.port";

/// `spark.kubernetes.namespace`.
pub const NAMESPACE: &str = "spark.kubernetes.namespace";
/// `spark.kubernetes.container.image`.
pub const CONTAINER_IMAGE: &str = "spark.kubernetes.container.image";
/// `spark.kubernetes.driver.container.image`.
pub const DRIVER_CONTAINER_IMAGE: &str = "spark.kubernetes.driver.container.image";
/// `spark.kubernetes.container.image.pullPolicy`.
pub const IMAGE_PULL_POLICY: &str = "spark.kubernetes.container.image.pullPolicy";
/// `spark.kubernetes.container.image.pullSecrets`.
pub const IMAGE_PULL_SECRETS: &str = "spark.kubernetes.container.image.pullSecrets";
/// `spark.kubernetes.driver.pod.name`.
pub const DRIVER_POD_NAME: &str = "spark.kubernetes.driver.pod.name";
/// `spark.kubernetes.driver.label.`.
pub const DRIVER_LABEL_PREFIX: &str = "spark.kubernetes.driver.label.";
/// `spark.kubernetes.driver.annotation.`.
pub const DRIVER_ANNOTATION_PREFIX: &str = "spark.kubernetes.driver.annotation.";
/// `spark.kubernetes.executor.label.`.
pub const EXECUTOR_LABEL_PREFIX: &str = "spark.kubernetes.executor.label.";
/// `spark.kubernetes.executor.annotation.`.
pub const EXECUTOR_ANNOTATION_PREFIX: &str = "spark.kubernetes.executor.annotation.";
/// `spark.kubernetes.driver.service.label.`.
pub const DRIVER_SERVICE_LABEL_PREFIX: &str = "spark.kubernetes.driver.service.label.";
/// `spark.kubernetes.driver.service.annotation.`.
pub const DRIVER_SERVICE_ANNOTATION_PREFIX: &str = "spark.kubernetes.driver.service.annotation.";
/// `spark.kubernetes.driver.service.ipFamilyPolicy`.
pub const DRIVER_SERVICE_IP_FAMILY_POLICY: &str = "spark.kubernetes.driver.service.ipFamilyPolicy";
/// `spark.kubernetes.driver.service.ipFamilies`.
pub const DRIVER_SERVICE_IP_FAMILIES: &str = "spark.kubernetes.driver.service.ipFamilies";
/// `spark.kubernetes.driver.service.publishNotReadyAddresses`.
pub const DRIVER_SERVICE_PUBLISH_NOT_READY: &str =
    "spark.kubernetes.driver.service.publishNotReadyAddresses";
/// `spark.kubernetes.securityContext.allowPrivilegeEscalation` (driver and executors).
pub const ALLOW_PRIVILEGE_ESCALATION: &str =
    "spark.kubernetes.securityContext.allowPrivilegeEscalation";
/// `spark.kubernetes.driver.securityContext.allowPrivilegeEscalation` (falls back to
/// [`ALLOW_PRIVILEGE_ESCALATION`]).
pub const DRIVER_ALLOW_PRIVILEGE_ESCALATION: &str =
    "spark.kubernetes.driver.securityContext.allowPrivilegeEscalation";
/// `spark.kubernetes.driverEnv.`.
pub const DRIVER_ENV_PREFIX: &str = "spark.kubernetes.driverEnv.";
/// `spark.kubernetes.driver.secretKeyRef.`.
pub const DRIVER_SECRET_KEY_REF_PREFIX: &str = "spark.kubernetes.driver.secretKeyRef.";
/// `spark.kubernetes.executor.secretKeyRef.`.
pub const EXECUTOR_SECRET_KEY_REF_PREFIX: &str = "spark.kubernetes.executor.secretKeyRef.";
/// `spark.kubernetes.driver.secrets.`.
pub const DRIVER_SECRETS_PREFIX: &str = "spark.kubernetes.driver.secrets.";
/// `spark.kubernetes.executor.secrets.`.
pub const EXECUTOR_SECRETS_PREFIX: &str = "spark.kubernetes.executor.secrets.";
/// `spark.kubernetes.driver.volumes.`.
pub const DRIVER_VOLUMES_PREFIX: &str = "spark.kubernetes.driver.volumes.";
/// `spark.kubernetes.executor.volumes.`.
pub const EXECUTOR_VOLUMES_PREFIX: &str = "spark.kubernetes.executor.volumes.";
/// `spark.kubernetes.node.selector.`.
pub const NODE_SELECTOR_PREFIX: &str = "spark.kubernetes.node.selector.";
/// `spark.kubernetes.driver.node.selector.`.
pub const DRIVER_NODE_SELECTOR_PREFIX: &str = "spark.kubernetes.driver.node.selector.";
/// `spark.kubernetes.executor.node.selector.`.
pub const EXECUTOR_NODE_SELECTOR_PREFIX: &str = "spark.kubernetes.executor.node.selector.";
/// `spark.kubernetes.scheduler.name`.
pub const SCHEDULER_NAME: &str = "spark.kubernetes.scheduler.name";
/// `spark.kubernetes.driver.scheduler.name`.
pub const DRIVER_SCHEDULER_NAME: &str = "spark.kubernetes.driver.scheduler.name";
/// `spark.kubernetes.authenticate.driver.serviceAccountName`.
pub const DRIVER_SERVICE_ACCOUNT: &str = "spark.kubernetes.authenticate.driver.serviceAccountName";
/// `spark.kubernetes.authenticate.executor.serviceAccountName`.
pub const EXECUTOR_SERVICE_ACCOUNT: &str =
    "spark.kubernetes.authenticate.executor.serviceAccountName";
/// `spark.kubernetes.driver.request.cores`.
pub const DRIVER_REQUEST_CORES: &str = "spark.kubernetes.driver.request.cores";
/// `spark.kubernetes.driver.limit.cores`.
pub const DRIVER_LIMIT_CORES: &str = "spark.kubernetes.driver.limit.cores";
/// `spark.kubernetes.executor.request.cores`.
pub const EXECUTOR_REQUEST_CORES: &str = "spark.kubernetes.executor.request.cores";
/// `spark.kubernetes.memoryOverheadFactor` (deprecated, still written back by spark-submit).
pub const MEMORY_OVERHEAD_FACTOR: &str = "spark.kubernetes.memoryOverheadFactor";
/// `spark.kubernetes.local.dirs.tmpfs`.
pub const LOCAL_DIRS_TMPFS: &str = "spark.kubernetes.local.dirs.tmpfs";
/// `spark.kubernetes.driver.podTemplateFile`.
pub const DRIVER_POD_TEMPLATE_FILE: &str = "spark.kubernetes.driver.podTemplateFile";
/// `spark.kubernetes.driver.podTemplateContainerName`.
pub const DRIVER_POD_TEMPLATE_CONTAINER: &str = "spark.kubernetes.driver.podTemplateContainerName";
/// `spark.kubernetes.executor.podTemplateFile`.
pub const EXECUTOR_POD_TEMPLATE_FILE: &str = "spark.kubernetes.executor.podTemplateFile";
/// `spark.kubernetes.submitInDriver`.
pub const SUBMIT_IN_DRIVER: &str = "spark.kubernetes.submitInDriver";
/// `spark.kubernetes.resource.type`.
pub const RESOURCE_TYPE: &str = "spark.kubernetes.resource.type";
/// `spark.kubernetes.file.upload.path`.
pub const FILE_UPLOAD_PATH: &str = "spark.kubernetes.file.upload.path";
/// `spark.kubernetes.authenticate.driver.` (prefix of the driver's API credentials).
pub const DRIVER_AUTH_PREFIX: &str = "spark.kubernetes.authenticate.driver.";
/// `spark.kubernetes.authenticate.driver.mounted.` (prefix of credentials already in the pod).
pub const DRIVER_MOUNTED_AUTH_PREFIX: &str = "spark.kubernetes.authenticate.driver.mounted.";

/// sparkube's submission id (`sparkube.io/submission-id` label); random when unset.
pub const SUBMISSION_ID: &str = "sparkube.submission.id";
