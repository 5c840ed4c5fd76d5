"""Idempotent bootstrap: mounts, auth, audit, policies, AppRoles, provider keys, clients, credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import hvac
from hvac import exceptions as hvac_errors

import catalogue
from vaultctl import approle, clients, kubernetes, kv
from vaultctl.connection import Reporter, VaultctlError, write_secret_file
from vaultctl.policies import DEFAULT_MOUNT, PROVIDERS, render_policies
from vaultctl.refresher import ensure_issuer_token

AUDIT_API_REFUSED = ("declarative", "cannot enable audit device via api")


@dataclass
class BootstrapOptions:
    """Everything `vaultctl bootstrap` does, as data."""

    mount: str = DEFAULT_MOUNT
    providers: tuple[str, ...] = PROVIDERS
    role: approle.RoleSettings = field(default_factory=approle.RoleSettings)
    audit_file: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    clients: list[tuple[str, list[str]]] = field(default_factory=list)
    client_keys_file: Path | None = None
    out_dir: Path | None = None
    wrap_ttl: int | None = None
    max_versions: int = kv.DEFAULT_MAX_VERSIONS
    issuer_token_file: Path | None = None  # mint a `llm-secret-id-issuer` token for the refresher here
    kubernetes: kubernetes.KubernetesAuthOptions | None = None  # also set up auth/kubernetes (Helm chart)
    force: bool = False  # overwrite stored provider keys with the given ones


def _data(answer: dict) -> dict:
    return answer.get("data") or answer


def ensure_kv_mount(client: hvac.Client, mount: str, report: Reporter) -> None:
    """Enable KV v2 at mount unless it is there."""
    current = _data(client.sys.list_mounted_secrets_engines()).get(f"{mount}/")
    if current is None:
        client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
        report.changed("mount", f"{mount}/", "enabled KV v2")
        return
    version = str((current.get("options") or {}).get("version") or "1")
    if current.get("type") not in ("kv", "generic") or version != "2":
        raise VaultctlError(f"{mount}/ is {current.get('type')} v{version}, not KV v2; use another --mount")
    report.unchanged("mount", f"{mount}/", "KV v2")


def ensure_approle(client: hvac.Client, report: Reporter) -> None:
    """Enable the AppRole auth method unless it is there."""
    if "approle/" in _data(client.sys.list_auth_methods()):
        report.unchanged("auth", "approle/")
        return
    client.sys.enable_auth_method("approle")
    report.changed("auth", "approle/", "enabled")


def ensure_audit(client: hvac.Client, audit_file: str | None, report: Reporter) -> None:
    """Enable a file audit device through the API (Vault); detect OpenBao's config-only rule."""
    devices = _data(client.sys.list_enabled_audit_devices())
    files = {path: d for path, d in devices.items() if isinstance(d, dict) and d.get("type") == "file"}
    if files:
        where = ", ".join(f"{p} → {(d.get('options') or {}).get('file_path')}" for p, d in files.items())
        report.unchanged("audit", "file", where)
        return
    if not audit_file:
        report.line("audit", "file", "WARNING: no audit device; pass --audit-file or add a config stanza")
        return
    try:
        client.sys.enable_audit_device("file", path="file", options={"file_path": audit_file})
    except hvac_errors.VaultError as exc:
        if any(marker in str(exc).lower() for marker in AUDIT_API_REFUSED):
            report.line("audit", "file", "skipped: this server (OpenBao) accepts audit devices only from its "
                        'config file; add an `audit "file"` stanza (deploy/vault/README.md)')
            return
        raise
    report.changed("audit", "file", f"enabled → {audit_file}")


def ensure_policies(client: hvac.Client, mount: str, providers: tuple[str, ...], report: Reporter) -> None:
    """Write each policy whose text differs from the stored one."""
    for name, text in render_policies(mount, providers).items():
        try:
            stored = _data(client.sys.read_policy(name)).get("rules", "")
        except hvac_errors.InvalidPath:
            stored = None
        if stored is not None and stored.strip() == text.strip():
            report.unchanged("policy", name)
            continue
        client.sys.create_or_update_policy(name, text, pretty_print=False)
        report.changed("policy", name, "written")


