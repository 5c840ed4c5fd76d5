# llm-admin: what `vaultctl bootstrap` and `vaultctl issue-secret-id` need.
path "sys/mounts" {
  capabilities = ["read"]
}

path "sys/mounts/secret" {
  capabilities = ["create", "read", "update"]
}

path "sys/auth" {
  capabilities = ["read"]
}

path "sys/auth/approle" {
  capabilities = ["create", "read", "update", "sudo"]
}

path "sys/audit" {
  capabilities = ["read", "sudo"]
}

path "sys/audit/*" {
  capabilities = ["create", "update", "sudo"]
}

path "sys/policy/llm-*" {
  capabilities = ["create", "read", "update"]
}

path "sys/policies/acl/llm-*" {
  capabilities = ["create", "read", "update"]
}

path "auth/approle/role/llm-gateway-*" {
  capabilities = ["create", "read", "update"]
}

path "secret/data/llm/*" {
  capabilities = ["create", "read", "update", "patch"]
}

path "secret/metadata/llm/*" {
  capabilities = ["read", "update", "patch"]
}
