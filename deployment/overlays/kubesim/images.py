"""Prints the kubesim images file (`kubesim --runtime process --images FILE`) that stands in
for deployment/'s own images on this checkout, with kubesim's built-in table after it (Spark
from pyspark, MinIO as moto):

    sparkube/sparkube            the sparkube CLI of this Python environment
    sparkube/spark-ui-proxy      deployment/images/spark-ui-proxy/spark_ui_proxy.py on it
    sparkube/spark-app-example   Spark with deployment/images/spark-app-example/apps

Usage: python deployment/overlays/kubesim/images.py > images.yaml
The Python environment and the checkout are mounted at their own paths (pods get a /tmp of
their own, where either may live).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
IMAGES = REPO / "deployment" / "images"


def images_file() -> dict[str, Any]:
    """The images file for this checkout and the running Python."""
    prefix = Path(sys.prefix)
    own = [{"source": str(p), "target": str(p)} for p in (prefix, REPO)]
    env = {
        "PATH": f"{prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/tmp",
    }
    return {
        "builtin": True,
        "images": [
            {
                "match": ["sparkube/sparkube:*", "*/sparkube/sparkube:*"],
                "mounts": own,
                "entrypoint": [str(prefix / "bin" / "sparkube")],
                "args": ["--help"],
                "env": env,
            },
            {
                "match": ["sparkube/spark-ui-proxy:*", "*/sparkube/spark-ui-proxy:*"],
                "mounts": [
                    *own,
                    {
                        "source": str(IMAGES / "spark-ui-proxy" / "spark_ui_proxy.py"),
                        "target": "/app/spark_ui_proxy.py",
                    },
                ],
                "entrypoint": [sys.executable, "/app/spark_ui_proxy.py"],
                "env": env,
            },
            {
                "match": ["sparkube/spark-app-example:*", "*/sparkube/spark-app-example:*"],
                "base": "apache/spark:4",
                "mounts": [
                    {
                        "source": str(IMAGES / "spark-app-example" / "apps"),
                        "target": "/opt/sparkube/apps",
                    }
                ],
            },
        ],
    }


class _Dumper(yaml.SafeDumper):
    """Writes shared values out in full (no YAML anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(path: Path) -> None:
    """Writes the images file to `path`."""
    path.write_text(yaml.dump(images_file(), Dumper=_Dumper, sort_keys=False))


if __name__ == "__main__":
    yaml.dump(images_file(), sys.stdout, Dumper=_Dumper, sort_keys=False)
