# llm-admin: what `vaultctl bootstrap` and `vaultctl issue-secret-id` need, and no more.
# Exact policy and role names, and allowed_parameters pinning each policy's text and each role's
# token_policies: the holder can (re)write the stack's policies and roles only as vaultctl renders
# them, so it cannot mint a broader policy or a role that grants one. No audit-device changes.
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

path "sys/policy/llm-admin" {
  capabilities = ["read"]
}

path "secret/data/llm/*" {
  capabilities = ["create", "read", "update", "patch"]
}

path "secret/metadata/llm/*" {
  capabilities = ["read", "update", "patch"]
}

path "auth/token/roles/llm-secret-id-issuer" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "allowed_policies" = [["llm-secret-id-issuer"], "llm-secret-id-issuer"]
    "orphan" = [true]
    "renewable" = [true]
    "token_period" = []
    "token_type" = ["service"]
  }
}

path "auth/token/create/llm-secret-id-issuer" {
  capabilities = ["update"]
}

path "sys/policy/llm-gateway-openai" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-gateway-openai: the openai gateway reads its own provider key and the client registry.\n# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.\npath \"secret/data/llm/providers/openai\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/llm/clients\" {\n  capabilities = [\"read\"]\n}\n"]
  }
}

path "sys/policy/llm-gateway-anthropic" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-gateway-anthropic: the anthropic gateway reads its own provider key and the client registry.\n# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.\npath \"secret/data/llm/providers/anthropic\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/llm/clients\" {\n  capabilities = [\"read\"]\n}\n"]
  }
}

path "sys/policy/llm-gateway-cohere" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-gateway-cohere: the cohere gateway reads its own provider key and the client registry.\n# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.\npath \"secret/data/llm/providers/cohere\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/llm/clients\" {\n  capabilities = [\"read\"]\n}\n"]
  }
}

path "sys/policy/llm-gateway-mistral" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-gateway-mistral: the mistral gateway reads its own provider key and the client registry.\n# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.\npath \"secret/data/llm/providers/mistral\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/llm/clients\" {\n  capabilities = [\"read\"]\n}\n"]
  }
}

path "sys/policy/llm-gateway-local-llama" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-gateway-local-llama: the local-llama gateway reads its own provider key and the client registry.\n# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.\npath \"secret/data/llm/providers/local-llama\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/llm/clients\" {\n  capabilities = [\"read\"]\n}\n"]
  }
}

path "sys/policy/llm-rotator" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-rotator: rotates provider keys (CAS writes, custom metadata, rollback) and client keys.\npath \"secret/data/llm/providers/*\" {\n  capabilities = [\"create\", \"read\", \"update\", \"patch\"]\n}\n\npath \"secret/metadata/llm/providers/*\" {\n  capabilities = [\"read\", \"update\", \"patch\"]\n}\n\npath \"secret/data/llm/clients\" {\n  capabilities = [\"create\", \"read\", \"update\", \"patch\"]\n}\n\npath \"secret/metadata/llm/clients\" {\n  capabilities = [\"read\"]\n}\n"]
  }
}

path "sys/policy/llm-secret-id-issuer" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "policy" = ["# llm-secret-id-issuer: `vaultctl refresh-secret-ids` keeps each gateway's secret_id file usable.\n# It reads role_ids, issues and looks up secret_ids of the gateway AppRoles; nothing else (no KV,\n# no role changes). Own-token renew/lookup and sys/wrapping/lookup come from `default`.\n\npath \"auth/approle/role/llm-gateway-openai/role-id\" {\n  capabilities = [\"read\"]\n}\n\npath \"auth/approle/role/llm-gateway-openai/secret-id\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-openai/secret-id/lookup\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-anthropic/role-id\" {\n  capabilities = [\"read\"]\n}\n\npath \"auth/approle/role/llm-gateway-anthropic/secret-id\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-anthropic/secret-id/lookup\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-cohere/role-id\" {\n  capabilities = [\"read\"]\n}\n\npath \"auth/approle/role/llm-gateway-cohere/secret-id\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-cohere/secret-id/lookup\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-mistral/role-id\" {\n  capabilities = [\"read\"]\n}\n\npath \"auth/approle/role/llm-gateway-mistral/secret-id\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-mistral/secret-id/lookup\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-local-llama/role-id\" {\n  capabilities = [\"read\"]\n}\n\npath \"auth/approle/role/llm-gateway-local-llama/secret-id\" {\n  capabilities = [\"update\"]\n}\n\npath \"auth/approle/role/llm-gateway-local-llama/secret-id/lookup\" {\n  capabilities = [\"update\"]\n}\n"]
  }
}

