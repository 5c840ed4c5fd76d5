"""The module's API: every function orchestrates; the work is the repository's own scripts and suites."""

import enum
import secrets
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import dagger
from dagger import DefaultPath, Doc, Ignore, check, enum_type, function, object_type, up

from . import consts as c
from .build import edge_image, gateway_image, gateway_images
from .release import (
    DeployInputs,
    DeployTarget,
    Env,
    deploy_container,
    kubernetes_deploy_container,
    publish_plan,
    push_all,
)
from .source import SOURCE_IGNORE
from .stack import StackPlan
from .suites import TestSuite, verdict

Source = Annotated[
    dagger.Directory,
    DefaultPath("/"),
    Ignore(SOURCE_IGNORE),
    Doc("Repository root (defaults to this repository, filtered to what the pipeline uses)"),
]
VaultImage = Annotated[str, Doc("Dev Vault or OpenBao image (openbao/openbao:* or hashicorp/vault:*)")]
ProviderKey = Annotated[dagger.Secret | None, Doc("Real API key for this provider (else the mock answers)")]


F = TypeVar("F", bound=Callable[..., Any])


def as_check(fn: F) -> F:
    """Mark a function for `dagger check` (the SDK's `check` has no typed overloads)."""
    return cast(F, check(fn))


def as_up(fn: F) -> F:
    """Mark a Service-returning function for `dagger up` (the SDK's `up` has no typed overloads)."""
    return cast(F, up(fn))


def cached(policy: str) -> Callable[[F], F]:
    """`@function(cache=policy)`: the SDK's typed overloads of `function` omit `cache`.

    "never": every call runs (a fresh run id, so a new Vault and bootstrap; publish and deploy act).
    "session": one result per `dagger` invocation, so `dagger check` and a repeated call share it.
    """
    return cast(Callable[[F], F], cast(Any, function)(cache=policy))


never_cached = cached("never")
session_cached = cached("session")


@enum_type
class Provider(enum.Enum):
    """An LLM provider with its own gateway image."""

    # The SDK needs literal members: generated from the catalogue (`python -m catalogue.generate`).
    # BEGIN catalogue:dagger-provider-enum
    openai = "openai"
    anthropic = "anthropic"
    cohere = "cohere"
    mistral = "mistral"
    local_llama = "local-llama"
    # END catalogue:dagger-provider-enum


