"""hosepipe's benchmark suite.

``python -m benchmarks [--quick] [--only W1|W2|W3|W4|W5|W6|ops|import]``

Each workload runs hosepipe side by side with hand-written Python and peer libraries in one
process, interleaved round by round, and reports medians and *paired* ratios (see
``benchmarks/README.md``). Results are printed and saved to ``benchmarks/results/``.
"""
