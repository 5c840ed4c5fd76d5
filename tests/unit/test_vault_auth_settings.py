"""GATEWAY_VAULT_AUTH: which login the vault backend is built with, and what each one requires."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from gateway.runtime import build_backend
from gateway.secrets.vault import VaultSecretsBackend
from gateway.secrets.vault_login import AppRoleLogin, KubernetesLogin


def test_kubernetes_auth_needs_no_approle_files_and_defaults_to_the_provider_role() -> None:
    settings = load_settings(provider="anthropic", secrets_backend="vault", vault_addr="https://vault:8200",
                             vault_auth="kubernetes")
    backend = build_backend(settings)
    assert isinstance(backend, VaultSecretsBackend) and isinstance(backend.auth, KubernetesLogin)
    assert backend.auth.role == "llm-gateway-anthropic"
    assert backend.auth.token_file == Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    assert backend.status().as_dict()["auth_method"] == "kubernetes"


def test_kubernetes_role_token_file_and_mount_are_settable(tmp_path: Path) -> None:
    settings = load_settings(provider="cohere", secrets_backend="vault", vault_addr="https://vault:8200",
                             vault_auth="kubernetes", vault_kubernetes_role="gw-cohere",
                             vault_kubernetes_token_file=tmp_path / "t", vault_kubernetes_mount="k8s-prod")
    backend = build_backend(settings)
    assert isinstance(backend, VaultSecretsBackend) and isinstance(backend.auth, KubernetesLogin)
    auth = backend.auth
    assert (auth.role, auth.token_file, auth.mount) == ("gw-cohere", tmp_path / "t", "k8s-prod")


def test_approle_stays_the_default_and_still_needs_its_files() -> None:
    with pytest.raises(ConfigError, match=r"GATEWAY_VAULT_ROLE_ID_FILE is required .*GATEWAY_VAULT_AUTH=approle"):
        load_settings(provider="openai", secrets_backend="vault", vault_addr="http://127.0.0.1:8200")
    settings = load_settings(provider="openai", secrets_backend="vault", vault_addr="http://127.0.0.1:8200",
                             vault_role_id_file="/r", vault_secret_id_file="/s")
    backend = build_backend(settings)
    assert isinstance(backend, VaultSecretsBackend)
    assert isinstance(backend.auth, AppRoleLogin)


def test_unknown_auth_method_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_VAULT_AUTH"):
        load_settings(provider="openai", secrets_backend="vault", vault_addr="http://x:1", vault_auth="jwt")
