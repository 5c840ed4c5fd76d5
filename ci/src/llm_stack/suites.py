"""The project's own lint and pytest suites, run in containers; integration suites share one stack."""

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
import dagger
from dagger import Doc, ReturnType, dag, field, function, object_type

from . import consts as c
from .build import gateway_images
from .lint import lint_steps
from .stack import StackPlan
from .toolbox import toolbox

STACK_DIR = "/run/stack"
REPORTS = "/reports"
SUMMARY_LINES = 60

# Writes STACK_ENV_FILE (the variables `make up` writes to .stack/env) from the bootstrap's client
# keys, then execs the command after its two arguments: python -c WRITE_STACK_ENV KEYS CLIENT CMD...
WRITE_STACK_ENV = f"""import json, os, sys
key = json.load(open(sys.argv[1]))[sys.argv[2]]
env = {{
    "STACK_URL": "https://{c.PROXY_HOST}:{c.HTTPS_PORT}",
    "STACK_CA": "{STACK_DIR}/ca.pem",
    "STACK_MOCK_URL": "http://{c.MOCK_HOST}:{c.MOCK_PORT}",
    "VAULT_ADDR": "http://{c.VAULT_HOST}:{c.VAULT_PORT}",
}}
for p, name in {[(p, c.env_name(p)) for p in c.PROVIDERS]!r}:
    env[f"STACK_KEY_{{name}}"] = key
    env[f"STACK_GATEWAY_URL_{{name}}"] = f"http://gateway-{{p}}:{c.GATEWAY_PORT}"
with open(os.environ["STACK_ENV_FILE"], "w") as f:
    f.writelines(f"{{k}}={{v}}\\n" for k, v in env.items())
os.execvp(sys.argv[3], sys.argv[3:])
"""


class TestsFailedError(Exception):
    """A suite exited non-zero; the message carries the summaries."""


@dataclasses.dataclass(frozen=True)
class SuiteResult:
    """Outcome of one tool or pytest run."""

    name: str
    exit_code: int
    output: str
    junit: dagger.File | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        tail = "\n".join(self.output.strip().splitlines()[-SUMMARY_LINES:])
        state = "passed" if self.ok else f"FAILED (exit {self.exit_code})"
        return f"== {self.name}: {state}\n{tail}"


async def collect(name: str, ctr: dagger.Container, junit: bool = True) -> SuiteResult:
    """Await an exec that ran with expect=ANY and keep its exit code, output and report."""
    code, out, err = await ctr.exit_code(), await ctr.stdout(), await ctr.stderr()
    report = ctr.file(f"{REPORTS}/{name}.xml") if junit else None
    return SuiteResult(name, code, f"{out}{err}", report)


async def concurrently(*calls: Callable[[], Awaitable[SuiteResult]]) -> list[SuiteResult]:
    """Run suite calls in one anyio task group, keeping their order."""
    results: dict[int, SuiteResult] = {}

    async def run(i: int, call: Callable[[], Awaitable[SuiteResult]]) -> None:
        results[i] = await call()

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(run, i, call)
    return [results[i] for i in range(len(calls))]


def step(*args: str) -> list[str]:
    """The steps script's command line (ci/steps/run.sh): the same one `make test` replays in Docker."""
    return ["bash", c.STEPS_SCRIPT, *args]


@object_type
class TestSuite:
    """Lint, unit and integration suites of one run; the integration suites share one ephemeral stack."""

    source: Annotated[dagger.Directory, Doc("Repository root")] = field()
    run_id: Annotated[str, Doc("Run id that scopes the ephemeral stack")] = field()

    def plan(self) -> StackPlan:
        return StackPlan(source=self.source, run_id=self.run_id)

    def unit_container(self) -> dagger.Container:
        """Unit tests: no processes, no services."""
        return toolbox(self.source).with_env_variable("REPORTS", REPORTS).with_exec(step("unit"), expect=ReturnType.ANY)

    def stack_client(self) -> dagger.Container:
        """Test container bound to the proxy, Vault and the mock, with STACK_ENV_FILE's inputs mounted."""
        plan = self.plan()
        gateways = {p: plan.gateway(img, p) for p, img in gateway_images(self.source).items()}
        ctr = (
            toolbox(self.source)
            .with_env_variable("REPORTS", REPORTS)
            .with_service_binding(c.PROXY_HOST, plan.proxy(gateways))
        )
        for provider, service in sorted(gateways.items()):
            ctr = ctr.with_service_binding(c.gateway_host(provider), service)
        return (
            ctr.with_(plan.vault_client)
            .with_service_binding(c.MOCK_HOST, plan.mock())
            .with_mounted_file(f"{STACK_DIR}/{c.CLIENT_KEYS}", plan.credentials().file(c.CLIENT_KEYS))
            .with_mounted_file(f"{STACK_DIR}/ca.pem", plan.tls().file("cert.pem"))
            .with_env_variable("STACK_ENV_FILE", f"{STACK_DIR}/env")
        )

    def integration_container(self, suite: str) -> dagger.Container:
        """One integration suite (one of consts.SUITES) against the stack."""
        args = step("integration", suite)
        keys = f"{STACK_DIR}/{c.CLIENT_KEYS}"
        command = ["python", "-c", WRITE_STACK_ENV, keys, c.CI_CLIENT, *args]
        return self.stack_client().with_exec(command, expect=ReturnType.ANY)

    async def lint(self) -> SuiteResult:
        """Every linter, concurrently, as one result."""
        steps = lint_steps(self.source)
        results = await concurrently(*(lambda n=n, s=s: collect(n, s, junit=False) for n, s in steps.items()))
        worst = max((r.exit_code for r in results), default=0)
        return SuiteResult("lint", worst, "\n\n".join(r.summary() for r in results))

    async def unit(self) -> SuiteResult:
        return await collect("unit", self.unit_container())

    async def integration(self, suite: str) -> SuiteResult:
        return await collect(suite, self.integration_container(suite))

    async def run_all(self) -> list[SuiteResult]:
        """Lint and unit tests together, then the integration suites one after another."""
        results = await concurrently(self.lint, self.unit)
        if all(r.ok for r in results):
            for suite in c.SUITES:
                results.append(await self.integration(suite))
        return results

    @function
    async def report(self) -> dagger.Directory:
        """Run every suite; return junit/*.xml, summary.txt and status, whatever the outcome."""
        results = await self.run_all()
        out = (
            dag.directory()
            .with_new_file("summary.txt", "\n\n".join(r.summary() for r in results) + "\n")
            .with_new_file("status", "passed\n" if all(r.ok for r in results) else "failed\n")
        )
        for r in results:
            if r.junit is not None:
                out = out.with_file(f"junit/{r.name}.xml", r.junit)
        return out

    @function
    async def run(self) -> str:
        """Run every suite and fail with the summaries when one fails."""
        return verdict(await self.run_all())


def verdict(results: list[SuiteResult]) -> str:
    """The joined summaries, raised as TestsFailedError when any result failed."""
    text = "\n\n".join(r.summary() for r in results)
    if not all(r.ok for r in results):
        raise TestsFailedError(text)
    return text
