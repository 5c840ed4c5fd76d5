#!/bin/bash
# Assemble the edge image's whole filesystem under ROOT (nginx/Dockerfile's build stage runs this; the
# final stage is `FROM scratch` + ROOT): what the edge runs and nothing else —
#   nginx; python3 with its standard library (the start-up renderer and the address follower,
#   services/edge), less the parts nothing here imports; /bin/sh (the entrypoint), cat and sleep (the
#   Dagger proxy's announcement, the chart's preStop); the shared libraries all of these load, found
#   with ldd; and the /etc files glibc reads (passwd/group with www-data, nsswitch.conf).
# Then it checks, chrooted into ROOT, that nginx, sh, cat and sleep run and that python3 imports every
# standard module the edge uses and every extension module left in its standard library.
set -euo pipefail

root="${1:?usage: rootfs.sh ROOT}"
py=python3.11
stdlib="/usr/lib/${py}"
# Standard-library parts the renderer, the follower and the healthcheck never import.
unused=(ensurepip idlelib lib2to3 pydoc_data tkinter turtledemo distutils venv unittest sqlite3 dbm
        "config-3.11-$(uname -m)-linux-gnu" lib-dynload/_sqlite3.cpython-311-*.so
        lib-dynload/_dbm.cpython-311-*.so lib-dynload/_gdbm.cpython-311-*.so)
programs=(/usr/sbin/nginx "/usr/bin/${py}" /usr/bin/dash /usr/bin/cat /usr/bin/sleep)

mkdir -p "${root}"/{usr/bin,usr/sbin,usr/lib,etc,tmp,var/www}
chmod 1777 "${root}/tmp"
# Debian's merged /usr: /bin, /sbin and /lib are links into /usr, as in the build stage.
for link in bin sbin lib lib64; do
    [[ -e "/usr/${link}" ]] && ln -sfn "usr/${link}" "${root}/${link}"
done

# copy PATH keeping its directory, as the file and (when PATH is a link) the link too.
copy() {
    local path dir
    dir="$(realpath "$(dirname "$1")")"
    path="${dir}/$(basename "$1")"
    cp -a --parents "$(realpath "${path}")" "${root}/"
    [[ -L "${path}" ]] && cp -a --parents "${path}" "${root}/"
    return 0
}

for program in "${programs[@]}"; do copy "${program}"; done
ln -sfn dash "${root}/usr/bin/sh"
ln -sfn "${py}" "${root}/usr/bin/python3"
cp -a --parents "${stdlib}" "${root}/"
for part in "${unused[@]}"; do
    # shellcheck disable=SC2086 # the lib-dynload entries are globs
    rm -rf "${root}${stdlib}/"${part}
done
find "${root}${stdlib}" -depth -name __pycache__ -type d -exec rm -rf {} +

# Every library any ELF file under ROOT loads, and the loader.
while read -r lib; do copy "${lib}"; done < <(
    find "${root}" -type f \( -perm -u+x -o -name '*.so*' \) -exec ldd {} + 2>/dev/null \
        | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' | sort -u)

printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n%s\n' \
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' > "${root}/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' > "${root}/etc/group"
cp /etc/nsswitch.conf "${root}/etc/nsswitch.conf"

# Checks, from ROOT alone: the programs run, and every extension module left in the stdlib imports
# (so each one found its libraries).
# The whole output first: `nginx -V | head -n 1` fails now and then with SIGPIPE (141) under pipefail, when
# head exits before nginx has written its later lines.
nginx_version="$(chroot "${root}" /usr/sbin/nginx -V 2>&1)"
echo "${nginx_version%%$'\n'*}"
chroot "${root}" /usr/bin/sh -c ': "$(cat /etc/group)" && sleep 0'
chroot "${root}" /usr/bin/python3 -c '
import argparse, dataclasses, http.client, importlib, ipaddress, json, math, os, pathlib, re, shutil, signal
import socket, ssl, sys, sysconfig, time, tomllib
ssl.create_default_context()
socket.getaddrinfo("127.0.0.1", 8000)
suffix = sysconfig.get_config_var("EXT_SUFFIX")
dynload = pathlib.Path(os.__file__).parent / "lib-dynload"
names = sorted(path.name.removesuffix(suffix) for path in dynload.glob("*" + suffix))
for name in names:
    importlib.import_module(name)
print("python", sys.version.split()[0], "ok:", len(names), "extension modules import")'
echo "rootfs: $(du -sh "${root}" | cut -f1) in ${root}"
