#!/usr/bin/env bash
# Sets up the peers of the side-by-side benchmarks: a Python virtual environment in bench/.venv
# over Debian's CPU build of PyTorch (python3-torch, through --system-site-packages: no
# multi-gigabyte GPU wheels), with Flower and PEFT from PyPI, every version pinned. Downloads are
# cached in bench/.cache/pip. Idempotent: a second run only checks the stamp and the imports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$(dirname "$here")
venv="$bench/.venv"
python=/usr/bin/python3 # Debian's python3-torch is built for this interpreter, not a pyenv one
# Debian bookworm's versions; override only if your distribution has others.
TORCH_DEB=${PEERS_TORCH_DEB:-1.13.1+dfsg-4}
VENV_DEB=${PEERS_VENV_DEB:-3.11.2-1+b1}
OPENBLAS_DEB=${PEERS_OPENBLAS_DEB:-0.3.21+ds-4}

log() { printf 'peers setup: %s\n' "$*" >&2; }

stamp_value() {
  cat "$here/setup.sh" "$here/requirements.txt" "$here/requirements-nodeps.txt" | sha256sum | cut -c1-16
}

imports_ok() {
  "$venv/bin/python" -c 'import torch, numpy, flwr, peft, ray, flwr.simulation' >/dev/null 2>&1
}

# Fast check for the second run: the packages are there (importing them all takes seconds).
packages_present() {
  "$venv/bin/python" -c 'import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ("torch", "numpy", "flwr", "peft", "ray", "transformers")))' 2>/dev/null
}

if [[ -f "$venv/.peers-stamp" && "$(cat "$venv/.peers-stamp")" == "$(stamp_value)" ]] && packages_present; then
  log "up to date ($venv)"
  exit 0
fi

deb_version() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

missing=()
[[ "$(deb_version python3-torch)" == "$TORCH_DEB" ]] || missing+=("python3-torch=$TORCH_DEB")
[[ -n "$(deb_version python3-venv)" ]] || missing+=("python3-venv=$VENV_DEB")
[[ -n "$(deb_version libopenblas0-pthread)" ]] || missing+=("libopenblas0-pthread=$OPENBLAS_DEB")
if ((${#missing[@]} > 0)); then
  log "installing Debian packages: ${missing[*]}"
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
fi

if [[ ! -x "$venv/bin/python" ]]; then
  log "creating $venv"
  "$python" -m venv --system-site-packages "$venv"
fi

export PIP_CACHE_DIR="$bench/.cache/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
log "installing pinned packages (cache: $PIP_CACHE_DIR)"
"$venv/bin/pip" install -q -r "$here/requirements.txt"
# peft and accelerate declare torch>=1.13.0, which excludes Debian's 1.13.0a0; their other
# requirements are pinned in requirements.txt, so they go in without dependency resolution.
"$venv/bin/pip" install -q --no-deps -r "$here/requirements-nodeps.txt"

if ! imports_ok; then
  log "the environment does not import torch, flwr, peft and ray:"
  "$venv/bin/python" -c 'import torch, numpy, flwr, peft, ray, flwr.simulation'
  exit 1
fi
stamp_value >"$venv/.peers-stamp"
log "ready: $("$venv/bin/python" -c 'import torch, flwr, peft, ray; print("torch", torch.__version__, "flwr", flwr.__version__, "peft", peft.__version__, "ray", ray.__version__)')"
