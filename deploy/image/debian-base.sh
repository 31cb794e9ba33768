#!/bin/sh
# Makes a Debian base image locally, for machines that reach Debian's mirror but no container
# registry: the image test builds deploy/Dockerfile on it (BASE_IMAGE=<this tag>).
#   deploy/image/debian-base.sh [TAG]        (needs mmdebstrap and podman or docker)
# python3-venv is for the Dockerfile's build stage (it makes /opt/venv); the final stage
# deletes ensurepip's wheels. Docs, man pages and locales are left out, copyrights kept.
set -eu
tag=${1:-localhost/adoption-collector-base:trixie}
engine=${ENGINE:-podman}
suite=${SUITE:-trixie}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase \
	--include=python3,python3-venv,passwd,ca-certificates \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
	"$suite" "$work/rootfs.tar"
"$engine" import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'CMD ["python3"]' \
	"$work/rootfs.tar" "$tag" >/dev/null
echo "$tag"
