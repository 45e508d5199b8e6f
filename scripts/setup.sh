#!/usr/bin/env bash
# One-command, idempotent set-up of vla_ros on a Debian/Ubuntu machine.
#
#   bash scripts/setup.sh        (called by `make test`, `make demo`, `make setup`)
#
# Steps, each skipped when its inputs have not changed since the last run:
#   1. apt packages (installed when running as root; otherwise named and, if required, fatal)
#   2. .venv (with --system-site-packages when a sourced ROS 2 distro provides rclpy)
#   3. pinned Python dependencies (torch==2.13.0 first, so nothing pulls a CUDA build)
#   4. ROS 2 Kilted wheels from PyPI when no distro rclpy is importable
#   5. build + install the vla_ros_msgs interface package into the venv prefix
#   6. editable install of the vla_ros package
# Environment: PYTHON (interpreter, default python3), VENV (default .venv),
# VLA_ROS_SKIP_APT=1 (never touch apt), TORCH_INDEX_URL (extra index for the CPU torch wheel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
STAMPS="$VENV/.vla_ros_stamps"
T0=$(date +%s)

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# A stamp holds the hash of a step's inputs; the step reruns only when they change.
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

# ---------------------------------------------------------------- 1. apt packages
# Required to build the interface package; the rest serve rendering, speech and perception.
APT_REQUIRED=(cmake ninja-build g++)
APT_OPTIONAL=(libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgbm1
  espeak-ng sox libportaudio2 libsndfile1 opencv-doc)
