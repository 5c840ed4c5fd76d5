# Extra config for `bao server -dev … -config=deploy/vault/openbao-dev.hcl`.
#
# OpenBao enables audit devices only from its configuration (the API refuses
# `sys/audit/<path>`), so the file audit device is declared here. HCL has no variable
# interpolation: devstack/compose render a copy with their own absolute file_path
# (the official openbao image logs under /openbao/logs). Entries are JSON lines; every
# secret value and token in them is HMAC-SHA256 hashed.
audit "file" "file" {
  options {
    file_path = "/openbao/logs/audit.log"
    mode      = "0600"
  }
}
