# Production server config for the compose `vault` service (OpenBao; Vault reads the same file except
# for the audit stanza, see README.md). No dev mode: data survives restarts, the server starts sealed.
#
#   storage  integrated raft on the named volume `vault-data` (/openbao/file)
#   listener TLS only; certificate and key from the host's ${LLMGW_STATE_DIR}/vault-tls (stack.sh
#            generates them for local runs; provide your own in production, SAN `vault`)
#   audit    file device declared here (OpenBao refuses API-enabled audit devices), on the named
#            volume `vault-audit`; every secret and token in it is HMAC-SHA256 hashed
#
# Operator steps after the first start (docs/security.md, deploy/vault/README.md): vaultctl init →
# unseal → admin-token → revoke-root → bootstrap. After every restart: unseal (or configure
# auto-unseal with a `seal` stanza, see README.md).
ui            = false
disable_mlock = true  # raft storage; the container runs with every capability dropped (no IPC_LOCK)
api_addr      = "https://vault:8200"
cluster_addr  = "https://vault:8201"

storage "raft" {
  path    = "/openbao/file"
  node_id = "vault-1"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/openbao/tls/server.pem"
  tls_key_file    = "/openbao/tls/server.key"
  tls_min_version = "tls12"
}

audit "file" "file" {
  options {
    file_path = "/openbao/logs/audit.log"
    mode      = "0600"
  }
}