missing_apt() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
if command -v dpkg-query >/dev/null && [[ "${VLA_ROS_SKIP_APT:-0}" != 1 ]]; then
  mapfile -t MISSING < <(missing_apt "${APT_REQUIRED[@]}" "${APT_OPTIONAL[@]}")
  if ((${#MISSING[@]})); then
    if [[ $(id -u) == 0 ]]; then
      say "apt: installing ${MISSING[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq || die "apt-get update failed (no network to the Debian mirror?)"
      apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null ||
        die "apt-get install failed for: ${MISSING[*]}"
    else
      mapfile -t REQ_MISSING < <(missing_apt "${APT_REQUIRED[@]}")
      if ((${#REQ_MISSING[@]})); then
        die "missing system packages ${REQ_MISSING[*]}; run: sudo apt-get install ${MISSING[*]}"
      fi
      say "apt: optional packages missing (not root, not installing): ${MISSING[*]}"
      say "     rendering/speech/perception tests that need them will skip; to add them:"
      say "     sudo apt-get install ${MISSING[*]}"
    fi
  else
    say "apt: all system packages present"
  fi
fi

# ---------------------------------------------------------------- 2. interpreter + venv
command -v "$PYTHON" >/dev/null || die "no Python interpreter '$PYTHON' (set PYTHON=...)"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$PYVER" in
  3.10 | 3.11 | 3.12) ;;
  *) die "Python $PYVER is not supported; use 3.10, 3.11 or 3.12 (set PYTHON=python3.11)" ;;
esac

# A sourced ROS 2 distro (Humble/Jazzy/Kilted) provides rclpy; then the venv sees it.
SYSTEM_ROS=0
if [[ -n "${ROS_DISTRO:-}" ]] && "$PYTHON" -c 'import rclpy' 2>/dev/null; then
  SYSTEM_ROS=1
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  if ((SYSTEM_ROS)); then
    say "venv: creating $VENV (system site packages: ROS 2 $ROS_DISTRO)"
    "$PYTHON" -m venv --system-site-packages "$VENV" || die "python venv failed (apt install python3-venv)"
  else
    say "venv: creating $VENV"
    "$PYTHON" -m venv "$VENV" || die "python venv failed (apt install python3-venv)"
  fi
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install --disable-pip-version-check -q)
# pip, quietly: drop the per-package notes about local index folders that lack a package.
pip_install() {
  "${PIP[@]}" "$@" 2>&1 | grep -v "^WARNING: Location '"
  return "${PIPESTATUS[0]}"
}

# ---------------------------------------------------------------- 3./4. Python deps
REQ_FILES=(requirements/base.txt)
((SYSTEM_ROS)) || REQ_FILES+=(requirements/ros.txt)
H=$(hash_of "${REQ_FILES[@]}" requirements/constraints.txt requirements/no-deps.txt scripts/setup.sh
  echo "$SYSTEM_ROS $PYVER")
if ! stamp_ok pip "$H"; then
  say "pip: installing torch==2.13.0 (CPU) first"
  TORCH_ARGS=()
  [[ -n "${TORCH_INDEX_URL:-}" ]] && TORCH_ARGS=(--extra-index-url "$TORCH_INDEX_URL")
  "$VPY" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null ||
    pip_install "${TORCH_ARGS[@]}" torch==2.13.0 ||
    die "torch==2.13.0 could not be installed (set TORCH_INDEX_URL to a CPU wheel index)"
  for f in "${REQ_FILES[@]}"; do
    say "pip: installing $f"
    pip_install -r "$f" -c requirements/constraints.txt || die "pip install -r $f failed"
  done
  say "pip: installing requirements/no-deps.txt (without their declared pins)"
  pip_install --no-deps -r requirements/no-deps.txt || die "pip install of no-deps.txt failed"
  "$VPY" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' ||
    die "a dependency replaced torch 2.13.0; pin it in requirements/base.txt"
  stamp_set pip "$H"
else
  say "pip: dependencies up to date"
fi
"$VPY" -c 'import rclpy' 2>/dev/null ||
  die "rclpy does not import in $VENV (missing ros-rclpy / ros-rmw-fastrtps-cpp wheels?)"

# ---------------------------------------------------------------- 5. vla_ros_msgs
MSG_INPUTS=(vla_ros_msgs/package.xml vla_ros_msgs/CMakeLists.txt vla_ros_msgs/msg/* vla_ros_msgs/srv/*)
H=$(hash_of "${MSG_INPUTS[@]}"; echo "$SYSTEM_ROS $PYVER")
if ! stamp_ok msgs "$H" || ! "$VPY" -c 'import vla_ros_msgs.msg' 2>/dev/null; then
  say "msgs: building vla_ros_msgs into $VENV"
  PREFIX_PATH="$VENV"
  if ((SYSTEM_ROS)); then
    PREFIX_PATH="$VENV;${AMENT_PREFIX_PATH//:/;}"
  else
    # The wheels' exported CMake files name the wheel builder's Python and numpy include
    # directories; point them at this venv's.
    PYINC=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
    NPINC=$("$VPY" -c "import numpy; print(numpy.get_include())")
    # (grep finds nothing once a previous build rewrote them: not an error under pipefail)
    { grep -rlZ '/opt/python/' "$VENV/share" --include='*.cmake' 2>/dev/null || true; } |
      xargs -0 -r sed -i -E \
      -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+t?/include/python3\.[0-9]+t?#$PYINC#g" \
      -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+t?/lib/python3\.[0-9]+t?/site-packages/numpy/_core/include#$NPINC#g"
  fi
  BUILD="$ROOT/build/vla_ros_msgs"
  rm -rf "$BUILD"
  LOG="$ROOT/build/vla_ros_msgs.log"
  mkdir -p "$BUILD"
  if ! (AMENT_PREFIX_PATH="${PREFIX_PATH//;/:}" PATH="$VENV/bin:$PATH" cmake -S vla_ros_msgs \
    -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$PREFIX_PATH" \
    "-DCMAKE_INSTALL_PREFIX=$VENV" "-DPython3_EXECUTABLE=$VPY" -DBUILD_TESTING=OFF &&
    AMENT_PREFIX_PATH="${PREFIX_PATH//;/:}" PATH="$VENV/bin:$PATH" cmake --build "$BUILD" -j2 &&
    cmake --install "$BUILD") >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    die "building vla_ros_msgs failed; full log: $LOG"
  fi
  "$VPY" -c 'import vla_ros_msgs.msg, vla_ros_msgs.srv' ||
    die "vla_ros_msgs built but does not import from $VENV"
  stamp_set msgs "$H"
else
  say "msgs: vla_ros_msgs up to date"
fi

# ---------------------------------------------------------------- 6. vla_ros (editable)
H=$(hash_of vla_ros/setup.py vla_ros/setup.cfg vla_ros/package.xml; echo "$PYVER")
if ! stamp_ok vla_ros "$H" || ! "$VPY" -c 'import vla_ros' 2>/dev/null; then
  say "vla_ros: editable install"
  pip_install --no-deps --no-build-isolation -e vla_ros || die "pip install -e vla_ros failed"
  stamp_set vla_ros "$H"
else
  say "vla_ros: editable install up to date"
fi

say "ready in $(($(date +%s) - T0)) s: $VENV (python $PYVER, $( ((SYSTEM_ROS)) && echo "ROS 2 $ROS_DISTRO" || echo "ROS 2 Kilted wheels"))"
