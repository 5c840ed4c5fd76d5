"""deploy/deploy.sh against the local Docker engine: a release goes live, a re-run changes nothing,
and a broken release is rolled back automatically while the previous one keeps serving.

Uses its own compose project, image prefix, state directory and free ports, so it never touches the
stack of `deploy/docker/stack.sh`. Release r1 reuses the images of `make containers-build` when they
exist (tagged under the test prefix; deploy.sh's step 1 builds them otherwise); release r2 is r1 with
a gateway image that cannot start (GATEWAY_AGENT_MAX_STEPS=0 fails settings validation).
After every release, refused, live, re-run or rolled back, the state directory's provider-keys.json is `{}`:
the keys live only in Vault, and every provider still serves with them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import catalogue
from tests.containers.conftest import REPO, docker, image
from tests.unit.test_deploy_target import SSH

pytestmark = pytest.mark.containers

SCRIPT = REPO / "deploy" / "deploy.sh"
COMPONENTS = (*catalogue.names(), "nginx", "mock")
PREFIX = "llmgw-deploytest"
BASE_IMAGE = "llmgw-local/base:bookworm"
VAULT_IMAGE = "llmgw-local/openbao:2.7.2"


@dataclass
class Target:
    """One deployment target: the env file deploy.sh reads, and what the tests need to reach it."""

    root: Path
    env_file: Path
    project: str
    url: str
    ca: Path
    key: str = ""  # a client key created with the scoped admin token after the first deploy
    keys_after_refusal: str = ""  # provider-keys.json after the first deploy, refused (Vault not initialised)

    @property
    def keys_file(self) -> Path:
        """The provider keys deploy.sh writes for vault-bootstrap."""
        return self.root / "state" / "provider-keys.json"

    @property
    def releases(self) -> list[list[str]]:
        """The release history: [utc, tag, status] per line."""
        path = self.root / "state" / "releases"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run deploy.sh for this target."""
        return subprocess.run(["bash", str(SCRIPT), "--env", "staging", "--env-file", str(self.env_file), *args],
                              capture_output=True, text=True, timeout=900, check=False, cwd=REPO,
                              env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.root),
                                   "BASE_IMAGE": BASE_IMAGE})

    def compose_env(self, tag: str) -> dict[str, str]:
        """Variables compose needs to parse the file for this target."""
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LLMGW_STATE_DIR": str(self.root / "state"),
                "LLMGW_ENV_DIR": str(self.root / "env"), "COMPOSE_PROFILES": "mock", "LLMGW_IMAGE_PREFIX": PREFIX,
                "LLMGW_TAG": tag, "VAULT_IMAGE": VAULT_IMAGE}

    def running_images(self) -> dict[str, str]:
        """service → image of this project's running containers."""
        out = docker("ps", "--filter", f"label=com.docker.compose.project={self.project}",
                     "--format", '{{.Label "com.docker.compose.service"}} {{.Image}}').stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def container_ids(self) -> set[str]:
        """Ids of this project's running containers."""
        out = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}").stdout
        return set(out.split())

    def compose(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """docker-compose on this target's project (the production file deploy.sh uses); fails loudly."""
        files = ["-f", str(REPO / "deploy" / "docker-compose.yml")]
        result = subprocess.run(["docker-compose", "-p", self.project, *files, *args], env=self.compose_env("r1"),
                                input=stdin, capture_output=True, text=True, timeout=300, check=False)
        assert not check or result.returncode == 0, f"docker-compose {args[:3]}: {result.stdout}{result.stderr}"
        return result

    def wait_vault_answers(self, within_s: float = 90.0) -> None:
        """Until `bao status` answers from the container (exit 2: sealed), as an operator would check first."""
        deadline = time.monotonic() + within_s
        while True:
            status = self.compose("exec", "-T", "vault", "bao", "status", "-format=json", check=False)
            if status.returncode == 2:
                return
            assert time.monotonic() < deadline, f"Vault did not answer: {status.returncode} {status.stdout}"
            time.sleep(1)

    def chat(self, provider: str = "openai") -> httpx.Response:
        """One chat completion through nginx with a client key made by the operator (prod has no demo keys)."""
        if not self.key:
            made = self.compose("run", "--rm", "-T", "vault-bootstrap", "client-key", "create", "--name", "deploytest",
                                "--providers", "+".join(catalogue.names()), "--addr", "https://vault:8200",
                                "--cacert", "/etc/llm-gateway/vault-ca/ca.pem",
                                "--token-file", "/run/secrets/vault_admin_token")
            self.key = made.stdout.split("key: ")[1].split()[0]
        deadline = time.monotonic() + 60  # the gateways re-read the client registry every 15 s
        while True:
            reply = httpx.post(f"{self.url}/{provider}/v1/chat/completions", verify=str(self.ca), timeout=30,
                               headers={"Authorization": f"Bearer {self.key}"},
                               json={"messages": [{"role": "user", "content": "still serving?"}]})
            if reply.status_code != 401 or time.monotonic() > deadline:
                return reply
            time.sleep(2)


def _operate_vault(target: Target) -> None:
    """The operator's first run: deploy.sh refuses the sealed Vault; init, unseal, admin token, revoke root."""
    started = time.monotonic()
    first = target.deploy("--tag", "r1")
    refused = "Vault is sealed or not initialised (initialized: false, sealed: true, seal: shamir)"
    assert first.returncode != 0 and refused in first.stderr, first.stdout + first.stderr
    target.keys_after_refusal = target.keys_file.read_text()
    print(f"\nfirst deploy refused (Vault not initialised) after {time.monotonic() - started:.1f} s")
    target.wait_vault_answers()  # on a loaded host its container may still be starting
    init = json.loads(target.compose("exec", "-T", "vault", "bao", "operator", "init", "-key-shares=1",
                                     "-key-threshold=1", "-format=json").stdout)
    target.compose("exec", "-T", "vault", "bao", "operator", "unseal", init["unseal_keys_b64"][0])
    root = ("-e", f"BAO_TOKEN={init['root_token']}")
    target.compose("exec", "-T", *root, "vault", "bao", "policy", "write", "llm-admin", "-",
                   stdin=(REPO / "deploy" / "vault" / "policies" / "llm-admin.hcl").read_text())
    admin = target.compose("exec", "-T", *root, "vault", "bao", "token", "create", "-orphan", "-policy=llm-admin",
                           "-ttl=2h", "-field=token").stdout.strip()
    target.compose("exec", "-T", *root, "vault", "bao", "token", "revoke", "-self")
    text = target.env_file.read_text()
    target.env_file.write_text(re.sub(r"^VAULT_ADMIN_TOKEN=.*$", f"VAULT_ADMIN_TOKEN={admin}", text, flags=re.M))


def _tag(source: str, dest: str) -> None:
    docker("tag", source, dest)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    from devstack.ports import free_ports
    from devstack.tls import issue

    for needed in (BASE_IMAGE, VAULT_IMAGE):
        if docker("image", "inspect", needed, check=False).returncode != 0:
            pytest.fail(f"{needed} missing: run `make containers-build` (mk/containers.mk)")
    root = tmp_path_factory.mktemp("deploy")
    (root / "env").mkdir()
    for example in (REPO / "deploy" / "env").glob("*.env.example"):
        shutil.copy(example, root / "env" / example.name.removesuffix(".example"))
    tls = issue(root / "tls", ("localhost", "127.0.0.1", "::1", "nginx"))
    vault_tls = issue(root / "vault-tls", ("vault", "localhost", "127.0.0.1"))
    https, http = free_ports(2)
    project = f"llmgwdeploy{secrets.token_hex(3)}"
    env_file = root / "deploy.env"
    env_file.write_text("\n".join([
        f"LLMGW_STATE_DIR={root / 'state'}", f"LLMGW_ENV_DIR={root / 'env'}", f"LLMGW_PROJECT={project}",
        f"LLMGW_IMAGE_PREFIX={PREFIX}", f"VAULT_IMAGE={VAULT_IMAGE}", "LLMGW_UPSTREAM=mock",
        f"VAULT_ADMIN_TOKEN=admin-{secrets.token_hex(12)}", f"LLMGW_TLS_CERT={tls['cert']}",
        f"LLMGW_TLS_KEY={tls['key']}", f"LLMGW_HEALTH_CACERT={tls['ca']}", f"LLMGW_HTTPS_PORT={https}",
        f"LLMGW_HTTP_PORT={http}", f"LLMGW_PUBLIC_URL=https://127.0.0.1:{https}", "LLMGW_HEALTH_TIMEOUT_S=120",
        f"LLMGW_VAULT_TLS_CERT={vault_tls['cert']}", f"LLMGW_VAULT_TLS_KEY={vault_tls['key']}",
        f"LLMGW_VAULT_CA={vault_tls['ca']}",
    ]) + "\n")
    tgt = Target(root, env_file, project, f"https://127.0.0.1:{https}", tls["ca"])
    for component in COMPONENTS:  # reuse `make containers-build` output when present
        if docker("image", "inspect", image(component), check=False).returncode == 0:
            _tag(image(component), f"{PREFIX}/{component}:r1")
    try:
        _operate_vault(tgt)
        yield tgt
    finally:
        subprocess.run(["docker-compose", "-p", project, "-f", str(REPO / "deploy" / "docker-compose.yml"),
                        "down", "--volumes", "--remove-orphans", "--timeout", "10"],
                       env=tgt.compose_env("r1"), capture_output=True, check=False, timeout=180)
        for component in COMPONENTS:
            docker("rmi", "-f", f"{PREFIX}/{component}:r1", f"{PREFIX}/{component}:r2", check=False)
        shutil.rmtree(root / "state", ignore_errors=True)


def _seconds(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1))


