"""Text embedding models as a factor of a judged task: a registry of the installed ones and one
embedder per model family (TF-IDF + SVD, sentence-transformers MiniLM, ONNX MiniLMs, e5).

Every model runs offline from the files its package ships; nothing is imported until a model is
loaded (see ``registry.load_embedder``).
"""
