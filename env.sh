# Enter the Decloud environment:  source env.sh   (after ./dev.sh setup)
# Puts the virtual environment first on PATH (python, decloud, otbcli_<App> of the module),
# and the module's apps plus Debian's OTB apps on OTB_APPLICATION_PATH (needed by otbcli and pyotb).
_decloud_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
export VIRTUAL_ENV=${DECLOUD_VENV:-$_decloud_root/.venv}
export PATH="$VIRTUAL_ENV/bin:$PATH"
export OTB_APPLICATION_PATH="$VIRTUAL_ENV/lib/otb/applications:/usr/lib/x86_64-linux-gnu/otb/applications${OTB_APPLICATION_PATH:+:$OTB_APPLICATION_PATH}"
unset PYTHONHOME _decloud_root
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1}  # hide TensorFlow start-up notices
