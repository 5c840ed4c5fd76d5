"""Kubernetes auth for the gateways: `auth/kubernetes`, one role per provider bound to its service account.

Each role `llm-gateway-<provider>` accepts only the provider's service account in one namespace and
grants only that provider's policy, so a pod of another provider (another service account) is refused
at login. Vault checks tokens with the cluster's TokenReview API at `kubernetes_host`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import hvac
from hvac import exceptions as hvac_errors

from vaultctl.connection import Reporter, VaultctlError, parse_duration
from vaultctl.policies import gateway_policy_name

DEFAULT_SERVICE_ACCOUNT = "llm-gateway-{provider}"


@dataclass(frozen=True, slots=True)
class KubernetesAuthOptions:
    """Where the cluster is and which service account of which namespace each provider's role binds."""

    host: str
    namespace: str
    service_account: str = DEFAULT_SERVICE_ACCOUNT  # format with {provider}
    ca_cert: str | None = None  # PEM of the API server's CA
    reviewer_jwt: str | None = None  # None: Vault uses its own pod token (in cluster) or the caller's JWT
    audience: str | None = None
    token_ttl: int = 300
    token_max_ttl: int = 3600
    mount: str = "kubernetes"

    def desired_role(self, provider: str) -> dict:
        """Return the role fields as Vault reports them on read."""
        return {
            "bound_service_account_names": [self.service_account.format(provider=provider)],
            "bound_service_account_namespaces": [self.namespace],
            "token_policies": [gateway_policy_name(provider)],
            "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl,
            "audience": self.audience or "",  # "" clears an audience set by an earlier run
        }


def ensure_kubernetes_auth(client: hvac.Client, opts: KubernetesAuthOptions, providers: tuple[str, ...],
                           report: Reporter) -> None:
    """Enable auth/kubernetes, write its config and one role per provider (idempotent)."""
    path = f"{opts.mount}/"
    methods = client.sys.list_auth_methods()
    if path in (methods.get("data") or methods):
        report.unchanged("auth", path)
    else:
        client.sys.enable_auth_method("kubernetes", path=opts.mount)
        report.changed("auth", path, "enabled")
    _ensure_config(client, opts, report)
    for provider in providers:
        name = gateway_policy_name(provider)
        desired = opts.desired_role(provider)
        try:
            current = client.auth.kubernetes.read_role(name=name, mount_point=opts.mount)
        except hvac_errors.InvalidPath:
            current = None
        if current is not None and all(current.get(k) == v for k, v in desired.items()):
            report.unchanged("k8s-role", name)
            continue
        client.write_data(f"auth/{opts.mount}/role/{name}", data={**desired, "token_type": "service"})
        report.changed("k8s-role", name, f"bound to {opts.namespace}/{desired['bound_service_account_names'][0]}")


def _ensure_config(client: hvac.Client, opts: KubernetesAuthOptions, report: Reporter) -> None:
    try:
        current = client.auth.kubernetes.read_config(mount_point=opts.mount)
    except hvac_errors.InvalidPath:
        current = {}
    same = (current.get("kubernetes_host") == opts.host
            and (current.get("kubernetes_ca_cert") or None) == opts.ca_cert
            and opts.reviewer_jwt is None)  # the reviewer JWT is never read back: rewrite when given
    if same:
        report.unchanged("k8s-config", opts.host)
        return
    client.auth.kubernetes.configure(kubernetes_host=opts.host, kubernetes_ca_cert=opts.ca_cert,
                                     token_reviewer_jwt=opts.reviewer_jwt, mount_point=opts.mount)
    report.changed("k8s-config", opts.host, "written")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the --k8s-* options of `vaultctl bootstrap`."""
    group = parser.add_argument_group("Kubernetes auth (configured when --k8s-host is given)")
    group.add_argument("--k8s-host", help="Kubernetes API URL Vault sends TokenReviews to")
    group.add_argument("--k8s-ca-cert", type=Path, help="PEM file of the API server's CA")
    group.add_argument("--k8s-reviewer-jwt-file", type=Path, help="token allowed to create TokenReviews")
    group.add_argument("--k8s-namespace", help="namespace of the gateways' service accounts")
    group.add_argument("--k8s-service-account", default=DEFAULT_SERVICE_ACCOUNT,
                       help="service-account name per provider (default: llm-gateway-{provider})")
    group.add_argument("--k8s-audience", help="required audience of the service-account tokens")
    group.add_argument("--k8s-mount", default="kubernetes", help="auth mount path (default: kubernetes)")


def options_from_args(args: argparse.Namespace) -> KubernetesAuthOptions | None:
    """Return the Kubernetes auth options, or None when --k8s-host is absent."""
    if not args.k8s_host:
        return None
    if not args.k8s_namespace:
        raise VaultctlError("--k8s-namespace is required with --k8s-host")
    if "{provider}" not in args.k8s_service_account:
        raise VaultctlError("--k8s-service-account must contain {provider}: one account per provider")
    return KubernetesAuthOptions(
        host=args.k8s_host, namespace=args.k8s_namespace, service_account=args.k8s_service_account,
        ca_cert=args.k8s_ca_cert.read_text() if args.k8s_ca_cert else None,
        reviewer_jwt=args.k8s_reviewer_jwt_file.read_text().strip() if args.k8s_reviewer_jwt_file else None,
        audience=args.k8s_audience, mount=args.k8s_mount,
        token_ttl=parse_duration(args.token_ttl), token_max_ttl=parse_duration(args.token_max_ttl),
    )
