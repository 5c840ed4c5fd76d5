"""The ephemeral stack as Dagger services: Vault/OpenBao, the mock upstream, three gateways, nginx.

Hostnames: vault:8200, mock:8199, gateway-<provider>:8000, proxy:8443/8080.

A dev Vault lives only as long as the session that started it, while Dagger caches an exec
that talks to it. So every object here carries a run id: it goes into the Vault service and
the bootstrap step, which makes both (and all that depends on them) new for each run, while
image builds and dependency layers stay cached. Gateways get only their own provider's
AppRole files from the bootstrap output; the root token only ever travels as a Secret.
"""

import dataclasses
import hashlib

import dagger
from dagger import dag

from . import consts as c
from .build import edge_image, mock_image
from .providers import KEY_ENV
from .toolbox import toolbox

TLS_DIR = c.EDGE_TLS_DIR


def announce_script(run_id: str) -> str:
    """Start-up lines of `dagger call stack up`: the CA, where the client key is, a curl line; then nginx.

    The key itself never reaches the log: `stack-credentials` returns it (and the CA) for the same run id.
    """
    fetch = f"dagger call --run-id {run_id} stack-credentials export --path ./stack"
    return f"""echo "== llm-stack run {run_id}: client key and CA with: {fetch}"
echo "== CA certificate (also ./stack/ca.pem):"
cat {TLS_DIR}/cert.pem
echo '== curl --cacert stack/ca.pem -H "Authorization: Bearer $(jq -r .{c.CI_CLIENT} stack/{c.CLIENT_KEYS})" \
https://localhost:{c.HTTPS_PORT}/openai/v1/models'
{c.EDGE_ENTRY}
"""


