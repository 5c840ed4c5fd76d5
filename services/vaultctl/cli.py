"""Command line: `python -m vaultctl <command>` (argparse subcommands)."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hvac
import requests
from hvac import exceptions as hvac_errors

import catalogue
from vaultctl import approle, clients, kubernetes, kv, operator, refresher
from vaultctl.bootstrap import BootstrapOptions, bootstrap
from vaultctl.connection import Reporter, VaultctlError, connect, parse_duration, write_secret_file
from vaultctl.policies import DEFAULT_MOUNT, PROVIDERS, write_policy_files


def _providers(value: str) -> list[str]:
    names = [p.strip() for p in value.replace("+", ",").split(",") if p.strip()]
    unknown = sorted(set(names) - set(PROVIDERS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown provider(s) {unknown or value!r}; choose from {PROVIDERS}")
    return names


def _client_spec(value: str) -> tuple[str, list[str]]:
    name, sep, providers = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:prov1+prov2")
    return name, _providers(providers)


def _provider(value: str) -> str:
    return _providers(value)[0]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--addr", help="Vault address (default: $VAULT_ADDR)")
    parser.add_argument("--token-file", help="file holding the Vault token (default: $VAULT_TOKEN)")
    parser.add_argument("--cacert", help="CA bundle for TLS (default: $VAULT_CACERT)")
    parser.add_argument("--mount", default=DEFAULT_MOUNT, help="KV v2 mount (default: secret)")


def _add_bootstrap(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bootstrap", help="idempotently set up mounts, policies, AppRoles, keys and clients")
    _common(p)
    p.add_argument("--providers", type=_providers, default=list(PROVIDERS))
    p.add_argument("--keys-file", type=Path, help='JSON {"openai": "sk-…", …}; else each key_env of the catalogue')
    p.add_argument("--client", action="append", type=_client_spec, default=[], metavar="NAME:P1+P2")
    p.add_argument("--client-keys-file", type=Path, help="write new client keys here (JSON, 0600)")
    p.add_argument("--out-dir", type=Path, help="write <provider>/role_id and <provider>/secret_id here")
    p.add_argument("--wrap-ttl", type=parse_duration, help="response-wrap secret_ids for this long, e.g. 60s")
    p.add_argument("--audit-file", help="file audit device path (Vault API; OpenBao needs a config stanza)")
    p.add_argument("--token-ttl", type=parse_duration, default=300)
    p.add_argument("--token-max-ttl", type=parse_duration, default=3600)
    p.add_argument("--secret-id-ttl", type=parse_duration, default=600)
    p.add_argument("--max-versions", type=int, default=kv.DEFAULT_MAX_VERSIONS)
    p.add_argument("--issuer-token-file", type=Path,
                   help="keep a periodic llm-secret-id-issuer token here for refresh-secret-ids (0600)")
    kubernetes.add_arguments(p)
    p.add_argument("--force", action="store_true",
                   help="overwrite stored provider keys with the given ones (default: seed only where none exists)")
    p.add_argument("--bound-cidrs", type=_cidrs, default=(),
                   help="comma-separated CIDRs the gateways log in from (AppRole secret_id and token bound CIDRs)")


def _cidrs(value: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(c.strip())) for c in value.split(",") if c.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_operator(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="initialise a server-mode Vault/OpenBao (unseal keys + root token, once)")
    p.add_argument("--addr", help="Vault address (default: $VAULT_ADDR)")
    p.add_argument("--cacert", help="CA bundle for TLS (default: $VAULT_CACERT)")
    p.add_argument("--key-shares", type=int, default=5)
    p.add_argument("--key-threshold", type=int, default=3)
    p.add_argument("--out", type=Path, help="write keys and root token here (0600); else print them once")
    p.add_argument("--timeout", type=parse_duration, default=operator.OPERATOR_TIMEOUT_S,
                   help=f"wait this long for the server's answer (default {operator.OPERATOR_TIMEOUT_S}s)")

    p = sub.add_parser("unseal", help="unseal with keys from an `init` file (or one key per line)")
    p.add_argument("--addr", help="Vault address (default: $VAULT_ADDR)")
    p.add_argument("--cacert", help="CA bundle for TLS (default: $VAULT_CACERT)")
    p.add_argument("--keys-file", type=Path, required=True)
    p.add_argument("--timeout", type=parse_duration, default=operator.OPERATOR_TIMEOUT_S,
                   help=f"wait this long for each answer (default {operator.OPERATOR_TIMEOUT_S}s)")

    p = sub.add_parser("admin-token", help="with a root token: write llm-admin and mint a token holding only it")
    _common(p)
    p.add_argument("--providers", type=_providers, default=list(PROVIDERS))
    p.add_argument("--ttl", type=parse_duration, default=3600, help="lifetime, not renewable past it (default 1h)")
    p.add_argument("--out", type=Path, required=True, help="write the admin token here (0600)")

    p = sub.add_parser("revoke-root", help="revoke the root token given by --token-file / $VAULT_TOKEN")
    _common(p)


def _add_refresh(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refresh-secret-ids", help="keep each gateway's secret_id file usable (loop)")
    _common(p)
    p.add_argument("--providers", type=_providers, default=list(PROVIDERS))
    p.add_argument("--out-dir", type=Path, required=True, help="holds <provider>/role_id and secret_id")
    p.add_argument("--interval", type=parse_duration, default=30, help="seconds between rounds (default 30s)")
    p.add_argument("--wrap-ttl", type=parse_duration, help="write response-wrapped secret_ids with this TTL")
    p.add_argument("--min-remaining", type=parse_duration,
                   help="replace a secret_id valid for less than this (default: two intervals)")
    p.add_argument("--once", action="store_true", help="one round, then exit (non-zero on a Vault error)")


def _add_key_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("issue-secret-id", help="issue a fresh secret_id for a (re)starting gateway")
    _common(p)
    p.add_argument("--provider", type=_provider, required=True)
    p.add_argument("--wrap-ttl", type=parse_duration)
    p.add_argument("--out-dir", type=Path, help="write <provider>/role_id, secret_id here")

    p = sub.add_parser("rotate-provider-key", aliases=["rotate"], help="write a new provider key (CAS)")
    _common(p)
    p.add_argument("--provider", type=_provider, required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--key-file", type=Path)
    source.add_argument("--from-env", metavar="VAR")
    p.add_argument("--max-versions", type=int, default=kv.DEFAULT_MAX_VERSIONS)
    p.add_argument("--rotated-by", default=None, help="recorded in custom metadata (default: $USER)")

    p = sub.add_parser("rollback-provider-key", aliases=["rollback"], help="restore the previous key version")
    _common(p)
    p.add_argument("--provider", type=_provider, required=True)
    p.add_argument("--max-versions", type=int, default=kv.DEFAULT_MAX_VERSIONS)
    p.add_argument("--rotated-by", default=None)


LIMIT_FLAGS = ("rpm", "tpm", "daily_tokens", "monthly_tokens")


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}")
    return int(value)


def _add_limit_flags(parser: argparse.ArgumentParser, action: str) -> None:
    unset = "0 removes the limit" if action == "update" else "default: unlimited"
    helps = {"rpm": "requests per minute", "tpm": "tokens per minute (reserved before, corrected after)",
             "daily_tokens": "token budget per UTC day", "monthly_tokens": "token budget per UTC calendar month"}
    for name in LIMIT_FLAGS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_count, help=f"{helps[name]} ({unset})")


def _limits(args: argparse.Namespace) -> dict[str, int]:
    return {name: getattr(args, name) for name in LIMIT_FLAGS if getattr(args, name) is not None}


def _add_client_key(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("client-key", help="create, update, rotate, disable or list client keys")
    actions = p.add_subparsers(dest="action", required=True)
    for action in ("create", "update", "rotate", "disable", "list"):
        a = actions.add_parser(action)
        _common(a)
        if action == "create":
            a.add_argument("--name", required=True)
            a.add_argument("--providers", type=_providers, required=True)
            a.add_argument("--expires-in", type=parse_duration)
        if action in ("create", "update"):
            _add_limit_flags(a, action)
        if action in ("update", "rotate", "disable"):
            who = a.add_mutually_exclusive_group(required=True)
            who.add_argument("--key-id")
            who.add_argument("--name")
        if action == "rotate":
            a.add_argument("--overlap", type=parse_duration, default=600, help="old key works this long")
        if action in ("create", "rotate"):
            a.add_argument("--key-out", type=Path, help="write the new key to this file (0600), not stdout")
        if action == "list":
            a.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    """Return the vaultctl argument parser."""
    parser = argparse.ArgumentParser(prog="vaultctl", description="Vault/OpenBao admin for the gateways")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_operator(sub)
    _add_bootstrap(sub)
    _add_key_commands(sub)
    _add_refresh(sub)
    _add_client_key(sub)
    p = sub.add_parser("render-policies", help="write the policy .hcl files for a mount")
    p.add_argument("--mount", default=DEFAULT_MOUNT)
    p.add_argument("--out-dir", type=Path, required=True)
    return parser


def _client(args: argparse.Namespace) -> hvac.Client:
    return connect(args.addr, None, args.token_file, args.cacert)


def _provider_keys(args: argparse.Namespace) -> dict[str, str]:
    from_env = {p: os.environ.get(catalogue.provider(p).key_env, "") for p in args.providers}
    keys = {p: v for p, v in from_env.items() if v}
    if args.keys_file:
        keys.update({k: str(v) for k, v in json.loads(args.keys_file.read_text()).items() if v})
    return keys


def _show_key(new: clients.NewKey, key_out: Path | None) -> None:
    if key_out:
        write_secret_file(key_out, new.key + "\n")
        print(f"key_id={new.key_id}; key written to {key_out}")
    else:
        print(f"key_id={new.key_id}\nkey: {new.key}\n(shown once; store it now)")


def _run_client_key(args: argparse.Namespace) -> None:
    client = _client(args)
    if args.action == "create":
        expires = None
        if args.expires_in:
            expires = (datetime.now(UTC) + timedelta(seconds=args.expires_in)).isoformat(timespec="seconds")
        new = clients.create_client(client, args.mount, args.name, args.providers, expires, _limits(args))
        _show_key(new, args.key_out)
    elif args.action == "update":
        ids = clients.update_limits(client, args.mount, _limits(args), args.key_id, args.name)
        print("updated limits of " + ", ".join(ids))
    elif args.action == "rotate":
        old, new = clients.rotate_client(client, args.mount, args.overlap, args.key_id, args.name)
        print(f"old key(s) {', '.join(old)} expire in {args.overlap}s")
        _show_key(new, args.key_out)
    elif args.action == "disable":
        print("disabled " + ", ".join(clients.disable_client(client, args.mount, args.key_id, args.name)))
    elif args.json:
        print(json.dumps(clients.list_clients(client, args.mount), indent=2))
    else:
        for row in clients.list_clients(client, args.mount):
            limits = " ".join(f"{k}={v}" for k, v in row["limits"].items())
            print(f"{row['key_id']}  {row['name']:<20} {'+'.join(row['providers']):<26} {row['status']}"
                  + (f"  {limits}" if limits else ""))


def _run_operator(args: argparse.Namespace) -> None:
    if args.command == "init":
        material = operator.init(operator.anonymous(args.addr, args.cacert, args.timeout), args.key_shares,
                                 args.key_threshold, args.out)
        if args.out:
            print(f"initialised: {args.key_shares} unseal key(s), threshold {args.key_threshold}, and the "
                  f"initial root token written to {args.out} (0600); keep it offline")
        else:
            print(json.dumps(material, indent=2) + "\n(shown once; store the keys apart and revoke the root "
                  "token after bootstrap)")
    elif args.command == "unseal":
        was_sealed = operator.unseal(operator.anonymous(args.addr, args.cacert, args.timeout),
                                     operator.read_unseal_keys(args.keys_file))
        print("unsealed" if was_sealed else "already unsealed")
    elif args.command == "admin-token":
        accessor = operator.mint_admin_token(_client(args), args.out, args.ttl, args.mount, tuple(args.providers))
        print(f"admin token (policy llm-admin, ttl {args.ttl}s, accessor {accessor}) written to {args.out}")
    else:
        operator.revoke_root(_client(args))
        print("root token revoked")


def _run(args: argparse.Namespace) -> int:
    by = getattr(args, "rotated_by", None) or f"vaultctl:{getpass.getuser()}"
    if args.command == "render-policies":
        for path in write_policy_files(args.out_dir, args.mount):
            print(f"wrote {path}")
    elif args.command == "bootstrap":
        opts = BootstrapOptions(
            mount=args.mount, providers=tuple(args.providers), audit_file=args.audit_file,
            role=approle.RoleSettings(args.token_ttl, args.token_max_ttl, args.secret_id_ttl,
                                      bound_cidrs=args.bound_cidrs),
            force=args.force,
            keys=_provider_keys(args), clients=args.client, client_keys_file=args.client_keys_file,
            out_dir=args.out_dir, wrap_ttl=args.wrap_ttl, max_versions=args.max_versions,
            issuer_token_file=args.issuer_token_file, kubernetes=kubernetes.options_from_args(args),
        )
        bootstrap(_client(args), opts, Reporter())
    elif args.command in ("init", "unseal", "admin-token", "revoke-root"):
        _run_operator(args)
    elif args.command == "issue-secret-id":
        client = _client(args)
        if args.out_dir:
            role_file, secret_file = approle.credential_paths(args.out_dir, args.provider)
            write_secret_file(role_file, approle.read_role_id(client, args.provider) + "\n")
            secret_id = approle.issue_secret_id(client, args.provider, args.wrap_ttl)
            write_secret_file(secret_file, secret_id + "\n")
            print(f"wrote {role_file} and {secret_file}{' (wrapped)' if args.wrap_ttl else ''}")
        else:
            print(approle.issue_secret_id(client, args.provider, args.wrap_ttl))
    elif args.command == "refresh-secret-ids":
        opts = refresher.RefreshOptions(
            out_dir=args.out_dir, providers=tuple(args.providers), interval_s=args.interval,
            wrap_ttl=args.wrap_ttl, min_remaining_s=args.min_remaining,
        )
        refresher.run(_client(args), opts, Reporter(), once=args.once)
    elif args.command in ("rotate-provider-key", "rotate"):
        raw = args.key_file.read_text() if args.key_file else os.environ.get(args.from_env, "")
        value = raw.strip()
        if not value:
            raise VaultctlError(f"no key in {args.key_file or '$' + args.from_env}")
        result = kv.write_key(_client(args), args.mount, args.provider, value, by, args.max_versions)
        outcome = "no changes (same key)"
        if result.changed:
            outcome = f"v{result.previous_version} → v{result.version}"
        print(f"rotate       {args.provider}: {outcome}")
    elif args.command in ("rollback-provider-key", "rollback"):
        result = kv.rollback_key(_client(args), args.mount, args.provider, by, args.max_versions)
        print(f"rollback     {args.provider}: v{result.previous_version} → v{result.version}")
    else:
        _run_client_key(args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run vaultctl; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except VaultctlError as exc:
        print(f"vaultctl: error: {exc}", file=sys.stderr)
        return 1
    except hvac_errors.VaultError as exc:
        print(f"vaultctl: Vault refused: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"vaultctl: cannot reach Vault: {type(exc).__name__}", file=sys.stderr)
        return 1
