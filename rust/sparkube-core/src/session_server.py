"""The driver program of a sparkube session: Spark's Connect server, stopped when idle.

Spark's own `SparkConnectServer` runs until it is killed, so a client that goes away (a dead
kernel, a sleeping laptop) would leave it and its executors running. This program starts the
same Connect service inside its SparkContext and asks Spark's Connect managers how recently a
client was served: a session's last access time moves on every RPC, the execution manager
reports whether a query is being served. When neither moved for the idle
timeout (conf `spark.sparkube.session.idleTimeout`, a Spark duration), it stops the service and
the SparkContext, so the driver ends (Succeeded) and Spark deletes its executors.
"""

import time

from pyspark.sql import SparkSession

IDLE_TIMEOUT_KEY = "spark.sparkube.session.idleTimeout"


def last_activity(service, now_ms):
    """The time in ms of the last client request the Connect service saw (`now_ms` while a
    query is served). Sessions' access times are wall-clock ms; the execution manager's own
    last-execution time is not (it counts from an arbitrary origin), so it is not used."""
    executions = service.executionManager().listActiveExecutions()
    if executions.isRight():
        # A finished query stays listed until its client releases it, or until the manager
        # abandons it (`spark.connect.execute.manager.detachedTimeout`): only one an RPC is
        # attached to is activity.
        running = executions.right().get()
        for i in range(running.size()):
            if running.apply(i).lastAttachedRpcTimeNs().isEmpty():
                return now_ms
    latest = 0
    sessions = service.sessionManager().listActiveSessions()
    for i in range(sessions.size()):
        latest = max(latest, sessions.apply(i).lastAccessTimeMs())
    return latest


def main():
    spark = SparkSession.builder.getOrCreate()
    context = spark.sparkContext._jsc.sc()
    idle_ms = context.conf().getTimeAsMs(IDLE_TIMEOUT_KEY, "30min")
    package = spark.sparkContext._jvm.org.apache.spark.sql.connect.service
    package.SparkConnectService.start(context)
    # The client follows the log for this line (sparkube_core::session::READY_LINE).
    print("sparkube: Spark Connect server listening", flush=True)
    service = getattr(getattr(package, "SparkConnectService$"), "MODULE$")
    poll = min(max(idle_ms / 10, 200), 10_000) / 1000
    latest = int(time.time() * 1000)
    while True:
        time.sleep(poll)
        now = int(time.time() * 1000)
        latest = max(latest, last_activity(service, now))
        if now - latest >= idle_ms:
            break
    print(
        f"sparkube: no Spark Connect request for {idle_ms / 1000:g} s "
        f"({IDLE_TIMEOUT_KEY}); stopping the server",
        flush=True,
    )
    default = getattr(service, "stop$default$1")()
    service.stop(default, getattr(service, "stop$default$2")())
    spark.stop()


if __name__ == "__main__":
    main()
