"""Client keys made with vaultctl on a local stack, as an operator makes them."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.support.stack import RunningStack


def create_client_key(stack: RunningStack, name: str, providers: list[str], *limits: str) -> str:
    """A client key for `providers` with `limits` (vaultctl flags), once each of their gateways accepts it."""
    made = subprocess.run([sys.executable, "-m", "vaultctl", "client-key", "create", "--name", name,
                           "--providers", ",".join(providers), *limits, "--addr", str(stack.vault_addr),
                           "--token-file", str(stack.state_dir / "vault" / "root-token")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    key = made.stdout.split("key: ")[1].split()[0]
    for _ in range(20):  # bounded: the gateways re-read the client registry every GATEWAY_VAULT_REFRESH_S
        # /v1/models counts against no limit: polling it spends none of the key's requests or tokens
        if all(httpx.get(f"{stack.url}/{provider}/v1/models", headers={"x-api-key": key}, verify=str(stack.ca),
                         timeout=30).status_code != 401 for provider in providers):
            return key
        time.sleep(0.5)
    raise AssertionError(f"the gateways never accepted the new client key {name}")
