"""deploy.sh's `on_target` (deploy/deploy-target.sh) and `host_files` (deploy-steps.sh) on an `ssh://` target.

OpenSSH sends its command arguments joined by spaces as one line, which the remote login shell parses (on Debian
/bin/sh is dash), with the client's stdin as the remote command's stdin. `ssh` here is a stand-in doing exactly
that on this host (`/bin/sh -c "$*"`), so the script, its arguments and the data piped to it take the same path
as to a server. host_files pipes the secrets through stdin: a script fed on stdin would take their place.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "deploy" / "deploy-target.sh"
STEPS = REPO / "deploy" / "deploy-steps.sh"
SSH = """#!/bin/sh
# ssh [-p PORT] HOST COMMAND...: what OpenSSH does with them, run here
[ "$1" = -p ] && { echo "$2" >"$SSH_SEEN"; shift 2; }
echo "$1" >>"$SSH_SEEN"; shift
exec /bin/sh -c "$*"
"""


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    (path / "ssh").write_text(SSH)
    (path / "ssh").chmod(0o755)
    return path


def _bash(script: str, bin_dir: Path, tmp_path: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    penv = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "SSH_SEEN": str(tmp_path / "seen"), **env}
    return subprocess.run(["bash", "-c", f"set -euo pipefail\nsource {TARGET}\n{script}"], input=stdin,
                          capture_output=True, text=True, env=penv, timeout=60, check=False)


@pytest.mark.parametrize("remote", [1, 0])
def test_the_script_gets_its_arguments_and_the_callers_stdin(bin_dir: Path, tmp_path: Path, remote: int) -> None:
    script = f"remote={remote} target=ssh://deploy@127.0.0.1:2222\n" + """
on_target 'read -r a; read -r b; printf "%s|%s|%s|%s|%s\\n" "$#" "$1" "$2" "$a" "$b"' "/srv/a dir" "it's \\$HOME"
on_target 'echo "no args: $#"'"""
    done = _bash(script, bin_dir, tmp_path, stdin="line one\n$(secret)\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["2|/srv/a dir|it's $HOME|line one|$(secret)", "no args: 0"]
    if remote:
        assert (tmp_path / "seen").read_text().split() == ["2222", "deploy@127.0.0.1"]
    else:
        assert not (tmp_path / "seen").exists()


def test_host_files_writes_every_secret_and_config_file_on_an_ssh_target(bin_dir: Path, tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("cert.pem", "key.pem", "vault.pem", "vault.key", "ca.pem")}
    for name, path in files.items():
        path.write_text(f"-----BEGIN {name}-----\nAAAA\n-----END-----\n")
    state = tmp_path / "server" / "state"
    script = f"""source {STEPS}
remote=1 target=ssh://deploy@127.0.0.1 dry_run=0 upstream=real state="{state}" deploy_dir="{REPO / 'deploy'}"
PROVIDERS=(openai anthropic) PROVIDER_KEY_VARS=(OPENAI_API_KEY ANTHROPIC_API_KEY)
host_files"""
    keys = {"OPENAI_API_KEY": "sk-" + os.urandom(8).hex(), "ANTHROPIC_API_KEY": "sk-ant-" + os.urandom(8).hex()}
    token = "s." + base64.b32encode(os.urandom(10)).decode()
    done = _bash(script, bin_dir, tmp_path, VAULT_ADMIN_TOKEN=token, LLMGW_TLS_CERT=str(files["cert.pem"]),
                 LLMGW_TLS_KEY=str(files["key.pem"]), LLMGW_VAULT_TLS_CERT=str(files["vault.pem"]),
                 LLMGW_VAULT_TLS_KEY=str(files["vault.key"]), LLMGW_VAULT_CA=str(files["ca.pem"]), **keys)
    assert done.returncode == 0, done.stderr
    assert (state / "vault-admin-token").read_text() == token + "\n"
    assert (state / "provider-keys.json").read_text() == (
        f'{{"openai": "{keys["OPENAI_API_KEY"]}", "anthropic": "{keys["ANTHROPIC_API_KEY"]}"}}\n')
    for written, source in [("tls/server.pem", "cert.pem"), ("tls/server.key", "key.pem"),
                            ("vault-tls/server.pem", "vault.pem"), ("vault-tls/server.key", "vault.key"),
                            ("vault-tls/ca.pem", "ca.pem")]:
        assert (state / written).read_text() == files[source].read_text(), written
        assert stat.S_IMODE((state / written).stat().st_mode) == 0o444
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    # What compose bind-mounts through LLMGW_CONFIG_DIR: a remote engine reads a mount's source on its own host.
    config = state / "config"
    for name in ("vault/openbao.hcl", "monitoring/prometheus.yml", "monitoring/alerts.yml",
                 "monitoring/grafana/dashboards/llm-gateway.json"):
        assert (config / name).read_bytes() == (REPO / "deploy" / name).read_bytes(), name
        assert stat.S_IMODE((config / name).stat().st_mode) & 0o444 == 0o444
    provisioning = config / "monitoring/grafana/provisioning"
    assert sorted(p.name for p in provisioning.iterdir()) == ["dashboards", "datasources"]
