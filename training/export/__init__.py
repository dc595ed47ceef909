"""``train export``: the fine-tuned model as a GGUF file that the server loads.

``converter``: llama.cpp's own converter, from the llama-cpp-python sources of the
installed version; ``merge``: the adapter merged into its base and saved as a
checkpoint folder; ``quantize``: llama.cpp's quantizer (no C++ build); ``register``:
the file in the model store with its sha256 and the record of how it was made.
"""
