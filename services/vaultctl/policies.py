"""Vault ACL policies for the gateway stack, rendered for a KV v2 mount.

The files in deploy/vault/policies/ are these renderings for the default mount `secret`, one
gateway policy per catalogue provider (`python -m catalogue.generate` regenerates them with every
other generated file; `--check` in `make lint` keeps them in sync). The paths come from the catalogue.
"""

from __future__ import annotations

import json
from pathlib import Path

import catalogue

PROVIDERS = catalogue.names()
DEFAULT_MOUNT = catalogue.vault().mount
CLIENTS_PATH = catalogue.vault().clients_path
_PROVIDERS_GLOB = catalogue.vault().provider_path.format(name="*")

_GATEWAY = """\
# {name}: the {provider} gateway reads its own provider key and the client registry.
# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.
path "{mount}/data/{path}" {{
  capabilities = ["read"]
}}

path "{mount}/data/{clients}" {{
  capabilities = ["read"]
}}
"""

_ROTATOR = """\
# llm-rotator: rotates provider keys (CAS writes, custom metadata, rollback) and client keys.
path "{mount}/data/{providers}" {{
  capabilities = ["create", "read", "update", "patch"]
}}

path "{mount}/metadata/{providers}" {{
  capabilities = ["read", "update", "patch"]
}}

path "{mount}/data/{clients}" {{
  capabilities = ["create", "read", "update", "patch"]
}}

path "{mount}/metadata/{clients}" {{
  capabilities = ["read"]
}}
"""

_ADMIN_HEAD = """\
# llm-admin: what `vaultctl bootstrap` and `vaultctl issue-secret-id` need, and no more.
# Exact policy and role names, and allowed_parameters pinning each policy's text and each role's
# token_policies: the holder can (re)write the stack's policies and roles only as vaultctl renders
# them, so it cannot mint a broader policy or a role that grants one. No audit-device changes.
path "sys/mounts" {{
  capabilities = ["read"]
}}

path "sys/mounts/{mount}" {{
  capabilities = ["create", "read", "update"]
}}

path "sys/auth" {{
  capabilities = ["read"]
}}

path "sys/auth/approle" {{
  capabilities = ["create", "read", "update", "sudo"]
}}

path "sys/audit" {{
  capabilities = ["read", "sudo"]
}}

path "sys/policy/llm-admin" {{
  capabilities = ["read"]
}}

path "{mount}/data/llm/*" {{
  capabilities = ["create", "read", "update", "patch"]
}}

path "{mount}/metadata/llm/*" {{
  capabilities = ["read", "update", "patch"]
}}

path "auth/token/roles/{issuer}" {{
  capabilities = ["create", "read", "update"]
  allowed_parameters = {{
    "allowed_policies" = [["{issuer}"], "{issuer}"]
    "orphan" = [true]
    "renewable" = [true]
    "token_period" = []
    "token_type" = ["service"]
  }}
}}

path "auth/token/create/{issuer}" {{
  capabilities = ["update"]
}}
"""

_ADMIN_POLICY = """
path "sys/policy/{name}" {{
  capabilities = ["create", "read", "update"]
  allowed_parameters = {{
    "policy" = [{text}]
  }}
}}
"""

_ADMIN_ROLE = """
path "auth/approle/role/{role}" {{
  capabilities = ["create", "read", "update"]
  allowed_parameters = {{
    "token_policies" = [["{role}"], "{role}"]
    "token_type" = ["service"]
    "bind_secret_id" = [true]
    "token_ttl" = []
    "token_max_ttl" = []
    "secret_id_ttl" = []
    "secret_id_num_uses" = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs" = []
  }}
}}

path "auth/approle/role/{role}/role-id" {{
  capabilities = ["read"]
}}

path "auth/approle/role/{role}/secret-id" {{
  capabilities = ["update"]
}}

path "auth/approle/role/{role}/secret-id/lookup" {{
  capabilities = ["update"]
}}
"""


