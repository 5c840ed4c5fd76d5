"""Vault/OpenBao administration for the gateway stack: bootstrap, rotation, client keys.

Commands: `python -m vaultctl bootstrap | issue-secret-id | rotate-provider-key |
rollback-provider-key | client-key {create,rotate,disable,list} | render-policies`.
"""

from vaultctl.bootstrap import BootstrapOptions, bootstrap
from vaultctl.clients import NewKey, generate_key, hash_secret
from vaultctl.connection import Reporter, VaultctlError, connect, parse_duration
from vaultctl.policies import PROVIDERS, gateway_policy_name, render_policies

__all__ = [
    "PROVIDERS",
    "BootstrapOptions",
    "NewKey",
    "Reporter",
    "VaultctlError",
    "bootstrap",
    "connect",
    "gateway_policy_name",
    "generate_key",
    "hash_secret",
    "parse_duration",
    "render_policies",
]
