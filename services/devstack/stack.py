"""Bring the local stack up and down: each service is one `ProcessSpec`, started in order."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import catalogue
from devstack import jwt_issuer, shared, tls, usage_db, vault
from devstack.config import KEY_ENV, PROVIDERS, StackConfig
from devstack.ports import ensure_free
from devstack.procs import ProcessSpec, StackError, alive, launch, start_time, stop, tail, terminate, wait_ready
from edge import render as nginx_render

Say = Callable[[str], None]


@dataclass
class StackInfo:
    """What a running stack exposes to users and tests (also written to `<state>/env`)."""

    url: str
    ca: Path
    client_keys: dict[str, str]
    gateway_urls: dict[str, str]
    mock_url: str
    vault_addr: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The shell-sourceable variables of `.stack/env`."""
        out = {"STACK_URL": self.url, "STACK_CA": str(self.ca), "STACK_MOCK_URL": self.mock_url}
        out.update({f"STACK_KEY_{catalogue.provider(p).upper}": k for p, k in self.client_keys.items()})
        out.update({f"STACK_GATEWAY_URL_{catalogue.provider(p).upper}": u for p, u in self.gateway_urls.items()})
        if self.vault_addr:
            out["VAULT_ADDR"] = self.vault_addr
        out.update(self.extra)
        return out