@object_type
class LlmStack:
    """Build, test, publish and deploy the multi-LLM gateway stack (nginx, three gateways, Vault)."""

    source: Source
    run_id: Annotated[
        str, Doc("Scopes the ephemeral stack; repeat it to reuse a run's cached results (default: new id)")
    ] = ""

    def _run_id(self) -> str:
        return self.run_id or secrets.token_hex(8)

    def _plan(self, vault_image: str = c.OPENBAO_IMAGE, keys: dict[str, dagger.Secret] | None = None) -> StackPlan:
        return StackPlan(self.source, self._run_id(), vault_image, keys or {})

    @function
    @as_check
    async def lint(self) -> str:
        """Run ruff, pyright, hadolint, actionlint, zizmor, gixy and nginx -t; fail with the report."""
        return verdict([await self.suite().lint()])

    @function
    def build(
        self,
        provider: Annotated[Provider, Doc("Provider whose image to build")],
        base_image: Annotated[str, Doc("Override the Dockerfile's ARG BASE_IMAGE")] = "",
    ) -> dagger.Container:
        """Build a provider's gateway image from services/Dockerfile.<provider>."""
        return gateway_image(self.source, provider.value, base_image)

    @function
    def build_all(
        self, base_image: Annotated[str, Doc("Override the Dockerfiles' ARG BASE_IMAGE")] = ""
    ) -> list[dagger.Container]:
        """Build the three gateway images and the nginx image."""
        return [*gateway_images(self.source, base_image).values(), edge_image(self.source)]

    @function
    def edge(self) -> dagger.Container:
        """Build the nginx image with the config rendered for the compose deployment."""
        return edge_image(self.source)

    @never_cached
    def vault(self, image: VaultImage = c.OPENBAO_IMAGE) -> dagger.Service:
        """Start a dev Vault/OpenBao server on port 8200."""
        return self._plan(image).vault()

    @never_cached
    def bootstrap(self, vault_image: VaultImage = c.OPENBAO_IMAGE) -> dagger.Container:
        """Bootstrap the dev Vault with vaultctl (policies, AppRoles, keys); its output is in /run/stack."""
        return self._plan(vault_image).bootstrap()

    @function
    def mock(self) -> dagger.Service:
        """Start the mock upstream on port 8199."""
        return self._plan().mock()

    @never_cached
    def gateway(
        self,
        provider: Annotated[Provider, Doc("Provider this gateway serves")],
        provider_key: ProviderKey = None,
        vault_image: VaultImage = c.OPENBAO_IMAGE,
    ) -> dagger.Service:
        """Start one provider's gateway (port 8000) bound to a bootstrapped Vault and the mock."""
        keys = {provider.value: provider_key} if provider_key else {}
        plan = self._plan(vault_image, keys)
        return plan.gateway(gateway_image(self.source, provider.value), provider.value)

    @never_cached
    def proxy(self, vault_image: VaultImage = c.OPENBAO_IMAGE) -> dagger.Service:
        """Start nginx (8443 HTTPS, 8080 redirect) in front of the three gateways."""
        plan = self._plan(vault_image)
        return plan.proxy({p: plan.gateway(img, p) for p, img in gateway_images(self.source).items()})

    @never_cached
    @as_up
    def stack(
        self,
        vault_image: VaultImage = c.OPENBAO_IMAGE,
        # BEGIN catalogue:dagger-key-args
        openai_key: ProviderKey = None,
        anthropic_key: ProviderKey = None,
        cohere_key: ProviderKey = None,
        mistral_key: ProviderKey = None,
        local_llama_key: ProviderKey = None,
        # END catalogue:dagger-key-args
    ) -> dagger.Service:
        """Serve the whole stack: `dagger call --run-id demo stack up --ports 8443:8443`."""
        # BEGIN catalogue:dagger-key-given
        given = {
            "openai": openai_key,
            "anthropic": anthropic_key,
            "cohere": cohere_key,
            "mistral": mistral_key,
            "local-llama": local_llama_key,
        }
        # END catalogue:dagger-key-given
        plan = self._plan(vault_image, {p: k for p, k in given.items() if k is not None})
        gateways = {p: plan.gateway(img, p) for p, img in gateway_images(self.source).items()}
        return plan.proxy(gateways, announce=True)

    @function
    def stack_credentials(self) -> dagger.Directory:
        """clients.json (demo client key) and ca.pem of the stack started with the same --run-id."""
        return self._plan().client_files()

    @never_cached
    def suite(self) -> TestSuite:
        """The lint, unit and integration suites of one run (see `report` to export JUnit files)."""
        return TestSuite(source=self.source, run_id=self._run_id())

    @session_cached
    async def test(self) -> str:
        """Lint and unit tests, then the integration suites against an ephemeral stack; fail with the summary."""
        return await self.suite().run()

    @session_cached
    async def test_report(self) -> dagger.Directory:
        """Run what `test` runs and return junit/*.xml, summary.txt and status, even when a suite fails."""
        return await self.suite().report()

    @function
    @as_check
    async def test_unit(self) -> None:
        """Run tests/unit."""
        verdict([await self.suite().unit()])

    @session_cached
    async def test_health(self) -> None:
        """Run the health suite against the stack."""
        verdict([await self.suite().integration("health")])

    @session_cached
    async def test_auth(self) -> None:
        """Run the auth suite against the stack."""
        verdict([await self.suite().integration("auth")])

    @session_cached
    async def test_perf(self) -> None:
        """Run the performance smoke suite against the stack."""
        verdict([await self.suite().integration("perf")])

    @session_cached
    async def test_langchain(self) -> None:
        """Run the LangChain integration suite against the stack."""
        verdict([await self.suite().integration("langchain")])

    @session_cached
    @as_check
    async def test_integration(self) -> None:
        """Run the health, auth, perf and LangChain suites in sequence against one ephemeral stack."""
        suite = self.suite()
        verdict([await suite.integration(name) for name in c.SUITES])

    @never_cached
    async def publish(
        self,
        registry: Annotated[str, Doc("Registry and namespace, e.g. ghcr.io/acme")],
        username: Annotated[str, Doc("Registry user")],
        password: Annotated[dagger.Secret, Doc("Registry password or token")],
        tag: Annotated[str, Doc("Image tag, e.g. the commit SHA or release tag")],
    ) -> list[str]:
        """Push every image compose runs (gateways, nginx, mock) concurrently; return references with digests."""
        return await push_all(publish_plan(self.source, registry, username, password, tag))

    @never_cached
    async def deploy(
        self,
        env: Annotated[Env, Doc("Target environment")],
        host: Annotated[str, Doc("Server reachable over SSH that runs Docker")],
        env_file: Annotated[dagger.Secret, Doc("deploy.sh settings and secrets (deploy/.env.production.example)")],
        ssh_key: Annotated[dagger.Secret, Doc("Private SSH key of the deploy user")],
        known_hosts: Annotated[dagger.Secret, Doc("known_hosts lines for the server (no trust on first use)")],
        tls_cert: Annotated[dagger.Secret, Doc("nginx certificate chain (PEM)")],
        tls_key: Annotated[dagger.Secret, Doc("nginx private key (PEM)")],
        vault_tls_cert: Annotated[dagger.Secret, Doc("Vault's listener certificate (PEM)")],
        vault_tls_key: Annotated[dagger.Secret, Doc("Vault's listener private key (PEM)")],
        vault_ca: Annotated[dagger.Secret, Doc("CA of Vault's certificate, which the gateways trust (PEM)")],
        images: Annotated[dagger.File, Doc("Published references with digests, one per line (publish's output)")],
        service_env: Annotated[
            dagger.Directory, Doc("Directory with openai.env, anthropic.env, cohere.env, e.g. deploy/env/prod")
        ],
        registry_username: Annotated[str, Doc("User the server pulls private images as")] = "",
        registry_password: Annotated[
            dagger.Secret | None, Doc("Token the server pulls private images with (env://REGISTRY_PULL_TOKEN)")
        ] = None,
        user: Annotated[str, Doc("SSH user")] = "deploy",
        port: Annotated[int, Doc("SSH port")] = 22,
    ) -> str:
        """Deploy published images with deploy/deploy.sh (compose over SSH, health check, rollback)."""
        inputs = DeployInputs(
            env_file, ssh_key, known_hosts, tls_cert, tls_key, vault_tls_cert, vault_tls_key, vault_ca, images,
            service_env, registry_username, registry_password,
        )
        ctr = deploy_container(self.source, env, DeployTarget(host, user, port), inputs)
        return await ctr.stdout()

    @never_cached
    async def deploy_kubernetes(
        self,
        env: Annotated[Env, Doc("Target environment (recorded as the Helm revision's description)")],
        kubeconfig: Annotated[dagger.Secret, Doc("kubeconfig of the target cluster (file://~/.kube/prod)")],
        values: Annotated[dagger.File, Doc("Helm values for this environment: images, Vault, hosts")],
        namespace: Annotated[str, Doc("Namespace of the release")] = "llm",
        release: Annotated[str, Doc("Helm release name")] = "llm-gateway",
    ) -> str:
        """Install or upgrade the Helm chart: deploy/helm/deploy.sh (helm upgrade --install --rollback-on-failure)."""
        ctr = kubernetes_deploy_container(self.source, env, kubeconfig, values, namespace, release)
        return await ctr.stdout()
