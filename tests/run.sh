#!/usr/bin/env bash
# The test command (README): the suite twice on CPU, once with the CPU implementation and torch.compile,
# once with TRITON_INTERPRET=1 so the Triton kernels themselves run. On a CUDA machine the first run
# also runs every test on the GPU with the compiled kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q -p no:cacheprovider tests "$@"
TRITON_INTERPRET=1 python -m pytest -q -p no:cacheprovider tests "$@"