@dataclasses.dataclass(frozen=True)
class StackPlan:
    """How one run of the stack is wired; every method returns a lazy Dagger object."""

    source: dagger.Directory
    run_id: str
    vault_image: str = c.OPENBAO_IMAGE
    provider_keys: dict[str, dagger.Secret] = dataclasses.field(default_factory=dict[str, dagger.Secret])

    def root_token(self) -> dagger.Secret:
        """Root token of this run's dev Vault (derived from the run id; the server is ephemeral)."""
        digest = hashlib.sha256(f"llm-stack-dev-root:{self.run_id}".encode()).hexdigest()
        return dag.set_secret(f"vault-dev-root-token-{self.run_id}", digest)

    def vault(self) -> dagger.Service:
        """Dev Vault or OpenBao server listening on 8200."""
        token = self.root_token()
        return (
            dag.container()
            .from_(self.vault_image)
            .with_env_variable("STACK_RUN_ID", self.run_id)
            .with_env_variable("SKIP_SETCAP", "1")
            .with_secret_variable("BAO_DEV_ROOT_TOKEN_ID", token)
            .with_secret_variable("VAULT_DEV_ROOT_TOKEN_ID", token)
            .with_exposed_port(c.VAULT_PORT)
            .as_service(
                args=["server", "-dev", f"-dev-listen-address=0.0.0.0:{c.VAULT_PORT}", "-dev-no-store-token"],
                use_entrypoint=True,
            )
        )

    def vault_client(self, ctr: dagger.Container) -> dagger.Container:
        """Bind this run's Vault and point VAULT_ADDR at it."""
        return ctr.with_service_binding(c.VAULT_HOST, self.vault()).with_env_variable(
            "VAULT_ADDR", f"http://{c.VAULT_HOST}:{c.VAULT_PORT}"
        )

    def bootstrap(self) -> dagger.Container:
        """Run vaultctl bootstrap: policies, AppRoles, provider keys and the CI client key."""
        ctr = (
            toolbox(self.source)
            .with_(self.vault_client)
            .with_env_variable("STACK_RUN_ID", self.run_id)
            .with_secret_variable("VAULT_TOKEN", self.root_token())
        )
        for provider, key in sorted(self.provider_keys.items()):
            ctr = ctr.with_secret_variable(KEY_ENV[provider], key)
        return ctr.with_exec(c.BOOTSTRAP_CMD)

    def credentials(self) -> dagger.Directory:
        """The bootstrap output: <provider>/role_id, <provider>/secret_id and clients.json."""
        return self.bootstrap().directory(c.BOOTSTRAP_OUT)

    def approle_volume(self, provider: str) -> dagger.CacheVolume:
        """The provider's AppRole files for this run, shared by the refresher and the gateway."""
        return dag.cache_volume(f"llm-stack-approle-{self.run_id}-{provider}")

    def refresher(self) -> dagger.Service:
        """Seed each AppRole volume from the bootstrap, then keep its secret_id usable (vaultctl refresh-secret-ids)."""
        creds = self.credentials()
        ctr = (
            mock_image(self.source)
            # The mock image's HEALTHCHECK probes the mock's port, which this process never opens: the engine
            # takes an image's HEALTHCHECK as the service's readiness check, and would fail the service.
            .without_docker_healthcheck()
            .with_(self.vault_client)
            .with_mounted_file("/run/stack/issuer-token", creds.file("issuer-token"), owner=c.APP_OWNER)
            .with_mounted_directory("/run/stack/seed", creds, owner=c.APP_OWNER)
        )
        seed = ""
        for provider in c.PROVIDERS:
            ctr = ctr.with_mounted_cache(
                f"{c.REFRESHER_DIR}/{provider}", self.approle_volume(provider), owner=c.APP_OWNER
            )
            seed += f"cp /run/stack/seed/{provider}/*_id {c.REFRESHER_DIR}/{provider}/ && "
        argv = " ".join(c.REFRESHER_CMD)
        return ctr.as_service(args=["/bin/sh", "-c", f"{seed}exec {argv}"])

    def mock(self) -> dagger.Service:
        """Mock upstream (services/Dockerfile.mock) speaking the three providers' protocols on 8199."""
        return mock_image(self.source).with_exposed_port(c.MOCK_PORT).as_service(args=c.MOCK_CMD)

    def gateway(self, image: dagger.Container, provider: str) -> dagger.Service:
        """One provider's gateway (its own image) logged in to Vault with its own AppRole."""
        ctr = (
            image.with_service_binding(c.VAULT_HOST, self.vault())
            .with_service_binding(c.MOCK_HOST, self.mock())
            .with_env_variable("GATEWAY_PROVIDER", provider)
            .with_env_variable("GATEWAY_HOST", "0.0.0.0")
            .with_env_variable("GATEWAY_PORT", str(c.GATEWAY_PORT))
            .with_env_variable("GATEWAY_SECRETS_BACKEND", "vault")
            .with_env_variable("GATEWAY_VAULT_ADDR", f"http://{c.VAULT_HOST}:{c.VAULT_PORT}")
            .with_service_binding("refresher", self.refresher())
            .with_mounted_cache(c.APPROLE_DIR, self.approle_volume(provider), owner=c.APP_OWNER)
            .with_env_variable("GATEWAY_VAULT_ROLE_ID_FILE", f"{c.APPROLE_DIR}/role_id")
            .with_env_variable("GATEWAY_VAULT_SECRET_ID_FILE", f"{c.APPROLE_DIR}/secret_id")
        )
        if provider not in self.provider_keys:  # a real key means the real API (the default URL)
            ctr = ctr.with_env_variable("GATEWAY_UPSTREAM_BASE_URL", c.upstream_base_url(provider))
        # The refresher seeds the volume when it starts: wait for the first secret_id, then serve.
        wait = f"until [ -s {c.APPROLE_DIR}/secret_id ]; do sleep 1; done; exec {' '.join(c.GATEWAY_CMD)}"
        return ctr.with_exposed_port(c.GATEWAY_PORT).as_service(args=["/bin/sh", "-c", wait])

    def tls(self) -> dagger.Directory:
        """Self-signed certificate for the proxy (cert.pem doubles as the CA clients trust)."""
        san = f"subjectAltName=DNS:{c.PROXY_HOST},DNS:localhost,IP:127.0.0.1"
        out = "/run/tls"
        return (
            toolbox(self.source)
            .with_env_variable("STACK_RUN_ID", self.run_id)
            .with_exec(["mkdir", "-p", out])
            .with_exec(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "7",
                    "-subj",
                    f"/CN={c.PROXY_HOST}",
                    "-addext",
                    san,
                    "-keyout",
                    f"{out}/key.pem",
                    "-out",
                    f"{out}/cert.pem",
                ]
            )
            .directory(out)
        )

    def proxy(self, gateways: dict[str, dagger.Service], announce: bool = False) -> dagger.Service:
        """nginx (nginx/Dockerfile) on 8443 (HTTPS) and 8080 (redirect) in front of the gateways.

        With announce, the log starts with the run id, the CA and how to fetch the client key.
        """
        ctr = (
            edge_image(self.source)
            .with_mounted_directory(TLS_DIR, self.tls(), owner=c.EDGE_OWNER)
            .with_env_variable("NGINX_TLS_CERT", f"{TLS_DIR}/cert.pem")
            .with_env_variable("NGINX_TLS_KEY", f"{TLS_DIR}/key.pem")
            .with_env_variable("NGINX_LISTEN_HTTPS", f"0.0.0.0:{c.HTTPS_PORT}")
            .with_env_variable("NGINX_LISTEN_HTTP", f"0.0.0.0:{c.HTTP_PORT}")
        )
        for provider, service in sorted(gateways.items()):
            ctr = ctr.with_env_variable(
                f"NGINX_UPSTREAM_{c.env_name(provider)}", f"{c.gateway_host(provider)}:{c.GATEWAY_PORT}"
            ).with_service_binding(c.gateway_host(provider), service)
        ctr = ctr.with_exposed_port(c.HTTPS_PORT).with_exposed_port(c.HTTP_PORT)
        if not announce:
            return ctr.as_service(use_entrypoint=True)
        return ctr.as_service(args=["/bin/sh", "-c", announce_script(self.run_id)])

    def client_files(self) -> dagger.Directory:
        """clients.json (the demo client key) and ca.pem of this run's stack."""
        return (
            dag.directory()
            .with_file(c.CLIENT_KEYS, self.credentials().file(c.CLIENT_KEYS))
            .with_file("ca.pem", self.tls().file("cert.pem"))
        )
