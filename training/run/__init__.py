"""``train run``: LoRA fine-tuning of a base model on a prepared dataset.

``fim``: the fill-in-the-middle transform in the base model's own tokens; ``data``:
documents to fixed-length training sequences; ``base``: loading the base (GGUF or a
checkpoint folder); ``checkpoint``: atomic checkpoints and resume; ``loop``: the
training loop; ``settings``: what a run does.
"""
