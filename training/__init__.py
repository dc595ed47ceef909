"""The customer's own model: prepare a dataset from their code (``training.prepare``)
and fine-tune a base model on it (``training.run``); evaluation and export follow the
same layout.

An optional part of the product (``pip install safecoder-lsp[train]``): the language
server never imports it. It depends on ``attribution`` (license detection) and
``languages``; nothing of the product depends on it except the ``train`` command.
"""
