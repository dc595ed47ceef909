"""``train run``: LoRA fine-tuning of a base model on a prepared dataset.

In place so far: the data side (``fim``: the fill-in-the-middle transform in the base
model's own format; ``data``: documents to fixed-length training sequences). The
training loop, checkpoints and resume come next (see the issue's note).
"""