# Kubernetes auth (`vaultctl bootstrap --k8s-*`, default mount only). The config is not pinned: the
# admin can already read every provider key, so pointing the mount at another cluster grants nothing new;
# each role is pinned to its own gateway policy like the AppRoles above.
_ADMIN_K8S_HEAD = """
path "sys/auth/kubernetes" {{
  capabilities = ["create", "read", "update", "sudo"]
}}

path "auth/kubernetes/config" {{
  capabilities = ["create", "read", "update"]
}}
"""

_ADMIN_K8S_ROLE = """
path "auth/kubernetes/role/{role}" {{
  capabilities = ["create", "read", "update"]
  allowed_parameters = {{
    "token_policies" = [["{role}"], "{role}"]
    "token_type" = ["service"]
    "bound_service_account_names" = []
    "bound_service_account_namespaces" = []
    "token_ttl" = []
    "token_max_ttl" = []
    "audience" = []
  }}
}}
"""


def _admin(mount: str, providers: tuple[str, ...], managed: dict[str, str]) -> str:
    """Render llm-admin: each managed policy's exact text, each gateway role's exact policy."""
    text = _ADMIN_HEAD.format(mount=mount, issuer=ISSUER_POLICY)
    # An HCL string literal uses JSON's escapes, so json.dumps quotes the policy text exactly.
    text += "".join(_ADMIN_POLICY.format(name=name, text=json.dumps(body)) for name, body in managed.items())
    text += "".join(_ADMIN_ROLE.format(role=gateway_policy_name(p)) for p in providers)
    return text + _ADMIN_K8S_HEAD.format() + "".join(
        _ADMIN_K8S_ROLE.format(role=gateway_policy_name(p)) for p in providers)


ISSUER_POLICY = "llm-secret-id-issuer"
ADMIN_POLICY = "llm-admin"

_ISSUER_HEAD = """\
# llm-secret-id-issuer: `vaultctl refresh-secret-ids` keeps each gateway's secret_id file usable.
# It reads role_ids, issues and looks up secret_ids of the gateway AppRoles; nothing else (no KV,
# no role changes). Own-token renew/lookup and sys/wrapping/lookup come from `default`.
"""

_ISSUER_ROLE = """
path "auth/approle/role/{role}/role-id" {{
  capabilities = ["read"]
}}

path "auth/approle/role/{role}/secret-id" {{
  capabilities = ["update"]
}}

path "auth/approle/role/{role}/secret-id/lookup" {{
  capabilities = ["update"]
}}
"""


def _issuer(providers: tuple[str, ...]) -> str:
    return _ISSUER_HEAD + "".join(_ISSUER_ROLE.format(role=gateway_policy_name(p)) for p in providers)


def gateway_policy_name(provider: str) -> str:
    """Return the policy (and AppRole) name of a provider's gateway."""
    return f"llm-gateway-{provider}"


def render_policies(mount: str = DEFAULT_MOUNT, providers: tuple[str, ...] = PROVIDERS) -> dict[str, str]:
    """Return {policy name: HCL text} for the given mount."""
    mount = mount.strip("/")
    policies = {
        gateway_policy_name(p): _GATEWAY.format(name=gateway_policy_name(p), provider=p, mount=mount,
                        path=catalogue.provider(p).vault_path, clients=CLIENTS_PATH)
        for p in providers
    }
    policies["llm-rotator"] = _ROTATOR.format(mount=mount, providers=_PROVIDERS_GLOB, clients=CLIENTS_PATH)
    policies[ISSUER_POLICY] = _issuer(providers)
    policies[ADMIN_POLICY] = _admin(mount, providers, dict(policies))
    return policies


def write_policy_files(out_dir: Path, mount: str = DEFAULT_MOUNT) -> list[Path]:
    """Write one `<name>.hcl` per policy into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_policies(mount).items():
        path = out_dir / f"{name}.hcl"
        path.write_text(text)
        written.append(path)
    return written