def _assert_no_keys_at_rest(target: Target) -> None:
    """provider-keys.json is `{}`, as host_files leaves its files (0444 in the 0700 directory), with no .new left."""
    assert json.loads(target.keys_file.read_text()) == {}, "provider keys left on the server's disk"
    assert stat.S_IMODE(target.keys_file.stat().st_mode) == 0o444
    assert stat.S_IMODE(target.keys_file.parent.stat().st_mode) == 0o700
    assert not target.keys_file.with_name("provider-keys.json.new").exists()


def _every_provider_serves(target: Target) -> None:
    """A chat through the edge per provider: each gateway holds its key, which is now only in Vault."""
    for provider in catalogue.names():
        assert target.chat(provider).status_code == 200, provider


def test_a_refused_deploy_leaves_no_keys_behind(target: Target) -> None:
    assert json.loads(target.keys_after_refusal) == {}, "keys written for a release that never ran bootstrap"


def test_deploy_goes_live_and_serves(target: Target) -> None:
    started = time.monotonic()
    result = target.deploy("--tag", "r1")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    for n, name in enumerate(("images", "push", "deploy", "health", "validate"), start=1):
        assert re.search(rf"\[{n}/5\] {name} ✓ \d+\.\ds", result.stdout), name
    assert result.stdout.count("validation PASS") == 2 * len(catalogue.names()), "settings + live check per gateway"
    assert target.releases[-1][1:] == ["r1", "live"]
    assert set(target.running_images().values()) >= {f"{PREFIX}/{c}:r1" for c in COMPONENTS}
    _assert_no_keys_at_rest(target)
    _every_provider_serves(target)
    step = _seconds(r"\[3/5\] deploy ✓ (\d+\.\d)s", result.stdout)
    print(f"\ndeploy r1: {elapsed:.1f} s wall; compose up step {step} s")