def seed_provider_keys(client: hvac.Client, opts: BootstrapOptions, report: Reporter) -> None:
    """Write each given provider key only where none is stored yet (or with force)."""
    for provider in opts.providers:
        value = opts.keys.get(provider)
        version, current = kv.current_key(client, opts.mount, provider)
        if value and current and not opts.force and value != current:
            # A redeploy must not undo a rotation: the stored key wins over a stale host file.
            report.unchanged("provider-key", provider, f"v{version} kept: a key exists (--force to overwrite)")
            continue
        if value:
            by = "vaultctl:bootstrap"
            result = kv.write_key(client, opts.mount, provider, value, by, opts.max_versions)
            if result.changed:
                report.changed("provider-key", provider, f"written v{result.version}")
            else:
                report.unchanged("provider-key", provider, f"v{result.version}")
            continue
        if current:
            report.unchanged("provider-key", provider, f"v{version} kept, no new key given")
        else:
            report.line("provider-key", provider, f"skipped: no key given (set {catalogue.provider(provider).key_env} "
                        "or --keys-file)")


def create_clients(client: hvac.Client, opts: BootstrapOptions, report: Reporter) -> None:
    """Create each requested client unless it has a usable key; each new key is shown once."""
    created: dict[str, str] = {}
    for name, providers in opts.clients:
        outcome, new = clients.ensure_client(client, opts.mount, name, providers)
        if new is None:
            if outcome == "no changes":
                report.unchanged("client", name, "+".join(sorted(providers)))
            else:
                report.changed("client", name, outcome)
            continue
        created[name] = new.key
        where = f"key written to {opts.client_keys_file}" if opts.client_keys_file else f"key {new.key}"
        report.changed("client", name, f"created key_id={new.key_id}; {where} (shown once)")
    if created and opts.client_keys_file:
        path = opts.client_keys_file
        existing = json.loads(path.read_text()) if path.exists() else {}
        write_secret_file(path, json.dumps({**existing, **created}, indent=2, sort_keys=True) + "\n")


def write_credentials(client: hvac.Client, opts: BootstrapOptions, report: Reporter) -> None:
    """Write role_id/secret_id files per provider when missing or no longer usable."""
    if opts.out_dir is None:
        return
    for provider in opts.providers:
        written = approle.ensure_credentials(client, provider, opts.out_dir, opts.wrap_ttl)
        if written:
            report.changed("credentials", provider, "wrote " + ", ".join(written))
        else:
            report.unchanged("credentials", provider, "role_id and secret_id still valid")


def bootstrap(client: hvac.Client, opts: BootstrapOptions, report: Reporter) -> int:
    """Run every step; return the number of changes."""
    ensure_kv_mount(client, opts.mount, report)
    ensure_approle(client, report)
    ensure_audit(client, opts.audit_file, report)
    ensure_policies(client, opts.mount, opts.providers, report)
    for provider in opts.providers:
        if approle.ensure_role(client, provider, opts.role):
            report.changed("approle", f"llm-gateway-{provider}", "written")
        else:
            report.unchanged("approle", f"llm-gateway-{provider}")
    if opts.kubernetes is not None:
        kubernetes.ensure_kubernetes_auth(client, opts.kubernetes, opts.providers, report)
    seed_provider_keys(client, opts, report)
    create_clients(client, opts, report)
    write_credentials(client, opts, report)
    if opts.issuer_token_file is not None:
        if ensure_issuer_token(client, opts.issuer_token_file):
            report.changed("token", "secret-id-issuer", f"minted (periodic); written to {opts.issuer_token_file}")
        else:
            report.unchanged("token", "secret-id-issuer", "still valid")
    summary = f"{report.changes} change(s)" if report.changes else "no changes"
    report.line("bootstrap", "done", summary)
    return report.changes
