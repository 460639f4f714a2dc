#!/usr/bin/env bash
# Prints the path of a Python with the data team's client installed
# (a venv cached under ~/.cache/slotstream, built once from PyPI).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${HOME}/.cache/slotstream/venv-datateam"
stamp="${venv}/.requirements"
if [[ ! -x "${venv}/bin/python" ]] || ! cmp -s "${here}/requirements.txt" "${stamp}"; then
  python3 -m venv "${venv}" >&2
  "${venv}/bin/pip" install -q --disable-pip-version-check -r "${here}/requirements.txt" >&2
  cp "${here}/requirements.txt" "${stamp}"
fi
echo "${venv}/bin/python"