def test_a_rerun_is_idempotent(target: Target) -> None:
    before = target.container_ids()
    result = target.deploy("--tag", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "images llmgw-deploytest/*:r1 exist" in result.stdout
    assert "release r1 was already live; re-verified" in result.stdout
    assert target.container_ids() == before, "an unchanged release recreates nothing"
    assert [r[1:] for r in target.releases].count(["r1", "live"]) == 1
    _assert_no_keys_at_rest(target)  # written again for this run's bootstrap, then blanked again
    _every_provider_serves(target)


def test_a_failing_release_rolls_back_and_the_previous_one_keeps_serving(target: Target) -> None:
    broken = target.root / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text(f"FROM {PREFIX}/openai:r1\nENV GATEWAY_AGENT_MAX_STEPS=0\n")
    build = subprocess.run(["docker", "build", "-q", "-t", f"{PREFIX}/openai:r2", str(broken)], capture_output=True,
                           text=True, check=False, timeout=300, env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"})
    assert build.returncode == 0, build.stderr
    for component in (c for c in COMPONENTS if c != "openai"):
        _tag(f"{PREFIX}/{component}:r1", f"{PREFIX}/{component}:r2")
    started = time.monotonic()
    result = target.deploy("--tag", "r2")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rolling back to r1" in result.stderr
    rollback_s = _seconds(r"rolled back to r1 in (\d+\.\d)s", result.stdout + result.stderr)
    assert [r[1:] for r in target.releases[-2:]] == [["r2", "failed"], ["r1", "live"]]
    running = target.running_images()
    assert running["gateway-openai"] == f"{PREFIX}/openai:r1"
    assert running["nginx"] == f"{PREFIX}/nginx:r1"
    _assert_no_keys_at_rest(target)
    _every_provider_serves(target)
    print(f"\nfailed deploy r2 + automatic rollback: {elapsed:.1f} s wall; rollback itself {rollback_s} s")


def test_the_keys_file_is_blanked_in_place_on_an_ssh_target(tmp_path: Path) -> None:
    """forget_provider_keys through on_target and a stand-in `ssh` (tests/unit/test_deploy_target.py): no engine."""
    bin_dir, state = tmp_path / "bin", tmp_path / "server" / "state"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(SSH)
    (bin_dir / "ssh").chmod(0o755)
    state.mkdir(parents=True, mode=0o700)
    keys = state / "provider-keys.json"
    keys.write_text('{"openai": "sk-' + secrets.token_hex(8) + '"}\n')
    keys.chmod(0o444)
    script = f"""set -euo pipefail
source {REPO / "deploy" / "deploy-target.sh"}; source {REPO / "deploy" / "deploy-steps.sh"}
remote=1 target=ssh://deploy@127.0.0.1:2222 dry_run=0 state="{state}"
forget_provider_keys"""
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "SSH_SEEN": str(tmp_path / "seen")}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seen").read_text().split() == ["2222", "deploy@127.0.0.1"], "not through ssh"
    assert keys.read_text() == "{}\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o444 and keys.stat().st_uid == os.getuid()
    assert sorted(p.name for p in state.iterdir()) == ["provider-keys.json"]
