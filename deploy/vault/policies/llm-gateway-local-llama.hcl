# llm-gateway-local-llama: the local-llama gateway reads its own provider key and the client registry.
# Nothing else: no list, no write, no other provider. Token renew/lookup comes from `default`.
path "secret/data/llm/providers/local-llama" {
  capabilities = ["read"]
}

path "secret/data/llm/clients" {
  capabilities = ["read"]
}
