#!/usr/bin/env bash
# GPU measurements on a lent device machine (no network there, 64 MiB per call).
# First `bash bench/gpu_prepare.sh` here; it fills the git-excluded .gpu/ with the
# trimmed llama-cpp-python sdist, py3.12 wheels and the default model in pieces.
# Then one device call per stage, back to back (the machine stays warm only ~30 s
# between calls; a cold one starts bare):
#   start  carry .gpu/llsrc.tgz .gpu/whl .gpu/m00 .gpu/<model>.sha256
#          installs the wheels, builds llama-cpp-python with CUDA for sm_90 in the
#          background (~4 min on 16 cores; it goes on between calls)
#   part   carry .gpu/m01, then .gpu/m02, ... (all but the last piece)
#   bench  carry the last piece: joins and checks the model, waits for the build,
#          runs bench.endpoint (both servers), ours again with --step-tokens 32 and
#          64 (fixed-shape steps), and bench.latency, all with full offload
# Used on 2026-11-28 (H200, CUDA 13.0): 8 calls, ~11 min of device time in all.
set -u
STAGE=${1:?stage}
PARTS=/tmp/parts
mkdir -p "$PARTS"
keep_parts() {
    for f in .gpu/m[0-9][0-9]; do
        [ -f "$f" ] && mv "$f" "$PARTS/"
    done
    echo "pieces kept: $(ls "$PARTS" | tr '\n' ' ')"
}
build_state() {
    if [ -f /tmp/build.rc ]; then echo "build rc=$(cat /tmp/build.rc)"; else echo "build running"; fi
    tail -n 2 /tmp/build.log 2>/dev/null | cut -c1-200
}
nvcc_path() {
    command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -n 1
}

case "$STAGE" in
start)
    keep_parts
    cp .gpu/*.sha256 /tmp/ 2>/dev/null
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .gpu/whl/*.whl || exit 1
    # The image's llama.cpp build (its /opt/gcc g++) segfaults in
    # llama_model::print_info (std::ostream inside libggml-cuda) when numpy was
    # imported before llama_cpp. The safecoder-lsp commands load llama_cpp first
    # themselves (safecoder_lsp/native.py); bench.latency's in-process replay does
    # not, so it alone runs with this sitecustomize.
    mkdir -p /tmp/pre && echo "import llama_cpp" > /tmp/pre/sitecustomize.py
    tar xzf .gpu/llsrc.tgz -C /tmp || exit 1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    NVCC=$(nvcc_path)
    echo "nvcc: $NVCC"; "$NVCC" --version | tail -n 2
    python3 --version; nproc
    CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
    echo "$CUDA_HOME" > /tmp/cuda_home
    export CUDACXX=$NVCC PATH=$CUDA_HOME/bin:$PATH
    export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=off -DGGML_CUDA_NCCL=off -DLLAMA_CURL=off"
    export CMAKE_BUILD_PARALLEL_LEVEL=16 PIP_NO_INDEX=1
    setsid nohup bash -c 'cd /tmp/llama_cpp_python-* && python3 -m pip install -v --no-deps --no-build-isolation --no-cache-dir --target /tmp/llsite . > /tmp/build.log 2>&1; echo $? > /tmp/build.rc' \
        > /dev/null 2>&1 < /dev/null &
    sleep 15
    build_state
    ;;
part)
    keep_parts
    build_state
    ;;
bench)
    keep_parts
    mkdir -p /tmp/models
    name=$(basename /tmp/*.sha256 .sha256)
    cat "$PARTS"/m[0-9][0-9] > "/tmp/models/$name"
    (cd /tmp/models && cp /tmp/*.sha256 . && sha256sum -c ./*.sha256) || exit 1
    for _ in $(seq 1 90); do [ -f /tmp/build.rc ] && break; sleep 5; done
    build_state
    [ "$(cat /tmp/build.rc 2>/dev/null)" = 0 ] || { tail -n 60 /tmp/build.log; exit 1; }
    CUDA_HOME=$(cat /tmp/cuda_home)
    export LD_LIBRARY_PATH=$CUDA_HOME/lib64:${LD_LIBRARY_PATH:-}
    export PYTHONPATH=/tmp/llsite:/tmp/site:$PWD SAFECODER_MODEL_DIR=/tmp/models
    export PYTHONUNBUFFERED=1
    python3 -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'gpu offload', llama_cpp.llama_supports_gpu_offload())" || exit 1
    timeout 240 python3 -m bench.endpoint --requests 24 --levels 1,4,16 --gpu-layers -1 --threads 4 --peers llama-cpp-python \
        > "$OUT/endpoint.log" 2>&1
    grep -E "^(safecoder endpoint|llama-cpp-python server):|^- " "$OUT/endpoint.log"
    cp bench/out/endpoint.json "$OUT/" 2>/dev/null
    # The fixed-shape experiment (--step-tokens): ours alone, same workload.
    for n in 32 64; do
        timeout 90 python3 -m bench.endpoint --ours-only --requests 24 --levels 1,4,16 \
            --gpu-layers -1 --threads 4 --step-tokens $n > "$OUT/step$n.log" 2>&1
        grep -E "^safecoder endpoint:|^- our p95" "$OUT/step$n.log" | sed "s/^/step-tokens $n: /"
        cp bench/out/endpoint.json "$OUT/step$n.json" 2>/dev/null
    done
    SAFECODER_ENGINE_N_GPU_LAYERS=-1 PYTHONPATH=/tmp/pre:$PYTHONPATH \
        timeout 150 python3 -m bench.latency --chars 300 \
        --out "$OUT/latency.json" > "$OUT/latency.log" 2>&1
    grep -vE "^(llama|load|print_info|ggml)|^\s" "$OUT/latency.log" | tail -n 25
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
    ;;
*)
    echo "unknown stage $STAGE"; exit 2
    ;;
esac