path "auth/approle/role/llm-gateway-openai" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-openai"], "llm-gateway-openai"]
    "token_type" = ["service"]
    "bind_secret_id" = [true]
    "token_ttl" = []
    "token_max_ttl" = []
    "secret_id_ttl" = []
    "secret_id_num_uses" = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs" = []
  }
}

path "auth/approle/role/llm-gateway-openai/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-openai/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-openai/secret-id/lookup" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-anthropic" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-anthropic"], "llm-gateway-anthropic"]
    "token_type" = ["service"]
    "bind_secret_id" = [true]
    "token_ttl" = []
    "token_max_ttl" = []
    "secret_id_ttl" = []
    "secret_id_num_uses" = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs" = []
  }
}

path "auth/approle/role/llm-gateway-anthropic/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-anthropic/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-anthropic/secret-id/lookup" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-cohere" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-cohere"], "llm-gateway-cohere"]
    "token_type" = ["service"]
    "bind_secret_id" = [true]
    "token_ttl" = []
    "token_max_ttl" = []
    "secret_id_ttl" = []
    "secret_id_num_uses" = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs" = []
  }
}

path "auth/approle/role/llm-gateway-cohere/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-cohere/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-cohere/secret-id/lookup" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-mistral" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-mistral"], "llm-gateway-mistral"]
    "token_type" = ["service"]
    "bind_secret_id" = [true]
    "token_ttl" = []
    "token_max_ttl" = []
    "secret_id_ttl" = []
    "secret_id_num_uses" = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs" = []
  }
}

path "auth/approle/role/llm-gateway-mistral/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-mistral/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-mistral/secret-id/lookup" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-local-llama" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-local-llama"], "llm-gateway-local-llama"]
    "token_type" = ["service"]
    "bind_secret_id" = [true]
    "token_ttl" = []
    "token_max_ttl" = []
    "secret_id_ttl" = []
    "secret_id_num_uses" = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs" = []
  }
}

path "auth/approle/role/llm-gateway-local-llama/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-local-llama/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-local-llama/secret-id/lookup" {
  capabilities = ["update"]
}

path "sys/auth/kubernetes" {
  capabilities = ["create", "read", "update", "sudo"]
}

path "auth/kubernetes/config" {
  capabilities = ["create", "read", "update"]
}

path "auth/kubernetes/role/llm-gateway-openai" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-openai"], "llm-gateway-openai"]
    "token_type" = ["service"]
    "bound_service_account_names" = []
    "bound_service_account_namespaces" = []
    "token_ttl" = []
    "token_max_ttl" = []
    "audience" = []
  }
}

path "auth/kubernetes/role/llm-gateway-anthropic" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-anthropic"], "llm-gateway-anthropic"]
    "token_type" = ["service"]
    "bound_service_account_names" = []
    "bound_service_account_namespaces" = []
    "token_ttl" = []
    "token_max_ttl" = []
    "audience" = []
  }
}

path "auth/kubernetes/role/llm-gateway-cohere" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-cohere"], "llm-gateway-cohere"]
    "token_type" = ["service"]
    "bound_service_account_names" = []
    "bound_service_account_namespaces" = []
    "token_ttl" = []
    "token_max_ttl" = []
    "audience" = []
  }
}

path "auth/kubernetes/role/llm-gateway-mistral" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-mistral"], "llm-gateway-mistral"]
    "token_type" = ["service"]
    "bound_service_account_names" = []
    "bound_service_account_namespaces" = []
    "token_ttl" = []
    "token_max_ttl" = []
    "audience" = []
  }
}

path "auth/kubernetes/role/llm-gateway-local-llama" {
  capabilities = ["create", "read", "update"]
  allowed_parameters = {
    "token_policies" = [["llm-gateway-local-llama"], "llm-gateway-local-llama"]
    "token_type" = ["service"]
    "bound_service_account_names" = []
    "bound_service_account_namespaces" = []
    "token_ttl" = []
    "token_max_ttl" = []
    "audience" = []
  }
}
