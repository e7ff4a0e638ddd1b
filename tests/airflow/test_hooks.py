"""`SparkKubernetesHook`: the standard Kubernetes connection's extras as `sparkube.Client` kwargs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from sparkube.airflow.hooks import SparkKubernetesHook, client_kwargs_from_extras
from sparkube.errors import ConfigError

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "s3cr3t-token-value"}}],
    "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "ctx",
}
KUBECONFIG_YAML = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: s3cr3t-token-value}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        ({}, {}),
        ({"in_cluster": True}, {"in_cluster": True}),
        ({"in_cluster": "true"}, {"in_cluster": True}),
        ({"in_cluster": "False"}, {}),
        ({"kube_config_path": "/etc/kube/config"}, {"kubeconfig": "/etc/kube/config"}),
        ({"kube_config": json.dumps(KUBECONFIG)}, {"kubeconfig": KUBECONFIG}),
        ({"kube_config": KUBECONFIG_YAML}, {"kubeconfig": KUBECONFIG}),
        ({"kube_config": KUBECONFIG}, {"kubeconfig": KUBECONFIG}),
        (
            {"cluster_context": "prod", "namespace": "spark"},
            {"context": "prod", "namespace": "spark"},
        ),
        ({"disable_verify_ssl": "true"}, {"verify_ssl": False}),
        ({"disable_verify_ssl": False}, {}),
        # The legacy prefixed form of every extra.
        (
            {
                "extra__kubernetes__kube_config_path": "/k",
                "extra__kubernetes__cluster_context": "c",
                "extra__kubernetes__namespace": "ns",
                "extra__kubernetes__disable_verify_ssl": True,
            },
            {"kubeconfig": "/k", "context": "c", "namespace": "ns", "verify_ssl": False},
        ),
        ({"extra__kubernetes__in_cluster": True}, {"in_cluster": True}),
        ({"extra__kubernetes__kube_config": KUBECONFIG_YAML}, {"kubeconfig": KUBECONFIG}),
        # The plain form wins over the prefixed one; empty values count as unset.
        ({"namespace": "a", "extra__kubernetes__namespace": "b"}, {"namespace": "a"}),
        ({"namespace": "", "extra__kubernetes__namespace": "b"}, {"namespace": "b"}),
        ({"kube_config_path": "", "kube_config": "", "in_cluster": ""}, {}),
    ],
)
def test_extras_to_client_kwargs(extras: dict[str, Any], expected: dict[str, Any]) -> None:
    assert client_kwargs_from_extras(extras) == expected


@pytest.mark.parametrize(
    ("extras", "option"),
    [
        ({"in_cluster": True, "kube_config_path": "/k"}, "kube_config_path"),
        (
            {"kube_config_path": "/k", "extra__kubernetes__kube_config": KUBECONFIG_YAML},
            "kube_config",
        ),
        ({"in_cluster": "perhaps"}, "in_cluster"),
        ({"disable_verify_ssl": "2"}, "disable_verify_ssl"),
        ({"kube_config": "[1, 2]"}, "kube_config"),
        ({"kube_config": 42}, "kube_config"),
    ],
)
def test_invalid_extras_name_the_extra(extras: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError) as err:
        client_kwargs_from_extras(extras)
    assert err.value.option == option


def test_unparsable_inline_kubeconfig_does_not_leak_its_content() -> None:
    broken = "token: s3cr3t-token-value\n  : : [unbalanced"
    with pytest.raises(ConfigError) as err:
        client_kwargs_from_extras({"kube_config": broken})
    assert "s3cr3t" not in str(err.value)
    assert "line" in str(err.value)


def test_connection_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "kubernetes",
        "extra": {"kube_config_path": "/x/config", "namespace": "spark"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_K8S_TEST", json.dumps(conn))
    hook = SparkKubernetesHook("k8s_test")
    assert hook.client_kwargs == {"kubeconfig": "/x/config", "namespace": "spark"}
    assert hook.namespace == "spark"
    assert asyncio.run(SparkKubernetesHook("k8s_test").client_kwargs_async()) == hook.client_kwargs


def test_connection_uri_with_legacy_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_K8S_URI",
        "kubernetes://?extra__kubernetes__in_cluster=True&extra__kubernetes__namespace=jobs",
    )
    assert SparkKubernetesHook("k8s_uri").client_kwargs == {"in_cluster": True, "namespace": "jobs"}


def test_hook_namespace_wins_over_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_K8S_NS", json.dumps({"conn_type": "kubernetes", "extra": {"namespace": "a"}})
    )
    assert SparkKubernetesHook("k8s_ns", namespace="b").client_kwargs == {"namespace": "b"}


def test_missing_default_connection_means_default_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    assert SparkKubernetesHook().client_kwargs == {}


def test_missing_named_connection_is_an_error() -> None:
    with pytest.raises(Exception, match="does_not_exist"):
        _ = SparkKubernetesHook("does_not_exist").client_kwargs


def test_a_session_needs_an_image() -> None:
    with pytest.raises(ConfigError) as err, SparkKubernetesHook(None).session():
        pass
    assert err.value.option == "image"


def test_a_session_whose_server_never_answers_fails_and_leaves_nothing(kube_conn: Any) -> None:
    import sparkube

    # kubesim's simulated driver runs (until deleted), but no Spark Connect server answers in it.
    app = sparkube.SparkApp.session(
        "never", image="apache/spark:4.0.1", annotations={"kubesim.io/run-seconds": "inf"}
    )
    with (
        pytest.raises(sparkube.StartupTimeout, match="did not answer"),
        SparkKubernetesHook().session(app=app, timeout=1),
    ):
        pass
    deadline = time.monotonic() + 30
    while kube_conn.pods(f"{sparkube._core.SESSION_LABEL}=never"):
        assert time.monotonic() < deadline, "the server was left behind"
        time.sleep(0.2)