class Stack:
    """The local process stack rooted at `config.state_dir`."""

    def __init__(self, config: StackConfig, say: Say = print) -> None:
        self.config = config
        self.say = say
        self.state = config.state_dir
        self.pids_file = self.state / "pids.json"
        self.logs = self.state / "logs"
        self.specs: dict[str, ProcessSpec] = {}  # what `up` started, for `restart` (same process only)
        self.generated: list[str] = []  # secrets this run created, for leak checks
        self.jwt_paths: dict[str, Path] = {}

    # -- records ---------------------------------------------------------------------------
    def records(self) -> list[dict]:
        """The processes this stack started, as recorded."""
        if not self.pids_file.exists():
            return []
        return json.loads(self.pids_file.read_text())

    def _record(self, name: str, pid: int) -> None:
        recs = [*self.records(), {"name": name, "pid": pid, "start": start_time(pid)}]
        self.pids_file.write_text(json.dumps(recs, indent=1))

    def running(self) -> list[dict]:
        """Recorded processes that are still alive."""
        return [r for r in self.records() if alive(r)]

    # -- up --------------------------------------------------------------------------------
    def up(self) -> StackInfo:
        """Start every service, wait for readiness, write `<state>/env`; stop all on failure."""
        if self.running():
            names = ", ".join(f"{r['name']}({r['pid']})" for r in self.running())
            raise StackError(f"the stack is already running: {names}; run `make down` first")
        cfg = self.config
        ensure_free(cfg.host, cfg.ports())
        for binary in ("nginx_bin", *(["bao_bin"] if cfg.secrets_backend == "vault" else []),
                       *(["redis_bin"] if cfg.shared == "redis" else [])):
            if cfg.which(getattr(cfg, binary)) is None:
                raise StackError(f"{getattr(cfg, binary)} not found; run `make deps` (installs nginx and OpenBao)")
        if self.state.exists():
            shutil.rmtree(self.state)
        self.state.mkdir(parents=True)
        started = time.monotonic()
        try:
            info = self._start_all()
        except BaseException:
            self.down(quiet=True, keep_logs=True)
            raise
        env_file = self.state / "env"
        env_file.write_text("".join(f"export {k}={_quote(v)}\n" for k, v in info.env().items()))
        env_file.chmod(0o600)
        self.say(f"stack ready in {time.monotonic() - started:.1f} s — variables in {env_file}")
        return info

    def _start_all(self) -> StackInfo:
        cfg, host = self.config, self.config.host
        paths = tls.issue(self.state / "tls")
        provider_keys = {p: cfg.real_keys.get(p) or f"mock-{p}-{secrets.token_hex(12)}" for p in PROVIDERS}
        self.generated += [k for p, k in provider_keys.items() if p not in cfg.real_keys]
        mock_keys = ",".join(k for p, k in provider_keys.items() if p not in cfg.real_keys)
        mock = ProcessSpec("mock", [cfg.python, "-m", "mockllm", "--host", host, "--port", str(cfg.mock_port)],
                           env={"MOCK_API_KEYS": mock_keys, **cfg.mock_env},
                           ready_url=f"http://{host}:{cfg.mock_port}/healthz")
        self._run(mock)
        if cfg.shared == "redis":
            self._run(shared.redis_spec(cfg, self.state / "redis"))
            shared.wait_redis(host, cfg.redis_port)
        if cfg.usage == "postgres":
            self._run(usage_db.postgres_spec(cfg, self.state))
            usage_db.wait_postgres(host, cfg.postgres_port)
        secrets_env, client_keys, vault_addr = self._secrets(provider_keys)
        mock_base = f"http://{host}:{cfg.mock_port}"
        self.jwt_paths = jwt_issuer.create(self.state / "jwt")
        gateways = [self._gateway_spec(name, port, p, provider_keys[p], mock_base, self._replica_secrets(
                        name, p, secrets_env[p])) for p in PROVIDERS for name, port in cfg.gateways(p)]
        self._run(*gateways)
        nginx = self._nginx_spec(paths)
        self._run(nginx)
        return StackInfo(
            url=f"https://{host}:{cfg.https_port}", ca=paths["ca"], client_keys=client_keys,
            gateway_urls={p: f"http://{host}:{port}" for p, port in cfg.gateway_ports.items()},
            mock_url=mock_base, vault_addr=vault_addr,
            extra={"STACK_STATE_DIR": str(self.state), "STACK_JWT_PRIVATE_KEY": str(self.jwt_paths["private"]),
                   "STACK_REPLICAS": str(cfg.replicas), "STACK_SHARED": cfg.shared, "STACK_USAGE": cfg.usage,
                   **({"STACK_CORS_ORIGINS": origins} if (origins := cfg.nginx_env.get("NGINX_CORS_ORIGINS")) else {}),
                   **({"STACK_POSTGRES_DSN": usage_db.dsn(cfg)} if cfg.usage == "postgres" else {}),
                   **({"STACK_REDIS_URL": shared.redis_url(cfg)} if cfg.shared == "redis" else {}),
                   **({"STACK_VAULT_TOKEN_FILE": str(self.state / "vault" / "root-token")} if vault_addr else {})},
        )

    def _secrets(self, provider_keys: dict[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str], str | None]:
        """Per-provider secrets settings, demo client keys (one per provider) and the Vault address."""
        if self.config.secrets_backend == "vault":
            return self._vault(provider_keys)
        from gateway.auth import keys

        client_keys, spec = {}, []
        for p in PROVIDERS:
            full, key_id, digest = keys.generate()
            client_keys[p] = full
            self.generated.append(full)
            spec.append(f"{key_id}:{digest}:{p}")
        env = {p: {"GATEWAY_SECRETS_BACKEND": "env", "GATEWAY_CLIENT_KEYS": ",".join(spec),
                   KEY_ENV[p]: provider_keys[p]} for p in PROVIDERS}
        return env, client_keys, None

    def _vault(self, provider_keys: dict[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str], str]:
        """Start OpenBao, initialise it, bootstrap it with vaultctl; return the gateways' AppRole settings."""
        cfg = self.config
        vault_dir = self.state / "vault"
        vault_dir.mkdir(mode=0o700)
        addr = self._start_openbao()
        token_file = vault_dir / "root-token"
        clients = [f"demo-{p}:{p}" for p in PROVIDERS]
        argv = [cfg.python, "-m", "vaultctl", "bootstrap", "--addr", addr, "--token-file", str(token_file),
                "--out-dir", str(vault_dir / "approle"), "--client-keys-file", str(vault_dir / "client-keys.json"),
                "--token-max-ttl", cfg.vault_token_max_ttl, *(a for c in clients for a in ("--client", c))]
        env = {KEY_ENV[p]: provider_keys[p] for p in PROVIDERS}
        self._once("vault-bootstrap", argv, env)
        created = json.loads((vault_dir / "client-keys.json").read_text())
        client_keys = {p: created[f"demo-{p}"] for p in PROVIDERS}
        self.generated += list(client_keys.values())
        gw_env = {p: {"GATEWAY_SECRETS_BACKEND": "vault", "GATEWAY_VAULT_ADDR": addr,
                      "GATEWAY_VAULT_ROLE_ID_FILE": str(vault_dir / "approle" / p / "role_id"),
                      "GATEWAY_VAULT_SECRET_ID_FILE": str(vault_dir / "approle" / p / "secret_id")}
                  for p in PROVIDERS}
        return gw_env, client_keys, addr

    def _start_openbao(self) -> str:
        """Launch (or relaunch) the OpenBao server and make it active and unsealed; return its address."""
        cfg = self.config
        vault_dir = self.state / "vault"
        addr = f"http://{cfg.host}:{cfg.bao_port}"
        config = vault_dir / "openbao.hcl"
        if not config.exists():
            config.write_text(vault.config_text(vault_dir, cfg.host, cfg.bao_port, cfg.bao_cluster_port))
        spec = self.specs.get("openbao") or ProcessSpec(
            "openbao", [cfg.which(cfg.bao_bin) or cfg.bao_bin, "server", f"-config={config}"], port=cfg.bao_port)
        self._run(spec)
        root_token = vault.init_or_unseal(addr, vault_dir)
        token_file = vault_dir / "root-token"
        if not token_file.exists():
            token_file.write_text(root_token)
            token_file.chmod(0o600)
            self.generated.append(root_token)
        self.say(f"  ✓ {'openbao':<18} initialised and unsealed")
        return addr

    def _once(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Run a one-shot step to completion, logging to `<logs>/<name>.log`; fail with its log tail."""
        spec = ProcessSpec(name, argv, env=env)
        proc = launch(spec, self.logs)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            terminate(proc, grace_s=5)  # its whole session: a stuck step may have children
            raise StackError(f"{name} did not finish within 120 s\n{tail(self.logs, name)}") from None
        if code != 0:
            raise StackError(f"{name} failed with status {code}\n{tail(self.logs, name)}")
        self.say(f"  ✓ {name:<18} done")

    def _replica_secrets(self, name: str, provider: str, secrets_env: dict[str, str]) -> dict[str, str]:
        """A replica beyond the first logs in with its own secret_id (each is single-use)."""
        if name == f"gateway-{provider}" or secrets_env.get("GATEWAY_SECRETS_BACKEND") != "vault":
            return secrets_env
        out_dir = self.state / "vault" / f"approle-{name}"
        self.issue_secret_id(provider, out_dir)
        return {**secrets_env, "GATEWAY_VAULT_ROLE_ID_FILE": str(out_dir / provider / "role_id"),
                "GATEWAY_VAULT_SECRET_ID_FILE": str(out_dir / provider / "secret_id")}

    def _gateway_spec(self, name: str, port: int, provider: str, key: str, mock_base: str,
                      secrets_env: dict[str, str]) -> ProcessSpec:
        cfg = self.config
        env = {
            "GATEWAY_PROVIDER": provider, "GATEWAY_HOST": cfg.host, "GATEWAY_PORT": str(port),
            "GATEWAY_AUDIT_LOG": str(self.state / "audit" / f"{name.removeprefix('gateway-')}.log"),
            **shared.limits_env(cfg), **usage_db.usage_env(cfg), **jwt_issuer.gateway_env(self.jwt_paths),
            **secrets_env, **cfg.gateway_env,
        }
        if provider not in cfg.real_keys:
            env["GATEWAY_UPSTREAM_BASE_URL"] = mock_base + catalogue.provider(provider).mock_path
        # A gateway sees no other provider's key, and with Vault not even its own in the environment.
        vault = secrets_env.get("GATEWAY_SECRETS_BACKEND") == "vault"
        others = (*tuple(v for p, v in KEY_ENV.items() if vault or p != provider), "VAULT_TOKEN")
        return ProcessSpec(name, [cfg.python, "-m", "gateway"], env=env, env_remove=others,
                           port=port, ready_url=f"http://{cfg.host}:{port}/readyz")

    def _nginx_spec(self, paths: dict[str, Path]) -> ProcessSpec:
        cfg = self.config
        prefix = self.state / "nginx"
        values = {
            "NGINX_LISTEN_HTTPS": f"{cfg.host}:{cfg.https_port}", "NGINX_LISTEN_HTTP": f"{cfg.host}:{cfg.http_port}",
            "NGINX_HTTPS_PUBLIC_PORT": str(cfg.https_port),
            "NGINX_TLS_CERT": str(paths["cert"]), "NGINX_TLS_KEY": str(paths["key"]),
            "NGINX_PROVIDERS": ",".join(cfg.gateway_ports),
            **{f"NGINX_UPSTREAM_{catalogue.provider(p).upper}": ",".join(f"{cfg.host}:{port}"
                                                                       for _, port in cfg.gateways(p))
               for p in cfg.gateway_ports},
            **cfg.nginx_env,  # limits, CORS origins, timeouts: see nginx_render.DEFAULTS
        }
        conf = nginx_render.render(prefix, values)
        binary = cfg.which(cfg.nginx_bin) or cfg.nginx_bin
        return ProcessSpec("nginx", [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs/error.log"),
                                     "-g", "daemon off;"],
                           ready_url=f"https://{cfg.host}:{cfg.https_port}/healthz", ready_ssl_ca=paths["ca"])

    def _run(self, *specs: ProcessSpec) -> None:
        """Start the specs together, record them, then wait for each to be ready."""
        procs = []
        for spec in specs:
            self.specs[spec.name] = spec
            proc = launch(spec, self.logs)
            self._record(spec.name, proc.pid)
            procs.append((spec, proc))
        for spec, proc in procs:
            waited = wait_ready(spec, proc, self.logs)
            self.say(f"  ✓ {spec.name:<18} ready in {waited:4.1f} s  (pid {proc.pid})")

    # -- operations on a running stack (tests, operators) ------------------------------------
    def stop_service(self, name: str) -> bool:
        """Stop one recorded service (SIGTERM → wait → SIGKILL); True if it was running."""
        return any(stop(r) for r in self.records() if r["name"] == name and alive(r))

    def restart_service(self, name: str) -> None:
        """Start a stopped service again with its original spec; a gateway gets a fresh secret_id first."""
        spec = self.specs.get(name)
        if spec is None:
            raise StackError(f"unknown service {name!r}; known: {', '.join(self.specs)}")
        self.stop_service(name)
        if name == "openbao":
            self._start_openbao()
            return
        provider = name.removeprefix("gateway-").split("-")[0]
        if name.startswith("gateway-") and spec.env.get("GATEWAY_SECRETS_BACKEND") == "vault":
            self.issue_secret_id(provider, Path(spec.env["GATEWAY_VAULT_SECRET_ID_FILE"]).parents[1])
        self._run(spec)

    def issue_secret_id(self, provider: str, out_dir: Path | None = None) -> None:
        """Write a fresh secret_id for a gateway (each is single-use) with vaultctl."""
        vault_dir = self.state / "vault"
        cfg = self.config
        self._once(f"secret-id-{provider}", [
            cfg.python, "-m", "vaultctl", "issue-secret-id", "--provider", provider,
            "--addr", f"http://{cfg.host}:{cfg.bao_port}", "--token-file", str(vault_dir / "root-token"),
            "--out-dir", str(out_dir or vault_dir / "approle")], {})

    def leaked_secrets(self) -> list[str]:
        """Files under the state directory's logs that contain a secret this run generated."""
        needles = [s.encode() for s in self.generated if s]
        roots = [self.logs, self.state / "audit", self.state / "nginx" / "logs", self.state / "vault" / "audit.log"]
        files = [f for r in roots if r.exists() for f in ([r] if r.is_file() else r.rglob("*")) if f.is_file()]
        return sorted(str(f) for f in files if any(n in f.read_bytes() for n in needles))

    # -- down ------------------------------------------------------------------------------
    def down(self, quiet: bool = False, keep_logs: bool = False) -> int:
        """Stop exactly the recorded processes (reverse order); remove the state directory."""
        stopped = 0
        for rec in reversed(self.records()):
            if stop(rec):
                stopped += 1
                if not quiet:
                    self.say(f"  ✓ stopped {rec['name']} (pid {rec['pid']})")
        usage_db.remove_cluster(self.state)
        if self.state.exists():
            if keep_logs:
                self.pids_file.unlink(missing_ok=True)
            else:
                shutil.rmtree(self.state)
        return stopped


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
