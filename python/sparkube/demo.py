"""`make demo`: the example Spark application, rendered as the objects sparkube sends."""

from __future__ import annotations

import json

from sparkube import Executor, SparkApp, render

EXAMPLE = SparkApp(
    name="spark-pi",
    application="local:///opt/spark/examples/src/main/python/pi.py",
    arguments=["100"],
    image="apache/spark:4.0.1",
    master="k8s://https://kubernetes.default.svc",
    namespace="spark-apps",
    executor=Executor(instances=2),
)


def main() -> None:
    """Render the example app and summarise what would be created."""
    objects = render(EXAMPLE)
    for obj in objects:
        print(f"{obj['kind']:<14} {obj['metadata']['name']}")
    pod = objects[0]
    print(json.dumps(pod["spec"]["containers"][0]["args"]))


if __name__ == "__main__":
    main()
