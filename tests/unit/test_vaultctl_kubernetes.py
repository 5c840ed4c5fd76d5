"""`vaultctl bootstrap --k8s-*` options: what they require and the role each provider gets."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vaultctl.cli import build_parser
from vaultctl.connection import VaultctlError
from vaultctl.kubernetes import options_from_args


def _args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["bootstrap", *extra])


def test_without_k8s_host_nothing_is_configured() -> None:
    assert options_from_args(_args()) is None


def test_namespace_and_a_per_provider_account_are_required() -> None:
    with pytest.raises(VaultctlError, match="--k8s-namespace is required"):
        options_from_args(_args("--k8s-host", "https://k8s:6443"))
    with pytest.raises(VaultctlError, match=r"must contain \{provider\}"):
        options_from_args(_args("--k8s-host", "https://k8s:6443", "--k8s-namespace", "llm",
                                "--k8s-service-account", "shared-gateway"))


def test_each_role_binds_one_account_in_one_namespace_to_one_policy(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    opts = options_from_args(_args("--k8s-host", "https://k8s:6443", "--k8s-namespace", "prod",
                                   "--k8s-service-account", "llm-{provider}", "--k8s-ca-cert",
                                   str(tmp_path / "ca.pem"), "--token-ttl", "10m"))
    assert opts is not None and opts.ca_cert == "-----BEGIN CERTIFICATE-----\n"
    role = opts.desired_role("cohere")
    assert role["bound_service_account_names"] == ["llm-cohere"]
    assert role["bound_service_account_namespaces"] == ["prod"]
    assert role["token_policies"] == ["llm-gateway-cohere"]
    assert (role["token_ttl"], role["audience"]) == (600, "")
