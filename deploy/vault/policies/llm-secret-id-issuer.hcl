# llm-secret-id-issuer: `vaultctl refresh-secret-ids` keeps each gateway's secret_id file usable.
# It reads role_ids, issues and looks up secret_ids of the gateway AppRoles; nothing else (no KV,
# no role changes). Own-token renew/lookup and sys/wrapping/lookup come from `default`.

path "auth/approle/role/llm-gateway-openai/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-openai/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-openai/secret-id/lookup" {
  capabilities = ["update"]
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

path "auth/approle/role/llm-gateway-cohere/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-cohere/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-cohere/secret-id/lookup" {
  capabilities = ["update"]
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

path "auth/approle/role/llm-gateway-local-llama/role-id" {
  capabilities = ["read"]
}

path "auth/approle/role/llm-gateway-local-llama/secret-id" {
  capabilities = ["update"]
}

path "auth/approle/role/llm-gateway-local-llama/secret-id/lookup" {
  capabilities = ["update"]
}
