# llm-rotator: rotates provider keys (CAS writes, custom metadata, rollback) and client keys.
path "secret/data/llm/providers/*" {
  capabilities = ["create", "read", "update", "patch"]
}

path "secret/metadata/llm/providers/*" {
  capabilities = ["read", "update", "patch"]
}

path "secret/data/llm/clients" {
  capabilities = ["create", "read", "update", "patch"]
}

path "secret/metadata/llm/clients" {
  capabilities = ["read"]
}
