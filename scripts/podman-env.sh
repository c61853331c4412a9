#!/usr/bin/env bash
# Sourced by scripts/images.sh and scripts/deploy-test.sh: makes sure podman and what it needs
# (runc, netavark, aardvark-dns, catatonit, debootstrap, python3-venv, openssl) are installed from the
# OS packages, and points podman, podman-compose and `podman kube
# play` at one private configuration (target/deploy/containers.conf, made here), so nothing
# needs a flag on every call and the machine's own /etc/containers is left alone:
#   runtime runc      Debian's default crun refuses this kind of host's cgroup layout
#                     ("cgroups in hybrid mode not supported"); runc works.
#   netavark          container DNS names on a podman network (CNI, the fallback when
#                     netavark is missing, has no DNS without another plugin).
#   default_ulimits   podman asks for 1M open files and a large process limit by default;
#                     without CAP_SYS_RESOURCE (a VM sandbox, an unprivileged CI runner)
#                     runc may not raise them ("error setting rlimit type 7"): ask for what
#                     this shell already has.
# To use the same setup by hand: `export CONTAINERS_CONF=$PWD/target/deploy/containers.conf`.

deploy_dir="$PWD/target/deploy"
mkdir -p "$deploy_dir"

deploy_install() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ -x /usr/lib/podman/netavark ] || missing+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || missing+=(aardvark-dns)
  # `podman kube play`'s pods need a pause process.
  command -v catatonit >/dev/null 2>&1 || missing+=(catatonit)
  python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "${missing[*]} not found: installing from the OS packages" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

deploy_containers_conf() {
  # conmon (and so runc) runs with at most 32768 processes whatever this shell has.
  local nofile nproc
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] && nofile=1048576
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  cat >"$deploy_dir/containers.conf" <<EOF
# Made by scripts/podman-env.sh: podman's settings for the deploy tier.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
EOF
  export CONTAINERS_CONF="$deploy_dir/containers.conf"
}

deploy_install
deploy_containers_conf
