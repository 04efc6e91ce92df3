#!/usr/bin/env bash
# Install everything into .venv (pinned packages from requirements.txt), then rebuild the
# whole pipeline with `dvc repro` on real MNIST. Extra arguments go to `dvc repro`.
#   MNIST_MIRROR=../shared/mnist bash setup.sh     # offline, from a local copy
#   bash setup.sh                                  # online, from the public mirrors
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
echo "installing requirements.txt into .venv (torch with its CUDA libraries takes a few minutes)"
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
# The package itself, editable: the `mnistflow` command (`mnistflow predict my_digit.png`); its
# dependencies are requirements.txt, installed just above.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
# The stages run `python`: the venv's, with it first on PATH.
source .venv/bin/activate
dvc repro "$@"
