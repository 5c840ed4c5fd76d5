"""A throwaway CA and server certificate for the local edge (never used in production)."""

from __future__ import annotations

from pathlib import Path

import trustme


def issue(tls_dir: Path, hostnames: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> dict[str, Path]:
    """Write ca.pem, server.pem (chain) and server.key into `tls_dir`; return their paths."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="llm-gateway local dev CA")
    cert = ca.issue_cert(*hostnames)
    paths = {"ca": tls_dir / "ca.pem", "cert": tls_dir / "server.pem", "key": tls_dir / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    paths["key"].chmod(0o600)
    with paths["cert"].open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return paths
